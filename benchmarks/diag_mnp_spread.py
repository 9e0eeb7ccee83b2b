"""Diagnosis (issue 9): which stage of a default MNP fit carries its seed-to-seed spread?

A fit draws from one numpy generator and one torch generator, in three stages:

* ``split``    the internal validation split (which labeled anomalies / unlabeled rows are held
               out) — drawn in ``_setup``;
* ``pretrain`` the network's initial weights, the layer-wise pretraining (batches, noise,
               reference rows) and the prototypes (KMeans seed, subsample);
* ``train``    the end-to-end training (batches).

For two model seeds ``a`` and ``b`` this script records the state of both generators at each
stage boundary in the two ordinary fits, then refits the 8 combinations that take each stage's
random state from ``a`` or from ``b`` (``aaa`` and ``bbb`` reproduce the ordinary fits: checked).
If one letter decides whether the run is good or bad, that stage carries the difference.
Diagnosis only: nothing here chooses a default.

    OMP_NUM_THREADS=1 python benchmarks/diag_mnp_spread.py --dataset bac --ratio 0.05 \
        --split-seed 2024 --seeds 42 45 --out benchmarks/results/diag_mnp_spread.jsonl
"""

import argparse
import itertools
import json
import os

from mnpad import MNP
from mnpad.metrics import evaluate
from mnpad.protocol import make_split

STAGES = ("split", "pretrain", "train")


class _Staged(MNP):
    """The default MNP whose generators' states are recorded (``inject=None``) or replaced
    (``inject={stage: (numpy state, torch state)}``) at the start of each stage."""

    def _boundary(self, stage, rng):
        if self._inject is None:
            self._recorded[stage] = (rng.bit_generator.state, self._torch_gen.get_state())
        else:
            np_state, t_state = self._inject[stage]
            rng.bit_generator.state = np_state
            self._torch_gen.set_state(t_state)

    def _fit(self, X, y, rng, validation_data):
        self._boundary("split", rng)
        data = self._setup(X, y, rng, validation_data)
        self.arch_ = self._architecture(X, y)
        self._boundary("pretrain", rng)
        self.net_ = self._new_network()
        history = self._before_training(data, rng)
        self._boundary("train", rng)
        history += self._train(data, rng)
        self.history_ = history
        self.net_.eval()


def fit_staged(sp, seed, inject):
    det = _Staged(random_state=seed)
    det._inject, det._recorded = inject, {}
    det.fit(sp.X_train, sp.y_train)
    ap = evaluate(sp.y_test, det.decision_function(sp.X_test))["aucpr_trapz"]
    return det, float(ap)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--split-seed", type=int, required=True)
    ap.add_argument("--seeds", type=int, nargs=2, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sp = make_split(a.dataset, protocol="weak", labeled_ratio=a.ratio, split_seed=a.split_seed)
    s1, s2 = a.seeds
    rec, plain = {}, {}
    for s in (s1, s2):
        det, plain[s] = fit_staged(sp, s, None)
        rec[s] = det._recorded
    rows = []
    for combo in itertools.product((s1, s2), repeat=3):
        inject = {st: rec[s][st] for st, s in zip(STAGES, combo, strict=True)}
        det, v = fit_staged(sp, combo[0], inject)
        row = {"dataset": a.dataset, "ratio": a.ratio, "split_seed": a.split_seed,
               **dict(zip(STAGES, combo, strict=True)), "aucpr_trapz": round(v, 4),
               "k": det.n_prototypes_, "snapshot_epochs": det.snapshot_epochs_}
        if len(set(combo)) == 1:
            row["matches_plain_fit"] = v == plain[combo[0]]
        rows.append(row)
        print(json.dumps(row), flush=True)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
