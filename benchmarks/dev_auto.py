"""Development study of ``Auto`` (``method='auto'``): select or combine, and its fallback.

Runs on *development* splits only (``--split-seeds``, default 7; never the benchmark's split
seed 2024), weak protocol, at the given labeled ratios. For each (dataset, ratio, split seed,
model seed) it

1. fits every default candidate of Auto on the whole training split (its test AP: the
   per-dataset oracle and the single detectors; its fit time: the cost of each candidate);
2. runs Auto's internal evaluation (the same functions Auto uses, ``mnpad.detectors.
   _auto_select``) on the training split only, *without* halving, so every candidate has a
   held-out AP on every split; halving is then replayed from those numbers (it keeps the same
   candidates Auto's halving would keep: the members' seeds do not depend on who survived);
3. computes the test AP of each way of using the internal scores: ``select`` (best mean held-out
   AP, with and without halving), ``rank2``/``rank3``/``rank_all`` (rank average, against each
   member's training scores, of the 2 / 3 / all best).

One JSON line per run is appended to ``--out``; finished runs are skipped (resumable). With
the environment variable ``DEV_AUTO_SCORES=folder`` the candidates' training and test scores
are also kept there (one ``.npz`` per run), to try other rules without refitting.
``--summary`` prints the Markdown tables of docs/auto.md from that file. A ratio so small that
``ceil(ratio * anomalies)`` is 1 (e.g. ``--ratios 1e-6``) measures the candidates with a single
labeled anomaly, where Auto uses its fallback.

    OMP_NUM_THREADS=1 python benchmarks/dev_auto.py --datasets pendigits gamma --ratios 0.05 0.01
    python benchmarks/dev_auto.py --summary
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

from mnpad.detectors.auto import MNP_ONCE

OUT = "benchmarks/results/dev_auto.jsonl"
DATASETS = ("pendigits", "gamma", "vi", "bank", "bac", "ana", "rec", "dos")
#: extra candidate names of the studies: a registered detector with other parameters
#: (session 13: MNP fitted once, without the default's 3 complete fits)
ALIASES = {"mnp1": ("mnp", {"recipe": MNP_ONCE})}


def _ap(y, s):
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s))


def replay_halving(ap, names, min_keep=2):
    """Survivors' ranking under successive halving, from complete per-split APs."""
    alive = list(range(len(names)))
    n_splits = len(ap[names[0]])
    dropped = {}
    for r in range(n_splits - 1):
        if len(alive) <= min_keep:
            break
        order = sorted(alive, key=lambda i: (-np.mean(ap[names[i]][:r + 1]), i))
        keep = max(min_keep, math.ceil(len(alive) / 2))
        for i in order[keep:]:
            dropped[i] = r
        alive = sorted(order[:keep])
    surv = sorted(alive, key=lambda i: (-np.mean(ap[names[i]]), i))
    rest = sorted(dropped, key=lambda i: (-dropped[i], -np.mean(ap[names[i]][:dropped[i] + 1]),
                                          i))
    return [names[i] for i in surv + rest]


