"""GBDT: gradient-boosted trees trained on labeled anomalies vs unlabeled rows.

The baseline a practitioner tries first with a few labels: scikit-learn's
``HistGradientBoostingClassifier`` fitted on y (1 = labeled anomaly, 0 = unlabeled, a
positive-unlabeled target), with ``class_weight='balanced'`` so the few labeled anomalies weigh
as much as all unlabeled rows together. Score: the classifier's log-odds of class 1
(``decision_function``), which ranks as the predicted probability without its float
saturation.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import BaseDetector
from ._sklearn import SklearnStateMixin

__all__ = ["GBDT"]


class GBDT(SklearnStateMixin, BaseDetector):
    """Histogram gradient boosting on weak labels, weakly supervised.

    Parameters
    ----------
    learning_rate : float, default=0.1
    max_iter : int, default=100
        Boosting iterations (trees).
    max_leaf_nodes : int, default=31
    min_samples_leaf : int, default=20
    l2_regularization : float, default=0.0
    class_weight : 'balanced', dict or None, default='balanced'
    early_stopping : bool, default=False
        scikit-learn's early stopping on an internal 10 % split of the weak labels. Off by
        default: with one or a handful of labeled anomalies that split is degenerate.
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    random_state : int, numpy Generator or None

    All other parameters are scikit-learn's defaults (1.x).

    Attributes
    ----------
    model_ : sklearn.ensemble.HistGradientBoostingClassifier
    decision_scores_, threshold_, labels_, n_features_in_
        As in PyOD.
    """

    weakly_supervised = True
    _sklearn_attrs = ("model_",)
    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_leaf_nodes": [Interval(Integral, 2, None, closed="left")],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
        "l2_regularization": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "early_stopping": ["boolean"],
    }

    def __init__(self, *, learning_rate=0.1, max_iter=100, max_leaf_nodes=31, min_samples_leaf=20,
                 l2_regularization=0.0, class_weight="balanced", early_stopping=False,
                 contamination="auto", random_state=None):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.contamination = contamination
        self.random_state = random_state

    def _fit(self, X, y, rng, validation_data):
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model_ = HistGradientBoostingClassifier(
            learning_rate=float(self.learning_rate), max_iter=int(self.max_iter),
            max_leaf_nodes=int(self.max_leaf_nodes), min_samples_leaf=int(self.min_samples_leaf),
            l2_regularization=float(self.l2_regularization), class_weight=self.class_weight,
            early_stopping=self.early_stopping, random_state=int(rng.integers(2**31 - 1)),
        ).fit(X, y)
        self.history_ = []

    def _score(self, X):
        return self.model_.decision_function(X).astype(np.float64)
