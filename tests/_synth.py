"""Synthetic weakly supervised tasks for tests (no files needed)."""

from __future__ import annotations

import numpy as np


def multimodal_task(seed=0, n_normal=1600, d=12, n_clusters=4, n_labeled=10):
    """Multi-modal normal data with two anomaly types and contamination.

    Normal rows come from ``n_clusters`` tight Gaussian clusters. Anomalies of type A sit in a
    small cluster near the centroid of the normal clusters (where a single prototype lies);
    type B are scattered uniformly. ``n_labeled`` type-A anomalies of the training split are
    labeled; the other training anomalies stay unlabeled (contamination). The test split holds
    both types, so a detector also needs a good model of normality, not only the labels.
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.1, 0.9, size=(n_clusters, d))

    def normal(m):
        c = rng.integers(0, n_clusters, m)
        return centers[c] + rng.normal(0, 0.05, (m, d))

    def anom_a(m):
        return centers.mean(0) + rng.normal(0, 0.05, (m, d))

    def anom_b(m):
        return rng.uniform(0, 1, (m, d))

    Xtr = np.vstack([normal(n_normal), anom_a(40), anom_b(20)])
    ytrue = np.r_[np.zeros(n_normal), np.ones(60)].astype(np.int8)
    y = np.zeros_like(ytrue)
    y[n_normal:n_normal + n_labeled] = 1
    Xte = np.vstack([normal(n_normal // 2), anom_a(25), anom_b(25)])
    yte = np.r_[np.zeros(n_normal // 2), np.ones(50)].astype(np.int8)
    lo, hi = Xtr.min(0), Xtr.max(0)
    scale = lambda A: ((A - lo) / (hi - lo)).astype(np.float32)  # noqa: E731
    return scale(Xtr), y, ytrue, scale(Xte), yte
