"""Input validation at the public boundary.

Every public entry point (``fit``, ``decision_function``, the CLI) funnels user input through
these helpers so that bad input gives one clear ``ValueError``/``TypeError`` naming the problem
instead of a numpy traceback or a silent NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_X", "check_y", "check_random_state_int", "check_feature_names",
           "feature_names_of", "validate_params", "IntTuple", "DeviceName", "show_names"]


def _frame_to_array(X, name):
    bad = [str(c) for c, dt in X.dtypes.items() if not (_is_numeric_dtype(dt))]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise TypeError(
            f"{name} has non-numeric column(s) {shown}; mnpad detectors take numeric features only. "
            "Encode categorical columns first (mnpad.Pipeline does this for you)."
        )
    return X.to_numpy(dtype=np.float64, na_value=np.nan), feature_names_of(X)


def feature_names_of(X):
    """Column names of a DataFrame as a list of str, or None (scikit-learn's rule).

    Names count only when every column name is a string (a frame built from an array has
    integer names: no names); mixed string and non-string names are refused.
    """
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return None
    cols = list(X.columns)
    is_str = [isinstance(c, str) for c in cols]
    if cols and all(is_str):
        return cols
    if any(is_str):
        kinds = sorted({type(c).__name__ for c in cols})
        raise TypeError(
            f"X has column names of types {kinds}; feature names must all be strings (or none "
            "be): convert them with X.columns = X.columns.astype(str)."
        )
    return None


def check_feature_names(est, X, *, name="X"):
    """Compare the feature names of ``X`` with ``est.feature_names_in_`` (scikit-learn's
    ``validate_data(reset=False)`` rule, same messages).

    Reordered, renamed, missing or added columns raise ``ValueError`` naming them; a frame
    scored by a detector fitted on an array (or the reverse) gives a ``UserWarning``.
    """
    import warnings

    fitted = getattr(est, "feature_names_in_", None)
    given = feature_names_of(X)
    cls = type(est).__name__
    if fitted is None and given is None:
        return
    if fitted is not None and given is None:
        warnings.warn(f"{name} does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning, stacklevel=4)
        return
    if fitted is None:
        warnings.warn(f"{name} has feature names, but {cls} was fitted without feature names",
                      UserWarning, stacklevel=4)
        return
    fitted = [str(c) for c in fitted]
    if fitted == given:
        return
    msg = "The feature names should match those that were passed during fit.\n"
    unseen = [c for c in given if c not in set(fitted)]
    missing = [c for c in fitted if c not in set(given)]

    def listing(names):
        shown = "".join(f"- {c}\n" for c in names[:5])
        return shown + ("- ...\n" if len(names) > 5 else "")

    if unseen:
        msg += "Feature names unseen at fit time:\n" + listing(unseen)
    if missing:
        msg += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
    if not unseen and not missing:
        msg += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(msg)


def _is_numeric_dtype(dt):
    import pandas as pd

    return pd.api.types.is_bool_dtype(dt) or (
        pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt)
    )


def check_X(X, *, name="X", n_features=None, dtype=np.float32, estimator=None):
    """Validate a feature matrix and return it as a C-contiguous 2-D ``dtype`` array.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
    name : str
        Name used in error messages.
    n_features : int, optional
        Expected number of columns (the fitted ``n_features_in_``).
    estimator : str, optional
        Name of the detector expecting ``n_features`` columns, for the message.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    columns : list of str or None
        Column names when ``X`` was a DataFrame.
    """
    import pandas as pd

    columns = None
    if isinstance(X, pd.Series):
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got a pandas Series. "
            "Use series.to_frame() for a single feature."
        )
    if isinstance(X, pd.DataFrame):
        X, columns = _frame_to_array(X, name)
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
        raise ValueError(f"Complex data not supported: {name} is complex-valued; mnpad "
                         "detectors take real numeric features.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected real numeric features.")
    if arr.ndim != 2:
        hint = (" Reshape your data with X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single row." if arr.ndim == 1 else "")
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got {arr.ndim}-D with shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but {estimator or 'the detector'} is "
            f"expecting {n_features} features as input (the number it was fitted with)."
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
    import pandas as pd

    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"{name} must be 1-D; got a DataFrame with {y.shape[1]} columns.")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        y = y.to_numpy()
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


class IntTuple:
    """Constraint: a tuple (or list) of ints >= ``low`` (layer widths), possibly empty."""

    def __init__(self, low=1):
        self.low = low

    def is_satisfied_by(self, v):
        return isinstance(v, (tuple, list)) and all(
            _is_int(e) and e >= self.low for e in v)

    def __str__(self):
        return f"a tuple of ints >= {self.low}"


class DeviceName:
    """Constraint: 'auto', 'cpu', 'mps', 'cuda' or 'cuda:<i>' (availability is checked when
    the device is used)."""

    def is_satisfied_by(self, v):
        if not isinstance(v, str):
            return False
        if v in ("auto", "cpu", "mps", "cuda"):
            return True
        return v.startswith("cuda:") and v[5:].isdigit()

    def __str__(self):
        return "'auto', 'cpu', 'mps' or 'cuda[:i]'"


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _num(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def _describe(c):
    """Plain-English description of one constraint (see :func:`validate_params`)."""
    from sklearn.utils._param_validation import Interval, Options

    if c is None:
        return "None"
    if c == "boolean":
        return "True or False"
    if isinstance(c, type):
        names = {numbers.Integral: "an int", numbers.Real: "a number",
                 np.random.Generator: "a numpy Generator"}
        return names.get(c, f"a {c.__name__}")
    if isinstance(c, Interval):
        kind = "an int" if c.type is numbers.Integral else "a number"
        lo, hi = c.left, c.right
        lo_in, hi_in = c.closed in ("left", "both"), c.closed in ("right", "both")
        if hi is None:
            return f"{kind} {'>=' if lo_in else '>'} {_num(lo)}"
        if lo is None:
            return f"{kind} {'<=' if hi_in else '<'} {_num(hi)}"
        return (f"{kind} in {'[' if lo_in else '('}{_num(lo)}, {_num(hi)}"
                f"{']' if hi_in else ')'}")
    if isinstance(c, Options):
        return " or ".join(repr(o) for o in sorted(c.options, key=repr))
    return str(c)


def _satisfied(c, v):
    from sklearn.utils._param_validation import Interval, Options

    if c is None:
        return v is None
    if c == "boolean":
        return isinstance(v, (bool, np.bool_))
    if isinstance(c, type):
        return isinstance(v, c)
    if isinstance(c, Interval):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, c.type):
            return False
        return bool(np.isfinite(v)) and v in c if isinstance(v, numbers.Real) else False
    if isinstance(c, Options):
        # strict: False is not 0, 'auto' only matches a str
        return any(type(v) is type(o) and v == o for o in c.options)
    return bool(c.is_satisfied_by(v))


def validate_params(est):
    """Check every hyper-parameter of ``est`` against ``type(est)._parameter_constraints``.

    Constraints are declared per class in scikit-learn's vocabulary (a list per parameter;
    the value must satisfy one entry): ``None``, ``"boolean"``, a type, ``Interval`` and
    ``StrOptions``/``Options`` from ``sklearn.utils._param_validation``, or any object with
    ``is_satisfied_by(value)`` and ``__str__`` (:class:`IntTuple`, :class:`DeviceName`).
    Only the constraint classes are borrowed: the check and its message are mnpad's, e.g.
    ``"lr must be a number > 0; got -1."``. A parameter without a declared constraint is not
    checked here (a detector of one's own may check it where it uses it); every mnpad detector
    declares all of its parameters (tested).
    """
    constraints = getattr(type(est), "_parameter_constraints", {})
    for name, value in est.get_params(deep=False).items():
        if name not in constraints:
            continue
        allowed = constraints[name]
        if not any(_satisfied(c, value) for c in allowed):
            desc = " or ".join(_describe(c) for c in allowed)
            raise ValueError(f"{name} must be {desc}; got {value!r}.")


def show_names(names, n=10):
    """``'a', 'b', ... (N in all)``: at most ``n`` names, for one-line messages."""
    names = [str(c) for c in names]
    more = f" ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(repr(c) for c in names[:n]) + more
