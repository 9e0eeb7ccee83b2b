"""Smoke benchmark of the four weakly supervised baselines (DevNet, PReNet, FeaWAD, RoSAS).

Default schedules, ``paper`` protocol (1 % labeled; the validation split is passed to ``fit``,
only RoSAS uses it, for early stopping), one model seed. Prints one JSON line per
(dataset, method) with AUC-ROC, AUC-PR (average precision and trapezoid) and fit time.

    OMP_NUM_THREADS=1 python benchmarks/weak_baselines_smoke.py pendigits,gamma [seed]
"""

import json
import sys

import mnpad
from mnpad.metrics import evaluate
from mnpad.protocol import make_split

METHODS = ("devnet", "prenet", "feawad", "rosas")


def main(datasets, seed=42):
    for ds in datasets:
        sp = make_split(ds, protocol="paper")
        for name in METHODS:
            det = mnpad.get_detector(name, random_state=seed)
            det.fit(sp.X_train, sp.y_train, validation_data=(sp.X_val, sp.y_val))
            m = evaluate(sp.y_test, det.decision_function(sp.X_test))
            rec = {"dataset": ds, "method": name, "seed": seed, "fit_time": round(det.fit_time_, 1),
                   **{k: round(float(v), 3) for k, v in m.items()}}
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]) if len(sys.argv) > 2 else 42)
