"""Scikit-learn estimators inside mnpad model files, without pickle.

Fitted scikit-learn estimators (IForest's and DIF's isolation forests, GBDT's boosted trees) are
stored with ``skops.io`` as blobs of the model archive. Loading trusts skops' default trusted
types plus a fixed allow-list of scikit-learn tree types (never ``trusted=True``); a blob that
asks for any other type is refused with a ``ValueError``.
"""

from __future__ import annotations

import zipfile

__all__ = ["ALLOWED_TYPES", "estimator_to_bytes", "estimator_from_bytes", "SklearnStateMixin"]

#: scikit-learn types that skops does not trust by default but mnpad's own models contain
ALLOWED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})


def estimator_to_bytes(est) -> bytes:
    """Serialise a fitted scikit-learn object (or a list of them) with ``skops.io``."""
    import skops.io as sio

    return sio.dumps(est, compression=zipfile.ZIP_DEFLATED)


def estimator_from_bytes(data: bytes, name="estimator"):
    """Inverse of :func:`estimator_to_bytes`, refusing any type outside the allow-list."""
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise ValueError(f"corrupt mnpad model file: blob {name!r} is unreadable ({exc}).") from None
    refused = sorted(untrusted - ALLOWED_TYPES)
    if refused:
        raise ValueError(
            f"model file blob {name!r} contains types mnpad does not trust: {refused}; refusing "
            "to load it."
        )
    try:
        return sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise ValueError(f"corrupt mnpad model file: blob {name!r} failed to load ({exc}).") from None


class SklearnStateMixin:
    """Adds the fitted scikit-learn attributes named in ``_sklearn_attrs`` to persistence.

    Put it before the base class: ``class IForest(SklearnStateMixin, BaseDetector)``.
    """

    _sklearn_attrs: tuple = ()

    def _get_fitted_state(self):
        state, arrays, blobs = super()._get_fitted_state()
        for attr in self._sklearn_attrs:
            blobs[f"{attr}.skops"] = estimator_to_bytes(getattr(self, attr))
        return state, arrays, blobs

    def _set_fitted_state(self, state, arrays, blobs):
        super()._set_fitted_state(state, arrays, blobs)
        for attr in self._sklearn_attrs:
            key = f"{attr}.skops"
            if key not in blobs:
                raise ValueError(f"corrupt mnpad model file: blob {key!r} is missing.")
            setattr(self, attr, estimator_from_bytes(blobs[key], key))
