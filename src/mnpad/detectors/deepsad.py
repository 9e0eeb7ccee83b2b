"""Deep SAD: deep semi-supervised anomaly detection (Ruff et al., ICLR 2020).

Deep SVDD (:mod:`mnpad.detectors.deepsvdd`: bias-free MLP, autoencoder pretraining, centre
``c``) whose objective treats labeled anomalies inversely: an unlabeled row costs
``||phi(x) - c||^2``, a labeled anomaly ``eta * (||phi(x) - c||^2 + 1e-6)^-1``, so anomalies are
pushed away from the centre. Score: ``||phi(x) - c||^2``. ``docs/baselines.md`` lists every
choice and deviation.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .deepsvdd import DeepSVDD, _epoch_batches

__all__ = ["DeepSAD", "deepsad_loss"]


def deepsad_loss(dist, y, eta=1.0, eps=1e-6):
    """Mean Deep SAD loss of squared distances ``dist`` (B,) and weak labels ``y`` (B,):
    ``dist`` for unlabeled rows (y = 0), ``eta / (dist + eps)`` for labeled anomalies (y = 1)."""
    import torch

    if dist.shape != y.shape or dist.ndim != 1:
        raise ValueError(f"dist and y must both have shape (B,); got {tuple(dist.shape)} and "
                         f"{tuple(y.shape)}.")
    return torch.where(y == 0, dist, eta / (dist + eps)).mean()


class DeepSAD(DeepSVDD):
    """Deep Semi-supervised Anomaly Detection, weakly supervised.

    Parameters
    ----------
    hidden_dims : tuple of int, default=(100, 20)
        Hidden layer widths of the bias-free MLP (ADBench's tabular Deep SAD network).
    rep_dim : int, default=10
    batch_norm : bool, default=True
        BatchNorm after each hidden layer (Deep SAD's network); False: DeepOD's plain MLP.
    eta : float, default=1.0
        Weight of the labeled-anomaly term.
    balanced_sampling : bool, default=False
        False (the original): each epoch is one shuffled pass over all training rows, so the
        few labeled anomalies are rare in batches. True (DeepOD's sampler, which the MNP paper
        ran): each epoch draws ``n`` rows with replacement, half of the draws from labeled
        anomalies and half from unlabeled rows.
    epochs : int, default=50
    pretrain_epochs : int, default=100
        Autoencoder pretraining epochs on all training rows (labels unused; 0 disables).
    train_batch_size : int, default=128
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-6
    eps : float, default=0.1
        Entries of the centre ``c`` closer to 0 than ``eps`` are set to ``+-eps``.
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    batch_size : int, default=4096
        Rows per scoring chunk (memory only; a row's score never depends on the other rows).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    center_ : ndarray of shape (rep_dim,)
    decision_scores_, threshold_, labels_, history_, n_features_in_
        As in PyOD.
    """

    weakly_supervised = True
    _parameter_constraints = {
        **DeepSVDD._parameter_constraints,
        "eta": [Interval(Real, 0, None, closed="neither")],
        "balanced_sampling": ["boolean"],
    }

    def __init__(self, *, hidden_dims=(100, 20), rep_dim=10, eta=1.0, balanced_sampling=False,
                 epochs=50, pretrain_epochs=100, train_batch_size=128, lr=1e-3,
                 weight_decay=1e-6, eps=0.1, contamination="auto", batch_size=4096,
                 device="auto", random_state=None, verbose=False, batch_norm=True):
        super().__init__(hidden_dims=hidden_dims, rep_dim=rep_dim, epochs=epochs,
                         pretrain_epochs=pretrain_epochs, train_batch_size=train_batch_size,
                         lr=lr, weight_decay=weight_decay, eps=eps, contamination=contamination,
                         batch_size=batch_size, device=device, random_state=random_state,
                         verbose=verbose, batch_norm=batch_norm)
        self.eta = eta
        self.balanced_sampling = balanced_sampling

    def _loss(self, dist, yb):
        return deepsad_loss(dist, yb, float(self.eta))

    def _epoch_index(self, rng, y):
        n, bs = y.shape[0], int(self.train_batch_size)
        if not self.balanced_sampling:
            return _epoch_batches(rng, n, bs)
        anom, unl = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        pick = rng.random(n) < 0.5
        idx = np.where(pick, anom[rng.integers(0, anom.size, n)], unl[rng.integers(0, unl.size, n)])
        return np.array_split(idx, max(1, n // bs))