def run_one(dataset, ratio, split_seed, seed, candidates=None):
    from mnpad.detectors import _auto_select as sel
    from mnpad.detectors.auto import DEFAULT_CANDIDATES, Auto
    from mnpad.protocol import make_split

    sp = make_split(dataset, protocol="weak", labeled_ratio=ratio, split_seed=split_seed)
    X, y = sp.X_train, sp.y_train
    # a plain name is the registry's default (``mnp``: the default ``MNP()``, as in the
    # studies before session 13); Auto's default MNP candidate is ``mnp1``
    default = [n if not p else next(a for a, (b, q) in ALIASES.items() if (b, q) == (n, p))
               for n, p in DEFAULT_CANDIDATES.items()]
    names = list(candidates or default)
    auto = Auto(random_state=seed)
    auto.device_ = "cpu"

    def make(name, params, s):
        base, extra = ALIASES.get(name, (name, {}))
        return auto._make(base, {**extra, **params}, s)

    rec = {"dataset": dataset, "ratio": ratio, "split_seed": split_seed, "seed": seed,
           "n_labeled": int(y.sum()), "n_train": int(len(y)), "candidates": names}
    test, train, fit_time = {}, {}, {}
    for i, n in enumerate(names):
        t0 = time.perf_counter()
        det = make(n, {}, sel.member_seed(seed, i, -1)).fit(X, y)
        fit_time[n] = time.perf_counter() - t0
        train[n], test[n] = det.decision_scores_, det.decision_function(sp.X_test)
    rec["test_ap"] = {n: _ap(sp.y_test, test[n]) for n in names}
    rec["fit_time"] = fit_time
    keep = {}
    if int(y.sum()) >= sel.MIN_LABELED_EVAL:
        rng = np.random.default_rng(seed)
        splits = sel.folds(y, min(3, int(y.sum())), rng)
        t0 = time.perf_counter()
        res = sel.evaluate(X, y, [(n, {}) for n in names], make, splits, halving=False,
                           base_seed=seed, keep_scores=True)
        rec["eval_time_no_halving"] = time.perf_counter() - t0
        for r, yh in enumerate(res["holdout_y"]):  # per split: to judge combinations offline
            keep[f"f{r}_y"] = yh
            for n in names:
                if res["holdout"][n][r] is not None:
                    keep[f"f{r}_ho_{n}"] = res["holdout"][n][r]
                    keep[f"f{r}_fit_{n}"] = res["fit_scores"][n][r]
        rec["internal"] = {m: res[m] for m in sel.METRICS}
        rec["errors"] = res["errors"]
        ok = [n for n in names if n not in res["errors"]]

        def rank_mean(members):
            tot = np.zeros(len(sp.y_test))
            for m in members:
                tot += sel.TrainRank(train[m])(test[m])
            return _ap(sp.y_test, tot / len(members))

        rec["variants"] = {}
        for metric in sel.METRICS:
            sc = {n: res[metric][n] for n in ok}
            full = sorted(ok, key=lambda n: (-np.mean(sc[n]), ok.index(n)))
            halved = replay_halving(sc, ok)
            rec[f"ranking_{metric}"], rec[f"ranking_halving_{metric}"] = full, halved
            rec["variants"].update({
                f"select_{metric}": rec["test_ap"][full[0]],
                f"select_halving_{metric}": rec["test_ap"][halved[0]],
                f"rank2_{metric}": rank_mean(halved[:2]), f"rank3_{metric}": rank_mean(full[:3]),
            })
        rec["variants"]["rank_all"] = rank_mean(ok)
    if os.environ.get("DEV_AUTO_SCORES"):  # keep the scores to try other rules offline
        os.makedirs(os.environ["DEV_AUTO_SCORES"], exist_ok=True)
        np.savez_compressed(
            os.path.join(os.environ["DEV_AUTO_SCORES"],
                         f"{dataset}_{ratio:g}_{split_seed}_{seed}.npz"),
            y_test=sp.y_test, **{f"train_{n}": train[n] for n in names},
            **{f"test_{n}": test[n] for n in names}, **keep)
    return rec


def _key(r):
    return (r["dataset"], float(r["ratio"]), int(r["split_seed"]), int(r["seed"]))


def _agg(values, how):
    return float(np.median(values) if how == "median" else np.mean(values))


