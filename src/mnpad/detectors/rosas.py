"""RoSAS: contamination-resilient continuous supervision (Xu, Wang, Pang, Jian, Liu and Wang,
IP&M 2023).

A bias-free encoder d -> d + (128 - d)/2 -> 128 (LeakyReLU between) gives an embedding; a head
128 -> 64 -> 1 (LeakyReLU, tanh) gives the score. Each step draws triplets (anchor and positive
unlabeled, negative a labeled anomaly) and minimises, with adaptive weights
exp(L / L_prev_epoch / T) normalised over the two losses,

- a triplet loss (margin 1) on the embeddings;
- a score loss on mixed rows: x~ = l x_i + (1 - l) x_j, l ~ Beta(a, a), over the batch's rows
  and a permutation of them, SmoothL1 of s(x~) to the mixed target (-1 unlabeled, +1 anomaly)
  plus SmoothL1 of s(x~) to the mixed scores l s(x_i) + (1 - l) s(x_j) (consistency);

plus 1e-2 x the L2 norm of the summed triplet embeddings. ``docs/baselines/rosas.md`` lists every
choice and deviation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_params
from ..base import TorchDetector
from ._weak import as_index, same_shape, val_metric

__all__ = ["RoSAS"]


class RoSASNet(nn.Module):
    def __init__(self, n_features, hidden, emb, head):
        super().__init__()
        self.hidden = nn.Linear(n_features, hidden, bias=False)
        self.emb = nn.Linear(hidden, emb, bias=False)
        self.head = nn.Linear(emb, head, bias=False)
        self.out = nn.Linear(head, 1)

    def forward(self, x):
        """(embedding, score logit); the score is tanh(logit)."""
        e = self.emb(F.leaky_relu(self.hidden(x)))
        return e, self.out(F.leaky_relu(self.head(e)))[:, 0]


class RoSAS(TorchDetector):
    """RoSAS weakly supervised anomaly detector.

    Parameters
    ----------
    emb_dim : int, default=128
        Embedding width; the hidden layer has ``d + (emb_dim - d) // 2`` units and the head
        ``emb_dim // 2``.
    epochs : int, default=200
        Maximum epochs; with ``validation_data`` training stops after ``patience`` epochs
        without improvement of validation AUC-ROC + average precision and the best epoch's
        weights are kept (as in the original); without it the full schedule runs.
    steps_per_epoch : int, default=16
    train_batch_size : int, default=32
        Triplets per batch. Anchors and positives are drawn without replacement within a batch
        when there are at least that many unlabeled rows, otherwise with replacement.
    lr : float, default=5e-3
    weight_decay : float, default=1e-4
        Adam weight decay (on all parameters, as in the original).
    margin : float, default=1.0
        Triplet margin.
    mixup_alpha : float, default=0.5
        Beta(alpha, alpha) of the mixing coefficient.
    temperature : float, default=2.0
        T of the adaptive loss weights.
    l2_weight : float, default=1e-2
        Weight of the embedding-norm regulariser.
    patience : int, default=15
    contamination : 'auto' or float, default='auto'
    batch_size : int, default=4096
        Rows per scoring chunk (memory only: scores never depend on it).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False

    Notes
    -----
    ``decision_function`` returns the score before the tanh: same ranking, without the ties
    that float32 saturation of tanh at 1 would create.
    """

    weakly_supervised = True
    min_unlabeled = 2

    def __init__(self, emb_dim=128, epochs=200, steps_per_epoch=16, train_batch_size=32, lr=5e-3,
                 weight_decay=1e-4, margin=1.0, mixup_alpha=0.5, temperature=2.0, l2_weight=1e-2,
                 patience=15, contamination="auto", batch_size=4096, device="auto",
                 random_state=None, verbose=False):
        self.emb_dim = emb_dim
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.margin = margin
        self.mixup_alpha = mixup_alpha
        self.temperature = temperature
        self.l2_weight = l2_weight
        self.patience = patience
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    uses_validation = True

    def _architecture(self, X, y):
        check_params(self, pos_int=("emb_dim", "steps_per_epoch", "train_batch_size",
                                    "batch_size"),
                     nonneg_int=("epochs", "patience"),
                     pos_num=("lr", "mixup_alpha", "temperature"),
                     nonneg_num=("weight_decay", "margin", "l2_weight"))
        D, emb = int(X.shape[1]), int(self.emb_dim)
        return {"n_features": D, "hidden": max(D + (emb - D) // 2, 1), "emb": emb,
                "head": max(emb // 2, 1)}

    def _build_network(self, n_features, hidden, emb, head):
        return RoSASNet(n_features, hidden, emb, head)

    def _triplet_indices(self, rng, n_u, n_a, steps):
        """(anchor, positive, negative) index arrays of one epoch, each (steps, batch)."""
        bs = int(self.train_batch_size)
        if n_u >= bs:  # the original: unlabeled rows without replacement within a batch
            anc = np.stack([rng.choice(n_u, bs, replace=False) for _ in range(steps)])
            pos = np.stack([rng.choice(n_u, bs, replace=False) for _ in range(steps)])
        else:  # fewer unlabeled rows than a batch: with replacement instead of crashing
            anc, pos = rng.integers(0, n_u, (steps, bs)), rng.integers(0, n_u, (steps, bs))
        return anc, pos, rng.integers(0, n_a, (steps, bs))

    def _setup(self, X, y, rng, validation_data):
        data = super()._setup(X, y, rng, validation_data)
        bs = int(self.train_batch_size)
        data["target"] = torch.cat([-torch.ones(2 * bs), torch.ones(bs)]).to(self._device())
        data["prev"] = {"loss_emb": 1.0, "loss_score": 1.0}  # the original starts from 1
        data["triplet"] = torch.nn.TripletMarginLoss(margin=float(self.margin))
        return data

    def _batches(self, rng, data, epoch):
        Xu, Xa, steps, bs = data["Xu"], data["Xa"], int(self.steps_per_epoch), int(
            self.train_batch_size)
        a = float(self.mixup_alpha)
        anc, pos, neg = as_index(*self._triplet_indices(rng, Xu.shape[0], Xa.shape[0], steps),
                                 device=Xu.device)
        perm = rng.permuted(np.tile(np.arange(3 * bs), (steps, 1)), axis=1)
        (perm,) = as_index(perm, device=Xu.device)
        lam_all = torch.as_tensor(rng.beta(a, a, (steps, 3 * bs)), dtype=torch.float32,
                                  device=Xu.device)
        return [(anc[t], pos[t], neg[t], perm[t], lam_all[t]) for t in range(steps)]

    def _batch_loss(self, batch, data):
        anc, pos, neg, j, lam = batch
        net, bs, target, prev = self.net_, int(self.train_batch_size), data["target"], data["prev"]
        x = torch.cat([data["Xu"][anc], data["Xu"][pos], data["Xa"][neg]])
        e, logit = net(x)
        s = torch.tanh(logit)
        ea, ep, en = e[:bs], e[bs:2 * bs], e[2 * bs:]
        l_emb = data["triplet"](ea, ep, en)
        s_tilde = torch.tanh(net(lam[:, None] * x + (1 - lam[:, None]) * x[j])[1])
        y_tilde = lam * target + (1 - lam) * target[j]
        s_mix = lam * s + (1 - lam) * s[j]
        same_shape(s_tilde, y_tilde, s_mix)
        l_out = F.smooth_l1_loss(s_tilde, y_tilde)
        l_con = F.smooth_l1_loss(s_tilde, s_mix)
        l_score = l_out + l_con
        # exp(r_k / T) / sum exp(r_j / T), as a softmax: same value, no overflow when a
        # previous epoch's loss was ~0 (the original then produces inf / inf = NaN)
        rates = torch.stack([l_emb / prev["loss_emb"], l_score / prev["loss_score"]])
        k = torch.softmax(rates / float(self.temperature), 0)
        loss = k[0] * l_emb + k[1] * l_score + float(self.l2_weight) * (ea + ep + en).norm()
        return {"loss": loss, "loss_emb": l_emb, "loss_score": l_score,
                "loss_out": l_out, "loss_consistency": l_con}

    def _epoch_end(self, sums, n_steps, data):
        prev = data["prev"]
        for k in prev:  # the weights of the next epoch use this epoch's mean losses
            mean = float(sums[k]) / n_steps
            if mean > 0:
                prev[k] = mean
        return {}

    def _validation_score(self, X_val, y_val):
        return val_metric(y_val, self._score(X_val))

    def _score_batch(self, t):
        return self.net_(t)[1]
