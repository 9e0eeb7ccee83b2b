"""Readers for ADBench-style ``.npz`` (X, y), CSV and Parquet tables with a label column.

Each reader returns a dict with ``X`` (float32, 2-D, finite), ``y`` (int8, 0/1, 1 = anomaly),
``feature_names`` (list of str) and ``anomaly_type`` (ndarray of str or None). Unreadable files
raise ``ValueError`` naming the file; bad labels raise ``ValueError`` naming the values found.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._validation import check_X

__all__ = ["read_npz", "read_table", "read_file", "npz_shape"]

_TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".parquet", ".pq")
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                tarfile.TarError, UnicodeDecodeError)


def _suffix(path):
    name = Path(path).name.lower()
    for suf in (".tar.xz", ".tar.gz", ".tar.bz2", ".tar") + _TABLE_SUFFIXES + (".npz",):
        if name.endswith(suf):
            return suf
    return Path(path).suffix.lower()


def _labels(values, path, positive_label=None):
    """0/1 int8 labels from a label array; ``positive_label`` marks the anomaly value."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{path}: labels must be 1-D; got shape {arr.shape}.")
    if positive_label is not None:
        return (arr == positive_label).astype(np.int8)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.dtype.kind not in "biuf":
        found = np.unique(arr.astype(str))[:5].tolist()
        raise ValueError(
            f"{path}: labels must be 0 (normal) / 1 (anomaly); found non-numeric values {found}. "
            "Pass positive_label=<the anomaly value> to map them."
        )
    with np.errstate(invalid="ignore"):
        ok = (arr == 0) | (arr == 1)
    if not ok.all():
        found = np.unique(arr[~ok])[:5].tolist()
        raise ValueError(
            f"{path}: labels must be 0 (normal) / 1 (anomaly); found {found}. "
            "Pass positive_label=<the anomaly value> to map other codes."
        )
    return arr.astype(np.int8)


def _finalize(X, y, feature_names, anomaly_type, path):
    X, _ = check_X(X, name=f"X of {path}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]} labels.")
    if feature_names is None or len(feature_names) != X.shape[1]:
        feature_names = [f"x{i}" for i in range(X.shape[1])]
    if anomaly_type is not None:
        anomaly_type = np.asarray(anomaly_type).astype(str)
        if anomaly_type.shape != y.shape:
            raise ValueError(f"{path}: anomaly_type has {anomaly_type.shape[0]} entries, "
                             f"expected {y.shape[0]}.")
    return {"X": X, "y": y, "feature_names": [str(f) for f in feature_names],
            "anomaly_type": anomaly_type}


def read_npz(path, *, positive_label=None):
    """Read an ADBench-style ``.npz`` with arrays ``X`` and ``y``.

    Optional arrays: ``feature_names`` and ``attack_cat`` (per-row anomaly type). Pickled
    object arrays are refused (``allow_pickle=False``).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("X", "y") if k not in data.files]
            if missing:
                raise ValueError(f"{path}: .npz must hold arrays 'X' and 'y'; missing "
                                 f"{missing} (found {sorted(data.files)}).")
            X, y = data["X"], data["y"]
            names = data["feature_names"].tolist() if "feature_names" in data.files else None
            kinds = data["attack_cat"] if "attack_cat" in data.files else None
    except _READ_ERRORS as exc:
        if isinstance(exc, FileNotFoundError) or str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a readable .npz file (corrupt or truncated?): "
                         f"{type(exc).__name__}: {exc}") from None
    y = _labels(np.ravel(y) if np.ndim(y) == 2 and min(np.shape(y)) == 1 else y, path,
                positive_label)
    return _finalize(X, y, names, kinds, path)


def _read_frame(path, suffix):
    import pandas as pd

    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix.startswith(".tar"):
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".csv")]
            if len(members) != 1:
                raise ValueError(f"{path}: expected exactly one .csv inside the archive; "
                                 f"found {[m.name for m in members]}.")
            return pd.read_csv(tar.extractfile(members[0]), encoding="utf-8-sig")
    return pd.read_csv(path, encoding="utf-8-sig")


def read_table(path, label_column="label", *, positive_label=None, anomaly_type_column=None,
               anomaly_type=None):
    """Read a CSV (optionally compressed or in a tar archive) or Parquet table.

    Parameters
    ----------
    path : str or Path
    label_column : str
        Column holding the labels: 0/1 (or bool), or any values with ``positive_label``.
    positive_label : scalar, optional
        Value of ``label_column`` that marks an anomaly; all other values are normal.
    anomaly_type_column : str, optional
        Column with a per-row anomaly type (e.g. UNSW-NB15 ``attack_cat``); excluded from X.
    anomaly_type : str, optional
        Constant type for anomalies when no column has it ('Normal' for the other rows).
    All other columns are features and must be numeric.
    """
    path = Path(path)
    suffix = _suffix(path)
    try:
        frame = _read_frame(path, suffix)
    except _READ_ERRORS as exc:
        if isinstance(exc, FileNotFoundError) or str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} could not be read as a {suffix} table (corrupt or wrong "
                         f"format?): {type(exc).__name__}: {exc}") from None
    if label_column not in frame.columns:
        shown = [str(c) for c in frame.columns[:8]]
        raise ValueError(f"{path}: no label column {label_column!r}; columns are {shown}"
                         f"{' ...' if frame.shape[1] > 8 else ''}. Pass label_column=...")
    y = _labels(frame[label_column].to_numpy(), path, positive_label)
    drop = [label_column]
    kinds = None
    if anomaly_type_column is not None:
        if anomaly_type_column not in frame.columns:
            raise ValueError(f"{path}: no anomaly type column {anomaly_type_column!r}.")
        kinds = frame[anomaly_type_column].astype(str).to_numpy()
        drop.append(anomaly_type_column)
    elif anomaly_type is not None:
        kinds = np.where(y == 1, anomaly_type, "Normal")
    features = frame.drop(columns=drop)
    return _finalize(features, y, [str(c) for c in features.columns], kinds, path)


def read_file(path, label_column="label", **options):
    """Read any supported file, choosing the reader by its extension."""
    suffix = _suffix(path)
    if suffix == ".npz":
        return read_npz(path, positive_label=options.get("positive_label"))
    if suffix in _TABLE_SUFFIXES or suffix.startswith(".tar"):
        return read_table(path, label_column, **options)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .npz (X, y), .csv "
                     "(optionally .gz/.bz2/.xz/.zip) or .parquet with a label column.")


def npz_shape(path):
    """Shape of ``X`` in an ``.npz`` without decompressing the array (None if unreadable)."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open("X.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, _ = read(fh)
            return tuple(int(s) for s in shape)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error):
        return None