def variants(rec, train, test, y_test, subset=None, folds=None):
    """Test AP of each rule for using the internal scores (from the saved scores); ``subset``:
    only these candidates (the evaluation of the others is ignored, as if never run)."""
    from mnpad.detectors import _auto_select as sel

    ok = [n for n in rec["candidates"] if n not in rec.get("errors", {})
          and (subset is None or n in subset)]

    def rank_mean(members):
        tot = np.zeros(len(y_test))
        for m in members:
            tot += sel.TrainRank(train[m])(test[m])
        return _ap(y_test, tot / len(members))

    out = {"rank_all": rank_mean(ok)}
    for metric in ("auc", "ap"):
        for how in ("mean", "median"):
            sc = {n: rec["internal"][metric][n] for n in ok}
            full = sorted(ok, key=lambda n: (-_agg(sc[n], how), ok.index(n)))
            halved = replay_halving(sc, ok)
            tag = f"{metric}_{how}"
            out[f"select_{tag}"] = rec["test_ap"][full[0]]
            out[f"rank2_{tag}"] = rank_mean(full[:2])
            out[f"rank3_{tag}"] = rank_mean(full[:3])
            if how == "median":  # the second member only when close to the best
                for tol in (0.01, 0.03, 0.1):
                    close = _agg(sc[full[1]], how) >= _agg(sc[full[0]], how) - tol
                    out[f"rank2_within{tol:g}_{tag}"] = (rank_mean(full[:2]) if close
                                                         else rec["test_ap"][full[0]])
            if how == "mean":
                out[f"select_halving_{metric}"] = rec["test_ap"][halved[0]]
                out[f"rank2_halving_{metric}"] = rank_mean(halved[:2])
    if folds:
        out.update(guard_rules(rec, ok, rank_mean, folds))
    return out


#: candidates that ignore the labels (for the rule that lets them in only alone)
UNSUPERVISED = ("iforest",)


def guard_rules(rec, ok, rank_mean, folds):
    """Test AP of rules that decide whether the second-best candidate (by median held-out
    AUC, Auto's ranking) joins the best in the rank average; needs the per-split scores."""
    from mnpad.detectors import _auto_select as sel

    n_splits = len([k for k in folds if k.endswith("_y") and k.startswith("f")])
    res = {"holdout_y": [folds[f"f{r}_y"] for r in range(n_splits)],
           "holdout": {n: [folds.get(f"f{r}_ho_{n}") for r in range(n_splits)] for n in ok},
           "fit_scores": {n: [folds.get(f"f{r}_fit_{n}") for r in range(n_splits)] for n in ok}}
    med = {m: {n: _agg(rec["internal"][m][n], "median") for n in ok} for m in sel.METRICS}
    full = sorted(ok, key=lambda n: (-med["auc"][n], ok.index(n)))
    best, second = full[0], full[1]
    alone, pair = rec["test_ap"][best], rank_mean([best, second])
    within = med["auc"][second] >= med["auc"][best] - sel.JOIN_TOLERANCE
    comb = {m: float(np.median(v)) for m, v in sel.combined_measure(res, [best, second]).items()}
    out = {"g_current": pair if within else alone}
    # the unsupervised candidate only alone: it never joins, and a best one is not joined
    if best in UNSUPERVISED:
        out["g_unsup_alone"] = alone
    else:
        nxt = [n for n in full[1:] if n not in UNSUPERVISED
               and med["auc"][n] >= med["auc"][best] - sel.JOIN_TOLERANCE]
        out["g_unsup_alone"] = rank_mean([best, nxt[0]]) if nxt else alone
    out["g_combo_auc"] = pair if comb["auc"] >= med["auc"][best] else alone
    out["g_combo_ap"] = pair if comb["ap"] >= med["ap"][best] else alone
    out["g_combo_both"] = (pair if comb["auc"] >= med["auc"][best] and comb["ap"]
                           >= med["ap"][best] else alone)
    out["g_combo_auc_tol"] = pair if within and comb["auc"] >= med["auc"][best] else alone
    out["g_combo_ap_tol"] = pair if within and comb["ap"] >= med["ap"][best] else alone
    for tol in (0.05, 0.1):
        ok_ap = med["ap"][second] >= med["ap"][best] - tol
        out[f"g_ap_tol{tol:g}"] = pair if within and ok_ap else alone
    for frac in (0.25, 0.5):  # relative: the second's median AP at least frac x the best's
        ok_ap = med["ap"][second] >= frac * med["ap"][best]
        out[f"g_ap_rel{frac:g}"] = pair if within and ok_ap else alone
    # session 7, written down before splits 11-16 were run: compare the two *per fold* (both
    # were judged on the same held-out rows, so the fold's difficulty cancels) instead of their
    # medians taken separately
    tol = sel.JOIN_TOLERANCE
    diff = [a - b for a, b in zip(rec["internal"]["auc"][second], rec["internal"]["auc"][best],
                                  strict=True)]
    out["g_paired_median"] = pair if np.median(diff) >= -tol else alone
    out["g_paired_all"] = pair if min(diff) >= -tol else alone
    # the same ranking and tolerance on the mean of the folds' AUCs instead of the median
    mean = {n: float(np.mean(rec["internal"]["auc"][n])) for n in ok}
    by_mean = sorted(ok, key=lambda n: (-mean[n], ok.index(n)))
    out["g_mean_tol"] = (rank_mean(by_mean[:2]) if mean[by_mean[1]] >= mean[by_mean[0]] - tol
                         else rec["test_ap"][by_mean[0]])
    return out


