"""Property-based: the CLI on generated messy tables (issue 11).

Mixed types, blanks, unicode headers, duplicate columns, all-constant columns, one row, huge
values: ``mnpad fit`` and ``mnpad score`` must exit 0 or 2, print one line on error, never a
traceback, and write no output file unless they exit 0.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mnpad.cli.main import main  # noqa: E402

CELLS = st.one_of(
    st.none(),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([1e308, -1e308, 1e-308, 0.0, 1.5, "", " ", "yes", "no", "TRUE", "x",
                     "é", "日本", "1", "0", "nan", "inf", "1e999", "2024-01-01"]),
    st.text(max_size=6),
)
NAMES = st.one_of(st.sampled_from(["a", "b", "c", "lab", "id"]),
                  st.text(min_size=1, max_size=5))


@st.composite
def tables(draw, names=NAMES):
    n_rows = draw(st.integers(1, 12))
    cols = draw(st.lists(names, min_size=1, max_size=5))  # duplicates allowed
    out = pd.DataFrame(index=range(n_rows))
    for i in range(len(cols)):
        kind = draw(st.sampled_from(["mixed", "constant", "numeric", "labels"]))
        if kind == "constant":
            v = draw(CELLS)
            values = [v] * n_rows
        elif kind == "numeric":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=False, width=64),
                                   min_size=n_rows, max_size=n_rows))
        elif kind == "labels":
            values = draw(st.lists(st.sampled_from(["1", "0", "", "yes", "maybe"]),
                                   min_size=n_rows, max_size=n_rows))
        else:
            values = draw(st.lists(CELLS, min_size=n_rows, max_size=n_rows))
        out[i] = pd.Series(values, dtype=object)
    out.columns = cols
    return out


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def _check(rc, err, output):
    assert rc in (0, 2), err
    assert "Traceback" not in err
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mnpad: error: "), err
        assert not Path(output).exists()
    else:
        assert Path(output).exists()
    folder = Path(output).parent
    assert not folder.exists() or not [p for p in folder.iterdir() if p.name.endswith(".part")]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("messy")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["x", "y", ""], 80),
                       "c": rng.integers(0, 5, 80).astype(float), "lab": 0})
    df.loc[:4, "lab"] = 1
    df.to_csv(d / "train.csv", index=False)
    rc, err = _run("fit", d / "train.csv", "--label-column", "lab", "--method", "iforest",
                   "--params", '{"n_estimators": 5}', "--out", d / "m.mnpad")
    assert rc == 0, err
    return d / "m.mnpad"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), fmt=st.sampled_from([".csv", ".parquet"]))
def test_score_messy_tables(model, df, fmt):
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / f"data{fmt}"
        if fmt == ".csv":
            df.to_csv(data, index=False)
        else:
            try:
                df.astype(str).to_parquet(data) if df.columns.is_unique else None
            except Exception:  # noqa: BLE001 - pyarrow refuses some names; not under test
                return
            if not data.exists():
                return
        out = Path(d) / "out" / "scores.csv"
        rc, err = _run("score", model, data, "--out", out, "--chunk-size", "3")
        _check(rc, err, out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), method=st.sampled_from(["iforest", "gbdt"]),
       label=st.sampled_from(["lab", "a", "missing"]))
def test_fit_messy_tables(df, method, label):
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data.csv"
        df.to_csv(data, index=False)
        out = Path(d) / "m.mnpad"
        params = '{"n_estimators": 5}' if method == "iforest" else '{"max_iter": 3}'
        rc, err = _run("fit", data, "--label-column", label, "--method", method,
                       "--params", params, "--out", out)
        _check(rc, err, out)
