"""``mnpad fit`` / ``score`` / ``explain`` / ``plot``: MNP (or a baseline) on your own table.

See ``docs/cli.md``. Training reads the whole file; scoring, explaining and plotting stream it
in chunks of ``--chunk-size`` rows, so their memory does not grow with the file.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from ..io import TableWriter, atomic_output, check_output, iter_chunks, read_columns, read_table

DEFAULT_CHUNK = 100_000


def add_parser(sub):
    p = sub.add_parser("fit", help="train a model on a CSV/Parquet file with a label column",
                       description="Train preprocessing + detector on DATA and save one model "
                       "file. Label column: 1/true/yes = known anomaly; 0/false/no/blank = "
                       "unlabeled.")
    p.add_argument("data", metavar="DATA", nargs="+",
                   help="training table (.csv, .tsv, .parquet), or several: a folder, a quoted "
                   "glob or a list of files (streamed once; see --max-rows)")
    p.add_argument("--label-column", required=True, metavar="COL")
    p.add_argument("--method", default="mnp", help="detector registry name (default: mnp)")
    p.add_argument("--id-column", metavar="COL", help="row identifier, copied to outputs")
    p.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--params", metavar="JSON", help='detector parameters, e.g. \'{"epochs": 20}\'')
    p.add_argument("--max-categories", type=int, default=100, metavar="N",
                   help="most one-hot columns per text column (default: 100)")
    p.add_argument("--random-state", type=int, default=0, metavar="N",
                   help="seed (default: 0, so reruns give the same model)")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="train on every labeled anomaly + a uniform random sample of unlabeled "
                   "rows, N rows in all, read in one streaming pass (default for several "
                   "files: 1000000; a single file is read whole unless given)")
    p.add_argument("--force", action="store_true", help="overwrite MODEL if it exists")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", help="score every row of a file with a fitted model (streams)")
    p.add_argument("model", metavar="MODEL", help="model file written by mnpad fit")
    p.add_argument("data", metavar="DATA", nargs="+",
                   help="table to score (.csv, .tsv, .parquet), or several: a folder, a quoted "
                   "glob or a list of files (then --out is a folder)")
    p.add_argument("--out", required=True, metavar="SCORES",
                   help=".csv, .tsv or .parquet; a folder for several input files")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="score the files on Dask: a scheduler address or local[:N] (N worker "
                   "processes on this machine); needs mnpad[dask]")
    _chunk_force(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("explain", help="explain the top-N scored rows (MNP models)")
    _model_data(p)
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows to explain (default 10)")
    p.add_argument("--columns", type=int, default=3, metavar="K",
                   help="original columns listed per row (default 3)")
    p.add_argument("--out", metavar="FILE", help="also write the table (.csv/.tsv/.parquet)")
    _chunk_force(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("plot", help="PCA view of the latent space + score histogram (PNG)")
    _model_data(p)
    p.add_argument("--out", required=True, metavar="PNG")
    p.add_argument("--max-points", type=int, default=5000, metavar="N",
                   help="rows drawn in the scatter (uniform sample; default 5000)")
    _chunk_force(p)
    p.set_defaults(func=cmd_plot)


def _model_data(p):
    p.add_argument("model", metavar="MODEL", help="model file written by mnpad fit")
    p.add_argument("data", metavar="DATA", help="table to score (.csv, .tsv, .parquet)")


def _chunk_force(p):
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"rows per chunk (default {DEFAULT_CHUNK}); bounds memory, never changes scores")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")


def _err(msg):
    print(msg, file=sys.stderr)


# ---------------------------------------------------------------------- fit
def cmd_fit(args):
    from ..pipeline import Pipeline

    if _many(args) or args.max_rows is not None:
        from .data_large import cmd_fit_sampled

        return cmd_fit_sampled(args)
    args.data = args.data[0]
    check_output(args.out, args.force)
    params = _parse_params(args.params)
    columns = read_columns(args.data)
    if args.label_column not in columns:
        raise ValueError(f"unknown label column {args.label_column!r}; {args.data} has columns: "
                         f"{_show(columns)}.")
    for opt, cols in (("--id-column", [args.id_column] if args.id_column else []),
                      ("--drop", args.drop)):
        lacking = [c for c in cols if c not in columns]
        if lacking:
            raise ValueError(f"{opt}: {args.data} has no column(s) {_show(lacking)}.")
    df = read_table(args.data)
    pipe = Pipeline(args.method, params, id_column=args.id_column, drop=args.drop or None,
                    max_categories=args.max_categories, random_state=args.random_state)
    pipe.fit(df, args.label_column)
    pipe.save(args.out, overwrite=args.force)
    pre, det = pipe.preprocessor_, pipe.detector_
    lines = [
        f"trained {type(det).__name__} on {pipe.n_rows_} rows of {args.data}",
        f"  columns used:       {len(pipe.feature_columns_)} ({len(pre.numeric_columns_)} "
        f"numeric, {len(pre.categorical_columns_)} categorical)",
        f"  features (encoded): {len(pre.feature_names_out_)}",
        f"  labeled anomalies:  {pipe.n_labeled_} (column {args.label_column!r})",
    ]
    if pipe.is_mnp:
        lines.append(f"  prototypes found:   {det.n_prototypes_}")
    lines += [f"  training time:      {pipe.fit_time_:.1f} s",
              f"  threshold:          {det.threshold_:.6g} "
              f"({int(det.labels_.sum())} training rows above it)",
              f"  model written to    {args.out}"]
    for c, n in pre.n_distinct_.items():
        if n > args.max_categories:
            lines.append(f"  note: column {c!r} has {n} distinct values; only the "
                         f"{args.max_categories} most frequent are encoded (an identifier? "
                         "use --drop)")
    print("\n".join(lines))
    return 0


def _parse_params(text):
    if not text:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params is not valid JSON ({exc.msg} at position {exc.pos}).") from None
    if not isinstance(params, dict):
        raise ValueError('--params must be a JSON object, e.g. \'{"epochs": 20}\'.')
    return params


def _many(args):
    """Several input files (folder, glob, list): handled by ``data_large``."""
    from ..distributed import is_many

    return is_many(args.data)


# ---------------------------------------------------------------------- streaming helpers
def load_pipeline(path):
    """Load a model file written by ``mnpad fit`` (a Pipeline), or raise a clear error."""
    from ..persistence import load
    from ..pipeline import Pipeline

    obj = load(path)
    if not isinstance(obj, Pipeline):
        raise ValueError(f"{path} holds a bare {type(obj).__name__} detector without "
                         "preprocessing; the data commands need a model from `mnpad fit`.")
    return obj


def _stream(pipe, data, chunk_size, extra=()):
    """Yield (chunk, first row number); reads the model's columns (+ ``extra`` present)."""
    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1; got {chunk_size}.")
    have = set(read_columns(data))
    lacking = [c for c in pipe.feature_columns_ if c not in have]
    if lacking:
        raise ValueError(f"{data} lacks column(s) the model was trained on: {_show(lacking)}.")
    cols = list(pipe.feature_columns_) + [c for c in extra if c and c in have
                                          and c not in pipe.feature_columns_]
    text = list(pipe.preprocessor_.categorical_columns_) + [c for c in extra if c]
    start = 0
    for chunk in iter_chunks(data, chunk_size, columns=cols, text_columns=text):
        yield chunk, start
        start += len(chunk)


