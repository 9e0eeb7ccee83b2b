"""``mnpad fit`` / ``score`` / ``explain`` / ``plot``: MNP (or a baseline) on your own table.

See ``docs/cli.md``. Training reads the whole file; scoring, explaining and plotting stream it
in chunks of ``--chunk-size`` rows, so their memory does not grow with the file. numpy, pandas
and the library are imported inside the commands, so building the parser (``--help``) is fast.
Progress bars go to stderr when it is a terminal, unless ``--quiet``.
"""

from __future__ import annotations

import json
import sys
import time

DEFAULT_CHUNK = 100_000
#: rows are handed to the model in blocks whose first row is a multiple of this: the same
#: memory alignment as when the whole file is scored at once, so scores do not depend on
#: --chunk-size (some CPU kernels round differently with the alignment of a row)
ROW_ALIGN = 16


def add_parser(sub):
    p = sub.add_parser("fit", help="train a model on a CSV/Parquet file with a label column",
                       description="Train preprocessing + detector on DATA and save one model "
                       "file. Label column: 1/true/yes = known anomaly; 0/false/no/blank = "
                       "unlabeled.")
    p.add_argument("data", metavar="DATA", nargs="+",
                   help="training table (.csv, .tsv, .parquet), or several: a folder, a quoted "
                   "glob or a list of files (streamed once; see --max-rows)")
    p.add_argument("--label-column", required=True, metavar="COL",
                   help="column marking known anomalies: 1/true/yes = labeled anomaly; "
                        "0/false/no/blank = unlabeled (never a feature)")
    p.add_argument("--method", default="mnp", help="detector registry name (default: mnp)")
    p.add_argument("--id-column", metavar="COL", help="row identifier, copied to outputs")
    p.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="model file to write (one zip: tensors + JSON, no pickle)")
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
    _quiet(p, "the training progress bar (epochs and losses)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", help="score every row of a file with a fitted model (streams)")
    p.add_argument("model", metavar="MODEL", help="model file written by mnpad fit")
    p.add_argument("data", metavar="DATA", nargs="+",
                   help="table to score (.csv, .tsv, .parquet), or several: a folder, a quoted "
                   "glob or a list of files (then --out is a folder)")
    p.add_argument("--out", required=True, metavar="SCORES",
                   help="scores table to write (.csv, .tsv, .parquet or .pq); a folder for "
                   "several input files")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="score the files on Dask: a scheduler address or local[:N] (N worker "
                   "processes on this machine); needs mnpad[dask]")
    _chunk_force(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("explain", help="explain the top-N scored rows (MNP and auto models)")
    _model_data(p)
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows to explain (default 10)")
    p.add_argument("--columns", type=int, default=3, metavar="K",
                   help="original columns listed per row (default 3)")
    p.add_argument("--out", metavar="FILE", help="also write the table (.csv/.tsv/.parquet)")
    _chunk_force(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("plot", help="PCA view of the latent space + score histogram (PNG)")
    _model_data(p)
    p.add_argument("--out", required=True, metavar="PNG", help="image to write (.png)")
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
    _quiet(p, "the progress bar (rows)")


def _quiet(p, what):
    p.add_argument("-q", "--quiet", action="store_true",
                   help=f"no {what} on stderr (shown by default when stderr is a terminal)")


def _err(msg):
    print(msg, file=sys.stderr)


def _progress(args):
    """Whether to draw progress bars: stderr is a terminal and no --quiet."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not args.quiet and bool(isatty and isatty())


def _row_bar(args, data, desc):
    """tqdm bar counting rows on stderr (total known for Parquet)."""
    from tqdm import tqdm

    total = None
    if str(data).lower().endswith((".parquet", ".pq")):
        try:
            import pyarrow.parquet as pq

            total = pq.ParquetFile(data).metadata.num_rows
        except Exception:  # noqa: BLE001 - the reader reports unreadable files itself
            total = None
    return tqdm(total=total, desc=desc, unit=" rows", unit_scale=True, file=sys.stderr,
                disable=not _progress(args), leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------------- fit
def cmd_fit(args):
    from .._validation import show_names as _show
    from ..io import check_output, read_columns, read_table
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
    if len(df) == 0:
        raise ValueError(f"{args.data} has no rows to train on.")
    bar = _progress(args) and "verbose" not in params and _has_param(args.method, "verbose")
    pipe = Pipeline(args.method, {**params, "verbose": True} if bar else params,
                    id_column=args.id_column, drop=args.drop or None,
                    max_categories=args.max_categories, random_state=args.random_state)
    pipe.fit(df, args.label_column)
    if bar:  # the bar was for this run only; the saved model keeps the user's parameters
        pipe.detector_.set_params(verbose=False)
        pipe.detector_params = params
    pipe.save(args.out, overwrite=args.force)
    pre = pipe.preprocessor_
    lines = fit_summary(pipe, args, f"on {pipe.n_rows_} rows of {args.data}")
    for c, n in pre.n_distinct_.items():
        if n > args.max_categories:
            lines.append(f"  note: column {c!r} has {n} distinct values; only the "
                         f"{args.max_categories} most frequent are encoded (an identifier? "
                         "use --drop)")
    print("\n".join(lines))
    return 0


def fit_summary(pipe, args, what, extra=()):
    """Lines of the fit summary shared by ``fit`` on one file and on many."""
    pre, det = pipe.preprocessor_, pipe.detector_
    lines = [
        f"trained {type(det).__name__} {what}", *extra,
        f"  columns used:       {len(pipe.feature_columns_)} ({len(pre.numeric_columns_)} "
        f"numeric, {len(pre.categorical_columns_)} categorical)",
        f"  features (encoded): {len(pre.feature_names_out_)}",
        f"  labeled anomalies:  {pipe.n_labeled_} (column {args.label_column!r})"
        + ("" if getattr(det, "weakly_supervised", True)
           else f"; not used by the unsupervised {type(det).__name__}"),
    ]
    if pipe.is_mnp:
        lines.append(f"  prototypes found:   {det.n_prototypes_}")
        lines.append(f"  training:           {det.training_summary()}")
    if hasattr(det, "summary_lines"):  # Auto: what it chose and why
        lines += det.summary_lines()
    lines += [f"  training time:      {pipe.fit_time_:.1f} s",
              f"  threshold:          {det.threshold_:.6g} "
              f"({int(det.labels_.sum())} training rows above it)",
              f"    set by:           {_threshold_how(det)}",
              f"  model written to    {args.out}"]
    return lines


def _has_param(method, name):
    from ..detectors import get_detector

    return name in get_detector(method).get_params(deep=False)


def _threshold_how(det):
    """One line saying how the detector's threshold was set (from its ``threshold_info_``)."""
    info = getattr(det, "threshold_info_", None)
    return info if isinstance(info, str) and info else "see docs/cli.md (contamination)"


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
    from .. import load
    from ..pipeline import Pipeline

    obj = load(path)
    if not isinstance(obj, Pipeline):
        raise ValueError(f"{path} holds a bare {type(obj).__name__} detector without "
                         "preprocessing; the data commands need a model from `mnpad fit`.")
    return obj


def _stream(pipe, data, chunk_size, extra=(), bar=None):
    """Yield (chunk, first row number); reads the model's columns (+ ``extra`` present).

    Chunks are never empty, and each starts at a multiple of ``ROW_ALIGN`` rows (a chunk of
    the reader is cut, its remainder carried into the next), whatever ``chunk_size`` and the
    file's row groups, so that no score depends on the chunking.
    """
    from .._validation import show_names
    from ..io import iter_chunks, read_columns
    from .main import raise_if_terminated

    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1; got {chunk_size}.")
    have = set(read_columns(data))
    lacking = [c for c in pipe.feature_columns_ if c not in have]
    if lacking:
        raise ValueError(f"{data} lacks column(s) the model was trained on: "
                         f"{show_names(lacking)}.")
    cols = list(pipe.feature_columns_) + [c for c in extra if c and c in have
                                          and c not in pipe.feature_columns_]
    text = list(pipe.preprocessor_.categorical_columns_) + [c for c in extra if c]
    start = 0
    for chunk in _aligned(iter_chunks(data, chunk_size, columns=cols, text_columns=text)):
        raise_if_terminated()
        yield chunk, start
        start += len(chunk)
        if bar is not None:
            bar.update(len(chunk))


def _aligned(chunks, align=ROW_ALIGN):
    """Re-cut DataFrame chunks so that each one's length (but the last) is a multiple of
    ``align``; empty chunks are dropped."""
    import pandas as pd

    carry = None
    for chunk in chunks:
        if carry is not None and len(carry):
            chunk = pd.concat([carry, chunk], ignore_index=True)
        n = len(chunk) // align * align
        carry = chunk.iloc[n:].reset_index(drop=True)
        if n:
            yield chunk.iloc[:n].reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry


def _id_column(pipe, data):
    from ..io import read_columns

    idc = pipe.id_column
    if idc and idc not in read_columns(data):
        _err(f"mnpad: note: {data} has no id column {idc!r}; writing row numbers instead")
        return None
    return idc


def _with_row(frame, start, idc):
    """Without an id column: the 0-based row numbers as a first column ``row``."""
    import numpy as np

    if not idc:
        frame.insert(0, "row", np.arange(start, start + len(frame), dtype=np.int64))
    return frame


# ---------------------------------------------------------------------- score
def cmd_score(args):
    if _many(args) or args.scheduler:
        from .data_large import cmd_score_many

        return cmd_score_many(args)
    args.data = args.data[0]
    import numpy as np
    import pandas as pd

    from ..io import TableWriter, check_output

    check_output(args.out, args.force, kinds=(".csv", ".tsv", ".parquet", ".pq"))
    pipe = load_pipeline(args.model)
    idc = _id_column(pipe, args.data)
    t0, n, flagged = time.perf_counter(), 0, 0
    with TableWriter(args.out, force=args.force) as w, _row_bar(args, args.data, "score") as bar:
        for chunk, start in _stream(pipe, args.data, args.chunk_size, extra=[idc], bar=bar):
            frame = _with_row(pipe.score_frame(chunk), start, idc)
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
    import pandas as pd

    from ..io import TableWriter, check_output

    pipe = load_pipeline(args.model)
    if not pipe.can_explain:
        raise ValueError(f"explain needs an MNP or auto model; {args.model} uses "
                         f"{type(pipe.detector_).__name__}.")
    if args.top < 1 or args.columns < 1:
        raise ValueError("--top and --columns must be >= 1.")
    if args.out:
        check_output(args.out, args.force, kinds=(".csv", ".tsv", ".parquet", ".pq"))
    idc = _id_column(pipe, args.data)
    best = None  # the top rows so far: raw columns + _score + _row
    with _row_bar(args, args.data, "explain") as bar:
        for chunk, start in _stream(pipe, args.data, args.chunk_size, extra=[idc], bar=bar):
            best = _keep_top(best, chunk, start, pipe.decision_function(chunk), args.top)
    if best is None or len(best) == 0:
        raise ValueError(f"{args.data} has no rows to explain.")
    exp = pipe.explain(best.set_index("_row"), top_columns=args.columns).reset_index()
    exp = exp.rename(columns={"_row": "row"})
    exp = exp[["rank", idc or "row"] + [c for c in exp.columns
                                        if c not in ("rank", idc or "row", "row", "_row")]]
    if args.out:
        with TableWriter(args.out, force=args.force) as w:
            w.write(exp)
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(exp.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _keep_top(best, chunk, start, scores, top):
    """The ``top`` highest-scoring rows so far (ties: earlier row first), with _score/_row."""
    import numpy as np
    import pandas as pd

    cand = chunk.assign(_score=scores, _row=np.arange(start, start + len(chunk)))
    if len(cand) > top:  # keep the chunk's own top rows only
        cand = cand.iloc[np.sort(np.argsort(-scores, kind="stable")[:top])]
    best = cand if best is None else pd.concat([best, cand], ignore_index=True)
    order = np.lexsort((best["_row"].to_numpy(), -best["_score"].to_numpy()))
    return best.iloc[order[:top]].reset_index(drop=True)


# ---------------------------------------------------------------------- plot
def cmd_plot(args):
    import numpy as np
    import pandas as pd

    from ..io import atomic_output, check_output, read_columns
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
    with _row_bar(args, args.data, "plot") as bar:
        for chunk, _ in _stream(pipe, args.data, args.chunk_size, extra=[label_col], bar=bar):
            frame, latent = pipe.score_frame(chunk, return_latent=True)
            key = rng.random(len(chunk))
            rows = {"scatter": slice(None), "hist": slice(None)}
            if label_col:
                rows["anom"] = np.flatnonzero(_labels(chunk[label_col]))
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
    import numpy as np
    import pandas as pd

    both = part if pool is None else pd.concat([pool, part], ignore_index=True)
    if len(both) <= k:
        return both
    return both.iloc[np.argpartition(both["key"].to_numpy(), k - 1)[:k]].reset_index(drop=True)
