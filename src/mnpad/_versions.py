"""Versions of mnpad and its main dependencies, recorded in model files and benchmark rows."""

from __future__ import annotations

import platform
from importlib import metadata

from ._version import __version__

__all__ = ["versions"]

_CACHE = None


def versions():
    """``{"mnpad", "python", "numpy", "scikit-learn", "torch"}`` -> version text.

    Read from the installed distributions' metadata, so nothing heavy (torch) is imported.
    A package that is not installed is left out.
    """
    global _CACHE
    if _CACHE is None:
        out = {"mnpad": __version__, "python": platform.python_version()}
        for key, dist in (("numpy", "numpy"), ("scikit-learn", "scikit-learn"),
                          ("torch", "torch")):
            try:
                out[key] = metadata.version(dist)
            except metadata.PackageNotFoundError:  # pragma: no cover
                pass
        _CACHE = out
    return dict(_CACHE)
