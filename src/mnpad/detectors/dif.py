"""DIF: Deep Isolation Forest (Xu, Pang, Wang and Wang, TKDE 2023).

``n_ensemble`` randomly initialised, never trained, bias-free MLPs (weights ~ N(0, 1)) map the
rows into random representations. Each representation is standardised with the mean and scale of
the *training* representations (fixed at fit time, so a row's score never depends on the batch it
is scored in; public DIF code refits the scaler on every scored batch), squashed by tanh, and
isolated by ``n_estimators`` isolation trees of ``max_samples`` rows. The score is the paper's
deviation-enhanced anomaly score (DEAS): per representation ``2^(-E[depth] / c(psi))`` times the
mean, over trees, of the average ``|z_j - threshold|`` along the row's path; averaged over the
ensemble. ``docs/baselines.md`` lists every choice and deviation.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from .._validation import IntTuple
from ..base import TorchDetector
from ._sklearn import SklearnStateMixin

__all__ = ["DIF", "deas_score", "path_stats"]

_ACTIVATIONS = ("relu", "tanh", "leaky_relu", "sigmoid")


class RandomMLPEnsemble(nn.Module):
    """``n_ensemble`` bias-free MLPs evaluated together; layer weights (E, in, out)."""

    def __init__(self, n_features, hidden, rep_dim, n_ensemble, activation):
        super().__init__()
        dims = [n_features, *hidden, rep_dim]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(n_ensemble, a, b), requires_grad=False)
            for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.activation = activation

    def member(self, x, e):
        """Representation of x (B, D) by ensemble member e, shape (B, rep_dim)."""
        act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
               "leaky_relu": nn.functional.leaky_relu}[self.activation]
        h = x
        last = len(self.weights) - 1
        for i, w in enumerate(self.weights):
            h = h @ w[e]
            if i < last:
                h = act(h)
        return h


def _average_path_length(n):
    """c(n): average path length of an unsuccessful BST search among n points (iForest)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.where(n <= 1, 0.0, 1.0)
    big = n > 2
    m = n[big]
    out[big] = 2.0 * (np.log(m - 1.0) + np.euler_gamma) - 2.0 * (m - 1.0) / m
    return out


def _forest_arrays(forest):
    """All trees of a fitted ``IsolationForest`` as flat node arrays (node ids offset per tree).

    Leaves become self-loops (both children the leaf itself, threshold +inf), so every row can
    take the same number of steps; features are mapped through ``estimators_features_`` to
    columns of the forest's input. Returns ``(left, right, feature, threshold, inner,
    leaf_correction, roots, depth)``; ``leaf_correction`` is c(n_node_samples) per node.
    """
    parts = {k: [] for k in ("left", "right", "feature", "threshold", "inner", "corr")}
    roots, off, depth = [], 0, 0
    for est, feats in zip(forest.estimators_, forest.estimators_features_, strict=True):
        t = est.tree_
        leaf = t.children_left == -1
        ids = np.arange(t.node_count) + off
        parts["left"].append(np.where(leaf, ids, t.children_left + off))
        parts["right"].append(np.where(leaf, ids, t.children_right + off))
        parts["feature"].append(np.where(leaf, 0, np.asarray(feats)[np.maximum(t.feature, 0)]))
        parts["threshold"].append(np.where(leaf, np.inf, t.threshold))
        parts["inner"].append(~leaf)
        parts["corr"].append(_average_path_length(t.n_node_samples))
        roots.append(off)
        off += t.node_count
        depth = max(depth, int(t.max_depth))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return (cat["left"], cat["right"], cat["feature"], cat["threshold"], cat["inner"],
            cat["corr"], np.asarray(roots), depth)


def _walk_forest(arrays, Z):
    """Walk every row of ``Z`` down every tree at once, one level per step; ``arrays`` is
    :func:`_forest_arrays` of the fitted forest.

    Returns per row and tree ``(leaf, edges, deviation_sum)``, arrays of shape
    (n_rows, n_trees); leaves are flat node ids (see :func:`_forest_arrays`). A row goes left
    when ``z[feature] <= threshold`` (the float32 value against the float64 threshold, as
    scikit-learn), so each tree's leaves equal its ``apply``. An isolation tree has depth
    <= ceil(log2(max_samples)), so this is a handful of vectorised steps.
    """
    left, right, feature, threshold, inner, _, roots, depth = arrays
    n = Z.shape[0]
    node = np.repeat(roots[None, :], n, axis=0)
    rows = np.arange(n)[:, None]
    edges = np.zeros(node.shape)
    dev = np.zeros(node.shape)
    for _ in range(depth):
        thr = threshold[node]
        z = Z[rows, feature[node]].astype(np.float64)
        split = inner[node]
        dev += np.where(split, np.abs(z - thr), 0.0)
        edges += split
        node = np.where(z <= thr, left[node], right[node])
    return node, edges, dev


def path_stats(forest, Z):
    """Per-row path statistics of rows Z (n, d) in a fitted ``IsolationForest``.

    Returns ``(depth, deviation)``, each of shape (n,): the mean over trees of the path length
    (edges + c(leaf size), as scikit-learn's iForest) and the mean over trees of the average
    ``|z[f_k] - threshold_k|`` over the split nodes k on the row's path. Every term is computed
    per row, so a row's statistics do not depend on the other rows.
    """
    Z = np.asarray(Z, dtype=np.float32)
    arrays = _forest_arrays(forest)
    leaves, edges, total = _walk_forest(arrays, Z)
    depth = edges + arrays[5][leaves]
    dev = np.divide(total, edges, out=np.zeros_like(total), where=edges > 0)
    return depth.mean(axis=1), dev.mean(axis=1)


