"""Test helpers of tests/test_bench.py: a tiny, optionally slow detector and synthetic data.

Importable by name (``bench_fakes:SlowDetector``) from joblib/Dask workers and from a
subprocess, because pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import time
import zlib

import numpy as np

from mnpad.base import BaseDetector


class SlowDetector(BaseDetector):
    """Distance to a seed-jittered mean of the unlabeled rows; sleeps ``delay`` s in fit."""

    def __init__(self, delay=0.0, jitter=0.05, contamination="auto", random_state=None):
        self.delay = delay
        self.jitter = jitter
        self.contamination = contamination
        self.random_state = random_state

    def _fit(self, X, y, rng, validation_data):
        self.center_ = X[y == 0].mean(0) + self.jitter * rng.standard_normal(X.shape[1])
        time.sleep(self.delay)

    def _score(self, X):
        return np.linalg.norm(X - self.center_, axis=1)


def make_data(name, n=300, d=5, frac=0.1):
    """Deterministic toy data: normal N(0,1) rows, anomalies shifted by +2.5."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    y = (rng.random(n) < frac).astype(np.int8)
    X = rng.standard_normal((n, d)).astype(np.float32) + 2.5 * y[:, None]
    return X, y
