"""Preprocessing of mixed-type tables for :class:`mnpad.Pipeline` and the ``mnpad`` CLI.

Rules (applied column by column, so a row's encoding never depends on the other rows):

- **Numeric columns** (int/float dtypes): missing values are replaced by the training median
  (scikit-learn ``SimpleImputer(strategy='median')``; a column missing in every training row
  is imputed with 0), then min-max scaled with the training minimum and maximum
  (``MinMaxScaler``; values outside the training range map outside [0, 1], nothing is clipped;
  a constant column maps to 0). With ``missing_indicator=True`` every numeric column that had
  a missing value in training also gets a 0/1 column ``<col>__missing``. Infinite values are
  rejected with a clear error.
- **Categorical columns** (object, string, category and bool dtypes): values are compared as
  text; a missing value is its own category ``__missing__``; the ``max_categories`` most
  frequent training values (ties broken by text) get a one-hot column ``<col>=<value>``
  (``OneHotEncoder(handle_unknown='ignore')``); any other value, including one never seen in
  training, is encoded as all zeros.
- Other dtypes (datetimes, durations, complex) are refused: convert or drop those columns.

The fitted state is plain JSON (column lists, medians, minima, maxima, categories). The
scikit-learn transformers are rebuilt from that JSON by fitting them on synthetic rows that
reproduce exactly the stored statistics (one row of medians, the rows [min, max], explicit
categories), both right after fitting and after loading, so a saved and a fresh model
transform identically and no pickle is involved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

__all__ = ["TabularPreprocessor", "parse_labels", "MISSING", "SCHEMA_VERSION"]

#: category standing for a missing categorical value
MISSING = "__missing__"
#: version of the JSON layout written by :meth:`TabularPreprocessor.to_json`
SCHEMA_VERSION = 1

_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", ""}


def parse_labels(values, name="label column"):
    """Weak labels from a column: 1/true/yes -> 1; 0/false/no/blank/missing -> 0 (unlabeled).

    Matching is case-insensitive and ignores surrounding spaces. Any other value raises a
    ``ValueError`` listing examples. Returns an int8 array.
    """
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.int8)
    miss = s.isna().to_numpy()
    text = s.astype(object).where(~miss, "").map(lambda v: str(v).strip().lower())
    pos = text.isin(_TRUE).to_numpy()
    neg = text.isin(_FALSE).to_numpy() | miss
    bad = ~(pos | neg)
    if bad.any():
        examples = pd.unique(s[bad].astype(str))[:5].tolist()
        raise ValueError(
            f"{name} holds values that are not weak labels: {examples}; use 1/true/yes for a "
            "labeled anomaly and 0/false/no or a blank for an unlabeled row."
        )
    return pos.astype(np.int8)


def _kind(dtype):
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    if (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)):
        return "categorical"
    return None


def _as_text(s: pd.Series) -> np.ndarray:
    """Categorical values as Python strings (object array), missing -> MISSING."""
    miss = s.isna().to_numpy()
    out = s.astype(object).to_numpy(copy=True)
    out[miss] = MISSING
    if not miss.all():
        out[~miss] = [v if isinstance(v, str) else str(v) for v in out[~miss]]
    return out


def _as_number(s: pd.Series, col) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype):
        arr = s.astype(float).to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype):
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            raise ValueError(
                f"column {col!r} was numeric at training but holds non-numeric value "
                f"{s[bad].iloc[0]!r}; fix the value, or refit with this column as text."
            )
        arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(arr).any():
        raise ValueError(
            f"column {col!r} holds an infinite value; mnpad needs finite numbers or blanks."
        )
    return arr


class TabularPreprocessor(TransformerMixin, BaseEstimator):
    """Encode a mixed-type DataFrame into float32 features in [0, 1] (see module docstring).

    Parameters
    ----------
    max_categories : int, default=100
        Most one-hot columns per categorical column (a bound on the encoded width, so an
        identifier-like text column cannot blow it up; chosen as a size limit, not tuned).
    missing_indicator : bool, default=True
        Add a 0/1 ``<col>__missing`` column for numeric columns with missing training values.

    Attributes
    ----------
    numeric_columns_, categorical_columns_ : list of str
    feature_names_out_ : list of str
        Names of the encoded features.
    source_columns_ : list of str
        For each encoded feature, the input column it comes from.
    n_distinct_ : dict
        Distinct training values per categorical column (before the ``max_categories`` cap).
    """

    def __init__(self, max_categories=100, missing_indicator=True):
        self.max_categories = max_categories
        self.missing_indicator = missing_indicator

    def fit(self, X, y=None):
        """Learn medians, ranges and categories from the DataFrame ``X``."""
        mc = self.max_categories
        if not (isinstance(mc, (int, np.integer)) and not isinstance(mc, bool) and mc >= 1):
            raise ValueError(f"max_categories must be an int >= 1; got {mc!r}.")
        X = _check_frame(X)
        num, cat = [], []
        for col, dt in X.dtypes.items():
            kind = _kind(dt)
            if kind is None:
                raise TypeError(
                    f"column {col!r} has dtype {dt}, which mnpad cannot encode; convert it to "
                    "numbers or text, or drop it (CLI: --drop)."
                )
            (num if kind == "numeric" else cat).append(str(col))
        state = {"schema_version": SCHEMA_VERSION, "numeric": num, "categorical": cat,
                 "median": [], "min": [], "max": [], "indicator": [], "categories": [],
                 "n_distinct": {}}
        if num:
            A = np.column_stack([_as_number(X[c], c) for c in num])
            imp = SimpleImputer(strategy="median", keep_empty_features=True).fit(A)
            filled = imp.transform(A)
            scaler = MinMaxScaler().fit(filled)
            state["median"] = imp.statistics_.tolist()
            state["min"] = scaler.data_min_.tolist()
            state["max"] = scaler.data_max_.tolist()
            if self.missing_indicator:
                state["indicator"] = [c for c, m in zip(num, np.isnan(A).any(0), strict=True) if m]
        for c in cat:
            counts = pd.Series(_as_text(X[c])).value_counts(sort=False)
            order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            state["categories"].append(sorted(k for k, _ in order[:mc]))
            state["n_distinct"][c] = len(order)
        self._set_state(state)
        return self

    # ------------------------------------------------------------------ state
    def to_json(self):
        """The fitted state as a JSON-able dict."""
        self._check_fitted()
        return dict(self.state_)

    @classmethod
    def from_json(cls, state, **params):
        """Rebuild a fitted preprocessor from :meth:`to_json` output."""
        if not isinstance(state, dict):
            raise ValueError("preprocessing state must be a JSON object.")
        v = state.get("schema_version")
        if v != SCHEMA_VERSION:
            raise ValueError(
                f"preprocessing schema version {v!r} is not supported by this mnpad "
                f"(reads version {SCHEMA_VERSION})."
            )
        obj = cls(**params)
        try:
            obj._set_state(state)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"corrupt preprocessing state ({exc!r}).") from None
        return obj

    def _set_state(self, state):
        num, cat = list(state["numeric"]), list(state["categorical"])
        self.numeric_columns_, self.categorical_columns_ = num, cat
        self.indicator_columns_ = list(state["indicator"])
        self.n_distinct_ = dict(state["n_distinct"])
        if num:
            med = np.asarray(state["median"], dtype=np.float64).reshape(1, len(num))
            lo = np.asarray(state["min"], dtype=np.float64)
            hi = np.asarray(state["max"], dtype=np.float64)
            # fitted on synthetic rows that reproduce the stored statistics exactly
            self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(med)
            self.scaler_ = MinMaxScaler().fit(np.vstack([lo, hi]))
        self._ind_idx = [num.index(c) for c in self.indicator_columns_]
        cats = [list(c) for c in state["categories"]]
        if cat:
            if len(cats) != len(cat) or any(len(c) == 0 for c in cats):
                raise ValueError("corrupt preprocessing state (categories).")
            self.encoder_ = OneHotEncoder(
                categories=[np.array(c, dtype=object) for c in cats], handle_unknown="ignore",
                sparse_output=False, dtype=np.float32,
            ).fit(np.array([[c[0] for c in cats]], dtype=object))
        names = num + [f"{c}__missing" for c in self.indicator_columns_]
        src = num + self.indicator_columns_
        for c, vals in zip(cat, cats, strict=True):
            names += [f"{c}={v}" for v in vals]
            src += [c] * len(vals)
        self.feature_names_out_, self.source_columns_ = names, src
        self.state_ = state

    def _check_fitted(self):
        if not hasattr(self, "state_"):
            raise ValueError("TabularPreprocessor is not fitted; call fit first.")

    # ------------------------------------------------------------------ transform
    @property
    def columns_(self):
        """Input columns the preprocessor needs, in order."""
        return self.numeric_columns_ + self.categorical_columns_

    def transform(self, X):
        """Encode the DataFrame ``X`` (extra columns are ignored) as float32 features."""
        self._check_fitted()
        X = _check_frame(X)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ValueError(
                f"the data lacks column(s) the model was trained on: {shown}."
            )
        parts = []
        if self.numeric_columns_:
            A = np.column_stack([_as_number(X[c], c) for c in self.numeric_columns_])
            parts.append(self.scaler_.transform(self.imputer_.transform(A)).astype(np.float32))
            if self._ind_idx:
                parts.append(np.isnan(A[:, self._ind_idx]).astype(np.float32))
        if self.categorical_columns_:
            T = np.column_stack([_as_text(X[c]) for c in self.categorical_columns_])
            parts.append(self.encoder_.transform(T))
        if not parts:
            return np.zeros((len(X), 0), np.float32)
        return np.ascontiguousarray(np.hstack(parts), dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        self._check_fitted()
        return np.asarray(self.feature_names_out_, dtype=object)


def _check_frame(X):
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame; got {type(X).__name__}.")
    if X.columns.duplicated().any():
        dup = X.columns[X.columns.duplicated()].tolist()[:5]
        raise ValueError(f"the data has duplicate column names: {dup}.")
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
    return X
