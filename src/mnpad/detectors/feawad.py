"""FeaWAD: feature encoding with autoencoders (Zhou, Song, Zhang, Liu, Zhu and Liu, TNNLS 2021).

An autoencoder d -> d -> 128 -> 64 -> 128 -> d (ReLU everywhere) is pretrained with MSE on
unlabeled rows; then the autoencoder and a scorer are trained end to end. The scorer sees the
unit-normalised reconstruction residual, the 64-d code and the residual norm r, with r appended
again before each hidden layer (256 -> 32 -> 1). Loss: unlabeled |s| + r, labeled anomalies
max(0, a - s) + max(0, a - r), on balanced batches. Unlike both public codes, r in the loss is
the norm of the raw residual (theirs is the norm of the already-normalised residual, always 1).
``docs/baselines/feawad.md`` lists every choice and deviation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_params
from ..base import TorchDetector
from ._weak import balanced_batches, keras_init, same_shape

__all__ = ["FeaWAD", "feawad_loss"]


def feawad_loss(scores, resid_norm, y, margin):
    """FeaWAD's loss (mean over rows); ``scores``, ``resid_norm`` and ``y`` all of shape (B,)."""
    import torch

    same_shape(scores, resid_norm, y)
    unl = scores.abs() + resid_norm
    anom = torch.relu(margin - scores) + torch.relu(margin - resid_norm)
    return ((1.0 - y) * unl + y * anom).mean()


class FeaWADNet(nn.Module):
    def __init__(self, n_features, code=64, wide=128, h1=256, h2=32):
        super().__init__()
        d = n_features
        self.encoder = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, wide), nn.ReLU(),
                                     nn.Linear(wide, code), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(code, wide), nn.ReLU(), nn.Linear(wide, d),
                                     nn.ReLU())
        self.hl1 = nn.Linear(d + code + 1, h1)
        self.hl2 = nn.Linear(h1 + 1, h2)
        self.out = nn.Linear(h2 + 1, 1)
        keras_init(self, normal=True)  # the original's glorot_normal

    def reconstruct(self, x):
        return self.decoder(self.encoder(x))

    def forward(self, x):
        """(score, raw residual norm), both of shape (B,)."""
        code = self.encoder(x)
        resid = x - self.decoder(code)
        r = resid.norm(dim=1, keepdim=True)
        h = F.relu(self.hl1(torch.cat([F.normalize(resid, dim=1), code, r], 1)))
        h = F.relu(self.hl2(torch.cat([h, r], 1)))
        return self.out(torch.cat([h, r], 1))[:, 0], r[:, 0]


class FeaWAD(TorchDetector):
    """Feature-encoding weakly supervised anomaly detector.

    Parameters
    ----------
    epochs : int, default=30
        End-to-end training epochs of ``steps_per_epoch`` balanced batches.
    pretrain_epochs : int, default=100
        Autoencoder pretraining epochs (MSE on unlabeled rows, ``steps_per_epoch`` batches of
        ``train_batch_size`` rows each).
    steps_per_epoch : int, default=20
    train_batch_size : int, default=512
        Rows per batch; in end-to-end training half unlabeled, half labeled anomalies.
    lr : float, default=1e-4
        Adam learning rate of both phases.
    margin : float, default=5.0
        Confidence margin ``a`` of the loss, for the score and the residual norm.
    contamination : 'auto' or float, default='auto'
    batch_size : int, default=4096
        Rows per scoring chunk (memory only: scores never depend on it).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    history_ : list of dict
        One entry per epoch: ``phase`` 'pretrain' (``loss`` = reconstruction MSE) or 'train'
        (``loss``), and ``steps`` taken.
    decision_scores_, threshold_, labels_, n_features_in_

    Notes
    -----
    ``validation_data`` is ignored: the original trains for a fixed schedule.
    """

    weakly_supervised = True
    min_unlabeled = 2

    def __init__(self, epochs=30, pretrain_epochs=100, steps_per_epoch=20, train_batch_size=512,
                 lr=1e-4, margin=5.0, contamination="auto", batch_size=4096, device="auto",
                 random_state=None, verbose=False):
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.steps_per_epoch = steps_per_epoch
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.margin = margin
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _architecture(self, X, y):
        check_params(self, pos_int=("steps_per_epoch", "batch_size"),
                     nonneg_int=("epochs", "pretrain_epochs"), pos_num=("lr",),
                     nonneg_num=("margin",), min_int={"train_batch_size": 2})
        return {"n_features": int(X.shape[1])}

    def _build_network(self, n_features):
        return FeaWADNet(n_features)

    def _before_training(self, data, rng):
        """Autoencoder pretraining on unlabeled rows."""
        Xu, net = data["Xu"], self.net_
        steps, bs = int(self.steps_per_epoch), int(self.train_batch_size)
        opt = self._optimizer(list(net.encoder.parameters()) + list(net.decoder.parameters()))
        return self._pretrain_autoencoder(
            net.reconstruct, Xu, int(self.pretrain_epochs), opt,
            lambda _: self._random_batches(rng, Xu.shape[0], steps, bs, Xu.device))

    def _batches(self, rng, data, epoch):
        return balanced_batches(rng, data, int(self.steps_per_epoch), int(self.train_batch_size))

    def _batch_loss(self, batch, data):
        import torch

        iu, ia, target = batch
        s, r = self.net_(torch.cat([data["Xu"][iu], data["Xa"][ia]]))
        return {"loss": feawad_loss(s, r, target, float(self.margin))}

    def _score_batch(self, t):
        return self.net_(t)[0]

    def residual_norm(self, X):
        """Norm of the raw reconstruction residual ||x - AE(x)|| of each row."""
        from .._validation import check_X

        self._check_fitted()
        X = check_X(X, n_features=self.n_features_in_)[0]
        return self._batched(lambda t: self.net_(t)[1], X, chunk=int(self.batch_size)).astype(
            np.float64)
