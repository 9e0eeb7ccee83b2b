"""Input validation at the public boundary.

Every public entry point (``fit``, ``decision_function``, the CLI) funnels user input through
these helpers so that bad input gives one clear ``ValueError``/``TypeError`` naming the problem
instead of a numpy traceback or a silent NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_X", "check_y", "check_random_state_int", "check_params"]


def _frame_to_array(X, name):
    bad = [str(c) for c, dt in X.dtypes.items() if not (_is_numeric_dtype(dt))]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise TypeError(
            f"{name} has non-numeric column(s) {shown}; mnpad detectors take numeric features only. "
            "Encode categorical columns first (mnpad.Pipeline does this for you)."
        )
    return X.to_numpy(dtype=np.float64, na_value=np.nan), [str(c) for c in X.columns]


def _is_numeric_dtype(dt):
    import pandas as pd

    return pd.api.types.is_bool_dtype(dt) or (
        pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt)
    )


def check_X(X, *, name="X", n_features=None, dtype=np.float32, min_rows=1):
    """Validate a feature matrix and return it as a C-contiguous 2-D ``dtype`` array.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
    name : str
        Name used in error messages.
    n_features : int, optional
        Expected number of columns (the fitted ``n_features_in_``).
    dtype : numpy dtype
        Output dtype.
    min_rows : int
        Minimum number of rows.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    columns : list of str or None
        Column names when ``X`` was a DataFrame.
    """
    columns = None
    try:
        import pandas as pd

        if isinstance(X, pd.Series):
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features); got a pandas Series. "
                "Use series.to_frame() for a single feature."
            )
        if isinstance(X, pd.DataFrame):
            X, columns = _frame_to_array(X, name)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if X is None:
        raise ValueError(f"{name} is None; expected a 2-D array of numeric features.")
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise TypeError(f"{name} is a sparse matrix; convert it with .toarray() first.")
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind in "USVM":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} contains non-numeric values ({exc}); mnpad detectors take numeric "
                "features only. Encode categorical columns first (mnpad.Pipeline does this)."
            ) from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} is complex-valued; expected real numeric features.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected real numeric features.")
    if arr.ndim != 2:
        hint = " Reshape with X.reshape(-1, 1) for a single feature." if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got {arr.ndim}-D with shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] < max(min_rows, 1):
        raise ValueError(
            f"{name} has {arr.shape[0]} row(s); at least {max(min_rows, 1)} required."
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}).")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but the detector was fitted with "
            f"{n_features} features."
        )
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            bad_rows = np.flatnonzero(~finite.all(axis=1))
            r = int(bad_rows[0])
            c = int(np.flatnonzero(~finite[r])[0])
            what = "NaN" if np.isnan(arr[r, c]) else "infinity"
            raise ValueError(
                f"{name} contains NaN or infinity in {bad_rows.size} row(s) (first: {what} at "
                f"row {r}, column {c}). Impute or drop them first (mnpad.Pipeline imputes)."
            )
    out = np.ascontiguousarray(arr, dtype=dtype)
    if dtype == np.float32 and arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        if not np.isfinite(out).all():
            raise ValueError(f"{name} has values too large for float32 (|x| > 3.4e38).")
    return out, columns


def check_y(y, n_samples, *, name="y", require_anomaly=True):
    """Validate weak labels: 1 = labeled anomaly, 0 = unlabeled. Returns an int8 array."""
    if y is None:
        if require_anomaly:
            raise ValueError(
                f"{name} is required: mark labeled anomalies with 1 and unlabeled rows with 0."
            )
        return np.zeros(n_samples, dtype=np.int8)
    try:
        import pandas as pd

        if isinstance(y, pd.DataFrame):
            if y.shape[1] != 1:
                raise ValueError(f"{name} must be 1-D; got a DataFrame with {y.shape[1]} columns.")
            y = y.iloc[:, 0]
        if isinstance(y, pd.Series):
            y = y.to_numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but X has {n_samples} rows; they must match."
        )
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold only 0 (unlabeled) and 1 (labeled anomaly); got dtype {arr.dtype}."
        )
    with np.errstate(invalid="ignore"):
        ok = (arr == 0) | (arr == 1)
    if not ok.all():
        vals = np.unique(arr[~ok])[:5]
        raise ValueError(
            f"{name} must hold only 0 (unlabeled) and 1 (labeled anomaly); found {vals.tolist()}."
        )
    arr = arr.astype(np.int8)
    if require_anomaly and not arr.any():
        raise ValueError(
            f"{name} has no labeled anomaly (no 1s); weakly supervised detectors need at least one."
        )
    return arr


def check_random_state_int(random_state, rng=None):
    """Turn ``random_state`` (None, int or numpy Generator) into a local numpy Generator."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state.bit_generator.random_raw())
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
        return np.random.default_rng(int(random_state))
    raise TypeError(f"random_state must be None, an int or a numpy Generator; got {random_state!r}.")


def check_params(est, *, pos_int=(), nonneg_int=(), pos_num=(), nonneg_num=(), min_int=None):
    """Raise ``ValueError`` naming the first hyper-parameter of ``est`` out of its range.

    ``min_int`` maps names to the smallest int they accept."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    def is_num(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)

    for names, ok, what in ((pos_int, lambda v: is_int(v) and v >= 1, "an int >= 1"),
                            (nonneg_int, lambda v: is_int(v) and v >= 0, "an int >= 0"),
                            (pos_num, lambda v: is_num(v) and v > 0, "a positive number"),
                            (nonneg_num, lambda v: is_num(v) and v >= 0, "a number >= 0")):
        for name in names:
            v = getattr(est, name)
            if not ok(v):
                raise ValueError(f"{name} must be {what}; got {v!r}.")
    for name, lo in (min_int or {}).items():
        v = getattr(est, name)
        if not (is_int(v) and v >= lo):
            raise ValueError(f"{name} must be an int >= {lo}; got {v!r}.")


def show_names(names, n=10):
    """``'a', 'b', ... (N in all)``: at most ``n`` names, for one-line messages."""
    names = [str(c) for c in names]
    more = f" ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(repr(c) for c in names[:n]) + more
