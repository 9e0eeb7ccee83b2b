"""Deep SVDD: deep one-class classification (Ruff et al., ICML 2018).

A bias-free MLP ``phi`` maps rows into a representation space; training pulls every training row
towards a fixed centre ``c`` (the one-class objective ``mean ||phi(x) - c||^2`` plus Adam weight
decay). The network is first pretrained as the encoder of an autoencoder, ``c`` is the mean
initial representation with entries pushed to at least +-``eps``. Score: ``||phi(x) - c||^2``.

This module also holds the machinery Deep SAD (:mod:`mnpad.detectors.deepsad`) shares: Deep SAD
is Deep SVDD whose labeled anomalies get the inverse loss. ``docs/baselines.md`` lists every
choice and deviation.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._validation import IntTuple
from ..base import TorchDetector, _torch_rng_from

__all__ = ["DeepSVDD", "svdd_network"]


def svdd_network(n_features, hidden, rep_dim, decoder=False, batch_norm=True):
    """Bias-free MLP of Deep SAD's tabular experiments: per hidden layer Linear (no bias) ->
    BatchNorm (no affine, eps 1e-4) -> LeakyReLU(0.01); last layer Linear (no bias) to
    ``rep_dim``. ``batch_norm=False`` drops the BatchNorm layers (DeepOD's plain MLP). With
    ``decoder=True`` the mirrored network ``rep_dim -> ... -> n_features``."""
    from torch import nn

    dims = [n_features, *hidden, rep_dim]
    if decoder:
        dims = dims[::-1]
    layers = []
    for a, b in zip(dims[:-2], dims[1:-1], strict=True):
        layers.append(nn.Linear(a, b, bias=False))
        if batch_norm:
            layers.append(nn.BatchNorm1d(b, eps=1e-4, affine=False))
        layers.append(nn.LeakyReLU(0.01))
    layers.append(nn.Linear(dims[-2], dims[-1], bias=False))
    return nn.Sequential(*layers)


def _epoch_batches(rng, n, batch_size):
    """One epoch of a shuffled pass: ``max(1, n // batch_size)`` near-equal batches covering
    every row once, so no batch has fewer than ``min(n, batch_size)`` rows (BatchNorm needs
    at least 2)."""
    k = max(1, n // batch_size)
    return np.array_split(rng.permutation(n), k)


class DeepSVDD(TorchDetector):
    """Deep Support Vector Data Description (one-class), unsupervised.

    ``fit`` accepts ``y`` for API compatibility and ignores it: every training row is treated
    as normal, as in the original.

    Parameters
    ----------
    hidden_dims : tuple of int, default=(100, 20)
        Hidden layer widths of the bias-free MLP (ADBench's tabular Deep SAD network).
    rep_dim : int, default=10
        Width of the representation space.
    batch_norm : bool, default=True
        BatchNorm (no affine) after each hidden layer, as Deep SAD's tabular network. False
        gives DeepOD's plain bias-free MLP, which the MNP paper ran; on Backdoor the choice
        flips the ranking (see ``docs/baselines.md``).
    epochs : int, default=50
        Training epochs of the one-class objective (one pass over the rows each).
    pretrain_epochs : int, default=100
        Autoencoder pretraining epochs (0 disables pretraining).
    train_batch_size : int, default=128
    lr : float, default=1e-3
        Adam learning rate (pretraining and training).
    weight_decay : float, default=1e-6
        Adam weight decay (the network-weight regulariser of the objective).
    eps : float, default=0.1
        Entries of the centre ``c`` closer to 0 than ``eps`` are set to ``+-eps``.
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    batch_size : int, default=4096
        Rows per scoring chunk (memory only; a row's score never depends on the other rows).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False
        Show a tqdm progress bar over epochs.

    Attributes
    ----------
    center_ : ndarray of shape (rep_dim,)
        The centre ``c``.
    decision_scores_, threshold_, labels_, history_, n_features_in_
        As in PyOD; ``history_`` holds the per-epoch mean losses of both phases.
    """

    weakly_supervised = False
    _fitted_arrays = ("center_",)
    _parameter_constraints = {
        **TorchDetector._parameter_constraints,
        "hidden_dims": [IntTuple(1)],
        "rep_dim": [Interval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "train_batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, hidden_dims=(100, 20), rep_dim=10, epochs=50, pretrain_epochs=100,
                 train_batch_size=128, lr=1e-3, weight_decay=1e-6, eps=0.1,
                 contamination="auto", batch_size=4096, device="auto", random_state=None,
                 verbose=False, batch_norm=True):
        self.hidden_dims = hidden_dims
        self.rep_dim = rep_dim
        self.batch_norm = batch_norm
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.eps = eps
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _architecture(self, X, y):
        return {"n_features": int(X.shape[1]), "hidden": [int(v) for v in self.hidden_dims],
                "rep_dim": int(self.rep_dim), "batch_norm": bool(self.batch_norm)}

    def _build_network(self, n_features, hidden, rep_dim, batch_norm=True):
        return svdd_network(n_features, hidden, rep_dim, batch_norm=batch_norm)

    # ------------------------------------------------------------------ training
    def _loss(self, dist, yb):
        """Per-batch objective from squared distances ``(B,)``: one-class mean distance."""
        return dist.mean()

    def _epoch_index(self, rng, y):
        """Row indices of each batch of one epoch (a shuffled pass over all rows)."""
        return _epoch_batches(rng, y.shape[0], int(self.train_batch_size))

    def _setup(self, X, y, rng, validation_data):
        import torch

        if not self.weakly_supervised:
            y = np.zeros_like(y)  # unsupervised: every row is treated as normal
        return {"X": X, "Xt": self._tensor(X), "y": y,
                "yt": torch.as_tensor(y, device=self._device())}

    def _before_training(self, data, rng):
        """Autoencoder pretraining of ``net_`` (encoder) with a mirrored decoder, MSE loss,
        Adam, on all training rows (labels unused, as in the original); then the centre ``c``:
        the mean initial representation, near-zero entries pushed to +-``eps``."""
        import torch

        Xt, history = data["Xt"], []
        if int(self.pretrain_epochs) > 0:
            with _torch_rng_from(self._torch_gen):  # its initial values: the fit's generator
                dec = svdd_network(**self.arch_, decoder=True)
            dec = dec.to(Xt.device)
            opt = self._optimizer(list(self.net_.parameters()) + list(dec.parameters()))
            history = self._pretrain_autoencoder(
                lambda x: dec(self.net_(x)), Xt, int(self.pretrain_epochs), opt,
                lambda _: _epoch_batches(rng, Xt.shape[0], int(self.train_batch_size)),
                modules=[self.net_, dec])
        self.net_.eval()
        c = torch.as_tensor(self._batched(self.net_, data["X"], chunk=int(self.batch_size)).mean(0),
                            device=self._device())
        eps = float(self.eps)
        small = c.abs() < eps
        c[small] = torch.where(c[small] < 0, -eps, eps)
        self.center_ = c.cpu().numpy()
        data["c"] = c
        return history

    def _batches(self, rng, data, epoch):
        return self._epoch_index(rng, data["y"])

    def _batch_loss(self, b, data):
        import torch

        b = torch.as_tensor(b, device=data["Xt"].device)
        dist = ((self.net_(data["Xt"][b]) - data["c"]) ** 2).sum(1)
        return {"loss": self._loss(dist, data["yt"][b])}

    # ------------------------------------------------------------------ scoring
    def _score(self, X):
        import torch

        c = torch.as_tensor(self.center_, dtype=torch.float32, device=self._device())
        return self._batched(lambda t: ((self.net_(t) - c) ** 2).sum(1), X,
                             chunk=int(self.batch_size)).astype(np.float64)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then :meth:`transform` the training rows (scikit-learn's transformer API)."""
        return self.fit(X, y, **fit_params).transform(X)

    def transform(self, X):
        """Representation ``phi(X)``, shape (n_samples, rep_dim)."""
        X = self._validate_X(X)
        return self._batched(self.net_, X, chunk=int(self.batch_size))
