"""Fit cost of ``Auto()`` against the default MNP and against the sum of its candidates.

On one dataset of the weak protocol (default pendigits, 5 % labeled, development split seed 7),
for each model seed: the wall-clock fit time of ``MNP()``, of each default candidate of Auto
alone (all rows), and of ``Auto()``. Prints (and with ``--out`` writes) a Markdown table with
the ratios ``auto / MNP`` (the documented budget: <= 5) and ``auto / sum of candidates``.
Run it on an otherwise idle machine: the ratios are what matters, not the seconds.

    OMP_NUM_THREADS=1 python benchmarks/auto_cost.py --seeds 0 1 --out benchmarks/results/auto_cost.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed_fit(det, X, y):
    t0 = time.perf_counter()
    det.fit(X, y)
    return time.perf_counter() - t0, det


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="pendigits")
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--split-seed", type=int, default=7)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--out")
    ap.add_argument("--auto-params", default="{}",
                    help="JSON parameters of Auto (e.g. '{\"candidates\": [...]}'); the candidates "
                         "timed alone are Auto's")
    args = ap.parse_args()

    import json

    import mnpad

    auto_params = json.loads(args.auto_params)
    specs = mnpad.get_detector("auto", **auto_params)._specs()  # Auto's candidates, as it fits them
    cands = [n for n, _ in specs]
    from mnpad.protocol import make_split

    sp = make_split(args.dataset, protocol="weak", labeled_ratio=args.ratio,
                    split_seed=args.split_seed)
    X, y = sp.X_train, sp.y_train
    mnpad.get_detector("iforest", random_state=0).fit(X[:300])  # imports (torch) out of timing
    rows = []
    for seed in args.seeds:
        t_mnp, _ = _timed_fit(mnpad.get_detector("mnp", random_state=seed), X, y)
        cand = {n: _timed_fit(mnpad.get_detector(n, random_state=seed, **p), X, y)[0]
                for n, p in specs}
        t_auto, auto = _timed_fit(mnpad.get_detector("auto", random_state=seed, **auto_params),
                                  X, y)
        rows.append({"seed": seed, "mnp": t_mnp, "cand": cand, "auto": t_auto,
                     "eval": auto.eval_time_, "chosen": "+".join(auto.chosen_),
                     "fallback": auto.fallback_reason_ is not None})
        print(rows[-1], flush=True)
    lines = [f"## Auto's fit cost ({args.dataset}, weak protocol, {args.ratio:g} labeled, "
             f"development split {args.split_seed}, {int(y.sum())} labeled anomalies, "
             f"{len(y)} rows)", "",
             "| seed | MNP() s | " + " | ".join(f"{n} s" for n in cands)
             + " | sum of candidates s | Auto() s | of which evaluation s | chosen | "
               "Auto / MNP | Auto / sum |", "|" + "---|" * (8 + len(cands))]
    for r in rows:
        tot = sum(r["cand"].values())
        lines.append(f"| {r['seed']} | {r['mnp']:.1f} | "
                     + " | ".join(f"{r['cand'][n]:.1f}" for n in cands)
                     + f" | {tot:.1f} | {r['auto']:.1f} | {r['eval']:.1f} | {r['chosen']} | "
                       f"{r['auto'] / r['mnp']:.2f} | {r['auto'] / tot:.2f} |")
    ratio = np.mean([r["auto"] / r["mnp"] for r in rows])
    ratio_sum = np.mean([r["auto"] / sum(r["cand"].values()) for r in rows])
    lines += ["", f"Mean Auto / MNP(): {ratio:.2f}; mean Auto / sum of candidates: "
                  f"{ratio_sum:.2f}. Command: `OMP_NUM_THREADS=1 python benchmarks/auto_cost.py "
                  f"--dataset {args.dataset} --ratio {args.ratio:g} --split-seed "
                  f"{args.split_seed} --seeds {' '.join(map(str, args.seeds))}"
                  + (f" --auto-params '{args.auto_params}'" if auto_params else "") + "`."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
