"""Diagnosis (not a choice): why MNP trails DevNet on ana (annthyroid substitute) in the weak
protocol. One default fit (``snapshot_fits=1``) against longer schedules, no reconstruction
loss, b_a = 32 and DevNet, on development splits 7 and 8 (already used; never the benchmark
split), model seeds 0 and 1. Besides the test AP it records how the labeled training anomalies
rank among the training rows (``lab_rank``: 1 = all on top). Results:
``benchmarks/results/diag_mnp_ana.jsonl``; docs/mnp.md, "Session 12".

    OMP_NUM_THREADS=1 python benchmarks/diag_mnp_ana.py 0.01 > benchmarks/results/diag_mnp_ana.jsonl
"""
import json
import sys
import time

import numpy as np
from sklearn.metrics import average_precision_score as ap

from mnpad import MNP, get_detector
from mnpad.protocol import make_split

V = {
 "mnpad_1fit": dict(recipe={"base": "mnpad", "snapshot_fits": 1}),
 "ep6": dict(recipe={"base": "mnpad", "snapshot_fits": 1}, epochs=6),
 "ep12": dict(recipe={"base": "mnpad", "snapshot_fits": 1}, epochs=12),
 "ep24": dict(recipe={"base": "mnpad", "snapshot_fits": 1}, epochs=24),
 "no_decoder_recon": dict(recipe={"base": "mnpad", "snapshot_fits": 1}, use_recon_loss=False),
 "ba32": dict(recipe={"base": "mnpad", "snapshot_fits": 1}, batch_size_anomaly=32),
 "devnet": None,
}
ratio = float(sys.argv[1])
for split in (7, 8):
    sp = make_split("ana", protocol="weak", labeled_ratio=ratio, split_seed=split)
    for seed in (0, 1):
        for name, kw in V.items():
            t = time.perf_counter()
            det = get_detector("devnet", random_state=seed) if kw is None else MNP(random_state=seed, **kw)
            det.fit(sp.X_train, sp.y_train)
            s = det.decision_function(sp.X_test)
            tr = det.decision_function(sp.X_train)
            # how the labeled anomalies rank among the training rows (train fit quality)
            lab_rank = float(np.mean([(tr < v).mean() for v in tr[sp.y_train == 1]]))
            print(json.dumps({"ratio": ratio, "split": split, "seed": seed, "v": name, "ap": round(ap(sp.y_test, s), 4),
                              "lab_rank": round(lab_rank, 4), "n_lab": int(sp.y_train.sum()), "s": round(time.perf_counter() - t, 1)}), flush=True)
