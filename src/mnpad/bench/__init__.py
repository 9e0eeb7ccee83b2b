"""``mnpad bench``: the paper's experiments, a resumable SQLite results store and reports.

>>> from mnpad.bench import run_experiment, write_reports
>>> run_experiment("compare", out="benchmarks/results", methods=["mnp", "iforest"])
>>> write_reports("benchmarks/results/results.sqlite", "benchmarks/results")

See ``docs/benchmarks.md``.
"""

from __future__ import annotations

from pathlib import Path

from .experiments import (
    ABLATION_VARIANTS,
    EXPERIMENTS,
    PAPER_METHODS,
    PROTOTYPE_KS,
    RATIOS,
    UNSEEN_PAIRS,
    Cell,
    plan,
)
from .report import write_reports
from .runner import build_split, connect_scheduler, run_cell, run_cells
from .store import ResultStore

__all__ = [
    "run_experiment", "plan", "run_cells", "run_cell", "build_split", "write_reports",
    "ResultStore", "Cell", "EXPERIMENTS", "PAPER_METHODS", "RATIOS", "UNSEEN_PAIRS",
    "ABLATION_VARIANTS", "PROTOTYPE_KS", "STORE_NAME",
]

STORE_NAME = "results.sqlite"


def run_experiment(experiment, *, out="benchmarks/results", store=None, datasets=None,
                   methods=None, seeds=None, protocol="paper", params=None, n_jobs=1,
                   scheduler=None, data_dir=None, report=True, progress=True,
                   split_provider=None, resolve=None, ratios=None):
    """Plan one experiment, run its unfinished cells and (by default) regenerate the reports.

    Parameters
    ----------
    experiment : {'compare', 'ratios', 'unseen', 'ablation', 'prototypes'}
    out : str or Path, default='benchmarks/results'
        Folder of the store (``results.sqlite`` unless ``store`` is given) and the reports.
    store : str or Path, optional
        Path of the SQLite results store.
    datasets, methods, seeds, protocol, params, data_dir, ratios
        See :func:`mnpad.bench.plan`.
    n_jobs : int, default=1
        joblib workers; ignored with ``scheduler``.
    scheduler : str, optional
        Dask distributed scheduler address.
    report : bool, default=True
        Regenerate the reports in ``out`` when the run ends.
    progress : bool, default=True
        Show the progress bar.
    split_provider, resolve : callable, optional
        Replace the split builder / the dataset registry (tests, custom data).

    Returns
    -------
    summary : dict
        ``total``, ``skipped`` (finished before), ``ok``, ``error`` cell counts and ``store``.
    """
    out = Path(out)
    store_path = Path(store) if store else out / STORE_NAME
    cells = plan(experiment, datasets=datasets, methods=methods, seeds=seeds, protocol=protocol,
                 params=params, data_dir=data_dir, resolve=resolve, ratios=ratios)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"scheduler must be an address string; got {scheduler!r}")
    # connect before the store is created: an unreachable scheduler leaves no empty store
    executor = connect_scheduler(scheduler) if scheduler else None
    try:
        with ResultStore(store_path) as st:
            summary = run_cells(cells, st, n_jobs=n_jobs, scheduler=executor, data_dir=data_dir,
                                split_provider=split_provider, progress=progress,
                                desc=experiment)
    finally:
        if executor is not None:
            executor.close()
    if report:
        write_reports(store_path, out)
    summary["store"] = str(store_path)
    return summary
