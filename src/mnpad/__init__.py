"""mnpad: weakly supervised anomaly detection on tabular data.

>>> from mnpad import MNP
>>> det = MNP(random_state=0).fit(X, y)          # y: 1 = labeled anomaly, 0 = unlabeled
>>> scores = det.decision_function(X_new)         # higher = more anomalous

Importing ``mnpad`` is cheap: detectors, torch and the pipeline are imported on first use.
"""

from ._version import __version__
from .detectors import get_detector, list_detectors

__all__ = ["__version__", "MNP", "load", "get_detector", "list_detectors", "Pipeline"]


def load(path, device=None):
    """Load a model file: a detector (``detector.save``) or a :class:`Pipeline`
    (``Pipeline.save``, ``mnpad fit``); no pickle is read.

    Parameters
    ----------
    path : str or Path
    device : str, optional
        Override the saved ``device`` parameter (e.g. load a GPU-trained model on 'cpu').
        By default a model saved on an unavailable CUDA device is loaded with 'auto'.
    """
    from . import pipeline  # noqa: F401  (registers the loader of the "pipeline" kind)
    from .persistence import load as _load

    return _load(path, device=device)


def __getattr__(name):
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    from . import detectors

    return getattr(detectors, name)
