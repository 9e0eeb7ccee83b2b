"""``mnpad fit`` / ``mnpad score`` on several files or a Dask cluster (see ``mnpad.distributed``).

Thin wrappers: the work is done by :mod:`mnpad.distributed`; this module only prints.
"""

from __future__ import annotations

from .main import CLIError


def cmd_score_many(args):
    from ..distributed import score_files
    from .data_cmds import _progress

    try:
        s = score_files(args.model, args.data, args.out, scheduler=args.scheduler,
                        chunk_size=args.chunk_size, force=args.force,
                        progress=_progress(args))
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    work = s["seconds"] - s["startup_seconds"]
    rate = s["rows"] / max(work, 1e-9)
    peaks = [v for v in s["peak_rss_mib"].values() if v is not None]
    where = (f" on {s['workers']} Dask worker(s), after {s['startup_seconds']:.1f} s to start "
             "or reach the cluster" if args.scheduler and s["scored"] else "")
    line = (f"scored {s['rows']} rows of {s['scored']} file(s) in {work:.1f} s "
            f"({rate:,.0f} rows/s){where}; {s['flagged']} above the threshold")
    if s["skipped"]:
        line += (f"; skipped {s['skipped']} file(s) already scored with this model "
                 f"({s['rows_skipped']} rows)")
    print(line + f"; written to {args.out}")
    if peaks and args.scheduler:
        print(f"peak memory per worker process: {max(peaks):.0f} MiB (max of {len(peaks)})")
    return 0


def cmd_fit_sampled(args):
    from .._validation import show_names as _show
    from ..distributed import DEFAULT_MAX_ROWS, sample_files
    from ..io import check_output
    from ..pipeline import Pipeline
    from .data_cmds import _parse_params, fit_summary

    check_output(args.out, args.force)
    params = _parse_params(args.params)
    max_rows = DEFAULT_MAX_ROWS if args.max_rows is None else args.max_rows
    from ..distributed import expand_inputs, inspect_file

    files, _ = expand_inputs(args.data)
    first = inspect_file(files[0])
    if args.label_column not in first.columns:
        raise ValueError(f"unknown label column {args.label_column!r}; {first.path} has "
                         f"columns: {_show(first.columns)}.")
    for opt, cols in (("--id-column", [args.id_column] if args.id_column else []),
                      ("--drop", args.drop)):
        lacking = [c for c in cols if c not in first.columns]
        if lacking:
            raise ValueError(f"{opt}: {first.path} has no column(s) {_show(lacking)}.")
    skip = set(args.drop) | ({args.id_column} if args.id_column else set())
    columns = [c for c in first.columns if c not in skip]
    if args.id_column:
        columns.append(args.id_column)  # kept so that the pipeline sees (and excludes) it
    sample, seen = sample_files(files, args.label_column, max_rows=max_rows,
                                seed=args.random_state, columns=columns)
    pipe = Pipeline(args.method, params, id_column=args.id_column, drop=None,
                    max_categories=args.max_categories, random_state=args.random_state)
    pipe.fit(sample, args.label_column)
    pipe.training_sample_ = seen
    pipe.save(args.out, overwrite=args.force)
    lines = fit_summary(
        pipe, args, f"on {pipe.n_rows_} rows sampled from {seen['rows_read']} rows of "
        f"{seen['files']} file(s)",
        [f"  sample:             every labeled anomaly + uniform random sample of unlabeled "
         f"rows (--max-rows {max_rows}, seed {seen['seed']})"])
    if seen["labeled"] > max_rows:
        lines.append(f"  note: the {seen['labeled']} labeled anomalies alone exceed --max-rows; "
                     "all were kept and no unlabeled row was")
    print("\n".join(lines))
    return 0
