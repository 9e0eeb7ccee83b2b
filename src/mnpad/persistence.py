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
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_write_bytes
from ._version import __version__
from ._versions import versions as _versions

FORMAT = "mnpad-model"
FORMAT_VERSION = 1
#: ``meta["kind"]`` of a bare detector; other kinds register a loader (see register_loader)
DETECTOR_KIND = "detector"

__all__ = ["save_detector", "load", "FORMAT_VERSION", "atomic_write_bytes", "register_loader",
           "read_archive", "detector_from_archive"]

# kind -> loader(meta, arrays, blobs, device=..., path=...); filled by the modules owning a kind
_LOADERS = {}


def register_loader(kind, loader):
    """Register how to load model files whose ``meta["kind"]`` is ``kind``.

    ``loader(meta, arrays, blobs, device=None, path=...)`` returns the loaded object. The
    module that writes a kind registers it when imported (``mnpad.pipeline`` registers
    ``"pipeline"``); :func:`mnpad.load` imports those modules first.
    """
    _LOADERS[str(kind)] = loader
    return loader


def to_bytes(est, extra_meta=None, extra_blobs=None) -> bytes:
    """Serialise a fitted detector (and optional extra JSON/blobs, e.g. a pipeline) to bytes."""
    if not getattr(est, "_fitted", False):
        raise ValueError(f"{type(est).__name__} is not fitted; call fit before save.")
    state, arrays, blobs = est._get_fitted_state()
    extra_meta = dict(extra_meta or {})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": extra_meta.pop("kind", DETECTOR_KIND),
        "versions": _versions(),
        "class": type(est).__name__,
        "params": est.get_params(deep=False),
        "state": state,
        "extra": extra_meta,
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
    """Write ``to_bytes(...)`` to ``path`` atomically (``extra_meta["kind"]`` sets the kind)."""
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
    if any(n.endswith(".skops") for n in blobs):
        _import_skops_without_torch()
    try:
        est._set_fitted_state(meta["state"], arrays, blobs)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is a corrupt mnpad model file (state: {exc!r}).") from None
    return est


def _import_skops_without_torch():
    """Import ``skops.io`` without importing torch.

    skops builds its list of trusted types by importing every scikit-learn module, and
    scikit-learn's array-API adapter for torch imports torch (seconds) when it is installed.
    Loading an IForest/GBDT model needs no torch, so unless torch is already imported it is
    hidden while skops is imported (``import torch`` raises ImportError, which that module
    walk skips), then made importable again.
    """
    import sys

    if "skops.io" in sys.modules or "torch" in sys.modules:
        return
    finder = _HideTorch()
    sys.meta_path.insert(0, finder)
    try:
        import skops.io  # noqa: F401
    finally:
        sys.meta_path.remove(finder)


class _HideTorch:
    """Meta path finder refusing ``torch`` (see :func:`_import_skops_without_torch`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is not imported while loading a scikit-learn model")
        return None


def _kind(meta):
    kind = meta.get("kind")
    if kind is None:  # files written before the kind was recorded (mnpad <= 0.1)
        kind = "pipeline" if (meta.get("extra") or {}).get("pipeline") else DETECTOR_KIND
    return str(kind)


def _load_device(meta, device):
    """The device to load on: ``device`` if given; a model saved on CUDA falls back to
    ``'auto'`` when CUDA is not available (checked without importing torch otherwise)."""
    if device is not None:
        return device
    saved = (meta.get("params") or {}).get("device")
    if isinstance(saved, str) and saved.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "auto"
    return None


def load(path, device=None):
    """Load a model file written by ``detector.save`` or ``Pipeline.save``.

    The file's ``kind`` (``meta.json``) chooses the loader: ``"detector"`` here, others as
    registered with :func:`register_loader` (:func:`mnpad.load` registers every kind of
    mnpad).

    Parameters
    ----------
    path : str or Path
    device : str, optional
        Override the saved ``device`` parameter (e.g. load a GPU-trained model on 'cpu').
        By default a model whose saved device is unavailable falls back to 'auto'.
    """
    meta, arrays, blobs = read_archive(path)
    kind = _kind(meta)
    device = _load_device(meta, device)
    if kind == DETECTOR_KIND:
        return detector_from_archive(meta, arrays, blobs, device=device, path=path)
    loader = _LOADERS.get(kind)
    if loader is None:
        raise ValueError(f"{path} holds a model of kind {kind!r}, which this mnpad "
                         f"{__version__} cannot load (known: "
                         f"{', '.join(sorted({DETECTOR_KIND, *_LOADERS}))}).")
    return loader(meta, arrays, blobs, device=device, path=path)
