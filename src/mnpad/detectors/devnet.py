"""DevNet: deviation networks (Pang, Shen and van den Hengel, KDD 2019).

A shallow scorer d -> 20 (ReLU) -> 1 trained with the deviation loss: scores are standardised
by the mean and standard deviation of 5000 draws from a N(0, 1) prior; unlabeled rows are pulled
to the prior mean (|dev|), labeled anomalies pushed at least ``margin`` deviations above it.
Balanced batches (half unlabeled, half labeled anomalies, drawn with replacement), RMSprop with
gradient-norm clipping 1, L2 0.01 on the hidden layer. ``docs/baselines/devnet.md`` lists every
choice and deviation.
"""

from __future__ import annotations

from .._validation import check_params
from ..base import TorchDetector
from ._weak import balanced_batches, keras_init, keras_rmsprop, same_shape

__all__ = ["DevNet", "deviation_loss"]


def deviation_loss(scores, y, ref_mean, ref_std, margin):
    """Per-batch deviation loss (mean over rows) of scores ``(B,)`` against labels ``(B,)``.

    dev = (score - ref_mean) / ref_std; an unlabeled row (y = 0) costs |dev|, a labeled anomaly
    (y = 1) costs max(0, margin - dev).
    """
    import torch

    same_shape(scores, y)
    dev = (scores - ref_mean) / ref_std
    return ((1.0 - y) * dev.abs() + y * torch.relu(margin - dev)).mean()


def _build(n_features, hidden):
    from torch import nn

    return keras_init(nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(),
                                    nn.Linear(hidden, 1)))


class DevNet(TorchDetector):
    """Deviation network weakly supervised anomaly detector.

    Parameters
    ----------
    hidden : int, default=20
        Width of the single hidden layer (the paper's default shallow network).
    epochs : int, default=50
    steps_per_epoch : int, default=20
    train_batch_size : int, default=512
        Rows per training batch, half unlabeled and half labeled anomalies.
    lr : float, default=1e-3
        RMSprop learning rate (Keras default, as in the original).
    l2 : float, default=0.01
        Coefficient of the explicit penalty ``l2 * ||W_hidden||^2`` (Keras ``l2(0.01)``
        kernel regulariser on the hidden layer only).
    clip_norm : float, default=1.0
        Global gradient-norm clip (Keras ``clipnorm``).
    margin : float, default=5.0
        Confidence margin ``a`` of the deviation loss.
    n_ref : int, default=5000
        Draws from N(0, 1) giving the reference mean and standard deviation.
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    batch_size : int, default=4096
        Rows per scoring chunk (memory only: scores never depend on it).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    ref_mean_, ref_std_ : float
        Statistics of the reference draws used by the loss.
    decision_scores_, threshold_, labels_, history_, n_features_in_
        As in PyOD; ``history_`` holds per-epoch mean losses.

    Notes
    -----
    ``decision_function`` returns the network output (the original's score).
    ``validation_data`` is ignored: the original trains for a fixed schedule.
    """

    weakly_supervised = True
    min_unlabeled = 2
    _fitted_json = ("ref_mean_", "ref_std_")

    def __init__(self, hidden=20, epochs=50, steps_per_epoch=20, train_batch_size=512, lr=1e-3,
                 l2=0.01, clip_norm=1.0, margin=5.0, n_ref=5000, contamination="auto",
                 batch_size=4096, device="auto", random_state=None, verbose=False):
        self.hidden = hidden
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.l2 = l2
        self.clip_norm = clip_norm
        self.margin = margin
        self.n_ref = n_ref
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _architecture(self, X, y):
        return {"n_features": int(X.shape[1]), "hidden": int(self.hidden)}

    def _build_network(self, n_features, hidden):
        return _build(n_features, hidden)

    def _optimizer(self, params):
        return keras_rmsprop(params, float(self.lr))

    def _setup(self, X, y, rng, validation_data):
        check_params(self, pos_int=("hidden", "steps_per_epoch", "batch_size"),
                     nonneg_int=("epochs",), pos_num=("lr", "clip_norm"),
                     nonneg_num=("l2", "margin"), min_int={"train_batch_size": 2, "n_ref": 2})
        ref = rng.standard_normal(int(self.n_ref))
        self.ref_mean_, self.ref_std_ = float(ref.mean()), float(ref.std())
        return super()._setup(X, y, rng, validation_data)

    def _batches(self, rng, data, epoch):
        return balanced_batches(rng, data, int(self.steps_per_epoch), int(self.train_batch_size))

    def _batch_loss(self, batch, data):
        import torch

        iu, ia, target = batch
        x = torch.cat([data["Xu"][iu], data["Xa"][ia]])
        dev = deviation_loss(self.net_(x)[:, 0], target, self.ref_mean_, self.ref_std_,
                             float(self.margin))
        return {"loss": dev + float(self.l2) * self.net_[0].weight.pow(2).sum(), "loss_dev": dev}

    def _score_batch(self, t):
        return self.net_(t)[:, 0]
