"""Many files, clusters and more rows than memory: scoring on Dask, resumable; fit on a sample.

Three pieces, used by ``mnpad score`` / ``mnpad fit`` when ``DATA`` is a folder, a glob or
several files (see ``docs/cli.md``, "Large data"):

- :func:`score_files` scores every input file into one output file of its own, in this process
  or on a Dask cluster (``scheduler``: an address or ``local[:N]``). Each file is one Dask task;
  the model file's bytes are scattered to every worker once and loaded there once (cached by
  the model's SHA-256). Every output is written to a hidden temporary file and renamed into
  place, after a small JSON record of it (model hash, input size and mtime, output size and
  mtime, rows) is written under ``OUT/_mnpad/``. A rerun skips the outputs whose record matches
  the model and the input, so a killed run (client or workers) is resumed by running the same
  command again; a visible output file is never partial.
- :func:`score_dask` scores a ``dask.dataframe.DataFrame`` the user already has and returns a
  lazy frame of scores (index and id column kept).
- :func:`sample_files` streams the files once and keeps every labeled anomaly plus a uniform
  random sample (without replacement) of the unlabeled rows, so ``mnpad fit`` can train on a
  table of any size in bounded memory. Deterministic for a seed and a file list.

Problems with one file (unreadable, schema drift between files, a missing column, a bad value
in a row group) raise :class:`DataFileError`, a ``ValueError`` whose one-line message names the
file (and the row group or rows), before anything is written for that file.

Dask is optional (``pip install 'mnpad[dask]'``): it is imported only when a scheduler is used.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .io import TableWriter, table_format

__all__ = ["DataFileError", "expand_inputs", "model_digest", "score_files", "score_dask",
           "sample_files", "DEFAULT_MAX_ROWS", "RECORD_DIR"]

#: default ``--max-rows`` of ``mnpad fit`` on several files (rows kept in the training sample)
DEFAULT_MAX_ROWS = 1_000_000
#: folder (inside the output folder) holding one JSON record per complete output file; its
#: leading underscore makes Parquet readers (pyarrow, Dask, Spark) ignore it
RECORD_DIR = "_mnpad"
_RECORD_FORMAT = "mnpad-scores"
_TMP_TAG = ".mnpad-tmp"
_DATA_EXT = (".parquet", ".pq", ".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz", ".tsv")
_GLOB_CHARS = set("*?[")


class DataFileError(ValueError):
    """A problem with one input file; the message names the file (and row group)."""


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------- inputs
def is_many(data):
    """Whether ``data`` (a path, glob or list of them) names a set of files, not one file."""
    if isinstance(data, (list, tuple)):
        return len(data) != 1 or is_many(data[0])
    s = str(data)
    return bool(_GLOB_CHARS & set(s)) or Path(s).is_dir()


def expand_inputs(data):
    """Input files named by ``data``: a file, a folder (searched recursively), a glob
    (``**`` allowed) or a list of these. Returns ``(files, root)``: the files in a stable order
    (sorted within each folder or glob) and the folder their output paths are relative to.

    Hidden files and names starting with ``_`` (``_SUCCESS``, ``_metadata``) are skipped inside
    folders; files of other types are skipped inside folders and refused when named.
    """
    specs = list(data) if isinstance(data, (list, tuple)) else [data]
    files = []
    for spec in specs:
        s = str(spec)
        if _GLOB_CHARS & set(s):
            found = sorted(p for p in glob.glob(s, recursive=True) if Path(p).is_file())
            if not found:
                raise FileNotFoundError(f"no file matches {s!r}.")
            for p in found:
                table_format(p)
            files += [Path(p) for p in found]
        elif Path(s).is_dir():
            found = sorted(p for p in Path(s).rglob("*") if p.is_file()
                           and p.name.lower().endswith(_DATA_EXT)
                           and not any(part.startswith((".", "_"))
                                       for part in p.relative_to(s).parts))
            if not found:
                raise FileNotFoundError(f"folder {s} holds no .parquet, .pq, .csv or .tsv file.")
            files += found
        else:
            p = Path(s)
            table_format(p)
            if not p.exists():
                raise FileNotFoundError(f"data file {p} does not exist.")
            files.append(p)
    seen, unique = set(), []
    for f in files:
        key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    parents = [os.path.abspath(f.parent) for f in unique]
    root = Path(os.path.commonpath(parents))
    return unique, root


# ---------------------------------------------------------------------------- schemas
def _kind_of_arrow(t):
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return None  # all blank in this file: compatible with anything
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or (
            hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t)):
        return "text"
    return str(t)


@dataclass
class _FileInfo:
    path: Path
    fmt: str
    columns: list
    kinds: dict = field(default_factory=dict)  # column -> kind (Parquet only)
    rows: int | None = None
    row_groups: int | None = None


def inspect_file(path):
    """Columns (and, for Parquet, column kinds, rows and row groups) from the file's header."""
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist.")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            return _FileInfo(path, fmt, list(schema.names),
                             {n: _kind_of_arrow(schema.field(n).type) for n in schema.names},
                             pf.metadata.num_rows, pf.num_row_groups)
        from .io import _sep

        return _FileInfo(path, fmt, list(pd.read_csv(path, sep=_sep(path), nrows=0).columns))
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow/pandas parser errors of all kinds
        raise DataFileError(f"cannot read {path} as {fmt.upper()}: {_one_line(exc)}") from None


