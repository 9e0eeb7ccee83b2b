"""Pilot (not a choice; used development splits 7 and 8, model seeds 0 and 1, weak 1 %): on the
snapshot path, a longer schedule (12 or 24 epochs instead of 3) with the learning rate decayed
by a cosine to 0, snapshots still the last 3 epochs, one fit each (``snapshot_fits=1``) against
one default fit. Tests the lead of ``diag_mnp_ana.py`` (docs/mnp.md, "Session 12"). Results:
``benchmarks/results/pilot_mnp_cosine.jsonl``.

    OMP_NUM_THREADS=1 python benchmarks/pilot_mnp_cosine.py ana,pendigits,vi,bac,gamma
"""

import json
import math
import sys
import time

from sklearn.metrics import average_precision_score as ap

from mnpad import MNP
from mnpad.protocol import make_split

ONE_FIT = {"base": "mnpad", "snapshot_fits": 1}


class Cosine(MNP):
    """One default fit whose snapshot path trains ``n_epochs`` epochs with a cosine-decayed lr."""

    def __init__(self, n_epochs=12, **kw):
        super().__init__(**kw)
        self.n_epochs = n_epochs

    def get_params(self, deep=True):
        return {**super().get_params(deep), "n_epochs": self.n_epochs}

    def _optimizer(self, params):
        self._opt = super()._optimizer(params)
        self._lr0 = self._opt.lr
        return self._opt

    def _n_epochs(self, validation):
        if (validation is None and getattr(self, "snapshots_used_", False)
                and self.epochs == "auto"):
            return int(self.n_epochs)
        return super()._n_epochs(validation)

    def _epoch_start(self, epoch, data):
        super()._epoch_start(epoch, data)
        if getattr(self, "snapshots_used_", False) and hasattr(self, "_opt"):
            n = self._n_epochs(None)
            self._opt.lr = self._lr0 * 0.5 * (1 + math.cos(math.pi * epoch / n))


VARIANTS = {"d1": lambda s: MNP(random_state=s, recipe=ONE_FIT),
            "cos12": lambda s: Cosine(12, random_state=s, recipe=ONE_FIT),
            "cos24": lambda s: Cosine(24, random_state=s, recipe=ONE_FIT)}


def main(datasets):
    for ds in datasets:
        for split in (7, 8):
            sp = make_split(ds, protocol="weak", labeled_ratio=0.01, split_seed=split)
            for seed in (0, 1):
                for name, make in VARIANTS.items():
                    t = time.perf_counter()
                    det = make(seed).fit(sp.X_train, sp.y_train)
                    rec = {"ds": ds, "split": split, "seed": seed, "v": name,
                           "ap": round(ap(sp.y_test, det.decision_function(sp.X_test)), 4),
                           "epochs": sum(h["phase"] == "train" for h in det.history_),
                           "snaps": len(det.snapshot_states_ or []),
                           "s": round(time.perf_counter() - t, 1)}
                    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","))
