"""Evaluation metrics of the benchmark.

* ``aucroc``: area under the ROC curve (``sklearn.metrics.roc_auc_score``).
* ``aucpr``: AUC-PR as average precision (``sklearn.metrics.average_precision_score``), the
  step-wise estimate without interpolation; mnpad's primary AUC-PR.
* ``aucpr_trapz``: trapezoidal area under the precision-recall curve,
  ``auc(recall, precision)``; this is what the MNP authors' code reports as AUC-PR. Linear
  interpolation between PR points is not an unbiased estimate (Davis & Goadrich 2006), so it
  can differ from ``aucpr`` in either direction; reports label it as the authors' measure.
* ``wilcoxon_pvalue``: paired Wilcoxon signed-rank test (``scipy.stats.wilcoxon``), as in the
  paper's significance rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["aucroc", "aucpr", "aucpr_trapz", "evaluate", "wilcoxon_pvalue", "mean_std"]


def _check(y, s):
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D; got shapes {y.shape} and {s.shape}.")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"labels ({y.shape[0]}) and scores ({s.shape[0]}) differ in length.")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (normal) / 1 (anomaly).")
    if not np.isfinite(s).all():
        raise ValueError(f"scores contain {int((~np.isfinite(s)).sum())} NaN/infinite value(s).")
    if y.min() == y.max():
        raise ValueError("labels hold a single class; AUC needs both normal and anomalous rows.")
    return y.astype(np.int8), s


def aucroc(y, s):
    """Area under the ROC curve; ``s``: higher = more anomalous."""
    from sklearn.metrics import roc_auc_score

    y, s = _check(y, s)
    return float(roc_auc_score(y, s))


def aucpr(y, s):
    """AUC-PR as average precision: sum over thresholds of (R_n - R_{n-1}) * P_n."""
    from sklearn.metrics import average_precision_score

    y, s = _check(y, s)
    return float(average_precision_score(y, s))


def aucpr_trapz(y, s):
    """Trapezoidal area under the PR curve, ``auc(recall, precision)`` (the authors' measure)."""
    from sklearn.metrics import auc, precision_recall_curve

    y, s = _check(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    return float(auc(recall, precision))


def evaluate(y, s):
    """All three metrics: ``{'aucroc', 'aucpr', 'aucpr_trapz'}``."""
    return {"aucroc": aucroc(y, s), "aucpr": aucpr(y, s), "aucpr_trapz": aucpr_trapz(y, s)}


def mean_std(values):
    """Mean and population std (ddof=0, as ``np.std`` in the authors' code) of per-seed values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise.")
    return float(v.mean()), float(v.std())


def wilcoxon_pvalue(a, b, alternative="greater"):
    """p-value of the paired Wilcoxon signed-rank test of ``a`` against ``b``.

    Parameters
    ----------
    a, b : array-like of the same length
        Paired results (e.g. MNP's and a baseline's mean AUC-PR per dataset).
    alternative : {'greater', 'less', 'two-sided'}
        'greater' tests whether ``a`` tends to exceed ``b``.

    Returns
    -------
    float
        scipy's p-value (exact distribution for small samples without ties, normal
        approximation otherwise; zero differences dropped, scipy's default). When all
        differences are zero there is no evidence either way and 1.0 is returned.
    """
    from scipy.stats import wilcoxon

    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided'; got "
                         f"{alternative!r}.")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D and paired; got shapes {a.shape} and {b.shape}.")
    if a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be non-empty and finite.")
    if np.all(a == b):
        return 1.0
    return float(wilcoxon(a, b, alternative=alternative).pvalue)