_KIND_WORDS = {"numeric": "numbers", "text": "text", "bool": "true/false values"}


def _kind_word(kind):
    return _KIND_WORDS.get(kind, kind)


def _check_against_model(info, pipe):
    """Missing columns and type drift of one file against what the model expects."""
    lacking = [c for c in pipe.feature_columns_ if c not in info.columns]
    if lacking:
        raise DataFileError(f"{info.path} lacks column(s) the model was trained on: "
                            f"{_show(lacking)}.")
    pre = pipe.preprocessor_
    for c in pre.numeric_columns_:
        k = info.kinds.get(c)
        if info.fmt == "parquet" and k not in (None, "numeric"):
            raise DataFileError(f"schema drift: {info.path} stores column {c!r} as "
                                f"{_kind_word(k)}, but the model was trained on it as numbers.")
    for c in pre.categorical_columns_:
        k = info.kinds.get(c)
        if info.fmt == "parquet" and k not in (None, "text", "bool"):
            raise DataFileError(f"schema drift: {info.path} stores column {c!r} as "
                                f"{_kind_word(k)}, but the model was trained on it as text.")


def _check_against_reference(info, ref, columns):
    lacking = [c for c in columns if c not in info.columns]
    if lacking:
        raise DataFileError(f"{info.path} lacks column(s) {_show(lacking)} that {ref.path} has.")
    if info.fmt == "parquet" and ref.fmt == "parquet":
        for c in columns:
            a, b = ref.kinds.get(c), info.kinds.get(c)
            if a is not None and b is not None and a != b:
                raise DataFileError(f"schema drift: {info.path} stores column {c!r} as "
                                    f"{_kind_word(b)}, but {ref.path} stores it as "
                                    f"{_kind_word(a)}.")


# ---------------------------------------------------------------------------- reading
def iter_file(info, columns, chunk_size, text_columns=()):
    """Yield ``(DataFrame, where)`` chunks of one file, ``where`` naming the row group (Parquet)
    or rows (CSV) for error messages. Read errors raise :class:`DataFileError`."""
    path = info.path
    if info.fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001
            raise DataFileError(f"cannot read {path} as PARQUET: {_one_line(exc)}") from None
        for rg in range(pf.num_row_groups):
            where = f"{path}, row group {rg}"
            it = pf.iter_batches(batch_size=chunk_size, row_groups=[rg], columns=columns)
            while True:
                try:
                    batch = next(it)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - corrupt pages, bad encodings
                    raise DataFileError(f"cannot read {where}: {_one_line(exc)}") from None
                yield batch.to_pandas(), where
    else:
        from .io import _sep

        dtype = {c: object for c in text_columns if c in columns} or None
        start = 0
        try:
            with pd.read_csv(path, sep=_sep(path), chunksize=chunk_size, usecols=columns,
                             dtype=dtype, low_memory=False) as reader:
                for chunk in reader:
                    yield chunk, f"{path}, rows {start}-{start + len(chunk) - 1}"
                    start += len(chunk)
        except DataFileError:
            raise
        except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataFileError(f"cannot read {path} after row {start}: {_one_line(exc)}") from None


