"""Data root resolution, the ``Dataset`` container and ``load``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._readers import read_file
from ._registry import REGISTRY, DatasetInfo

__all__ = ["Dataset", "DatasetNotAvailable", "data_root", "user_cache_dir", "get_info", "load",
           "load_file", "list_datasets", "available_datasets", "find_file"]

class DatasetNotAvailable(FileNotFoundError):
    """A registered dataset has no file under the data root; the message says where to get it."""


@dataclass
class Dataset:
    """A loaded dataset.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,), int8, 1 = anomaly, 0 = normal
    feature_names : list of str
    anomaly_type : ndarray of str or None
        Per-row anomaly type where known ('Normal' for normal rows; UNSW-NB15 ``attack_cat``).
    info : DatasetInfo
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list
    anomaly_type: np.ndarray | None
    info: DatasetInfo

    @property
    def shape(self):
        return self.X.shape

    @property
    def anomaly_ratio(self):
        return float(self.y.mean()) if self.y.size else 0.0

    def __repr__(self):
        n, d = self.X.shape
        return (f"Dataset({self.name!r}, {n} x {d}, {100 * self.anomaly_ratio:.2f} % anomalies, "
                f"status={self.info.status!r})")


def user_cache_dir():
    """Platform cache directory for mnpad data (``~/.cache/mnpad`` on Linux)."""
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "mnpad" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mnpad"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnpad"


def data_root(data_dir=None):
    """Directory datasets are read from.

    In order: ``data_dir``; ``$MNPAD_DATA``; ``../shared/data`` relative to the current
    directory, if present; else :func:`user_cache_dir`.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("MNPAD_DATA")
    if env:
        return Path(env).expanduser()
    cand = Path.cwd().parent / "shared" / "data"
    return cand if cand.is_dir() else user_cache_dir()


def _search_roots(data_dir):
    roots = [data_root(data_dir)]
    # fetched files land in the cache when the shared root is read-only; look there too
    if data_dir is None and not os.environ.get("MNPAD_DATA") and user_cache_dir() not in roots:
        roots.append(user_cache_dir())
    return roots


def get_info(name):
    """Registry entry by slug or paper abbreviation (case-insensitive)."""
    key = str(name).strip().lower()
    if key in REGISTRY:
        return REGISTRY[key]
    for info in REGISTRY.values():
        if info.abbr and info.abbr.lower() == key:
            return info
    raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(REGISTRY)} "
                     "(or pass a path to a .npz/.csv/.parquet file)")


def list_datasets():
    """All registered datasets, the paper's 15 first (Table 1 order), then extras."""
    return list(REGISTRY.values())


def find_file(info, data_dir=None):
    """Path of the first existing file of ``info`` under the data roots, or None."""
    for root in _search_roots(data_dir):
        for rel in info.files:
            if (root / rel).is_file():
                return root / rel
    return None


def available_datasets(data_dir=None):
    """Names of registered datasets with a file present."""
    return [i.name for i in REGISTRY.values() if find_file(i, data_dir) is not None]


def _where_to_get(info, data_dir):
    root = data_root(data_dir)
    lines = [f"dataset {info.name!r} ({info.title}) is not available"]
    if info.files:
        kind = " (.npz with arrays X, y)" if info.files[0].endswith(".npz") else ""
        lines.append(f"expected {root / info.files[0]}{kind}")
    else:
        lines.append(f"status: {info.status}; there is no public copy mnpad can read")
    if info.url:
        lines.append(f"run `mnpad datasets fetch {info.name}` to download it from {info.url}")
    lines.append(f"source: {info.source}")
    if info.note:
        lines.append(f"note: {info.note}")
    lines.append("set MNPAD_DATA or pass data_dir/--data-dir to read from another directory")
    return "; ".join(lines)


def load_file(path, label_column="label", *, name=None, **options):
    """Load your own data: ``.npz`` (X, y), CSV or Parquet with a label column.

    Parameters
    ----------
    path : str or Path
    label_column : str
        Label column of a CSV/Parquet table (ignored for .npz).
    name : str, optional
        Dataset name (default: the file name without extension).
    **options
        ``positive_label``, ``anomaly_type_column``, ``anomaly_type`` (see ``read_table``).

    Returns
    -------
    Dataset
        ``info.status`` is ``'custom'``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    data = read_file(path, label_column, **options)
    name = name or path.name.split(".")[0]
    n, d = data["X"].shape
    info = DatasetInfo(name=name, abbr=None, title=name, paper_shape=None, status="custom",
                       files=(str(path),), source=str(path),
                       note=f"user file, {n} x {d}")
    return Dataset(name=name, info=info, **data)


def load(name, data_dir=None):
    """Load a registered dataset (by slug or paper abbreviation) or a data file path.

    Returns a :class:`Dataset` with float32 ``X`` and int8 ``y``. Raises
    :class:`DatasetNotAvailable` (a ``FileNotFoundError``) saying where to get a missing one.
    """
    if isinstance(name, os.PathLike) or (str(name).lower() not in REGISTRY
                                         and Path(str(name)).suffix and Path(str(name)).is_file()):
        return load_file(name)
    info = get_info(name)
    path = find_file(info, data_dir)
    if path is None:
        raise DatasetNotAvailable(_where_to_get(info, data_dir))
    opts = dict(info.options)
    label_column = opts.pop("label_column", "label")
    convert = opts.pop("convert", None)
    if path.name.endswith(".npz"):
        opts.pop("anomaly_type", None)
        data = read_file(path, label_column, **opts)
    elif convert is not None:
        from ._convert import CONVERTERS

        data = CONVERTERS[convert](path)
    else:
        data = read_file(path, label_column, **opts)
    return Dataset(name=info.name, info=info, **data)
