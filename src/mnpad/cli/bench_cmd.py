"""``mnpad bench``: run the paper's experiments into a resumable store; regenerate reports.

    mnpad bench compare --methods mnp iforest --protocol paper --n-jobs 4
    mnpad bench ratios|unseen|ablation|prototypes [...]
    mnpad bench report --store benchmarks/results/results.sqlite --out benchmarks/results
"""

from __future__ import annotations

import json
from pathlib import Path

_EXPERIMENT_HELP = {
    "compare": "Table 2: every method on every dataset at 1%% labeled anomalies",
    "ratios": "Figure 3: labeled-anomaly ratios 0.5%%, 1%%, 5%%, 10%%, 20%%",
    "unseen": "Table 3: seen/unseen UNSW-NB15 anomaly types (--datasets takes SEEN:UNSEEN pairs)",
    "ablation": "Table 4: MNP variants (MNP only)",
    "prototypes": "Figure 4: MNP with k = 1..10 prototypes (MNP only)",
}


def _split_list(values):
    """['a,b', 'c'] -> ['a', 'b', 'c'] (accepts space- and comma-separated lists)."""
    if values is None:
        return None
    out = [v.strip() for item in values for v in str(item).split(",") if v.strip()]
    return out or None


def _parse_seeds(values):
    items = _split_list(values)
    if items is None:
        return None
    try:
        return [int(s) for s in items]
    except ValueError:
        raise ValueError(f"--seeds must be integers; got {' '.join(values)!r}") from None


def _parse_params(text):
    """--params: JSON object {method: {param: value}}, inline or as @file.json."""
    if not text:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params is not valid JSON: {exc}") from None
    if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
        raise ValueError('--params must be a JSON object {"method": {"param": value}}, e.g. '
                         '\'{"mnp": {"epochs": 5}}\'.')
    return {str(k): v for k, v in obj.items()}


def _parse_ratios(values):
    items = _split_list(values)
    if items is None:
        return None
    try:
        return [float(r) for r in items]
    except ValueError:
        raise ValueError(f"--ratios must be numbers; got {' '.join(values)!r}") from None


def _run(args):
    from ..bench import run_experiment

    summary = run_experiment(
        args.experiment, out=args.out, store=args.store, datasets=_split_list(args.datasets),
        methods=_split_list(args.methods), seeds=_parse_seeds(args.seeds),
        protocol=args.protocol, params=_parse_params(args.params), n_jobs=args.n_jobs,
        scheduler=args.scheduler, data_dir=args.data_dir, report=not args.no_report,
        progress=not args.quiet, ratios=_parse_ratios(getattr(args, "ratios", None)),
    )
    print(f"{args.experiment}: {summary['total']} cells, {summary['skipped']} already done, "
          f"{summary['ok']} ok, {summary['error']} failed; store: {summary['store']}")
    if not args.no_report:
        print(f"reports: {Path(args.out) / 'report.md'}")
    return 1 if summary["error"] else 0


def _report(args):
    from ..bench import write_reports

    files = write_reports(args.store, args.out, paper_dir=args.paper_dir)
    print(f"wrote {len(files)} files to {args.out} (see {Path(args.out) / 'report.md'})")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench", help="run the paper's experiments / regenerate benchmark reports",
        description="Run the paper's experiments into a resumable SQLite store (re-running a "
                    "command skips finished cells) and write Markdown/CSV/PNG reports.")
    sub = p.add_subparsers(dest="bench_command", metavar="EXPERIMENT", required=True)
    for name, helptext in _EXPERIMENT_HELP.items():
        e = sub.add_parser(name, help=helptext, description=helptext.replace("%%", "%"))
        e.add_argument("--datasets", nargs="+", metavar="NAME",
                       help="registry names or paper abbreviations (default: all present)")
        e.add_argument("--methods", nargs="+", metavar="NAME",
                       help="detector registry names (default: the paper's nine)")
        e.add_argument("--seeds", nargs="+", metavar="SEED",
                       help="model seeds (default: the paper's 42 43 44 45 46)")
        e.add_argument("--protocol", choices=("paper", "weak"), default="paper",
                       help="'paper': labeled validation split for early stopping, as the "
                            "authors ran it (default); 'weak': no labeled validation split")
        e.add_argument("--out", default="benchmarks/results",
                       help="folder of the store and reports (default: benchmarks/results)")
        e.add_argument("--store", default=None,
                       help="results store path (default: OUT/results.sqlite)")
        e.add_argument("--n-jobs", type=int, default=1,
                       help="parallel joblib workers (-1: all cores; default 1)")
        e.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run cells on this Dask distributed scheduler instead of joblib")
        e.add_argument("--data-dir", default=None, help="data root (default: $MNPAD_DATA, ...)")
        e.add_argument("--params", default=None, metavar="JSON",
                       help='per-method overrides, e.g. \'{"mnp": {"epochs": 5}}\' or @file.json')
        if name == "ratios":
            e.add_argument("--ratios", nargs="+", metavar="R",
                           help="labeled ratios to run, e.g. 0.05 0.01 (default: all five); "
                                "the same cells as the full sweep")
        e.add_argument("--no-report", action="store_true", help="do not regenerate reports")
        e.add_argument("--quiet", action="store_true", help="no progress bar")
        e.set_defaults(func=_run, experiment=name)
    r = sub.add_parser("report", help="regenerate all reports from a store (no retraining)")
    r.add_argument("--store", default="benchmarks/results/results.sqlite",
                   help="results store to read (default: benchmarks/results/results.sqlite)")
    r.add_argument("--out", default="benchmarks/results",
                   help="folder to write the reports to (default: benchmarks/results)")
    r.add_argument("--paper-dir", default=None,
                   help="folder of table2_paper.csv etc. (default: $MNPAD_PAPER, else the "
                        "paper's tables shipped with mnpad)")
    r.set_defaults(func=_report)
    return p