def deas_score(forest, Z):
    """Deviation-enhanced anomaly score (DIF paper): ``2^(-depth / c(psi)) * deviation`` with
    ``(depth, deviation) = path_stats(forest, Z)`` and psi the forest's ``max_samples_``."""
    depth, dev = path_stats(forest, Z)
    c = float(_average_path_length([forest.max_samples_])[0])
    return 2.0 ** (-depth / c) * dev


class DIF(SklearnStateMixin, TorchDetector):
    """Deep Isolation Forest, unsupervised.

    ``fit`` accepts ``y`` for API compatibility and ignores it.

    Parameters
    ----------
    n_ensemble : int, default=50
        Number of random representations.
    n_estimators : int, default=6
        Isolation trees per representation.
    max_samples : int, default=256
        Rows drawn (without replacement) for each tree; capped at the number of rows.
    hidden_dims : tuple of int, default=(100, 50)
        Hidden widths of each random MLP (DeepOD's default, which the MNP paper ran; the
        original DIF code uses (500, 100)).
    rep_dim : int, default=128
        Width of each representation (DeepOD: 128; original DIF code: 20).
    activation : {'relu', 'tanh', 'leaky_relu', 'sigmoid'}, default='relu'
        Hidden activation (DeepOD: ReLU; original DIF code: tanh).
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``.
    batch_size : int, default=1024
        Rows per chunk of the network pass (memory only; a row's score never depends on the
        other rows).
    n_jobs : int or None, default=None
        Passed to each ``IsolationForest`` (``fit`` only).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False
        Show a tqdm progress bar over ensemble members.

    Attributes
    ----------
    rep_mean_, rep_scale_ : ndarray of shape (n_ensemble, rep_dim)
        Standardisation statistics of each representation on the training rows.
    forests_ : list of sklearn.ensemble.IsolationForest
    decision_scores_, threshold_, labels_, n_features_in_
        As in PyOD.
    """

    weakly_supervised = False
    _fitted_arrays = ("rep_mean_", "rep_scale_")
    _sklearn_attrs = ("forests_",)
    _parameter_constraints = {
        **TorchDetector._parameter_constraints,
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_samples": [Interval(Integral, 1, None, closed="left")],
        "hidden_dims": [IntTuple(1)],
        "rep_dim": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
    }

    def __init__(self, *, n_ensemble=50, n_estimators=6, max_samples=256, hidden_dims=(100, 50),
                 rep_dim=128, activation="relu", contamination="auto", batch_size=1024,
                 n_jobs=None, device="auto", random_state=None, verbose=False):
        self.n_ensemble = n_ensemble
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.hidden_dims = hidden_dims
        self.rep_dim = rep_dim
        self.activation = activation
        self.contamination = contamination
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_network(self, n_features, hidden, rep_dim, n_ensemble, activation):
        return RandomMLPEnsemble(n_features, hidden, rep_dim, n_ensemble, activation)

    def _representation(self, X, e):
        """Standardised, tanh-squashed representation of X by member e (float32)."""
        raw = self._batched(lambda t: self.net_.member(t, e), X, chunk=int(self.batch_size))
        return self._squash(raw, e)

    def _squash(self, raw, e):
        z = (raw.astype(np.float64) - self.rep_mean_[e]) / self.rep_scale_[e]
        return np.tanh(z).astype(np.float32)

    #: no training: its fit is forward passes over every row, like scoring (all threads)
    _fit_threads = None

    def _fit(self, X, y, rng, validation_data):
        """Not trained: random networks, per-member scalers and isolation forests (this
        replaces TorchDetector's training template)."""
        from sklearn.ensemble import IsolationForest
        from sklearn.preprocessing import StandardScaler
        from tqdm.auto import tqdm

        E, R = int(self.n_ensemble), int(self.rep_dim)
        self.arch_ = {"n_features": int(X.shape[1]), "hidden": [int(v) for v in self.hidden_dims],
                      "rep_dim": R, "n_ensemble": E, "activation": str(self.activation)}
        self.net_ = self._new_network()  # (zeros: the weights are drawn below)
        with torch.no_grad():  # N(0, 1) weights from the local generator
            for w in self.net_.weights:
                w.copy_(torch.as_tensor(rng.standard_normal(tuple(w.shape), dtype=np.float32)))
        self.net_.eval()
        self.rep_mean_ = np.zeros((E, R))
        self.rep_scale_ = np.ones((E, R))
        self.forests_ = []
        n_samples = min(int(self.max_samples), X.shape[0])
        for e in tqdm(range(E), desc="DIF", disable=not self.verbose, leave=False):
            raw = self._batched(lambda t, e=e: self.net_.member(t, e), X,
                                chunk=int(self.batch_size))
            scaler = StandardScaler().fit(raw.astype(np.float64))
            self.rep_mean_[e], self.rep_scale_[e] = scaler.mean_, scaler.scale_
            forest = IsolationForest(n_estimators=int(self.n_estimators), max_samples=n_samples,
                                     random_state=int(rng.integers(2**31 - 1)),
                                     n_jobs=self.n_jobs)
            self.forests_.append(forest.fit(self._squash(raw, e)))
        self.history_ = []

    def _score(self, X):
        total = np.zeros(X.shape[0])
        for e, forest in enumerate(self.forests_):
            total += deas_score(forest, self._representation(X, e))
        return total / len(self.forests_)
