"""A/B fit time of the default MNP: two source trees, alternated in one run (not a test).

Speed is compared as a ratio measured in one run: each round fits ``MNP(random_state=s)`` on
pendigits (paper protocol, split seed 2024, with the validation split) for seeds 42-46, once
with each tree, in a fresh process each, alternating A, B, A, B, ... It also checks that both
trees give the same test AUC-PR per seed (a pure speed change must not change the result).

    git worktree add /tmp/before <commit>
    OMP_NUM_THREADS=2 python benchmarks/bench_fit_ab.py --a /tmp/before/src --b src [--rounds 2]
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, time
from mnpad import MNP
from mnpad.metrics import evaluate
from mnpad.protocol import make_split
sp = make_split("pendigits", protocol="paper", labeled_ratio=0.01, split_seed=2024)
out = []
for seed in (42, 43, 44, 45, 46):
    t = time.perf_counter()
    m = MNP(random_state=seed).fit(sp.X_train, sp.y_train, validation_data=(sp.X_val, sp.y_val))
    dt = time.perf_counter() - t
    ap = evaluate(sp.y_test, m.decision_function(sp.X_test))["aucpr_trapz"]
    out.append({"seed": seed, "fit_s": dt, "aucpr_trapz": ap, "epochs": len(m.history_)})
print(json.dumps(out))
"""


def run(src):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    res = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="source tree A (the 'src' folder)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    times = {"a": [], "b": []}
    per_epoch = {"a": [], "b": []}
    for r in range(args.rounds):
        runs = {k: run(getattr(args, k)) for k in ("a", "b")}
        for k in runs:
            times[k].append(sum(x["fit_s"] for x in runs[k]) / len(runs[k]))
            # epochs of all phases (pretraining stages and training): the thread count or a
            # rounding change can change how many epochs early stopping runs
            per_epoch[k].append(sum(x["fit_s"] for x in runs[k])
                                / sum(x["epochs"] for x in runs[k]))
        same = all(x["aucpr_trapz"] == y["aucpr_trapz"] for x, y in zip(runs["a"], runs["b"],
                                                                        strict=True))
        print(f"round {r}: mean fit A {times['a'][-1]:.2f} s, B {times['b'][-1]:.2f} s, "
              f"B/A {times['b'][-1] / times['a'][-1]:.3f}; per epoch A "
              f"{per_epoch['a'][-1] * 1e3:.0f} ms, B {per_epoch['b'][-1] * 1e3:.0f} ms, B/A "
              f"{per_epoch['b'][-1] / per_epoch['a'][-1]:.3f}; same AUC-PR per seed: {same}",
              flush=True)
    ratio = sum(times["b"]) / sum(times["a"])
    print(f"overall B/A fit-time ratio: {ratio:.3f}; per epoch: "
          f"{sum(per_epoch['b']) / sum(per_epoch['a']):.3f}")


if __name__ == "__main__":
    main()
