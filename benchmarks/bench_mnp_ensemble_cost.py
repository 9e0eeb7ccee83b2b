"""Cost of MNP's session-10 rank ensemble of the best held-out epochs (``top_epochs=5``, the
default with >= 48 labeled anomalies and no validation split) against the one restored epoch
(``top_epochs=0``): fit-time and scoring-throughput ratios measured in one run, alternating.

    OMP_NUM_THREADS=2 python benchmarks/bench_mnp_ensemble_cost.py

Bank, weak protocol, 5 % labeled (140 labeled anomalies), benchmark split, seed 42; scoring on
the test split repeated 4 times (best of 3). Absolute times vary between sessions; the ratios
are the result (docs/mnp.md, "Speed").
"""

import time

import numpy as np

from mnpad.detectors.mnp import MNP
from mnpad.protocol import make_split

VARIANTS = {"top0": {"base": "mnpad", "top_epochs": 0}, "top5": "mnpad"}


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
            epochs = sum(h["phase"] == "train" for h in m.history_)
            res[name].append((fit_s, len(X) / min(best), epochs))
    for name, v in res.items():
        print(name, "fit s / rows per s / epochs:",
              [(round(f, 1), int(r), e) for f, r, e in v])
    fit = np.mean([f for f, _, _ in res["top5"]]) / np.mean([f for f, _, _ in res["top0"]])
    score = np.mean([r for _, r, _ in res["top5"]]) / np.mean([r for _, r, _ in res["top0"]])
    print(f"fit-time ratio {fit:.3f}, scoring-throughput ratio {score:.3f} (top5 / top0)")


if __name__ == "__main__":
    main()
