"""Development study: MNP without a labeled validation split (the ``weak`` protocol).

Runs on *development* splits only (split seeds 7, 8, 9 — never the benchmark's split seed 2024)
and prints one JSON line per (dataset, split seed, variant) with AUC-ROC and AP on that
development split's held-out rows. Results are appended to ``--out`` (JSON lines) and finished
runs are skipped, so an interrupted run resumes.

Variants (all with ``random_state=0``):

* ``default``       MNP() — ``early_stopping='auto'``: internal 20 % hold-out when it has >= 2
                    labeled anomalies, else the fixed 6-epoch schedule
* ``fixed6``        MNP(early_stopping=False) — always the fixed 6-epoch schedule
* ``refit``         ``default``'s internally chosen epoch count, then a refit on *all* rows
                    (no hold-out) for that many epochs
* ``no_np``         MNP(use_np_loss=False) — without L_con + L_kl (Table 4's "w/o MNP")
* ``no_np_fixed6``  MNP(use_np_loss=False, early_stopping=False)
* ``devnet``        DevNet() for reference

    OMP_NUM_THREADS=1 python benchmarks/dev_mnp_weak.py [--datasets a,b] [--n-jobs 2]
"""

import argparse
import json
import os

from joblib import Parallel, delayed

from mnpad import MNP, get_detector
from mnpad.metrics import evaluate
from mnpad.protocol import make_split

SPLIT_SEEDS = (7, 8, 9)
VARIANTS = ("default", "fixed6", "refit", "no_np", "no_np_fixed6", "devnet")


def _fit(variant, X, y):
    if variant == "devnet":
        return get_detector("devnet", random_state=0).fit(X, y), {}
    if variant == "refit":
        first = MNP(random_state=0).fit(X, y)
        val = [h for h in first.history_ if "val_score" in h]
        if not val:  # no internal split possible: identical to the fixed schedule
            return first, {"epochs": None}
        epochs = 1 + max(range(len(val)), key=lambda i: val[i]["val_score"])
        return MNP(random_state=0, epochs=epochs, early_stopping=False).fit(X, y), {
            "epochs": epochs}
    params = {"fixed6": dict(early_stopping=False), "no_np": dict(use_np_loss=False),
              "no_np_fixed6": dict(use_np_loss=False, early_stopping=False)}.get(variant, {})
    return MNP(random_state=0, **params).fit(X, y), {}


def run_one(dataset, split_seed, variant):
    sp = make_split(dataset, protocol="weak", split_seed=split_seed)
    det, extra = _fit(variant, sp.X_train, sp.y_train)
    m = evaluate(sp.y_test, det.decision_function(sp.X_test))
    return {"dataset": dataset, "split_seed": split_seed, "variant": variant,
            "n_labeled": int(sp.y_train.sum()), "validation": getattr(det, "validation_", None),
            "fit_time": round(det.fit_time_, 1), **extra,
            **{k: round(float(v), 4) for k, v in m.items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="pendigits,gamma,bank,vi,bac")
    ap.add_argument("--out", default="benchmarks/results/dev_mnp_weak.jsonl")
    ap.add_argument("--n-jobs", type=int, default=1)
    a = ap.parse_args()
    done = set()
    if os.path.exists(a.out):
        with open(a.out) as f:
            done = {(r["dataset"], r["split_seed"], r["variant"]) for r in map(json.loads, f)}
    todo = [(d, s, v) for d in a.datasets.split(",") for s in SPLIT_SEEDS for v in VARIANTS
            if (d, s, v) not in done]
    with open(a.out, "a") as f:
        for rec in Parallel(n_jobs=a.n_jobs, return_as="generator")(
                delayed(run_one)(*t) for t in todo):
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
