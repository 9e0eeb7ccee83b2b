"""Helpers shared by the weakly supervised baselines (DevNet, PReNet, FeaWAD, RoSAS).

The Keras-equivalent optimiser and initialisation the originals used, the shape guard of the
per-sample losses and the draw of balanced batch indices. Each detector file
keeps its own network, loss and sampling.
"""

from __future__ import annotations

__all__ = ["keras_rmsprop", "keras_init", "as_index",
           "balanced_batches", "same_shape", "val_metric"]


def keras_rmsprop(params, lr):
    """RMSprop as Keras 2 defines it (rho 0.9, epsilon 1e-7); torch's defaults differ."""
    import torch

    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)


def keras_init(module, normal=False):
    """Keras' Dense initialisation: Glorot (uniform, or normal) weights and zero biases."""
    from torch import nn

    for m in module.modules():
        if isinstance(m, nn.Linear):
            (nn.init.xavier_normal_ if normal else nn.init.xavier_uniform_)(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def same_shape(*tensors):
    """Guard of every per-sample loss: scores and targets must have one shape, (B,).

    A (B, 1) score against (B,) labels would broadcast to a (B, B) loss that decouples labels
    from their rows (a defect of public DevNet/FeaWAD code); refuse it instead.
    """
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"per-sample loss terms must all have shape (B,); got {sorted(shapes)}.")


def as_index(*arrays, device):
    """numpy index arrays -> int64 torch tensors on ``device``."""
    import torch

    return tuple(torch.as_tensor(a, dtype=torch.int64, device=device) for a in arrays)


def balanced_batches(rng, data, steps, batch_size):
    """One epoch of ``steps`` balanced batches, half unlabeled rows (``data['Xu']``), half
    labeled anomalies (``data['Xa']``), each drawn with replacement (DevNet's and FeaWAD's
    sampler). Returns a list of ``(iu, ia, y)``: index tensors of ceil(batch/2) and
    floor(batch/2) rows and the float labels (batch,) of ``cat(Xu[iu], Xa[ia])``."""
    import torch

    Xu, Xa = data["Xu"], data["Xa"]
    half = (batch_size + 1) // 2
    iu = rng.integers(0, Xu.shape[0], size=(steps, half))
    ia = rng.integers(0, Xa.shape[0], size=(steps, batch_size - half))
    y = torch.cat([torch.zeros(half), torch.ones(batch_size - half)]).to(Xu.device)
    iu, ia = as_index(iu, ia, device=Xu.device)
    return [(iu[t], ia[t], y) for t in range(steps)]


def val_metric(y, scores):
    """Validation score for early stopping: AUC-ROC + average precision (higher is better)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return float(roc_auc_score(y, scores) + average_precision_score(y, scores))
