"""DIF scoring: lockstep tree walk (``mnpad.detectors.dif.path_stats``) against the
decision-path formulation it replaced (kept here as the reference), in one run.

Prints the per-row cost of each and their ratio for forests like DIF's (``n_estimators=6``,
``max_samples=256``) on standardised 128-dim representations, and the largest difference of the
two results (depth must match exactly; the deviation up to float summation order). Then the
same ratio end to end: ``DIF().decision_function`` (50 members) on 62-dim rows (Bank's width)
with either implementation.

    OMP_NUM_THREADS=1 python benchmarks/dif_scoring_speed.py [n_rows] [n_forests]
"""

import json
import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest

import mnpad.detectors.dif as dif_module
from mnpad.detectors import DIF
from mnpad.detectors.dif import _average_path_length, path_stats


def path_stats_decision_path(forest, Z):
    """The previous implementation: sparse decision paths + bincount per tree."""
    Z = np.asarray(Z, dtype=np.float32)
    n = Z.shape[0]
    depth, dev = np.zeros(n), np.zeros(n)
    for est, feats in zip(forest.estimators_, forest.estimators_features_, strict=True):
        Zt, tree = Z[:, feats], est.tree_
        path = est.decision_path(Zt).tocsr()
        lengths = np.diff(path.indptr)
        leaves = est.apply(Zt)
        depth += lengths - 1.0 + _average_path_length(tree.n_node_samples[leaves])
        rows, nodes = np.repeat(np.arange(n), lengths), path.indices
        split = tree.feature[nodes] >= 0
        rows, nodes = rows[split], nodes[split]
        d = np.abs(Zt[rows, tree.feature[nodes]].astype(np.float64) - tree.threshold[nodes])
        total = np.bincount(rows, weights=d, minlength=n)
        count = np.bincount(rows, minlength=n)
        dev += np.divide(total, count, out=np.zeros(n), where=count > 0)
    k = len(forest.estimators_)
    return depth / k, dev / k


def main(n_rows=50_000, n_forests=10):
    rng = np.random.default_rng(0)
    forests, Zs = [], []
    for f in range(n_forests):
        Z = np.tanh(rng.standard_normal((n_rows, 128))).astype(np.float32)
        forests.append(IsolationForest(n_estimators=6, max_samples=256, random_state=f).fit(Z))
        Zs.append(Z)
    timings, max_depth_diff, max_dev_diff = {}, 0.0, 0.0
    for name, fn in (("decision_path", path_stats_decision_path), ("lockstep", path_stats)):
        t0 = time.perf_counter()
        out = [fn(fo, Z) for fo, Z in zip(forests, Zs, strict=True)]
        timings[name] = time.perf_counter() - t0
        if name == "decision_path":
            ref = out
        else:
            for (d0, v0), (d1, v1) in zip(ref, out, strict=True):
                max_depth_diff = max(max_depth_diff, float(np.abs(d0 - d1).max()))
                max_dev_diff = max(max_dev_diff, float(np.abs(v0 - v1).max()))
    per_row = {k: round(1e6 * v / (n_rows * n_forests), 3) for k, v in timings.items()}
    print(json.dumps({"n_rows": n_rows, "forests": n_forests, "trees_per_forest": 6,
                      "us_per_row_per_forest": per_row,
                      "speedup": round(timings["decision_path"] / timings["lockstep"], 1),
                      "max_abs_diff_depth": max_depth_diff, "max_abs_diff_dev": max_dev_diff}))
    X = rng.random((n_rows, 62)).astype(np.float32)
    det = DIF(random_state=0).fit(X[:5000])
    t0 = time.perf_counter()
    new = det.decision_function(X)
    t_new = time.perf_counter() - t0
    dif_module.path_stats = path_stats_decision_path
    try:
        t0 = time.perf_counter()
        old = det.decision_function(X)
        t_old = time.perf_counter() - t0
    finally:
        dif_module.path_stats = path_stats
    print(json.dumps({"end_to_end_rows": n_rows, "dif_us_per_row": {
        "decision_path": round(1e6 * t_old / n_rows, 1), "lockstep": round(1e6 * t_new / n_rows, 1)},
        "speedup": round(t_old / t_new, 1), "max_abs_diff_score": float(np.abs(new - old).max())}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
