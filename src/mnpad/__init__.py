"""mnpad: weakly supervised anomaly detection on tabular data.

>>> from mnpad import MNP
>>> det = MNP(random_state=0).fit(X, y)          # y: 1 = labeled anomaly, 0 = unlabeled
>>> scores = det.decision_function(X_new)         # higher = more anomalous
"""

from ._version import __version__
from .detectors import get_detector, list_detectors
from .persistence import load

__all__ = ["__version__", "MNP", "load", "get_detector", "list_detectors", "Pipeline"]


def __getattr__(name):
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    from . import detectors

    return getattr(detectors, name)