# ---------------------------------------------------------------------------- model
def model_digest(path):
    """SHA-256 (hex) of a model file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_PIPES: dict = {}
_PIPES_LOCK = threading.Lock()


def _pipeline_from_bytes(data, digest):
    """The Pipeline stored in ``data`` (model file bytes), loaded once per process."""
    with _PIPES_LOCK:
        pipe = _PIPES.get(digest)
        if pipe is None:
            from .persistence import load
            from .pipeline import Pipeline

            fd, tmp = tempfile.mkstemp(suffix=".mnpad")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                pipe = load(tmp)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if not isinstance(pipe, Pipeline):
                raise ValueError("the model holds a bare detector without preprocessing; use a "
                                 "model written by `mnpad fit` or Pipeline.save.")
            _PIPES.clear()  # one model at a time per process
            _PIPES[digest] = pipe
        return pipe


# ---------------------------------------------------------------------------- one file
def _record_path(out_dir, rel):
    return Path(out_dir) / RECORD_DIR / (str(rel) + ".json")


def _tmp_path(out):
    return out.with_name("." + out.name + _TMP_TAG + out.suffix)


def _remove_debris(out):
    """Temporary files left by a killed run for this output (hidden, next to it)."""
    for pat in ("." + out.name + _TMP_TAG + "*", ".." + out.name + _TMP_TAG + "*"):
        for p in out.parent.glob(glob.escape(pat[:-1]) + "*"):
            with contextlib.suppress(OSError):
                p.unlink()


def _fingerprint(path):
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_record(path):
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("format") == _RECORD_FORMAT else None


def _atomic_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1)
        _chmod_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _chmod_umask(path):
    """Give a ``mkstemp`` file (0600) the permissions a plain ``open`` would (0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~mask)