def _id_column(pipe, data):
    idc = pipe.id_column
    if idc and idc not in read_columns(data):
        _err(f"mnpad: note: {data} has no id column {idc!r}; writing row numbers instead")
        return None
    return idc


def _with_id(frame, chunk, start, idc):
    ids = chunk[idc].to_numpy() if idc else np.arange(start, start + len(chunk), dtype=np.int64)
    frame.insert(0, idc or "row", ids)
    return frame


# ---------------------------------------------------------------------- score
def cmd_score(args):
    if _many(args) or args.scheduler:
        from .data_large import cmd_score_many

        return cmd_score_many(args)
    args.data = args.data[0]
    pipe = load_pipeline(args.model)
    idc = _id_column(pipe, args.data)
    t0, n, flagged = time.perf_counter(), 0, 0
    with TableWriter(args.out, force=args.force) as w:
        for chunk, start in _stream(pipe, args.data, args.chunk_size, extra=[idc]):
            frame = _with_id(pipe.score_frame(chunk), chunk, start, idc)
            w.write(frame)
            n += len(frame)
            flagged += int(frame["label"].sum())
        if n == 0:
            cols = {idc or "row": pd.Series(dtype=object), "score": pd.Series(dtype=float),
                    "label": pd.Series(dtype=np.int8)}
            if pipe.is_mnp:
                cols["nearest_prototype"] = pd.Series(dtype=np.int32)
            w.write(pd.DataFrame(cols))
    dt = time.perf_counter() - t0
    print(f"scored {n} rows in {dt:.1f} s ({n / max(dt, 1e-9):,.0f} rows/s); {flagged} above the "
          f"threshold; written to {args.out}")
    return 0


