"""Safe persistence: a zip archive holding ``meta.json`` and ``arrays.npz``.

No pickle is written or read: arrays are loaded with ``allow_pickle=False``; scikit-learn
sub-estimators (IForest, GBDT) are stored with ``skops.io`` and loaded with only its default
trusted types; the detector class is looked up by name in mnpad's own registry, never imported
from a string. A file that is not an mnpad model, is truncated, or comes from a newer format
gives a clear ``ValueError``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._version import __version__

FORMAT = "mnpad-model"
FORMAT_VERSION = 1

__all__ = ["save_detector", "load", "FORMAT_VERSION", "atomic_write_bytes"]


def atomic_write_bytes(path, data: bytes, overwrite=False):
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def _versions():
    out = {"mnpad": __version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        import sklearn

        out["sklearn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def to_bytes(est, extra_meta=None, extra_blobs=None) -> bytes:
    """Serialise a fitted detector (and optional extra JSON/blobs, e.g. a pipeline) to bytes."""
    if not getattr(est, "_fitted", False):
        raise ValueError(f"{type(est).__name__} is not fitted; call fit before save.")
    state, arrays, blobs = est._get_fitted_state()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "class": type(est).__name__,
        "params": est.get_params(deep=False),
        "state": state,
        "extra": extra_meta or {},
    }
    buf = io.BytesIO()
    arr_buf = io.BytesIO()
    np.savez(arr_buf, **{k: np.asarray(v) for k, v in arrays.items()})
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=1, default=_json_default))
        zf.writestr("arrays.npz", arr_buf.getvalue())
        for name, data in {**blobs, **(extra_blobs or {})}.items():
            zf.writestr(f"blobs/{name}", data)
    return buf.getvalue()


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in model JSON")


def save_detector(est, path, overwrite=False, extra_meta=None, extra_blobs=None):
    atomic_write_bytes(path, to_bytes(est, extra_meta, extra_blobs), overwrite=overwrite)


def read_archive(path):
    """Open and check an mnpad model file; returns (meta, arrays, blobs)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "meta.json" not in names or "arrays.npz" not in names:
                raise ValueError(f"{path} is not an mnpad model file (missing meta.json/arrays.npz).")
            meta = json.loads(zf.read("meta.json").decode("utf-8"))
            arr_bytes = zf.read("arrays.npz")
            blobs = {n[len("blobs/"):]: zf.read(n) for n in names if n.startswith("blobs/")}
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not an mnpad model file (not a zip archive, or corrupt).") from None
    except (UnicodeDecodeError, json.JSONDecodeError, zipfile.LargeZipFile, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is a corrupt mnpad model file ({exc}).") from None
    except Exception as exc:  # zlib.error, CRC failures, ...
        if isinstance(exc, ValueError):
            raise
        raise ValueError(f"{path} is a corrupt mnpad model file ({type(exc).__name__}: {exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an mnpad model file (format marker missing).")
    fv = meta.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        written = meta.get("versions", {}).get("mnpad", "?")
        raise ValueError(
            f"{path} was written by mnpad {written} (model format {fv}); this mnpad "
            f"{__version__} reads format <= {FORMAT_VERSION}. Upgrade mnpad to load it."
        )
    try:
        with np.load(io.BytesIO(arr_bytes), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise ValueError(f"{path} is a corrupt mnpad model file (arrays: {exc}).") from None
    return meta, arrays, blobs


def detector_from_archive(meta, arrays, blobs, device=None, path="model"):
    from .detectors import detector_class

    cls_name = meta.get("class")
    try:
        cls = detector_class(cls_name)
    except KeyError:
        raise ValueError(f"{path}: unknown detector class {cls_name!r} in model file.") from None
    params = dict(meta.get("params") or {})
    valid = set(cls._get_param_names())
    unknown = set(params) - valid
    if unknown:
        raise ValueError(f"{path}: unknown parameters {sorted(unknown)} for {cls_name}.")
    if device is not None and "device" in valid:
        params["device"] = device
    est = cls(**params)
    try:
        est._set_fitted_state(meta["state"], arrays, blobs)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is a corrupt mnpad model file (state: {exc!r}).") from None
    return est


def load(path, device=None):
    """Load a detector saved with ``detector.save(path)``.

    Parameters
    ----------
    path : str or Path
    device : str, optional
        Override the saved ``device`` parameter (e.g. load a GPU-trained model on 'cpu').
        By default a model whose saved device is unavailable falls back to 'auto'.
    """
    meta, arrays, blobs = read_archive(path)
    if meta.get("kind") == "pipeline" or meta.get("extra", {}).get("pipeline"):
        from .pipeline import Pipeline

        return Pipeline._from_archive(meta, arrays, blobs, device=device, path=path)
    if device is None:
        saved = (meta.get("params") or {}).get("device")
        if isinstance(saved, str) and saved.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                device = "auto"
    return detector_from_archive(meta, arrays, blobs, device=device, path=path)
