"""Session-10 diagnosis (development splits 7 and 8, model seed 0; test labels used to understand,
never to choose): on the snapshot path (< 48 labeled), keep 8 epochs and score the rank ensembles
of several epoch windows, to see whether the default's first 3 epochs are the right window.

    OMP_NUM_THREADS=2 python benchmarks/diag_snapshot_epochs.py OUT.jsonl
"""

import json
import sys

import numpy as np
from sklearn.metrics import average_precision_score as ap

from mnpad import MNP
from mnpad.detectors._auto_select import TrainRank
from mnpad.protocol import make_split

WINDOWS = {"e0-2": range(0, 3), "e0-4": range(0, 5), "e2-4": range(2, 5), "e3-5": range(3, 6),
           "e0-5": range(0, 6), "e0-7": range(0, 8), "e5-7": range(5, 8)}
SETTINGS = ((0.01, "ana bac bank dos gamma pendigits rec vi"), (0.05, "ana pendigits vi"))


def main(path):
    with open(path, "a") as out:
        for ratio, datasets in SETTINGS:
            for ds in datasets.split():
                for split in (7, 8):
                    sp = make_split(ds, protocol="weak", labeled_ratio=ratio, split_seed=split)
                    m = MNP(recipe={"base": "mnpad", "snapshots": 8}, epochs=8,
                            random_state=0).fit(sp.X_train, sp.y_train)
                    assert m.snapshots_used_ and len(m.snapshot_states_) == 8
                    logits = m._snapshot_scores(sp.X_test)
                    ranks = [TrainRank(r)(s) for r, s in zip(m.snapshot_refs_, logits, strict=True)]
                    res = {"single": [round(ap(sp.y_test, s), 4) for s in logits]}
                    for name, idx in WINDOWS.items():
                        res[name] = round(ap(sp.y_test, np.mean([ranks[i] for i in idx], 0)), 4)
                    rec = {"dataset": ds, "ratio": ratio, "split": split,
                           "n_labeled": int(sp.y_train.sum()), **res}
                    print(json.dumps(rec), file=out, flush=True)
    rows = [json.loads(line) for line in open(path)]
    for name in WINDOWS:
        print(name, round(float(np.mean([r[name] for r in rows])), 4))


if __name__ == "__main__":
    main(sys.argv[1])
