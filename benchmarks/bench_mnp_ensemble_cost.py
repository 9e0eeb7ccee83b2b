"""Cost of MNP's rank ensembles where 48 or more labeled anomalies and no validation split give
an internal split: the session-10 ensemble of the 5 best held-out epochs of one fit
(``top_epochs=5``, ``fits=1``) and the session-11 default pooling those of 3 complete fits
(``fits=3``), against the one restored epoch (``top_epochs=0``): fit-time and
scoring-throughput ratios measured in one run, alternating. ``--path snapshot``: the snapshot
path (fewer than 48 labeled anomalies), the session-12 default's median over 3 complete fits
(``snapshot_fits=3``) against one fit's 3 snapshot networks (``snapshot_fits=1``).

    OMP_NUM_THREADS=2 python benchmarks/bench_mnp_ensemble_cost.py [--path snapshot]

Bank, weak protocol, 5 % labeled (140 labeled anomalies; ``--path snapshot``: 1 %, 28),
benchmark split, seed 42; scoring on the test split repeated 4 times (best of 3). Absolute
times vary between sessions; the ratios are the result (docs/mnp.md, "Speed").
"""

import argparse
import time

import numpy as np

from mnpad.detectors.mnp import MNP
from mnpad.protocol import make_split

VARIANTS = {"top0": {"base": "mnpad", "top_epochs": 0, "fits": 1},
            "top5": {"base": "mnpad", "fits": 1}, "fits3": "mnpad"}
SNAPSHOT_VARIANTS = {"snap1": {"base": "mnpad", "snapshot_fits": 1}, "snap3": "mnpad"}


def main(rounds=2, path="top5"):
    variants = SNAPSHOT_VARIANTS if path == "snapshot" else VARIANTS
    ratio = 0.01 if path == "snapshot" else 0.05
    sp = make_split("bank", protocol="weak", labeled_ratio=ratio, split_seed=2024)
    X = np.vstack([sp.X_test] * 4)
    res = {k: [] for k in variants}
    for _ in range(rounds):
        for name, recipe in variants.items():
            t = time.perf_counter()
            m = MNP(recipe=recipe, random_state=42).fit(sp.X_train, sp.y_train)
            fit_s = time.perf_counter() - t
            m.decision_function(X[:1000])  # warm-up
            best = []
            for _ in range(3):
                t = time.perf_counter()
                m.decision_function(X)
                best.append(time.perf_counter() - t)
            epochs = sum(h["phase"] == "train" and not h.get("fit") for h in m.history_)
            res[name].append((fit_s, len(X) / min(best), epochs))
    for name, v in res.items():
        print(name, "fit s / rows per s / epochs:",
              [(round(f, 1), int(r), e) for f, r, e in v])

    def mean(name, i):
        return np.mean([v[i] for v in res[name]])

    pairs = ((("snap3", "snap1"),) if path == "snapshot" else
             (("top5", "top0"), ("fits3", "top0"), ("fits3", "top5")))
    for a, b in pairs:
        print(f"{a} / {b}: fit-time ratio {mean(a, 0) / mean(b, 0):.3f}, "
              f"scoring-throughput ratio {mean(a, 1) / mean(b, 1):.3f}")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", choices=("top5", "snapshot"), default="top5")
    main(path=ap.parse_args().path)
