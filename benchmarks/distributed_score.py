"""Scoring and fitting a folder of Parquet files: one process vs Dask workers (issue 12).

Generates ``--files`` Parquet files of ``--rows-per-file`` rows (12 numeric columns, two with
1 % blanks, 3 text columns: 41 encoded features; 0.2 % injected anomalies, 20 % of them
labeled) plus a 1M-row test file, under ``--data`` (default /tmp/mnpad-dist-bench; reused when
present, never in the repository). Then, with a fresh Python process per measurement:

1. ``mnpad fit DIR --max-rows N`` (streamed sample) and, for comparison, ``mnpad fit`` on an
   in-memory sample of the same size (all labeled anomalies + a per-file uniform sample of
   unlabeled rows drawn with pandas), for each ``--seeds``; time, peak RSS, and AP / ROC AUC on
   the injected anomalies of the test file.
2. ``mnpad score MODEL DIR --out OUT`` in one process, and with ``--scheduler local:W`` for each
   ``--workers``, for a cheap detector (DevNet) and MNP; rows/s and peak RSS of each process.

Writes ``benchmarks/results/distributed_score.md``.

    OMP_NUM_THREADS=1 python benchmarks/distributed_score.py             # 20 x 1M rows
    OMP_NUM_THREADS=1 python benchmarks/distributed_score.py --files 4 --rows-per-file 200000
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MNP_PARAMS = '{"epochs": 10, "steps_per_epoch": 32}'
# peak RSS: VmHWM of the process (ru_maxrss would include the parent's peak: Linux keeps it
# across fork + exec)
PEAK = ("import sys; from mnpad.cli.main import main; from mnpad.distributed import _peak_rss_mib; "
        "rc = main(sys.argv[1:]); print('PEAK_KB', int(_peak_rss_mib() * 1024)); sys.exit(rc)")
SCORE = ("import json, sys; from mnpad.distributed import score_files, _peak_rss_mib; "
         "s = score_files(sys.argv[1], sys.argv[2], sys.argv[3], scheduler=sys.argv[4] or None, "
         "progress=False); s['client_peak_kb'] = _peak_rss_mib() * 1024; "
         "print('RESULT', json.dumps(s, default=str))")
TEXT = {"proto": [f"p{i}" for i in range(8)], "channel": [f"c{i}" for i in range(10)],
        "region": [f"r{i}" for i in range(8)]}


# ---------------------------------------------------------------------------- data
def block(rng, start, m, W):
    """m rows: 12 numeric columns from a 3-d latent, 3 text columns, 0.2 % anomalies."""
    z = rng.normal(0, 1, (m, 3))
    num = z @ W + rng.normal(0, 0.1, (m, 12))
    proto = np.clip(((z[:, 0] + 2.5) / 5 * 8).astype(int), 0, 7)
    channel = rng.integers(0, 10, m)
    region = (proto + rng.integers(0, 2, m)) % 8
    anom = rng.random(m) < 0.002
    kind = rng.integers(0, 2, m)
    a_num = anom & (kind == 0)  # off the latent manifold in three columns
    cols = rng.integers(0, 12, (m, 3))
    for j in range(3):
        num[a_num, cols[a_num, j]] += rng.choice([-1, 1], a_num.sum()) * rng.uniform(10, 20,
                                                                                     a_num.sum())
    a_cat = anom & (kind == 1)  # a text value that contradicts the numbers
    region[a_cat] = (proto[a_cat] + 4) % 8
    num[a_cat, :2] += 6.0
    df = pd.DataFrame(num.round(4), columns=[f"x{j}" for j in range(12)])
    df.insert(0, "id", np.arange(start, start + m, dtype=np.int64))
    for c in ("x3", "x7"):
        df.loc[rng.random(m) < 0.01, c] = np.nan
    df["proto"] = np.array(TEXT["proto"], object)[proto]
    df["channel"] = np.array(TEXT["channel"], object)[channel]
    reg = np.array(TEXT["region"], object)[region]
    reg[rng.random(m) < 0.01] = None
    df["region"] = reg
    df["is_fraud"] = (anom & (rng.random(m) < 0.2)).astype(np.int8)
    df["is_anomaly"] = anom.astype(np.int8)
    return df


def generate(root, files, rows, seed=0):
    meta = root / "bench.json"
    want = {"files": files, "rows_per_file": rows, "seed": seed}
    if meta.exists() and json.loads(meta.read_text()) == want:
        return False
    shutil.rmtree(root, ignore_errors=True)
    (root / "flows").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 1, (3, 12))
    for i in range(files):
        block(rng, i * rows, rows, W).to_parquet(root / "flows" / f"part-{i:03d}.parquet",
                                                 row_group_size=250_000)
    block(rng, 10**9, 1_000_000, W).to_parquet(root / "test.parquet", row_group_size=250_000)
    meta.write_text(json.dumps(want))
    return True


# ---------------------------------------------------------------------------- runs
def run(cmd, env):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r.stdout, wall


def fit(args, data, out, env, seed, method="mnp", params=MNP_PARAMS, max_rows=None):
    cmd = [sys.executable, "-c", PEAK, "fit", str(data), "--label-column", "is_fraud",
           "--id-column", "id", "--drop", "is_anomaly", "--method", method, "--out", str(out),
           "--random-state", str(seed), "--force"]
    if params:
        cmd += ["--params", params]
    if max_rows:
        cmd += ["--max-rows", str(max_rows)]
    stdout, wall = run(cmd, env)
    peak = int(stdout.split("PEAK_KB")[1].split()[0]) / 1024
    return {"wall_s": wall, "peak_mib": peak, "stdout": stdout}


def in_memory_sample(flows, k, seed):
    """All labeled anomalies + a per-file uniform sample of unlabeled rows, k rows in all."""
    files = sorted(flows.glob("*.parquet"))
    labs = [pd.read_parquet(f, columns=["is_fraud"])["is_fraud"].to_numpy() for f in files]
    n_lab = sum(int(v.sum()) for v in labs)
    n_unl = [int((v == 0).sum()) for v in labs]
    quota = np.floor(np.array(n_unl) / sum(n_unl) * (k - n_lab)).astype(int)
    quota[: (k - n_lab) - quota.sum()] += 1
    rng = np.random.default_rng(seed)
    parts = []
    for f, v, q in zip(files, labs, quota, strict=True):
        df = pd.read_parquet(f)
        unl = np.flatnonzero(v == 0)
        keep = np.sort(np.r_[np.flatnonzero(v == 1), rng.choice(unl, q, replace=False)])
        parts.append(df.iloc[keep])
    return pd.concat(parts, ignore_index=True)


def evaluate(model, test):
    from sklearn.metrics import average_precision_score, roc_auc_score

    import mnpad

    pipe = mnpad.load(model)
    df = pd.read_parquet(test)
    s = np.concatenate([pipe.decision_function(df.iloc[i:i + 200_000])
                        for i in range(0, len(df), 200_000)])
    y = df["is_anomaly"].to_numpy()
    return float(average_precision_score(y, s)), float(roc_auc_score(y, s))


def score(model, flows, out, scheduler, env):
    shutil.rmtree(out, ignore_errors=True)
    stdout, wall = run([sys.executable, "-c", SCORE, str(model), str(flows), str(out),
                        scheduler or ""], env)
    s = json.loads(stdout.split("RESULT", 1)[1])
    s["wall_s"] = wall
    per = {}
    for t in s["tasks"]:
        w = per.setdefault(t["pid"], {"rows": 0, "seconds": 0.0, "peak": 0.0})
        w["rows"] += t["rows"]
        w["seconds"] += t["seconds"]
        w["peak"] = max(w["peak"], t["peak_rss_mib"])
    s["per_worker"] = per
    shutil.rmtree(out, ignore_errors=True)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--rows-per-file", type=int, default=1_000_000)
    ap.add_argument("--data", default="/tmp/mnpad-dist-bench")
    ap.add_argument("--max-rows", type=int, default=500_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--methods", nargs="+", default=["devnet", "mnp"])
    ap.add_argument("--skip-fit-compare", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "distributed_score.md"))
    args = ap.parse_args()
    env = dict(os.environ)
    root = Path(args.data)
    t0 = time.perf_counter()
    fresh = generate(root, args.files, args.rows_per_file)
    gen_s = time.perf_counter() - t0
    flows, test = root / "flows", root / "test.parquet"
    size = sum(f.stat().st_size for f in flows.glob("*.parquet")) / 2**20
    print(f"data: {args.files} x {args.rows_per_file:,} rows ({size:.0f} MiB), "
          + (f"generated in {gen_s:.0f} s" if fresh else "reused"), flush=True)
    res = {"fit": [], "score": []}
    models = {}
    for method in args.methods:
        params = MNP_PARAMS if method == "mnp" else None
        for seed in (args.seeds[:1] if args.skip_fit_compare else args.seeds):
            m = root / f"{method}-stream-{seed}.mnpad"
            r = fit(args, flows, m, env, seed, method, params, args.max_rows)
            r.update(method=method, seed=seed, how="streamed sample (mnpad fit DIR --max-rows)")
            r["ap"], r["auc"] = evaluate(m, test)
            print({k: v for k, v in r.items() if k != "stdout"}, flush=True)
            res["fit"].append(r)
            models.setdefault(method, m)
            if not args.skip_fit_compare:
                sample = root / f"inmem-{seed}.parquet"
                in_memory_sample(flows, args.max_rows, seed + 1000).to_parquet(sample)
                m2 = root / f"{method}-inmem-{seed}.mnpad"
                r = fit(args, sample, m2, env, seed, method, params)
                r.update(method=method, seed=seed, how="in-memory sample (mnpad fit FILE)")
                r["ap"], r["auc"] = evaluate(m2, test)
                print({k: v for k, v in r.items() if k != "stdout"}, flush=True)
                res["fit"].append(r)
    for method, m in models.items():
        for sched in [None] + [f"local:{w}" for w in args.workers]:
            s = score(m, flows, root / "scores", sched, env)
            s.update(method=method, scheduler=sched or "one process (no --scheduler)")
            print({k: s[k] for k in ("method", "scheduler", "rows", "seconds",
                                     "startup_seconds", "per_worker", "client_peak_kb")},
                  flush=True)
            res["score"].append(s)
    write_md(args, res, size)


def write_md(args, res, size):
    import torch

    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.machine()
    cmd = (f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} python "
           f"benchmarks/distributed_score.py --files {args.files} --rows-per-file "
           f"{args.rows_per_file} --max-rows {args.max_rows} --seeds "
           f"{' '.join(map(str, args.seeds))} --workers {' '.join(map(str, args.workers))} "
           f"--methods {' '.join(args.methods)}"
           + (" --skip-fit-compare" if args.skip_fit_compare else ""))
    n = args.files * args.rows_per_file
    L = [
        "# Many Parquet files: one process vs Dask workers (issue 12)",
        "",
        f"Generated by `{cmd}` on {datetime.date.today().isoformat()}.",
        "",
        f"Machine: {cpu}, {os.cpu_count()} logical CPUs **shared with three other jobs while "
        f"measured** (figures are noisy and the two Dask workers compete with them for the two "
        f"cores), torch {torch.__version__} CPU.",
        "",
        f"Data: {args.files} Parquet files x {args.rows_per_file:,} rows = {n:,} rows "
        f"({size:.0f} MiB, row groups of 250,000 rows): id, 12 numeric columns (two with 1 % "
        "blanks), 3 text columns (8, 10, 8 values, one with 1 % blanks) -> 41 encoded features; "
        "0.2 % injected anomalies (off-manifold numbers, or a text value contradicting them), "
        "20 % of them labeled in `is_fraud`; `is_anomaly` (truth) is dropped at fit. Test file: "
        "1,000,000 more rows from the same generator.",
        "",
        "## Scoring",
        "",
        "`mnpad.distributed.score_files` (what `mnpad score MODEL DIR --out OUT "
        "[--scheduler local:W]` runs) in a fresh process; one output Parquet file per input. "
        "Rows/s = rows / (scoring time, cluster start-up excluded). Per-worker rows/s = rows a "
        "worker scored / seconds it spent in its tasks. Peak RSS = `VmHWM` of each worker "
        "process (lifetime peak: Python, torch, pandas, pyarrow, the model, a 100,000-row chunk); "
        "for one process, of that process.",
        "",
        "| detector | how | rows | cluster start (s) | scoring (s) | rows/s | per-worker rows/s | "
        "peak RSS per worker (MiB) | client peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in res["score"]:
        work = s["seconds"] - s["startup_seconds"]
        per = list(s["per_worker"].values())
        rates = ", ".join(f"{w['rows'] / w['seconds']:,.0f}" for w in per)
        mems = ", ".join(f"{w['peak']:.0f}" for w in per)
        L.append(
            f"| {s['method']} | {s['scheduler']} | {s['rows']:,} | {s['startup_seconds']:.1f} | "
            f"{work:.1f} | {s['rows'] / work:,.0f} | "
            f"{rates} | {mems} | "
            f"{s['client_peak_kb'] / 1024:.0f} |")
    peaks = [w["peak"] for s in res["score"] for w in s["per_worker"].values()]
    L += ["", f"Largest peak RSS of any scoring process: {max(peaks):.0f} MiB "
          f"({'under' if max(peaks) < 1024 else 'OVER'} 1 GiB)."]
    L += ["", "## Fit on a streamed sample vs an in-memory sample of the same size", "",
          f"`mnpad fit DIR --max-rows {args.max_rows:,}` streams all {n:,} rows once and keeps "
          "every labeled anomaly + a uniform random sample of unlabeled rows. The comparison "
          "fits `mnpad fit sample.parquet` on a sample of the same size drawn in memory with "
          "another generator (all labeled anomalies + a per-file uniform sample). DevNet with "
          f"its defaults, MNP with `--params '{MNP_PARAMS}'`; AP and ROC AUC of the injected anomalies of the test file. "
          "Time and peak RSS are of the whole `mnpad fit` process (reading, sampling, "
          "preprocessing, training, saving).", "",
          "| detector | fit on | seed | time (s) | peak RSS (MiB) | AP | ROC AUC |",
          "|---|---|---:|---:|---:|---:|---:|"]
    for r in res["fit"]:
        L.append(f"| {r['method']} | {r['how']} | {r['seed']} | {r['wall_s']:.0f} | "
                 f"{r['peak_mib']:.0f} | {r['ap']:.4f} | {r['auc']:.4f} |")
    L.append("")
    for method in args.methods:
        for how in ("streamed", "in-memory"):
            aps = [r["ap"] for r in res["fit"] if r["method"] == method
                   and r["how"].startswith(how)]
            if len(aps) > 1:
                L.append(f"- {method}, {how} sample: AP mean {np.mean(aps):.4f}, sd "
                         f"{np.std(aps, ddof=1):.4f} over {len(aps)} seeds.")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(L) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
