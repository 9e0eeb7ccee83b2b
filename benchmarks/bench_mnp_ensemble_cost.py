"""Cost of MNP's rank ensembles where 48 or more labeled anomalies and no validation split give
an internal split: the session-10 ensemble of the 5 best held-out epochs of one fit
(``top_epochs=5``, ``fits=1``) and the session-11 default pooling those of 3 complete fits
(``fits=3``), against the one restored epoch (``top_epochs=0``): fit-time and
scoring-throughput ratios measured in one run, alternating.

    OMP_NUM_THREADS=2 python benchmarks/bench_mnp_ensemble_cost.py

Bank, weak protocol, 5 % labeled (140 labeled anomalies), benchmark split, seed 42; scoring on
the test split repeated 4 times (best of 3). Absolute times vary between sessions; the ratios
are the result (docs/mnp.md, "Speed").
"""

import time

import numpy as np

from mnpad.detectors.mnp import MNP
from mnpad.protocol import make_split

VARIANTS = {"top0": {"base": "mnpad", "top_epochs": 0, "fits": 1},
            "top5": {"base": "mnpad", "fits": 1}, "fits3": "mnpad"}


def main(rounds=2):
    sp = make_split("bank", protocol="weak", labeled_ratio=0.05, split_seed=2024)
    X = np.vstack([sp.X_test] * 4)
    res = {k: [] for k in VARIANTS}
    for _ in range(rounds):
        for name, recipe in VARIANTS.items():
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

    for a, b in (("top5", "top0"), ("fits3", "top0"), ("fits3", "top5")):
        print(f"{a} / {b}: fit-time ratio {mean(a, 0) / mean(b, 0):.3f}, "
              f"scoring-throughput ratio {mean(a, 1) / mean(b, 1):.3f}")

if __name__ == "__main__":
    main()
