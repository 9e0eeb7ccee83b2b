"""The benchmark's results store: one SQLite file, one row per finished cell.

A cell is ``(experiment, protocol, dataset, method, setting, seed, params)``. The parent process
is the only writer; every cell is committed in its own transaction, the journal is in WAL mode
with ``synchronous=FULL``, so killing the process at any moment loses at most the cells still
running and never leaves a half-written row or a corrupt file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

__all__ = ["ResultStore", "KEY_COLUMNS", "COLUMNS"]

SCHEMA_VERSION = 1

KEY_COLUMNS = ("experiment", "protocol", "dataset", "method", "setting", "seed", "params")

# column -> SQL type, in table order (key columns first)
_COLUMN_TYPES = {
    "experiment": "TEXT NOT NULL",
    "protocol": "TEXT NOT NULL",
    "dataset": "TEXT NOT NULL",
    "method": "TEXT NOT NULL",
    "setting": "TEXT NOT NULL",
    "seed": "INTEGER NOT NULL",
    "params": "TEXT NOT NULL",  # canonical JSON of the detector's non-default parameters
    "status": "TEXT NOT NULL",  # 'ok' | 'error'
    "aucroc": "REAL",
    "aucpr": "REAL",  # average precision
    "aucpr_trapz": "REAL",  # trapezoidal area under the PR curve (the authors' measure)
    "fit_time": "REAL",  # seconds, wall clock, detector.fit
    "score_time": "REAL",  # seconds, wall clock, decision_function on the test split
    "peak_mem_mb": "REAL",  # peak resident set size of the worker process during the cell
    "rss_before_mb": "REAL",  # its resident set size when the cell started
    "mem_method": "TEXT",  # how peak_mem_mb was measured (see runner._MemoryProbe)
    "n_prototypes": "INTEGER",  # MNP's fitted number of prototypes, else NULL
    "n_train": "INTEGER",
    "n_test": "INTEGER",
    "n_labeled": "INTEGER",
    "dataset_abbr": "TEXT",  # the paper's abbreviation (Table 1), NULL for extra datasets
    "dataset_status": "TEXT",  # 'exact' | 'substitute'
    "versions": "TEXT",  # JSON: python, mnpad, numpy, torch, scikit-learn
    "host": "TEXT",
    "error": "TEXT",  # last lines of the traceback when status = 'error'
    "finished_at": "TEXT",  # UTC ISO time
}
COLUMNS = tuple(_COLUMN_TYPES)


def canonical_params(params):
    """Canonical JSON text of a parameter dict (sorted keys), used in the cell key."""
    return json.dumps(params or {}, sort_keys=True, separators=(",", ":"))


class ResultStore:
    """SQLite results store of ``mnpad bench``.

    Parameters
    ----------
    path : str or Path
        The database file; created with its parent folder if absent.
    readonly : bool, default=False
        Open an existing store for reading only (reports).
    """

    def __init__(self, path, readonly=False):
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"results store {str(self.path)!r} does not exist.")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True)
            self._check_schema()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            cols = ",\n  ".join(f"{c} {t}" for c, t in _COLUMN_TYPES.items())
            with self._conn:
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS cells (\n  {cols},\n"
                    f"  PRIMARY KEY ({', '.join(KEY_COLUMNS)}))"
                )
                if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{str(self.path)!r} is not a usable results store: {exc}") from None
        self._check_schema()

    def _check_schema(self):
        try:
            cols = [r[1] for r in self._conn.execute("PRAGMA table_info(cells)")]
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{str(self.path)!r} is not a results store: {exc}") from None
        missing = set(KEY_COLUMNS) - set(cols)
        if missing:
            raise ValueError(
                f"{str(self.path)!r} is not an mnpad results store (no cells table with "
                f"{', '.join(sorted(missing))})."
            )

    # ------------------------------------------------------------------ writing
    def put(self, row):
        """Insert or replace one cell's row, in its own committed transaction."""
        row = dict(row)
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown result column(s): {', '.join(sorted(unknown))}")
        for k in KEY_COLUMNS:
            if k not in row:
                raise ValueError(f"result row lacks key column {k!r}")
        names = list(row)
        sql = (f"INSERT OR REPLACE INTO cells ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        with self._conn:
            self._conn.execute(sql, [row[n] for n in names])

    # ------------------------------------------------------------------ reading
    def finished_keys(self):
        """Set of key tuples (in KEY_COLUMNS order) of cells that finished with status 'ok'."""
        cur = self._conn.execute(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM cells WHERE status = 'ok'")
        return {tuple(r) for r in cur}

    def rows(self, where=None, args=()):
        """All rows as a list of dicts (optionally filtered by an SQL ``where`` clause)."""
        sql = f"SELECT {', '.join(self._columns())} FROM cells"
        if where:
            sql += f" WHERE {where}"
        cur = self._conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def to_frame(self):
        """All rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(self._columns()))

    def _columns(self):
        present = [r[1] for r in self._conn.execute("PRAGMA table_info(cells)")]
        return [c for c in COLUMNS if c in present]

    def integrity_check(self):
        """Result of ``PRAGMA integrity_check`` ('ok' when the file is sound)."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def __len__(self):
        return self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