def _load_scores(folder, r):
    path = os.path.join(folder, f"{r['dataset']}_{float(r['ratio']):g}_{r['split_seed']}_"
                                f"{r['seed']}.npz")
    if not os.path.exists(path):
        return None
    z = np.load(path)
    names = r["candidates"]
    folds = {k: z[k] for k in z.files if k.startswith("f") and k[1:2].isdigit()}
    return ({n: z[f"train_{n}"] for n in names}, {n: z[f"test_{n}"] for n in names},
            z["y_test"], folds or None)


def arm_value(rec, got, subset, evaluate_as=None):
    """Test AP of Auto's rule (``g_current``) with the candidates ``subset``, from one run's
    saved scores. ``evaluate_as={'mnp': 'mnp1'}``: judge ``mnp`` by the held-out results of
    ``mnp1`` (evaluated cheaply), but refit it as ``mnp`` (session 13's arm D)."""
    train, test, y_test, folds = got
    r = dict(rec, internal={m: dict(v) for m, v in rec["internal"].items()})
    folds = dict(folds)
    for name, proxy in (evaluate_as or {}).items():
        for m in r["internal"]:
            r["internal"][m][name] = rec["internal"][m][proxy]
        for k in [k for k in folds if k.endswith(f"_{proxy}")]:
            folds[k[: -len(proxy)] + name] = folds[k]
    return variants(r, train, test, y_test, subset=subset, folds=folds)["g_current"]


#: session 13's arms (``dev_mnp_prereg_s13.md``): candidates and evaluation proxies
ARMS = {"A": (("iforest", "devnet", "gbdt", "prenet"), None),
        "B": (("iforest", "devnet", "gbdt", "prenet", "mnp"), None),
        "C": (("iforest", "devnet", "gbdt", "prenet", "mnp1"), None),
        "D": (("iforest", "devnet", "gbdt", "prenet", "mnp"), {"mnp": "mnp1"})}


def arms_summary(paths, scores):
    """Per-run and mean test AP of session 13's arms A-D (Markdown)."""
    rows = [json.loads(line) for p in paths for line in open(p, encoding="utf-8")
            if line.strip()]
    rows.sort(key=lambda r: (-float(r["ratio"]), r["dataset"], r["split_seed"]))
    out = ["| ratio | dataset | split | labeled | " + " | ".join(ARMS)
           + " | MNP alone | MNP once alone | top two by held-out AUC (C, D) |", "|" + "---|" * 11]
    vals = {a: [] for a in ARMS}
    for r in rows:
        got = _load_scores(scores, r)
        if got is None or "internal" not in r:
            continue
        v = {a: arm_value(r, got, set(c), ev) for a, (c, ev) in ARMS.items()}
        for a in ARMS:
            vals[a].append((float(r["ratio"]), v[a]))
        med = {n: float(np.median(r["internal"]["auc"][n])) for n in ARMS["C"][0]}
        med["mnp"] = med.pop("mnp1")
        top = sorted(med, key=lambda n: -med[n])[:2]
        out.append(f"| {float(r['ratio']):g} | {r['dataset']} | {r['split_seed']} | "
                   f"{r['n_labeled']} | " + " | ".join(f"{v[a]:.3f}" for a in ARMS)
                   + f" | {r['test_ap']['mnp']:.3f} | {r['test_ap']['mnp1']:.3f} | "
                   + "+".join(top) + " |")
    for ratio in (None, 0.05, 0.01):
        sel_ = {a: [x for q, x in vals[a] if ratio is None or q == ratio] for a in ARMS}
        worst = {a: min(np.subtract(sel_[a], sel_["A"])) for a in ARMS if sel_[a]}
        out.append(f"\n{'all' if ratio is None else f'{ratio:g}'} ({len(sel_['A'])} runs): "
                   + ", ".join(f"{a} {np.mean(sel_[a]):.4f} (worst vs A {worst[a]:+.3f})"
                               for a in ARMS if sel_[a]))
    return "\n".join(out)


