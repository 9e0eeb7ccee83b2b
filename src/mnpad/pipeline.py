"""``mnpad.Pipeline``: preprocessing of a mixed-type DataFrame + any registered detector.

>>> pipe = mnpad.Pipeline("mnp", {"epochs": 20}, id_column="tx_id", random_state=0)
>>> pipe.fit(df, "is_fraud")                  # label column: 1/true/yes = known anomaly
>>> df_new["score"] = pipe.decision_function(df_new)
>>> pipe.explain(df_new.nlargest(10, "score"))  # MNP: prototype, similarity, culprit columns
>>> pipe.save("model.mnpad"); pipe = mnpad.load("model.mnpad")

The preprocessing rules are those of :mod:`mnpad.preprocessing`. The model file is the zip of
:mod:`mnpad.persistence` (detector tensors + JSON); the fitted preprocessing is stored as JSON in
``meta.json`` under ``extra.pipeline``. No pickle is written or read.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ._validation import show_names as _show
from ._version import __version__
from .persistence import detector_from_archive, register_loader, save_detector
from .preprocessing import TabularPreprocessor, parse_labels

__all__ = ["Pipeline", "PIPELINE_SCHEMA"]

#: layout version of ``meta['extra']['pipeline']``; a model with another version is refused
PIPELINE_SCHEMA = 1


class Pipeline(BaseEstimator):
    """Preprocessing (impute, min-max scale, one-hot encode) followed by an anomaly detector.

    Parameters
    ----------
    detector : str or detector instance, default='mnp'
        Registry name (see :func:`mnpad.list_detectors`) or an unfitted mnpad detector, which is
        cloned at fit.
    detector_params : dict, optional
        Parameters set on the detector (e.g. ``{"epochs": 20}``).
    id_column : str, optional
        Column identifying rows; never used as a feature (the CLI copies it to its outputs).
    drop : list of str, optional
        Columns never used as features.
    max_categories : int, default=100
        Most one-hot columns per categorical column; see :class:`TabularPreprocessor`.
    missing_indicator : bool, default=True
        Add ``<col>__missing`` 0/1 features for numeric columns with missing training values.
    random_state : int or None
        Passed to the detector unless ``detector_params`` sets ``random_state``.

    Attributes
    ----------
    detector_ : fitted detector
    preprocessor_ : fitted :class:`~mnpad.preprocessing.TabularPreprocessor`
    feature_columns_ : list of str
        Input columns used as features.
    label_column_ : str or None
        Name of the label column when ``fit`` got one by name.
    n_rows_, n_labeled_ : int
        Training rows and labeled anomalies among them.
    fit_time_ : float
        Seconds spent in ``fit`` (preprocessing + detector).
    training_sample_ : dict or None
        Set by ``mnpad fit`` on several files (:func:`mnpad.distributed.sample_files`): rows
        read, labeled anomalies, rows sampled, seed and ``max_rows``; saved in the model file.
        None when ``fit`` got the whole table.
    """

    def __init__(self, detector="mnp", detector_params=None, id_column=None, drop=None,
                 max_categories=100, missing_indicator=True, random_state=None):
        self.detector = detector
        self.detector_params = detector_params
        self.id_column = id_column
        self.drop = drop
        self.max_categories = max_categories
        self.missing_indicator = missing_indicator
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the preprocessing and the detector.

        Parameters
        ----------
        X : pandas.DataFrame
            Training table (numeric, text, category and bool columns; blanks allowed).
        y : str or array-like of shape (n_rows,)
            Weak labels, or the name of the column of ``X`` holding them: 1/true/yes marks a
            labeled anomaly; 0/false/no/blank an unlabeled row. The label column is never a
            feature.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        X = _frame(X)
        if len(X) == 0:
            raise ValueError("the data has no rows to train on.")
        self.label_column_ = None
        if isinstance(y, str):
            if y not in X.columns:
                raise ValueError(f"unknown label column {y!r}; the data has columns: "
                                 f"{_show(X.columns)}.")
            self.label_column_, y = y, X[y]
            labels = parse_labels(y, name=f"label column {self.label_column_!r}")
        elif y is None:
            labels = np.zeros(len(X), np.int8)
        else:
            if len(y) != len(X):
                raise ValueError(f"y has {len(y)} entries but X has {len(X)} rows.")
            labels = parse_labels(y, name="y")
        det = self._make_detector()
        supervised = getattr(det, "weakly_supervised", True)
        if supervised and not labels.any():
            where = f"label column {self.label_column_!r}" if self.label_column_ else "y"
            raise ValueError(f"{where} has no labeled anomalies (no 1/true/yes values); "
                             f"{type(det).__name__} needs at least one.")
        excluded = [c for c in [self.id_column, *(self.drop or [])] if c is not None]
        lacking = [c for c in excluded if c not in X.columns]
        if lacking:
            raise ValueError(f"unknown column(s) {_show(lacking)}; the data has columns: "
                             f"{_show(X.columns)}.")
        excluded.append(self.label_column_)
        features = [c for c in X.columns if c not in excluded]
        if not features:
            raise ValueError("no feature columns left after removing the label, id and dropped "
                             "columns.")
        pre = TabularPreprocessor(self.max_categories, self.missing_indicator)
        pre.fit(X[features])
        Z = pre.transform(X[features])
        det.fit(Z, labels if supervised else None)  # unsupervised detectors ignore labels
        self.preprocessor_, self.detector_ = pre, det
        self.feature_columns_ = list(pre.columns_)
        self.n_rows_, self.n_labeled_ = int(len(X)), int(labels.sum())
        self.fit_time_ = time.perf_counter() - t0
        self.training_sample_ = None
        return self

    def _make_detector(self):
        from .base import BaseDetector
        from .detectors import get_detector

        params = dict(self.detector_params or {})
        if not isinstance(self.detector_params, (dict, type(None))):
            raise TypeError("detector_params must be a dict of detector parameters.")
        if isinstance(self.detector, str):
            det = get_detector(self.detector)
        elif isinstance(self.detector, BaseDetector):
            det = clone(self.detector)
        else:
            raise TypeError(f"detector must be a registry name or an mnpad detector; got "
                            f"{type(self.detector).__name__}.")
        valid = det.get_params(deep=False)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for {type(det).__name__}; "
                             f"valid: {', '.join(sorted(valid))}.")
        if self.random_state is not None and "random_state" in valid and "random_state" not in params:
            params["random_state"] = self.random_state
        return det.set_params(**params)

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self):
        if not hasattr(self, "detector_"):
            raise ValueError("this Pipeline is not fitted; call fit first.")

    @property
    def threshold_(self):
        """Decision threshold of the detector (on ``decision_function`` scores)."""
        self._check_fitted()
        return self.detector_.threshold_

    @property
    def decision_scores_(self):
        """Scores of the training rows."""
        self._check_fitted()
        return self.detector_.decision_scores_

    @property
    def feature_names_out_(self):
        """Names of the encoded features the detector sees."""
        self._check_fitted()
        return list(self.preprocessor_.feature_names_out_)

    @property
    def is_mnp(self):
        """Whether the detector has MNP's per-row details (``row_details``: nearest prototype,
        similarity, reconstruction error, latent code), needed by ``explain``, ``latent`` and
        ``nearest_prototype``."""
        return hasattr(getattr(self, "detector_", None), "row_details")

    def transform(self, X):
        """Encoded features of the DataFrame ``X`` (float32, shape (n_rows, n_features_out))."""
        self._check_fitted()
        return self.preprocessor_.transform(_frame(X))

    def decision_function(self, X):
        """Anomaly scores of the rows of ``X`` (higher = more anomalous)."""
        Z = self.transform(X)
        return self.detector_.decision_function(Z)

    def predict(self, X):
        """1 where the score exceeds ``threshold_``, else 0."""
        Z = self.transform(X)
        return self.detector_.predict(Z)

    def predict_proba(self, X, method="linear"):
        """Probability of normal / anomalous, shape (n_rows, 2); see the detector's method."""
        Z = self.transform(X)
        return self.detector_.predict_proba(Z, method=method)

    def score_frame(self, X, return_latent=False):
        """Score the rows of ``X`` in one pass, as ``mnpad score`` writes them.

        Parameters
        ----------
        X : pandas.DataFrame
        return_latent : bool, default=False
            Also return the latent codes of the same pass (MNP: normalised codes z/||z||;
            other detectors: the encoded features), as ``mnpad plot`` uses them.

        Returns
        -------
        frame : pandas.DataFrame
            The id column (when the pipeline has one and ``X`` holds it), ``score``, ``label``
            (1 above ``threshold_``) and, for MNP, ``nearest_prototype`` (index of the most
            similar normal prototype); one row per row of ``X``, in order (0-based index).
        latent : ndarray of shape (n_rows, n_latent)
            Only with ``return_latent=True``.
        """
        X = _frame(X)
        Z = self.transform(X)
        det = self.detector_
        if self.is_mnp:
            d = det.row_details(Z)
            scores, latent = d["score"], d["latent"]
            extra = {"nearest_prototype": d["similarity"].argmax(1).astype(np.int32)}
        else:
            scores, extra, latent = det.decision_function(Z), {}, Z
        frame = pd.DataFrame({"score": scores,
                              "label": (scores > det.threshold_).astype(np.int8), **extra})
        idc = self.id_column
        if idc is not None and idc in X.columns:
            frame.insert(0, idc, X[idc].to_numpy())
        return (frame, latent) if return_latent else frame

    def latent(self, X):
        """MNP: normalised latent codes of ``X``; other detectors: the encoded features."""
        Z = self.transform(X)
        return self.detector_.transform(Z) if self.is_mnp else Z

    def nearest_prototype(self, X):
        """MNP only: index of the most similar normal prototype per row."""
        self._require_mnp("nearest_prototype")
        Z = self.transform(X)
        return self.detector_.nearest_prototype(Z)

    def _require_mnp(self, what):
        self._check_fitted()
        if not self.is_mnp:
            raise ValueError(f"{what} needs an MNP model; this one uses "
                             f"{type(self.detector_).__name__}.")

    def explain(self, X, top_columns=3):
        """Explain scores row by row (MNP and auto models).

        Parameters
        ----------
        X : pandas.DataFrame
        top_columns : int, default=3
            How many original columns to list per row.

        Returns
        -------
        pandas.DataFrame indexed like ``X``, as ``mnpad explain`` prints it: ``rank`` (1 =
        highest score among the rows of ``X``; ties: earlier row first), the id column (when
        the pipeline has one and ``X`` holds it), ``score``, ``nearest_prototype``,
        ``similarity`` (to that prototype, eq. 6), ``recon_error`` (mean SmoothL1 over encoded
        features) and ``top_columns``: ``"col:contribution, ..."``, largest first, where a
        column's contribution is the summed reconstruction error of its encoded features
        (one-hot and missing-indicator features go back to their source column) divided by
        the number of encoded features, so contributions of all columns add up to
        ``recon_error``.

        With an ``auto`` model (``Auto``): ``rank``, the id column, ``score`` and, per chosen
        member, ``<member>_score`` and ``<member>_rank`` (the score's rank among that member's
        training scores), so one sees which member flags the row; when the only member is MNP,
        its columns above follow. Other detectors have no explanation (``ValueError``).
        """
        self._check_fitted()
        if not (isinstance(top_columns, (int, np.integer)) and top_columns >= 1):
            raise ValueError(f"top_columns must be an int >= 1; got {top_columns!r}.")
        if not self.can_explain:
            raise ValueError(f"explain needs an MNP or auto model; this one uses "
                             f"{type(self.detector_).__name__}.")
        X = _frame(X)
        Z = self.transform(X)
        # MNP: its own columns; Auto: its member columns, followed by MNP's when MNP is the
        # only member (Auto.explain computes those already: only top_columns is added here)
        out = self.detector_.explain(Z, top_features=1).drop(columns="top_features",
                                                             errors="ignore")
        members = getattr(self.detector_, "members_", None) or []
        mnp = self.detector_ if self.is_mnp else (
            members[0] if len(members) == 1 and hasattr(members[0], "row_details") else None)
        if mnp is not None:
            out["top_columns"] = self._top_columns(mnp, Z, top_columns)
        out = out.reset_index(drop=True)
        rank = np.empty(len(out), np.int64)
        rank[np.argsort(-out["score"].to_numpy(), kind="stable")] = np.arange(1, len(out) + 1)
        out.insert(0, "rank", rank)
        if self.id_column is not None and self.id_column in X.columns:
            out.insert(1, self.id_column, X[self.id_column].to_numpy())
        out.index = X.index
        return out

    @property
    def can_explain(self):
        """Whether :meth:`explain` works: MNP, or a detector with members and ``explain``
        (``Auto``)."""
        self._check_fitted()
        return self.is_mnp or (bool(getattr(self.detector_, "members_", None))
                               and hasattr(self.detector_, "explain"))

    def _top_columns(self, det, Z, top_columns):
        """Per row, the ``top_columns`` original columns contributing most to ``det``'s
        reconstruction error, as ``"col:contribution, ..."``."""
        per = det.reconstruction_error(Z, per_feature=True)
        cols = self.feature_columns_
        src = self.preprocessor_.source_columns_
        M = np.zeros((len(src), len(cols)), np.float64)
        M[np.arange(len(src)), [cols.index(c) for c in src]] = 1.0
        contrib = (per.astype(np.float64) @ M) / max(len(src), 1)
        k = min(int(top_columns), len(cols))
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        return [", ".join(f"{cols[j]}:{contrib[i, j]:.4g}" for j in row)
                for i, row in enumerate(top)]

    # ------------------------------------------------------------------ persistence
    def save(self, path, overwrite=False):
        """Save preprocessing + detector to one model file (no pickle); see :func:`mnpad.load`."""
        self._check_fitted()
        params = self.get_params(deep=False)
        if not isinstance(params["detector"], str):
            params["detector"] = type(self.detector_).__name__
        meta = {"schema_version": PIPELINE_SCHEMA, "params": params,
                "preprocessor": self.preprocessor_.to_json(),
                "label_column": self.label_column_, "n_rows": self.n_rows_,
                "n_labeled": self.n_labeled_, "fit_time": self.fit_time_}
        if getattr(self, "training_sample_", None):
            meta["training_sample"] = dict(self.training_sample_)
        save_detector(self.detector_, path, overwrite=overwrite,
                      extra_meta={"kind": "pipeline", "pipeline": meta})
        return path

    @classmethod
    def _from_archive(cls, meta, arrays, blobs, device=None, path="model"):
        """Loader of model files of kind ``"pipeline"`` (registered below)."""
        pm = (meta.get("extra") or {}).get("pipeline")
        written = (meta.get("versions") or {}).get("mnpad", "?")
        v = pm.get("schema_version") if isinstance(pm, dict) else None
        if v != PIPELINE_SCHEMA:
            raise ValueError(
                f"{path}: pipeline schema version {v!r} (written by mnpad {written}) cannot be "
                f"read by mnpad {__version__}, which reads version {PIPELINE_SCHEMA}; refit the "
                "model with this mnpad or use the version that wrote it."
            )
        try:
            params = dict(pm["params"])
            unknown = set(params) - set(cls._get_param_names())
            if unknown:
                raise ValueError(f"unknown pipeline parameters {sorted(unknown)}")
            pipe = cls(**params)
            pipe.preprocessor_ = TabularPreprocessor.from_json(
                pm["preprocessor"], max_categories=params.get("max_categories", 100),
                missing_indicator=params.get("missing_indicator", True))
            pipe.label_column_ = pm.get("label_column")
            pipe.n_rows_, pipe.n_labeled_ = int(pm["n_rows"]), int(pm["n_labeled"])
            pipe.fit_time_ = float(pm.get("fit_time", 0.0))
            sample = pm.get("training_sample")
            pipe.training_sample_ = dict(sample) if isinstance(sample, dict) else None
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is a corrupt mnpad model file (pipeline: {exc!r}).") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        pipe.detector_ = detector_from_archive(meta, arrays, blobs, device=device, path=path)
        pipe.feature_columns_ = list(pipe.preprocessor_.columns_)
        if pipe.detector_.n_features_in_ != len(pipe.preprocessor_.feature_names_out_):
            raise ValueError(f"{path} is a corrupt mnpad model file (preprocessing width does "
                             "not match the detector).")
        return pipe


register_loader("pipeline", Pipeline._from_archive)


def _frame(X):
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"mnpad.Pipeline takes a pandas DataFrame; got {type(X).__name__}.")
    return X
