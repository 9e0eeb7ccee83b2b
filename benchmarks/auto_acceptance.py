"""Issue 13's acceptance figures for ``auto`` from a benchmark store (weak protocol).

For each labeled ratio: the datasets on which ``auto`` and every other method in the store have
finished the same seeds; per dataset the mean test AP (average precision) of each method; the
mean over those datasets; the best single detector (highest mean); the per-dataset oracle (the
method with the best mean AP on each dataset, chosen with test labels); auto / best single and
auto / oracle; and auto against its fallback (``devnet``) per dataset with the seed-to-seed sd.

    python benchmarks/auto_acceptance.py --store benchmarks/results/auto/results.sqlite \
        [--extra-store benchmarks/results/results.sqlite --extra-methods mnp]

With ``--extra-store`` the methods named by ``--extra-methods`` come from that store instead
(the main store holds the current default MNP's weak-protocol cells on the same split). With
``--before PARAMS`` the store's ``auto`` cells run with those parameters (e.g. the former
default candidates, kept by ``migrate_store_auto_mnp.py``) are a column ``before`` (not a single
detector: left out of the best single and the oracle).

    python benchmarks/auto_acceptance.py --extra-store benchmarks/results/results.sqlite \
        --before '{"candidates":["iforest","devnet","gbdt","prenet"]}'
"""

from __future__ import annotations

import argparse
import sqlite3

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="benchmarks/results/auto/results.sqlite")
    ap.add_argument("--metric", default="aucpr", choices=("aucpr", "aucpr_trapz", "aucroc"))
    ap.add_argument("--fallback", default="devnet")
    ap.add_argument("--extra-store", default=None,
                    help="a second store (e.g. benchmarks/results/results.sqlite) to take "
                         "--extra-methods from: its weak-protocol cells of the same split "
                         "(experiments 'ratios' and 'compare'), default parameters")
    ap.add_argument("--extra-methods", nargs="*", default=["mnp"])
    ap.add_argument("--before", default=None, metavar="PARAMS",
                    help="also show the store's auto cells with these params (as stored, "
                         "compact JSON) as a column 'before'")
    args = ap.parse_args()
    con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    extra = set(args.extra_methods) if args.extra_store else set()
    rows = [r for r in con.execute(
        f"select dataset, method, setting, seed, {args.metric} from cells where "
        "experiment='ratios' and protocol='weak' and status='ok' and params='{}'").fetchall()
        if r[1] not in extra]
    if args.before:
        rows += [(ds, "before", setting, seed, v) for ds, _, setting, seed, v in con.execute(
            f"select dataset, method, setting, seed, {args.metric} from cells where "
            "experiment='ratios' and protocol='weak' and status='ok' and method='auto' and "
            "params=?", (args.before,)).fetchall()]
    if args.extra_store:
        con2 = sqlite3.connect(f"file:{args.extra_store}?mode=ro", uri=True)
        marks = ",".join("?" * len(extra))
        rows += con2.execute(
            f"select dataset, method, setting, seed, {args.metric} from cells where "
            "experiment in ('ratios', 'compare') and protocol='weak' and status='ok' and "
            f"params='{{}}' and method in ({marks})", sorted(extra)).fetchall()
    data = {}
    for ds, m, setting, seed, v in rows:
        data.setdefault(setting, {}).setdefault(ds, {}).setdefault(m, {})[int(seed)] = v
    for setting in sorted(data, key=lambda s: -float(s.split("=")[1])):
        by_ds = data[setting]
        methods = sorted({m for d in by_ds.values() for m in d})
        if "auto" not in methods:
            continue
        common = {}
        for ds, d in by_ds.items():
            if "auto" not in d:
                continue
            seeds = set(d["auto"])
            for m in methods:
                seeds &= set(d.get(m, {}))
            if seeds:
                common[ds] = sorted(seeds)
        if not common:
            continue
        print(f"\n### {setting} ({args.metric}; datasets where every method has the same "
              "seeds)\n")
        print("| dataset | seeds | " + " | ".join(methods) + " | oracle |")
        print("|" + "---|" * (len(methods) + 3))
        means = {m: [] for m in methods}
        oracle = []
        for ds, seeds in sorted(common.items()):
            vals = {m: float(np.mean([by_ds[ds][m][s] for s in seeds])) for m in methods}
            for m in methods:
                means[m].append(vals[m])
            best = max(methods, key=lambda m: vals[m] if m not in ("auto", "before") else -1)
            oracle.append(vals[best])
            print(f"| {ds} | {len(seeds)} | " + " | ".join(f"{vals[m]:.3f}" for m in methods)
                  + f" | {vals[best]:.3f} ({best}) |")
        avg = {m: float(np.mean(v)) for m, v in means.items()}
        print(f"| mean ({len(common)}) | | " + " | ".join(f"{avg[m]:.3f}" for m in methods)
              + f" | {np.mean(oracle):.3f} |")
        singles = [m for m in methods if m not in ("auto", "before")]
        best_single = max(singles, key=lambda m: avg[m])
        print(f"\nauto {avg['auto']:.3f}; best single {best_single} {avg[best_single]:.3f} "
              f"(auto / best single {avg['auto'] / avg[best_single]:.3f}); per-dataset oracle "
              f"{np.mean(oracle):.3f} (auto / oracle {avg['auto'] / np.mean(oracle):.3f})")
        fb = args.fallback
        if fb in methods:
            diffs = []
            for ds, seeds in sorted(common.items()):
                a = np.array([by_ds[ds]["auto"][s] for s in seeds])
                f = np.array([by_ds[ds][fb][s] for s in seeds])
                diffs.append(f"{ds} {a.mean() - f.mean():+.3f} (sd auto {a.std():.3f}, "
                             f"{fb} {f.std():.3f})")
            print(f"auto - {fb} per dataset: " + "; ".join(diffs))


if __name__ == "__main__":
    main()