def summary(path, scores=None, subset=None):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    if subset:
        for r in rows:
            r["candidates"] = [n for n in r["candidates"] if n in subset]
            r["test_ap"] = {n: r["test_ap"][n] for n in r["candidates"]}
            r["fit_time"] = {n: r["fit_time"][n] for n in r["candidates"]}
            r.pop("variants", None)
    if scores:  # recompute every rule from the saved scores
        for r in rows:
            got = _load_scores(scores, r)
            if got is not None and "internal" in r:
                train, test, y_test, folds = got
                r["variants"] = variants(r, train, test, y_test, subset=subset, folds=folds)
    out = []
    for ratio in sorted({float(r["ratio"]) for r in rows}, reverse=True):
        rs = [r for r in rows if float(r["ratio"]) == ratio]
        names = rs[0]["candidates"]
        by_ds = {}
        for r in rs:
            by_ds.setdefault(r["dataset"], []).append(r)
        out.append(f"\n#### Labeled ratio {ratio:g}: test AP on development split(s) "
                   f"{sorted({r['split_seed'] for r in rs})}, model seed(s) "
                   f"{sorted({r['seed'] for r in rs})}\n")
        out.append("| dataset | labeled | " + " | ".join(names) + " | oracle |")
        out.append("|" + "---|" * (3 + len(names)))
        cols = {c: [] for c in names + ["oracle"]}
        for ds, group in by_ds.items():
            vals = {n: np.mean([g["test_ap"][n] for g in group]) for n in names}
            vals["oracle"] = np.mean([max(g["test_ap"].values()) for g in group])
            for c in cols:
                cols[c].append(vals[c])
            out.append(f"| {ds} | {group[0]['n_labeled']} | "
                       + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
        out.append("| mean | | " + " | ".join(f"**{np.mean(v):.3f}**" for v in cols.values())
                   + " |")
        best = max(names, key=lambda n: np.mean(cols[n]))
        ft = {n: np.mean([g["fit_time"][n] for g in rs]) for n in names}
        out.append("\nMean full-data fit time (s): "
                   + ", ".join(f"{n} {t:.1f}" for n, t in ft.items()))
        evald = [d for d, g in by_ds.items() if all("variants" in x for x in g)]
        if not evald:
            continue
        vnames = list(by_ds[evald[0]][0]["variants"])
        out.append(f"\nRules on the {len(evald)} dataset(s) with >= 3 labeled anomalies "
                   f"(best single on them: {best}; oracle = best candidate per dataset by test "
                   "AP):\n")
        ref = "devnet" if "devnet" in names else None  # Auto's fallback: the 1 % item's bar
        out.append("| rule | " + " | ".join(evald) + " | mean | / best single | / oracle |"
                   + (f" worst run - {ref} |" if ref else ""))
        out.append("|" + "---|" * (4 + len(evald) + bool(ref)))
        ref_best = np.mean([np.mean([g["test_ap"][best] for g in by_ds[d]]) for d in evald])
        ref_orc = np.mean([np.mean([max(g["test_ap"].values()) for g in by_ds[d]])
                           for d in evald])
        for v in vnames:
            vals = [np.mean([g["variants"][v] for g in by_ds[d]]) for d in evald]
            m = np.mean(vals)
            gaps = [g["variants"][v] - g["test_ap"][ref] for d in evald for g in by_ds[d]]
            worst = f" {min(gaps):+.3f} |" if ref else ""
            out.append(f"| {v} | " + " | ".join(f"{x:.3f}" for x in vals)
                       + f" | **{m:.3f}** | {m / ref_best:.3f} | {m / ref_orc:.3f} |" + worst)
    out.append(threshold_sweep(rows))
    return "\n".join(out)


def threshold_sweep(rows, rule="rank2_within0.1_auc_median", fallback="devnet",
                    thresholds=(3, 6, 9, 12, 15)):
    """Auto's default rule with the fallback below ``min_labeled`` labeled anomalies: mean test
    AP over the datasets (runs with >= 3 labeled anomalies) and the worst run against the
    fallback, per labeled ratio and threshold."""
    out = [f"\n#### Fewest labeled anomalies for the evaluation (`min_labeled`): rule {rule}, "
           f"{fallback} below it\n",
           "| ratio | min_labeled | mean test AP | worst run - " + fallback
           + " | runs that fell back | " + fallback + " alone |", "|---|---|---|---|---|---|"]
    for ratio in sorted({float(r["ratio"]) for r in rows}, reverse=True):
        rs = [r for r in rows if float(r["ratio"]) == ratio and "variants" in r
              and rule in r["variants"]]
        if not rs:
            continue
        ref = {}
        for r in rs:
            ref.setdefault(r["dataset"], []).append(r["test_ap"][fallback])
        for t in thresholds:
            by_ds, gaps = {}, []
            for r in rs:
                v = r["test_ap"][fallback] if r["n_labeled"] < t else r["variants"][rule]
                by_ds.setdefault(r["dataset"], []).append(v)
                gaps.append(v - r["test_ap"][fallback])
            out.append(f"| {ratio:g} | {t} | {np.mean([np.mean(v) for v in by_ds.values()]):.3f}"
                       f" | {min(gaps):+.3f} | {sum(r['n_labeled'] < t for r in rs)}/{len(rs)}"
                       f" | {np.mean([np.mean(v) for v in ref.values()]):.3f} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.05, 0.01])
    ap.add_argument("--split-seeds", nargs="+", type=int, default=[7])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--arms", nargs="+", metavar="JSONL",
                    help="print session 13's arms A-D from these run files (needs --scores)")
    ap.add_argument("--scores", help="with --summary: recompute the rules from the scores kept "
                                     "by DEV_AUTO_SCORES in this folder")
    ap.add_argument("--candidates", nargs="+",
                    help="candidates to run (default: Auto's); with --summary: only these "
                         "candidates (the others as if not run)")
    args = ap.parse_args()
    if args.arms:
        print(arms_summary(args.arms, args.scores))
        return
    if args.summary:
        print(summary(args.out, args.scores, args.candidates))
        return
    if 2024 in args.split_seeds:
        raise SystemExit("split seed 2024 is the benchmark split; use development seeds (7, 8).")
    done = set()
    if os.path.exists(args.out):
        done = {_key(json.loads(line)) for line in open(args.out, encoding="utf-8")
                if line.strip()}
    for ratio in args.ratios:
        for ds in args.datasets:
            for ss in args.split_seeds:
                for seed in args.seeds:
                    if (ds, float(ratio), ss, seed) in done:
                        continue
                    t0 = time.perf_counter()
                    rec = run_one(ds, ratio, ss, seed, args.candidates)
                    rec["wall"] = time.perf_counter() - t0
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(rec) + "\n")
                    print(json.dumps({k: rec.get(k) for k in ("dataset", "ratio", "n_labeled",
                                                              "test_ap", "variants", "wall")}),
                          flush=True)


if __name__ == "__main__":
    main()