# ---------------------------------------------------------------------- explain
def cmd_explain(args):
    pipe = load_pipeline(args.model)
    if not pipe.is_mnp:
        raise ValueError(f"explain needs an MNP model; {args.model} uses "
                         f"{type(pipe.detector_).__name__}.")
    if args.top < 1 or args.columns < 1:
        raise ValueError("--top and --columns must be >= 1.")
    if args.out:
        check_output(args.out, args.force, kinds=(".csv", ".tsv", ".parquet", ".pq"))
    idc = _id_column(pipe, args.data)
    best = None  # the top rows so far: raw columns + _score + _row
    for chunk, start in _stream(pipe, args.data, args.chunk_size, extra=[idc]):
        scores = pipe.decision_function(chunk)
        cand = chunk.assign(_score=scores, _row=np.arange(start, start + len(chunk)))
        if len(cand) > args.top:  # keep the chunk's own top rows only
            cand = cand.iloc[np.sort(np.argsort(-scores, kind="stable")[:args.top])]
        best = cand if best is None else pd.concat([best, cand], ignore_index=True)
        order = np.lexsort((best["_row"].to_numpy(), -best["_score"].to_numpy()))
        best = best.iloc[order[:args.top]].reset_index(drop=True)
    if best is None or len(best) == 0:
        raise ValueError(f"{args.data} has no rows to explain.")
    exp = pipe.explain(best, top_columns=args.columns)
    exp.insert(0, "rank", np.arange(1, len(best) + 1))
    exp.insert(1, idc or "row", best[idc].to_numpy() if idc else best["_row"].to_numpy())
    if args.out:
        with TableWriter(args.out, force=args.force) as w:
            w.write(exp)
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(exp.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


# ---------------------------------------------------------------------- plot
def cmd_plot(args):
    from .data_plot import draw

    pipe = load_pipeline(args.model)
    check_output(args.out, args.force, kinds=(".png",))
    if args.max_points < 10:
        raise ValueError("--max-points must be >= 10.")
    label_col = pipe.label_column_
    if label_col and label_col not in read_columns(args.data):
        label_col = None
    rng = np.random.default_rng(0)  # sampling only; fixed so the same file gives the same plot
    keep = {"scatter": args.max_points, "hist": max(200_000, args.max_points), "anom": 5000}
    pool = {k: None for k in keep}  # name -> DataFrame(key, score, latent...)
    n = 0
    for chunk, _ in _stream(pipe, args.data, args.chunk_size, extra=[label_col]):
        frame, latent = pipe._pass(chunk)
        key = rng.random(len(chunk))
        rows = {"scatter": slice(None), "hist": slice(None)}
        if label_col:
            lab = np.flatnonzero(_labels(chunk[label_col]))
            rows["anom"] = lab
        for name, sel in rows.items():
            part = pd.DataFrame({"key": key[sel], "score": frame["score"].to_numpy()[sel]})
            if name != "hist":
                part = pd.concat([part, pd.DataFrame(latent[sel]).add_prefix("z")], axis=1)
            pool[name] = _smallest(pool[name], part, keep[name])
        n += len(chunk)
    if n == 0:
        raise ValueError(f"{args.data} has no rows to plot.")
    with atomic_output(args.out, args.force) as tmp:
        draw(pipe, pool, n, tmp, data_name=str(args.data))
    print(f"plotted {n} rows ({min(n, args.max_points)} in the scatter) to {args.out}")
    return 0


def _labels(col):
    from ..preprocessing import parse_labels

    return parse_labels(col, name="label column") == 1


def _smallest(pool, part, k):
    both = part if pool is None else pd.concat([pool, part], ignore_index=True)
    if len(both) <= k:
        return both
    return both.iloc[np.argpartition(both["key"].to_numpy(), k - 1)[:k]].reset_index(drop=True)


def _show(cols, n=10):
    cols = [str(c) for c in cols]
    return ", ".join(repr(c) for c in cols[:n]) + (f" ... ({len(cols)} in all)" if len(cols) > n else "")
