"""Reading and writing user tables (CSV or Parquet, chosen by file extension).

Readers stream: Parquet through ``pyarrow.parquet.ParquetFile.iter_batches`` and CSV through
``pandas.read_csv(chunksize=...)``, so memory is bounded by the chunk size (for Parquet also by
the file's row-group size, which pyarrow decodes one at a time). Writers write to a temporary
file in the output's directory and rename it into place only when everything is written, so an
interrupted run never leaves a half-written output; an existing output is kept unless
``force=True``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from ._atomic import atomic_output as _atomic_output
from ._validation import show_names

__all__ = ["table_format", "read_table", "iter_chunks", "read_columns", "TableWriter",
           "check_output", "atomic_output"]

_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz", ".tsv")
_PARQUET = (".parquet", ".pq")
_WRITABLE = (".csv", ".tsv", ".parquet", ".pq")


def table_format(path):
    """'csv' or 'parquet' from the file name; anything else is a ValueError."""
    name = str(path).lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    raise ValueError(
        f"{path}: unsupported file type; use a name ending in .csv (optionally .gz/.bz2/.xz/.zst), "
        ".tsv, .parquet or .pq."
    )


def _check_input(path):
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist.")
    if path.is_dir():
        raise IsADirectoryError(f"data file {path} is a directory.")
    return path, fmt


def _sep(path):
    return "\t" if str(path).lower().endswith(".tsv") else ","


@contextlib.contextmanager
def _readable(path, fmt):
    """Turn parser failures into one clear ValueError."""
    try:
        yield
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except ValueError as exc:
        if str(exc).startswith(("the data lacks", "column ")):
            raise
        raise ValueError(f"cannot read {path} as {fmt.upper()}: {_first_line(exc)}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read {path} as {fmt.upper()}: {_first_line(exc)}") from None
    except Exception as exc:  # pyarrow.ArrowInvalid and friends
        if type(exc).__module__.startswith("pyarrow"):
            raise ValueError(f"cannot read {path} as {fmt.upper()}: {_first_line(exc)}") from None
        raise


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_columns(path):
    """Column names of a table without reading its rows."""
    path, fmt = _check_input(path)
    with _readable(path, fmt):
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        return list(pd.read_csv(path, sep=_sep(path), nrows=0).columns)


def read_table(path):
    """Read a whole table into a DataFrame (used for training).

    Parquet columns keep their stored types. CSV columns that pandas does not parse as numbers
    are read again as raw text, exactly as :func:`iter_chunks` reads them with
    ``text_columns`` at scoring (so e.g. ``yes``/``True`` keep their spelling).
    """
    path, fmt = _check_input(path)
    with _readable(path, fmt):
        if fmt == "parquet":
            import pyarrow.parquet as pq

            df = pq.read_table(path).to_pandas()
        else:
            df = pd.read_csv(path, sep=_sep(path), low_memory=False)
            text = [c for c, dt in df.dtypes.items() if not _is_number(dt)]
            if text:
                raw = pd.read_csv(path, sep=_sep(path), usecols=text, dtype=_text_dtypes(text),
                                  low_memory=False)
                for c in text:
                    df[c] = raw[c]
    if len(df.columns) == 0:
        raise ValueError(f"cannot read {path}: no columns.")
    return df


def _is_number(dtype):
    return (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype))


def _text_dtypes(cols):
    return {c: object for c in cols} if cols else None


def iter_chunks(path, chunk_size, columns=None, text_columns=None):
    """Yield DataFrames of at most ``chunk_size`` rows, in file order.

    ``columns`` restricts the columns read (all must exist: a missing one is a clear
    ValueError); ``text_columns`` as in :func:`read_table`.
    """
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk size must be an int >= 1; got {chunk_size!r}.")
    path, fmt = _check_input(path)
    if columns is not None:
        have = set(read_columns(path))
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise ValueError(f"{path} lacks column(s) the model was trained on: "
                             f"{show_names(lacking)}.")
    with _readable(path, fmt):
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=chunk_size, columns=columns):
                yield batch.to_pandas()
        else:
            dtype = _text_dtypes([c for c in (text_columns or []) if columns is None or c in columns])
            with pd.read_csv(path, sep=_sep(path), chunksize=chunk_size, usecols=columns,
                             dtype=dtype, low_memory=False) as reader:
                yield from reader


# ---------------------------------------------------------------------- writing
def check_output(path, force=False, kinds=None):
    """Refuse an existing output unless ``force``; check the extension is one of ``kinds``."""
    path = Path(path)
    name = str(path).lower()
    if kinds and not name.endswith(tuple(kinds)):
        raise ValueError(f"{path}: unsupported file type for this output; use a name ending "
                         f"in {', '.join(kinds[:-1])} or {kinds[-1]}." if len(kinds) > 1 else
                         f"{path}: unsupported file type for this output; use a name ending "
                         f"in {kinds[0]}.")
    if path.is_dir():
        raise IsADirectoryError(f"output {path} is a directory.")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it.")
    return path


def atomic_output(path, force=False):
    """Context yielding a temporary path next to ``path``, renamed onto it on success.

    See :func:`mnpad._atomic.atomic_output` (permissions follow the umask; ``.part`` files of
    killed runs are removed by the next write to the same output).
    """
    return _atomic_output(check_output(path, force), force)


class TableWriter:
    """Append DataFrame chunks to a CSV or Parquet file, atomically.

    Use as a context manager; the output appears at ``path`` only when the ``with`` block ends
    without an exception. All chunks must have the same columns and dtypes.
    """

    def __init__(self, path, force=False):
        self.path = Path(path)
        check_output(self.path, force, kinds=_WRITABLE)
        self.fmt = table_format(self.path)
        self.force = force

    def __enter__(self):
        self._ctx = atomic_output(self.path, self.force)
        self._tmp = self._ctx.__enter__()
        self._writer, self._fh, self.rows = None, None, 0
        return self

    def write(self, df):
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
            elif table.schema != self._writer.schema:
                try:
                    table = table.cast(self._writer.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                    raise ValueError(f"{self.path}: column types changed between chunks "
                                     f"({_first_line(exc)}).") from None
            self._writer.write_table(table)
        else:
            if self._fh is None:
                self._fh = open(self._tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115
                df.to_csv(self._fh, index=False, sep=_sep(self.path))
            else:
                df.to_csv(self._fh, index=False, header=False, sep=_sep(self.path))
        self.rows += len(df)

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
        finally:
            self._ctx.__exit__(exc_type, exc, tb)
        return False
