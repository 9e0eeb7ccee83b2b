"""PReNet: pairwise relation prediction (Pang, Shen, Jin and van den Hengel, KDD 2023).

A shared layer d -> 20 (ReLU, L2 0.01) encodes each row of a pair; the two codes, concatenated,
go through a linear layer that regresses the pair's relation: unlabeled-unlabeled 0,
unlabeled-anomaly 4, anomaly-anomaly 8 (MAE loss; batches of 1/2, 1/4, 1/4 of the three kinds).
A row x is scored by the mean prediction over ``n_refs`` pairs (x, anomaly) and (unlabeled, x).
The reference rows are drawn once at fit time from the fit seed and stored, so scoring is
deterministic and a row's score does not depend on the rows scored with it.
``docs/baselines/prenet.md`` lists every choice and deviation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_params
from ..base import TorchDetector
from ._weak import as_index, keras_init, keras_rmsprop, same_shape

__all__ = ["PReNet"]

#: regression targets of unlabeled-unlabeled, unlabeled-anomaly, anomaly-anomaly pairs
TARGETS = (0.0, 4.0, 8.0)


class PairNet(nn.Module):
    """f(x1, x2) = out(cat(enc(x1), enc(x2))) with a shared one-layer encoder."""

    def __init__(self, n_features, hidden):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.out = nn.Linear(2 * hidden, 1)
        keras_init(self)

    def forward(self, x1, x2):
        return self.out(torch.cat([self.enc(x1), self.enc(x2)], -1))[..., 0]

    def score(self, x, ref_anom, ref_unl):
        """Mean of f(x, a_i) and f(u_i, x) over the references, without a (B, E, d) copy."""
        h, ha, hu = self.enc(x), self.enc(ref_anom), self.enc(ref_unl)
        B, E, H = h.shape[0], ha.shape[0], h.shape[1]
        hx = h[:, None, :].expand(B, E, H)
        f_xa = self.out(torch.cat([hx, ha[None].expand(B, E, H)], -1))[..., 0]
        f_ux = self.out(torch.cat([hu[None].expand(B, E, H), hx], -1))[..., 0]
        return 0.5 * (f_xa.mean(1) + f_ux.mean(1))


class PReNet(TorchDetector):
    """Pairwise relation prediction network, weakly supervised anomaly detector.

    Parameters
    ----------
    hidden : int, default=20
        Width of the shared encoder layer.
    epochs : int, default=50
    steps_per_epoch : int, default=20
    train_batch_size : int, default=512
        Pairs per batch: 1/2 unlabeled-unlabeled, 1/4 unlabeled-anomaly, 1/4 anomaly-anomaly.
    lr : float, default=1e-3
        RMSprop learning rate.
    l2 : float, default=0.01
        Coefficient of the explicit penalty ``l2 * ||W_enc||^2`` on the shared layer only.
    clip_norm : float, default=1.0
        Global gradient-norm clip (Keras ``clipnorm``).
    n_refs : int, default=30
        E, the number of (x, anomaly) and of (unlabeled, x) pairs averaged per scored row.
    contamination : 'auto' or float, default='auto'
    batch_size : int, default=4096
        Rows per scoring chunk (memory only: scores never depend on it).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    ref_anomalies_ : ndarray of shape (n_refs, n_features)
        Labeled anomalies (drawn with replacement) paired with every scored row.
    ref_unlabeled_ : ndarray of shape (n_refs, n_features)
        Unlabeled rows paired with every scored row.
    decision_scores_, threshold_, labels_, history_, n_features_in_

    Notes
    -----
    Pairs of the same kind are drawn with replacement, so a single labeled anomaly works (its
    anomaly-anomaly pair is the row with itself). ``validation_data`` is ignored.
    """

    weakly_supervised = True
    min_unlabeled = 2
    _fitted_arrays = ("ref_anomalies_", "ref_unlabeled_")

    def __init__(self, hidden=20, epochs=50, steps_per_epoch=20, train_batch_size=512, lr=1e-3,
                 l2=0.01, clip_norm=1.0, n_refs=30, contamination="auto", batch_size=4096,
                 device="auto", random_state=None, verbose=False):
        self.hidden = hidden
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.l2 = l2
        self.clip_norm = clip_norm
        self.n_refs = n_refs
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _pair_indices(self, rng, n_u, n_a, steps):
        """Per-epoch (first, second, target) index/target tensors of shape (steps, batch)."""
        bs = int(self.train_batch_size)
        n_uu, n_ua = bs // 2, bs // 4
        n_aa = bs - n_uu - n_ua
        size = (steps,)
        # first element: uu and ua pairs take an unlabeled row, aa pairs an anomaly (offset n_u
        # into the stacked [unlabeled; anomalies] matrix); second: unlabeled for uu, else anomaly
        first = np.concatenate([rng.integers(0, n_u, size + (n_uu + n_ua,)),
                                n_u + rng.integers(0, n_a, size + (n_aa,))], 1)
        second = np.concatenate([rng.integers(0, n_u, size + (n_uu,)),
                                 n_u + rng.integers(0, n_a, size + (n_ua + n_aa,))], 1)
        target = np.repeat(np.asarray(TARGETS, np.float32), [n_uu, n_ua, n_aa])
        return first, second, target

    def _architecture(self, X, y):
        return {"n_features": int(X.shape[1]), "hidden": int(self.hidden)}

    def _build_network(self, n_features, hidden):
        return PairNet(n_features, hidden)

    def _optimizer(self, params):
        return keras_rmsprop(params, float(self.lr))

    def _setup(self, X, y, rng, validation_data):
        check_params(self, pos_int=("hidden", "steps_per_epoch", "n_refs", "batch_size"),
                     nonneg_int=("epochs",), pos_num=("lr", "clip_norm"), nonneg_num=("l2",),
                     min_int={"train_batch_size": 4})
        Xu_np, Xa_np = X[y == 0], X[y == 1]
        n_u, n_a, E = Xu_np.shape[0], Xa_np.shape[0], int(self.n_refs)
        self.ref_anomalies_ = Xa_np[rng.integers(0, n_a, E)]
        self.ref_unlabeled_ = Xu_np[rng.choice(n_u, E, replace=n_u < E)]
        # one matrix [unlabeled; anomalies]: pair indices address both kinds
        return {"Xs": self._tensor(np.concatenate([Xu_np, Xa_np])), "n_u": n_u, "n_a": n_a}

    def _batches(self, rng, data, epoch):
        import torch

        steps, dev = int(self.steps_per_epoch), data["Xs"].device
        first, second, target = self._pair_indices(rng, data["n_u"], data["n_a"], steps)
        first, second = as_index(first, second, device=dev)
        target = torch.as_tensor(target, device=dev)
        return [(first[t], second[t], target) for t in range(steps)]

    def _batch_loss(self, batch, data):
        first, second, target = batch
        pred = self.net_(data["Xs"][first], data["Xs"][second])
        same_shape(pred, target)
        mae = (pred - target).abs().mean()
        return {"loss": mae + float(self.l2) * self.net_.enc[0].weight.pow(2).sum(),
                "loss_mae": mae}

    def _score(self, X):
        ra, ru = self._tensor(self.ref_anomalies_), self._tensor(self.ref_unlabeled_)
        return self._batched(lambda t: self.net_.score(t, ra, ru), X,
                             chunk=int(self.batch_size)).astype(np.float64)
