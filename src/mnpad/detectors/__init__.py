"""Detectors and their registry.

``get_detector(name, **params)`` builds a detector by its registry name (case-insensitive);
``list_detectors()`` lists the names. The benchmark's ``--methods`` uses these names.
"""

from __future__ import annotations

import importlib

# registry name -> (module, class name); modules are imported lazily
_REGISTRY = {
    "mnp": ("mnpad.detectors.mnp", "MNP"),
    "rosas": ("mnpad.detectors.rosas", "RoSAS"),
    "prenet": ("mnpad.detectors.prenet", "PReNet"),
    "devnet": ("mnpad.detectors.devnet", "DevNet"),
    "deepsad": ("mnpad.detectors.deepsad", "DeepSAD"),
    "feawad": ("mnpad.detectors.feawad", "FeaWAD"),
    "dif": ("mnpad.detectors.dif", "DIF"),
    "deepsvdd": ("mnpad.detectors.deepsvdd", "DeepSVDD"),
    "iforest": ("mnpad.detectors.iforest", "IForest"),
    "gbdt": ("mnpad.detectors.gbdt", "GBDT"),
    "auto": ("mnpad.detectors.auto", "Auto"),
}

__all__ = ["get_detector", "list_detectors", "detector_class"]


def list_detectors():
    """Registry names of all detectors, in a stable order."""
    return list(_REGISTRY)


def _resolve(name):
    key = str(name).lower()
    if key not in _REGISTRY:
        raise KeyError(key)
    module, cls_name = _REGISTRY[key]
    return getattr(importlib.import_module(module), cls_name)


def detector_class(name):
    """Class of a registered detector, by registry name or class name."""
    try:
        return _resolve(name)
    except KeyError:
        for key, (_, cls_name) in _REGISTRY.items():
            if cls_name == name:
                return _resolve(key)
        raise


def get_detector(name, **params):
    """Instantiate a registered detector: ``get_detector('mnp', random_state=0)``."""
    try:
        cls = _resolve(name)
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; available: {', '.join(list_detectors())}"
        ) from None
    return cls(**params)


def __getattr__(name):
    for _key, (module, cls_name) in _REGISTRY.items():
        if cls_name == name:
            return getattr(importlib.import_module(module), cls_name)
    raise AttributeError(name)
