"""IForest: scikit-learn's Isolation Forest (Liu, Ting and Zhou, ICDM 2008 / TKDD 2012).

A thin wrapper giving ``sklearn.ensemble.IsolationForest`` the mnpad contract (validation,
seeding, thresholds, persistence without pickle). Score: the negated ``score_samples``, i.e.
``2^(-E[h(x)] / c(psi))`` of the original paper, so higher means more anomalous.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..base import BaseDetector
from ._sklearn import SklearnStateMixin

__all__ = ["IForest"]


class IForest(SklearnStateMixin, BaseDetector):
    """Isolation Forest, unsupervised.

    ``fit`` accepts ``y`` for API compatibility and ignores it.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of isolation trees (the original paper's t = 100).
    max_samples : int, default=256
        Rows drawn (without replacement) for each tree, psi = 256 in the original paper;
        capped at the number of rows.
    max_features : float, default=1.0
        Fraction of features drawn for each tree (scikit-learn's parameter).
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    n_jobs : int or None, default=None
        Passed to ``IsolationForest``.
    random_state : int, numpy Generator or None

    Attributes
    ----------
    model_ : sklearn.ensemble.IsolationForest
    decision_scores_, threshold_, labels_, n_features_in_
        As in PyOD.
    """

    weakly_supervised = False
    _sklearn_attrs = ("model_",)
    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_samples": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, *, n_estimators=100, max_samples=256, max_features=1.0,
                 contamination="auto", n_jobs=None, random_state=None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.contamination = contamination
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, X, y, rng, validation_data):
        from sklearn.ensemble import IsolationForest

        self.model_ = IsolationForest(
            n_estimators=int(self.n_estimators), max_samples=min(int(self.max_samples), len(X)),
            max_features=float(self.max_features), n_jobs=self.n_jobs,
            random_state=int(rng.integers(2**31 - 1))).fit(X)
        self.history_ = []

    def _score(self, X):
        return -self.model_.score_samples(X).astype(np.float64)