def _peak_rss_mib():
    """Peak resident memory of this process in MiB: ``VmHWM`` (Linux; exact for this process
    image), else ``ru_maxrss`` (which Linux carries over from the parent across fork/exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024.0


def score_one(pipe, info, out, chunk_size, record, digest, model_name="model"):
    """Score one input file into ``out`` (atomically); write its record first.

    Order: remove debris and the old output/record, write a hidden temporary output, write the
    record (with the temporary file's size and mtime), rename the output into place. A kill at
    any point leaves either no visible output or a complete one.
    """
    out, record = Path(out), Path(record)
    _remove_debris(out)
    for p in (record, out):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    idc = pipe.id_column if pipe.id_column in info.columns else None
    cols = list(pipe.feature_columns_) + ([idc] if idc and idc not in pipe.feature_columns_
                                          else [])
    text = list(pipe.preprocessor_.categorical_columns_) + ([idc] if idc else [])
    tmp = _tmp_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0, n, flagged = time.perf_counter(), 0, 0
    with TableWriter(tmp, force=True) as w:
        for chunk, pieces in _aligned(iter_file(info, cols, chunk_size, text_columns=text)):
            try:
                frame = pipe.score_frame(chunk)  # holds the id column when there is one
            except (ValueError, TypeError) as exc:
                raise DataFileError(f"{_failing_piece(pipe, chunk, pieces)}: "
                                    f"{_one_line(exc)}") from None
            if not idc:
                frame.insert(0, "row", np.arange(n, n + len(chunk), dtype=np.int64))
            w.write(frame)
            n += len(frame)
            flagged += int(frame["label"].sum())
        if n == 0:
            w.write(_empty_scores(pipe, idc))
    _chmod_umask(tmp)
    fp = _fingerprint(tmp)
    _atomic_json(record, {
        "format": _RECORD_FORMAT, "version": 1, "model_sha256": digest, "model": model_name,
        "input": os.path.abspath(info.path), "input_fingerprint": _fingerprint(info.path),
        "output": out.name, "output_fingerprint": fp, "rows": n, "flagged": flagged,
        "mnpad": _version(), "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds")})
    os.replace(tmp, out)
    return {"input": str(info.path), "output": str(out), "rows": n, "flagged": flagged,
            "seconds": time.perf_counter() - t0, "pid": os.getpid(),
            "peak_rss_mib": _peak_rss_mib()}


def _aligned(chunks):
    """Re-cut ``(DataFrame, where)`` chunks as ``mnpad score`` does (each chunk starts at a
    multiple of ``ROW_ALIGN`` rows, so scores are bit-identical to it); yields ``(DataFrame,
    pieces)`` with ``pieces`` the ``(rows, where)`` it is made of."""
    from .cli.data_cmds import ROW_ALIGN

    carry, carry_pieces = None, []
    for chunk, where in chunks:
        pieces = carry_pieces + [(len(chunk), where)]
        if carry is not None and len(carry):
            chunk = pd.concat([carry, chunk], ignore_index=True)
        k = len(chunk) // ROW_ALIGN * ROW_ALIGN
        head, carry_pieces = _split_pieces(pieces, k)
        carry = chunk.iloc[k:].reset_index(drop=True)
        if k:
            yield chunk.iloc[:k].reset_index(drop=True), head
    if carry is not None and len(carry):
        yield carry, carry_pieces


def _split_pieces(pieces, k):
    """``(rows, where)`` pieces of the first ``k`` rows, and of the rest."""
    head, tail, seen = [], [], 0
    for m, where in pieces:
        a = min(max(k - seen, 0), m)
        if a:
            head.append((a, where))
        if m - a:
            tail.append((m - a, where))
        seen += m
    return head, tail


def _failing_piece(pipe, chunk, pieces):
    """Where (row group / rows) the rows that fail to encode come from."""
    start = 0
    for m, where in pieces:
        try:
            pipe.transform(chunk.iloc[start:start + m])
        except (ValueError, TypeError):
            return where
        start += m
    return pieces[-1][1] if pieces else "?"


def _version():
    from ._version import __version__

    return __version__


def _empty_scores(pipe, idc):
    cols = {idc or "row": pd.Series(dtype=object), "score": pd.Series(dtype=float),
            "label": pd.Series(dtype=np.int8)}
    if pipe.is_mnp:
        cols["nearest_prototype"] = pd.Series(dtype=np.int32)
    return pd.DataFrame(cols)


def _score_task(model_bytes, digest, model_name, info, out, record, chunk_size):
    """One Dask task: load the (scattered) model once per worker, score one file."""
    pipe = _pipeline_from_bytes(model_bytes, digest)
    return score_one(pipe, info, out, chunk_size, record, digest, model_name)


# ---------------------------------------------------------------------------- planning
@dataclass
class ScorePlan:
    """What a scoring run will do: ``todo`` and ``done`` are lists of (info, out, record)."""

    files: list
    todo: list
    done: list
    digest: str
    rows_done: int = 0


def output_path(path, root, out_dir, ext=".parquet"):
    """Output file for input ``path``: its path relative to ``root``, under ``out_dir``."""
    rel = Path(os.path.relpath(os.path.abspath(path), root))
    name = rel.name
    for e in sorted(_DATA_EXT, key=len, reverse=True):
        if name.lower().endswith(e):
            name = name[: -len(e)]
            break
    return Path(out_dir) / rel.parent / (name + ext)


def plan_scoring(pipe, model_path, data, out_dir, force=False, digest=None):
    """Inspect every input file (columns and types from its header), map it to its output,
    and decide which outputs are already complete for this model."""
    files, root = expand_inputs(data)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"--out {out_dir} is a file; with several input files (or "
                              "--scheduler) --out names a folder that gets one output per input.")
    if str(out_dir).lower().endswith(_DATA_EXT):
        raise ValueError(f"--out {out_dir}: with several input files (or --scheduler) --out "
                         "names a folder (one output file per input file), not a table.")
    digest = digest or model_digest(model_path)
    infos = [inspect_file(f) for f in files]
    for info in infos:
        _check_against_model(info, pipe)
    outs, todo, done, conflicts = {}, [], [], []
    rows_done = 0
    for info in infos:
        out = output_path(info.path, root, out_dir)
        if out in outs:
            raise ValueError(f"{info.path} and {outs[out]} would both write {out}; rename one.")
        outs[out] = info.path
        rel = out.relative_to(out_dir)
        record = _record_path(out_dir, rel)
        rec = _read_record(record)
        if rec is not None and rec.get("model_sha256") == digest and out.exists() \
                and rec.get("output_fingerprint") == _fingerprint(out) \
                and rec.get("input_fingerprint") == _fingerprint(info.path):
            done.append((info, out, record))
            rows_done += int(rec.get("rows", 0))
            continue
        if out.exists() and not force and (rec is None or rec.get("model_sha256") != digest):
            why = ("was written for another model" if rec is not None
                   else "was not written by mnpad score")
            conflicts.append(f"{out} exists and {why}")
        todo.append((info, out, record))
    if conflicts:
        more = f" ({len(conflicts)} files in all)" if len(conflicts) > 1 else ""
        raise FileExistsError(f"{conflicts[0]}; pass --force to replace it{more}.")
    return ScorePlan(files=infos, todo=todo, done=done, digest=digest, rows_done=rows_done)


# ---------------------------------------------------------------------------- driver
def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("--scheduler needs Dask: pip install 'mnpad[dask]' (or "
                          "'dask[distributed]').") from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler):
    """A ``distributed.Client`` for ``scheduler``: an address (``tcp://host:8786``), a
    ``distributed.Client`` (used as is), or ``local`` / ``local:N`` for a ``LocalCluster`` of
    ``N`` single-threaded worker processes (default: one per core) on the loopback interface."""
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    s = str(scheduler)
    if s == "local" or s.startswith("local:"):
        n = s.partition(":")[2]
        try:
            n = int(n) if n else (os.cpu_count() or 1)
        except ValueError:
            raise ValueError(f"--scheduler {s}: use local or local:N with N a number of "
                             "workers.") from None
        if n < 1:
            raise ValueError(f"--scheduler {s}: N must be >= 1.")
        import logging

        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None,
                                      silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(s, timeout="20s")
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {s}: {_one_line(exc)}") from None
    try:
        yield client
    finally:
        client.close()


def score_files(model, data, out_dir, *, scheduler=None, chunk_size=100_000, force=False,
                progress=None, on_plan=None):
    """Score every file of ``data`` with the model file ``model`` into ``out_dir``.

    Parameters
    ----------
    model : str or Path
        Model file written by ``mnpad fit`` / :meth:`mnpad.Pipeline.save`.
    data : str, Path or list
        A folder, a glob or a list of files (Parquet, CSV); see :func:`expand_inputs`.
    out_dir : str or Path
        Folder receiving one Parquet file per input (same relative path, ``.parquet``), with
        the columns of ``mnpad score`` (id or ``row``, ``score``, ``label``,
        ``nearest_prototype`` for MNP).
    scheduler : str or distributed.Client, optional
        None: score the files one by one in this process. Otherwise a Dask scheduler address,
        a client, or ``local[:N]`` (see :func:`dask_client`). Workers must see the input and
        output paths (same machine or a shared file system).
    chunk_size : int
        Rows per chunk read (bounds memory; never changes scores).
    force : bool
        Replace outputs that exist but were not written for this model.
    progress : bool, optional
        Show a bar over files (default: when stderr is a terminal).
    on_plan : callable, optional
        Called with the :class:`ScorePlan` before scoring starts.

    Returns
    -------
    dict with ``files``, ``skipped``, ``scored``, ``rows`` (scored now), ``rows_skipped``,
    ``flagged``, ``seconds`` (in all), ``startup_seconds`` (connecting to or starting the
    cluster), ``workers``, ``peak_rss_mib`` (peak resident memory of each process that scored
    files, by pid) and ``tasks`` (per file: rows, seconds, pid, peak_rss_mib).
    """
    from tqdm.auto import tqdm

    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"--chunk-size must be >= 1; got {chunk_size}.")
    model = Path(model)
    if not model.exists():
        raise FileNotFoundError(f"model file {model} does not exist.")
    data_bytes = model.read_bytes()
    digest = hashlib.sha256(data_bytes).hexdigest()
    from .cli.data_cmds import load_pipeline

    pipe = load_pipeline(model)
    _PIPES.clear()
    _PIPES[digest] = pipe
    plan = plan_scoring(pipe, model, data, out_dir, force=force, digest=digest)
    if on_plan is not None:
        on_plan(plan)
    summary = {"files": len(plan.files), "skipped": len(plan.done), "scored": 0, "rows": 0,
               "rows_skipped": plan.rows_done, "flagged": 0, "workers": 1, "peak_rss_mib": {},
               "startup_seconds": 0.0, "tasks": []}
    t0 = time.perf_counter()
    bar = tqdm(total=len(plan.files), initial=len(plan.done), unit="file", desc="scoring",
               disable=(not sys.stderr.isatty()) if progress is None else not progress,
               dynamic_ncols=True)

    def take(res):
        summary["scored"] += 1
        summary["rows"] += res["rows"]
        summary["flagged"] += res["flagged"]
        summary["peak_rss_mib"][res["pid"]] = res["peak_rss_mib"]
        summary["tasks"].append(res)
        bar.update(1)

    try:
        if scheduler is None:
            for info, out, record in plan.todo:
                take(score_one(pipe, info, out, chunk_size, record, digest, model.name))
        elif plan.todo:
            with dask_client(scheduler) as client:
                summary["startup_seconds"] = time.perf_counter() - t0
                summary["workers"] = len(client.scheduler_info(n_workers=-1)["workers"]) \
                    if _accepts_n_workers(client) else len(client.scheduler_info()["workers"])
                _run_on_dask(client, data_bytes, digest, model.name, plan, chunk_size, take)
    finally:
        bar.close()
    summary["seconds"] = time.perf_counter() - t0
    return summary


def _accepts_n_workers(client):
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _run_on_dask(client, data_bytes, digest, model_name, plan, chunk_size, take):
    distributed = _import_distributed()
    fmodel = client.scatter(data_bytes, broadcast=True, hash=False)
    futs = {}
    for info, out, record in plan.todo:
        fut = client.submit(_score_task, fmodel, digest, model_name, info, str(out),
                            str(record), chunk_size, pure=False,
                            key=f"mnpad-score-{digest[:8]}-{len(futs)}-{os.getpid()}")
        futs[fut] = info
    try:
        for fut in distributed.as_completed(futs):
            try:
                take(fut.result())
            except DataFileError:
                raise
            except distributed.client.FutureCancelledError as exc:
                raise ValueError(f"dask: scoring {futs[fut].path} was cancelled "
                                 f"({_one_line(exc)}).") from None
            except Exception as exc:
                name = type(exc).__name__
                if name == "KilledWorker":
                    raise ValueError(f"dask: the workers scoring {futs[fut].path} died "
                                     f"repeatedly ({name}); rerun the command to resume.") from None
                if isinstance(exc, ValueError) and str(futs[fut].path) in str(exc):
                    raise
                raise DataFileError(f"{futs[fut].path}: {name}: {_one_line(exc)}") from None
    finally:
        client.cancel(list(futs) + [fmodel])


# ---------------------------------------------------------------------------- dask frame
def _score_partition(part, model_bytes, digest, idc):
    pipe = _pipeline_from_bytes(model_bytes, digest)
    frame = pipe.score_frame(part)  # holds the id column when ``part`` has it
    frame.index = part.index
    return frame


def score_dask(model, ddf, client=None):
    """Score a ``dask.dataframe.DataFrame``; returns a lazy frame of scores.

    Parameters
    ----------
    model : str or Path
        Model file written by ``mnpad fit`` / :meth:`mnpad.Pipeline.save`.
    ddf : dask.dataframe.DataFrame
        Must hold the model's feature columns; other columns are ignored.
    client : distributed.Client, optional
        With a client (default: the current one, if any) the model file's bytes are scattered
        to every worker once; without one they travel as a single graph key. Each worker
        process loads the model once.

    Returns
    -------
    dask.dataframe.DataFrame with the index of ``ddf``, the model's id column (when ``ddf``
    has it), ``score``, ``label`` and, for MNP, ``nearest_prototype``. Nothing is computed until
    you ask for it (``.compute()``, ``.to_parquet(...)``).
    """
    try:
        import dask
    except ImportError:
        raise ImportError("score_dask needs Dask: pip install 'mnpad[dask]'.") from None
    model = Path(model)
    data_bytes = model.read_bytes()
    digest = hashlib.sha256(data_bytes).hexdigest()
    pipe = _pipeline_from_bytes(data_bytes, digest)
    lacking = [c for c in pipe.feature_columns_ if c not in ddf.columns]
    if lacking:
        raise ValueError(f"the frame lacks column(s) the model was trained on: {_show(lacking)}.")
    idc = pipe.id_column if pipe.id_column in ddf.columns else None
    cols = list(pipe.feature_columns_) + ([idc] if idc and idc not in pipe.feature_columns_
                                          else [])
    meta = _empty_scores(pipe, None).drop(columns="row")
    if idc:
        meta.insert(0, idc, pd.Series(dtype=ddf[idc].dtype))
    meta.index = ddf._meta.index[:0]
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        ref = client.scatter(data_bytes, broadcast=True, hash=False)
        ref = dask.delayed(lambda b: b)(ref, dask_key_name=f"mnpad-model-{digest[:16]}")
    else:
        ref = dask.delayed(data_bytes, name=f"mnpad-model-{digest[:16]}")
    return ddf[cols].map_partitions(_score_partition, ref, digest, idc, meta=meta,
                                    align_dataframes=False)


# ---------------------------------------------------------------------------- sampling
def sample_files(data, label_column, *, max_rows=DEFAULT_MAX_ROWS, seed=0, columns=None,
                 chunk_size=65_536, progress=None):
    """One pass over the files: every labeled anomaly + a uniform sample of unlabeled rows.

    Each unlabeled row gets a key from ``numpy.random.default_rng(seed)`` drawn in file order;
    the ``max_rows - n_labeled`` rows with the smallest keys are kept (a uniform random sample
    without replacement; priority sampling with equal weights). Only a bounded pool is held:
    rows whose key is above the current cut-off are dropped as they are read. The result keeps
    the rows in file order, so with ``max_rows`` at least the number of rows it is the whole
    table. Deterministic for a seed and a file list (and independent of ``chunk_size``).

    Parameters
    ----------
    data : str, Path or list
        Files as for :func:`expand_inputs`.
    label_column : str or None
        Weak labels (1/true/yes = labeled anomaly); None keeps no row as labeled.
    max_rows : int
        Rows in the sample (labeled anomalies included; all of them are kept even if they
        alone exceed it).
    seed : int
    columns : list of str, optional
        Columns to read (default: those of the first file).

    Returns
    -------
    (pandas.DataFrame, dict) : the sample and what was seen (``files``, ``rows_read``,
    ``labeled``, ``rows_sampled``, ``seed``, ``max_rows``).
    """
    from tqdm.auto import tqdm

    from .preprocessing import parse_labels

    if not (isinstance(max_rows, (int, np.integer)) and max_rows >= 1):
        raise ValueError(f"--max-rows must be an int >= 1; got {max_rows!r}.")
    files, _ = expand_inputs(data)
    infos = [inspect_file(f) for f in files]
    ref = infos[0]
    columns = list(columns) if columns is not None else list(ref.columns)
    if label_column is not None and label_column not in columns:
        if label_column not in ref.columns:
            raise ValueError(f"unknown label column {label_column!r}; {ref.path} has columns: "
                             f"{_show(ref.columns)}.")
        columns.append(label_column)
    for info in infos:
        _check_against_reference(info, ref, columns)
    csv = any(i.fmt == "csv" for i in infos)
    rng = np.random.default_rng(seed)
    labeled, pool, buf = [], None, []
    buf_rows, cut = 0, np.inf
    n_read = n_lab = 0
    numeric_ok = dict.fromkeys(columns, True)
    total = sum(i.rows for i in infos) if all(i.rows is not None for i in infos) else None
    bar = tqdm(total=total, unit="row", unit_scale=True, desc="sampling",
               disable=(not sys.stderr.isatty()) if progress is None else not progress)

    def compact(pool, buf):
        both = pd.concat(([pool] if pool is not None else []) + buf, ignore_index=True)
        if len(both) > max_rows:
            keep = np.argpartition(both["__key"].to_numpy(), max_rows - 1)[:max_rows]
            both = both.iloc[np.sort(keep)].reset_index(drop=True)
        return both

    try:
        for info in infos:
            for chunk, where in iter_file(info, columns, chunk_size,
                                          text_columns=columns if info.fmt == "csv" else ()):
                m = len(chunk)
                if info.fmt == "csv":
                    _track_numeric(chunk, numeric_ok)
                if label_column is not None:
                    try:
                        lab = parse_labels(chunk[label_column],
                                           name=f"label column {label_column!r}") == 1
                    except ValueError as exc:
                        raise DataFileError(f"{where}: {_one_line(exc)}") from None
                else:
                    lab = np.zeros(m, bool)
                idx = np.arange(n_read, n_read + m, dtype=np.int64)
                keys = rng.random(m)  # one key per row, labeled or not: chunking-independent
                if lab.any():
                    labeled.append(chunk[lab].assign(__row=idx[lab]))
                    n_lab += int(lab.sum())
                sel = ~lab & (keys < cut)
                if sel.any():
                    buf.append(chunk[sel].assign(__row=idx[sel], __key=keys[sel]))
                    buf_rows += int(sel.sum())
                if buf_rows > max_rows:
                    pool, buf, buf_rows = compact(pool, buf), [], 0
                    if len(pool) >= max_rows:
                        cut = float(pool["__key"].max())
                n_read += m
                bar.update(m)
    finally:
        bar.close()
    if buf:
        pool = compact(pool, buf)
    k = max(0, int(max_rows) - n_lab)
    parts = list(labeled)
    if pool is not None and k > 0:
        if len(pool) > k:
            pool = pool.iloc[np.sort(np.argpartition(pool["__key"].to_numpy(), k - 1)[:k])]
        parts.append(pool.drop(columns="__key"))
    if not parts:
        raise ValueError(f"{', '.join(str(i.path) for i in infos[:3])}: no rows to train on.")
    sample = pd.concat(parts, ignore_index=True)
    sample = sample.sort_values("__row", kind="stable").drop(columns="__row")
    sample = sample.reset_index(drop=True)
    if csv:
        for c in columns:
            if c != label_column and numeric_ok[c] and sample[c].dtype == object:
                sample[c] = pd.to_numeric(sample[c])
    info = {"files": len(infos), "rows_read": int(n_read), "labeled": int(n_lab),
            "rows_sampled": int(len(sample)), "seed": int(seed), "max_rows": int(max_rows),
            "method": "all labeled anomalies + uniform random sample of unlabeled rows"}
    return sample, info


def _track_numeric(chunk, ok):
    """CSV: a column is numeric when every non-blank value of every file parses as a number."""
    for c in chunk.columns:
        if ok.get(c) and chunk[c].dtype == object:
            s = chunk[c]
            num = pd.to_numeric(s, errors="coerce")
            if (num.isna() & s.notna()).any():
                ok[c] = False


def _show(cols, n=10):
    cols = [str(c) for c in cols]
    return ", ".join(repr(c) for c in cols[:n]) + (f" ... ({len(cols)} in all)" if len(cols) > n
                                                   else "")
