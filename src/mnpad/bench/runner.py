"""Running cells: in this process, in joblib workers, or on a Dask cluster.

The parent process plans the cells, skips those already finished in the store, builds each split
once and hands the cells that share it to the workers. Workers only compute and return a row;
the parent writes every row to the store the moment it arrives (it is the only writer), and a
tqdm bar counts cells done / total with an ETA.
"""

from __future__ import annotations

import datetime as _dt
import socket
import sys
import time
import traceback
from collections import OrderedDict

__all__ = ["run_cells", "run_cell", "build_split", "RunSummary"]


# ---------------------------------------------------------------------------- splits
def build_split(split_key, data_dir=None):
    """Build the split a cell needs from its ``split_key`` (see ``experiments.plan``)."""
    from .. import protocol as P

    kind = split_key[0]
    if kind == "std":
        _, name, protocol, ratio = split_key
        return P.make_split(name, protocol=protocol, labeled_ratio=ratio, data_dir=data_dir)
    if kind == "unseen":
        _, seen, unseen, protocol, ratio = split_key
        return P.make_unseen_split(seen, unseen, protocol=protocol, labeled_ratio=ratio,
                                   data_dir=data_dir)
    raise ValueError(f"unknown split kind {kind!r}")


# ---------------------------------------------------------------------------- memory
class _MemoryProbe:
    """Peak resident set size (RSS) of this process while a cell runs.

    On Linux the kernel's high-water mark ``VmHWM`` is reset at the start of the cell (writing
    ``5`` to ``/proc/self/clear_refs``) and read at its end: the peak RSS of the worker process
    during the cell, interpreter, libraries and the split's arrays included. Where that reset is
    not possible it falls back to ``resource.getrusage(...).ru_maxrss``, the process's lifetime
    peak, and says so in ``mem_method``. When cells share a process as threads (Dask workers
    with several threads), the figure is the process's, not the cell's.
    """

    def start(self):
        self.method = None
        self.before = _vm_status("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            if _vm_status("VmHWM") is not None:
                self.method = "VmHWM (peak RSS of the worker process during the cell)"
        except OSError:
            pass
        return self

    def stop(self):
        if self.method is not None:
            peak = _vm_status("VmHWM")
        else:
            peak = _ru_maxrss_mb()
            self.method = ("ru_maxrss (lifetime peak RSS of the worker process)"
                           if peak is not None else None)
        return {"peak_mem_mb": peak, "rss_before_mb": self.before, "mem_method": self.method}


def _vm_status(field):
    """A memory figure from /proc/self/status, in MiB (None where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        return None
    return None


def _ru_maxrss_mb():
    try:
        import resource
    except ImportError:  # Windows
        return None
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024.0


# ---------------------------------------------------------------------------- one cell
def _versions():
    import json

    from .._versions import versions

    return json.dumps(versions(), sort_keys=True)


def _base_row(cell):
    return {
        "experiment": cell.experiment, "protocol": cell.protocol, "dataset": cell.dataset,
        "method": cell.method, "setting": cell.setting, "seed": int(cell.seed),
        "params": cell.params_json, "dataset_abbr": cell.dataset_abbr,
        "dataset_status": cell.dataset_status,
    }


def error_row(cell, message):
    """The row recorded for a cell that could not run."""
    return {**_base_row(cell), "status": "error", "error": str(message)[-4000:],
            "finished_at": _now(), "host": socket.gethostname()}


def _now():
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_cell(cell, split):
    """Fit and score one cell; returns its store row. Never raises: errors become the row."""
    from ..metrics import evaluate
    from .experiments import load_method

    probe = _MemoryProbe().start()
    row = _base_row(cell)
    row.update(versions=_versions(), host=socket.gethostname())
    info = getattr(split, "info", None) or {}
    row["dataset_status"] = info.get("status", row["dataset_status"])
    try:
        det = load_method(cell.method)(random_state=int(cell.seed), **cell.params)
        val = (split.X_val, split.y_val) if split.X_val is not None else None
        t0 = time.perf_counter()
        det.fit(split.X_train, split.y_train, validation_data=val)
        fit_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = det.decision_function(split.X_test)
        score_time = time.perf_counter() - t0
        metrics = evaluate(split.y_test, scores)
        k = getattr(det, "n_prototypes_", None)
        row.update(
            status="ok", fit_time=fit_time, score_time=score_time,
            n_prototypes=None if k is None else int(k),
            n_train=int(split.X_train.shape[0]), n_test=int(split.X_test.shape[0]),
            n_labeled=int((split.y_train == 1).sum()),
            **{m: float(metrics[m]) for m in ("aucroc", "aucpr", "aucpr_trapz")},
        )
    except Exception:  # noqa: BLE001 - any failure of one cell is recorded, not fatal
        row.update(status="error", error=traceback.format_exc()[-4000:])
    row.update(probe.stop())
    row["finished_at"] = _now()
    return row


# ---------------------------------------------------------------------------- executors
def _joblib_results(cells, split, n_jobs):
    from joblib import Parallel, delayed

    if n_jobs == 1:
        for c in cells:  # in this process, one by one: results are written as they come
            yield run_cell(c, split)
        return
    # loky workers; numpy arrays of the split over 1 MB travel as shared memory maps
    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from par(delayed(run_cell)(c, split) for c in cells)


class _DaskExecutor:
    def __init__(self, address):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError(
                "--scheduler needs dask.distributed: pip install 'mnpad[dask]'") from None
        try:
            self.client = Client(address)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = " ".join(str(exc).split()) or type(exc).__name__
            raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {msg}") from None

    def results(self, cells, split):
        from distributed import as_completed

        fsplit = self.client.scatter(split, hash=False)
        futs = {self.client.submit(run_cell, c, fsplit, pure=False): c for c in cells}
        try:
            for fut in as_completed(futs):
                try:
                    yield fut.result()
                except Exception as exc:  # worker lost, cancelled, ...
                    yield error_row(futs[fut], f"dask: {type(exc).__name__}: {exc}")
        finally:
            self.client.cancel(list(futs) + [fsplit])

    def close(self):
        self.client.close()


def connect_scheduler(address):
    """Connect to a Dask distributed scheduler; a clear ``ConnectionError`` if unreachable.

    Returns an executor for ``run_cells(..., scheduler=executor)``; close it when done.
    """
    return _DaskExecutor(address)


# ---------------------------------------------------------------------------- driver
class RunSummary(dict):
    """Counts of one run: total, skipped (already finished), ok, error."""


def run_cells(cells, store, *, n_jobs=1, scheduler=None, data_dir=None, split_provider=None,
              progress=True, desc="cells"):
    """Run the cells not yet finished in ``store``; write each row as soon as it is done.

    Parameters
    ----------
    cells : list of experiments.Cell
    store : store.ResultStore
    n_jobs : int, default=1
        joblib workers (1: in this process; -1: all cores). Ignored with ``scheduler``.
    scheduler : str or executor, optional
        Address of a Dask distributed scheduler (or a ``distributed.Client``-compatible
        cluster address), or an executor from :func:`connect_scheduler` (then left open);
        cells then run on its workers.
    data_dir : str, optional
        Data root handed to the split builder.
    split_provider : callable, optional
        ``split_provider(split_key, data_dir) -> Split``; default :func:`build_split`.
    progress : bool, default=True
        Show the tqdm bar (cells done / total, ETA).

    Returns
    -------
    RunSummary
    """
    from tqdm.auto import tqdm

    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive int or -1; got {n_jobs!r}")
    split_provider = split_provider or build_split
    done = store.finished_keys()
    todo = [c for c in cells if c.key not in done]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(todo), ok=0, error=0)
    groups = OrderedDict()
    for c in todo:
        groups.setdefault(c.split_key, []).append(c)
    own = isinstance(scheduler, str)
    executor = _DaskExecutor(scheduler) if own else scheduler
    bar = tqdm(total=len(cells), initial=summary["skipped"], desc=desc, unit="cell",
               disable=not progress, dynamic_ncols=True)
    try:
        for key, group in groups.items():
            bar.set_postfix_str(f"{group[0].dataset} {group[0].setting}")
            try:
                split = split_provider(key, data_dir)
                rows = (executor.results(group, split) if executor
                        else _joblib_results(group, split, n_jobs))
            except Exception as exc:  # noqa: BLE001 - the split itself failed
                msg = f"split {key}: {type(exc).__name__}: {exc}"
                rows = (error_row(c, msg) for c in group)
            for row in rows:
                store.put(row)
                summary[row["status"]] = summary.get(row["status"], 0) + 1
                bar.update(1)
                if row["status"] != "ok":
                    last = (row.get("error") or "").strip().splitlines() or [""]
                    bar.write(f"failed: {row['experiment']} {row['dataset']} {row['method']} "
                              f"{row['setting']} seed={row['seed']}: {last[-1]}")
    finally:
        bar.close()
        if executor is not None and own:
            executor.close()
    return summary
