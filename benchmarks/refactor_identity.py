"""Bit-identity check across refactors: fits every registered detector (and MNP's
paper-literal recipe with and without a validation split) on a fixed synthetic task and records
a hash of the scores and the history values.

    python benchmarks/refactor_identity.py record OUT.json     # before a refactor
    python benchmarks/refactor_identity.py check OUT.json      # after: lists what changed

CPU only, one thread; the hashes depend on the torch build and CPU, so they are compared on
the same machine, not stored in the test suite.
"""
import hashlib
import json
import sys

import numpy as np
import torch

import mnpad

FAST = {
    "mnp": dict(epochs=3, pretrain_epochs=2, steps_per_epoch=5),
    "mnp_val": dict(epochs=4, pretrain_epochs=2, steps_per_epoch=5, patience=2),
    "mnp_internal": dict(epochs=4, pretrain_epochs=2, steps_per_epoch=5, patience=2),
    "devnet": dict(epochs=3, steps_per_epoch=4),
    "prenet": dict(epochs=3, steps_per_epoch=4, n_refs=6),
    "feawad": dict(epochs=3, pretrain_epochs=2, steps_per_epoch=4),
    "rosas": dict(epochs=3, steps_per_epoch=4),
    "rosas_val": dict(epochs=4, steps_per_epoch=4, patience=2),
    "deepsad": dict(epochs=3, pretrain_epochs=2),
    "deepsad_bal": dict(epochs=3, pretrain_epochs=2, balanced_sampling=True),
    "deepsvdd": dict(epochs=3, pretrain_epochs=2),
    "dif": dict(n_ensemble=4, n_estimators=3),
    "iforest": dict(n_estimators=20),
    "gbdt": dict(max_iter=10),
}


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(0.5, 0.15, size=(600, 9)).astype(np.float32)
    X[:30] += 0.5
    y = np.zeros(600, np.int64)
    y[:12] = 1
    Xv = rng.normal(0.5, 0.15, size=(200, 9)).astype(np.float32)
    yv = np.zeros(200, np.int64)
    Xv[:10] += 0.5
    yv[:10] = 1
    return X, y, Xv, yv


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()[:16]


def run():
    torch.set_num_threads(1)
    X, y, Xv, yv = data()
    if len(sys.argv) > 3:
        names = sys.argv[3].split(",")
    else:
        names = list(FAST)
    out = {}
    for key in names:
        name = key.split("_")[0]
        params = dict(random_state=3, **FAST[key])
        if name not in ("iforest", "gbdt"):
            params["device"] = "cpu"
        det = mnpad.get_detector(name, **params)
        if key == "mnp_internal":
            det.fit(X, y)
        else:
            det.fit(X, y, **({"validation_data": (Xv, yv)} if key.endswith("_val") else {}))
        hist = [{k: v for k, v in h.items() if isinstance(v, (int, float))}
                for h in getattr(det, "history_", [])]
        out[key] = {"scores": digest(det.decision_function(X)),
                    "train_scores": digest(det.decision_scores_),
                    "history_values": [sorted(round(float(v), 10) for k, v in h.items()
                                              if k not in ("epoch", "steps")) for h in hist],
                    "history_keys": [sorted(h) for h in hist]}
    return out


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    res = run()
    if mode == "record":
        json.dump(res, open(path, "w"), indent=1)
        print("recorded", len(res))
    else:
        ref = json.load(open(path))
        for k, v in res.items():
            r = ref[k]
            same = {f: v[f] == r[f] for f in ("scores", "train_scores", "history_values")}
            print(f"{k:14s}", " ".join(f"{f}={'same' if s else 'DIFF'}" for f, s in same.items()),
                  "" if v["history_keys"] == r["history_keys"] else
                  f"keys {r['history_keys'][:1]} -> {v['history_keys'][:1]}")
