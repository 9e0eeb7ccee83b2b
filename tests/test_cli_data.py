"""End-to-end tests of ``mnpad fit/score/explain/plot`` and ``mnpad.Pipeline`` (issue 5).

Everything runs on small generated tables with tiny MNP settings; the heavy 10M-row
measurement lives in ``benchmarks/score_memory.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import mnpad
from mnpad.cli.main import main

TINY = '{"epochs": 10, "pretrain_epochs": 2, "steps_per_epoch": 8, "max_prototypes": 4, "lr": 0.005}'
N, N_INJECTED, N_LABELED = 400, 24, 10
BIN = Path(sys.executable).parent


def make_frame(n=N, seed=0, start=0):
    """Mixed table: numeric with blanks, text with blanks, yes/no text; first rows anomalous."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "tx": [f"t{i}" for i in range(start, start + n)],
        "amount": rng.normal(100, 10, n).round(4),
        "n_items": rng.integers(1, 5, n).astype(float),
        "country": rng.choice(["fr", "de", "us"], n).astype(object),
        "flag": rng.choice(["yes", "no"], n).astype(object),
        "note": "x",  # dropped with --drop
    })
    if start == 0:
        df.loc[:N_INJECTED - 1, "amount"] = rng.normal(300, 10, N_INJECTED).round(4)
        df.loc[:N_INJECTED - 1, "country"] = "zz"
    df.loc[rng.choice(np.arange(N_INJECTED, n), 25, replace=False), "n_items"] = np.nan
    df.loc[rng.choice(np.arange(N_INJECTED, n), 25, replace=False), "country"] = None
    lab = np.array([""] * n, dtype=object)
    if start == 0:
        lab[:N_LABELED] = ["true", "1", "yes", "TRUE", "Yes"] * (N_LABELED // 5)
        lab[200:210] = ["0", "false", "no", "", "No"] * 2
    df["is_fraud"] = lab
    return df


def run(*argv):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def assert_user_error(res, *fragments):
    rc, _, err = res
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnpad: error: "), err
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_data")
    df = make_frame()
    df.to_csv(d / "data.csv", index=False)
    df.to_parquet(d / "data.parquet", row_group_size=64)
    model = d / "model.mnpad"
    res = run("fit", d / "data.csv", "--label-column", "is_fraud", "--id-column", "tx",
              "--drop", "note", "--out", model, "--params", TINY, "--random-state", "3")
    assert res[0] == 0, res[2]
    return {"dir": d, "df": df, "csv": d / "data.csv", "parquet": d / "data.parquet",
            "model": model, "fit_stdout": res[1]}


def read_scores(path):
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


# ---------------------------------------------------------------------- fit
def test_fit_summary_and_model_contents(files):
    out = files["fit_stdout"]
    pipe = mnpad.load(files["model"])
    assert isinstance(pipe, mnpad.Pipeline)
    # amount, n_items, n_items__missing, country x {__missing__, de, fr, us, zz}, flag x {no, yes}
    assert pipe.feature_names_out_ == [
        "amount", "n_items", "n_items__missing", "country=__missing__", "country=de",
        "country=fr", "country=us", "country=zz", "flag=no", "flag=yes"]
    assert pipe.feature_columns_ == ["amount", "n_items", "country", "flag"]  # no tx/note/label
    assert pipe.n_labeled_ == N_LABELED
    assert f"on {N} rows" in out
    assert "features (encoded): 10" in out
    assert f"labeled anomalies:  {N_LABELED}" in out
    assert f"prototypes found:   {pipe.detector_.n_prototypes_}" in out
    assert "training time:" in out


def test_fit_on_parquet_matches_csv(files, tmp_path):
    model = tmp_path / "m.mnpad"
    res = run("fit", files["parquet"], "--label-column", "is_fraud", "--id-column", "tx",
              "--drop", "note", "--out", model, "--params", TINY, "--random-state", "3")
    assert res[0] == 0, res[2]
    a, b = mnpad.load(files["model"]), mnpad.load(model)
    assert a.preprocessor_.to_json() == b.preprocessor_.to_json()
    np.testing.assert_allclose(a.decision_scores_, b.decision_scores_, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- score
def test_score_outputs_and_ranking(files, tmp_path):
    out = tmp_path / "scores.csv"
    assert run("score", files["model"], files["csv"], "--out", out)[0] == 0
    s = read_scores(out)
    assert list(s.columns) == ["tx", "score", "label", "nearest_prototype"]
    assert s["tx"].tolist() == files["df"]["tx"].tolist()
    pipe = mnpad.load(files["model"])
    np.testing.assert_array_equal(s["score"].to_numpy(), pipe.decision_function(files["df"]))
    np.testing.assert_array_equal(s["label"].to_numpy(), (s["score"] > pipe.threshold_).astype(int))
    np.testing.assert_array_equal(s["nearest_prototype"].to_numpy(),
                                  pipe.nearest_prototype(files["df"]))
    assert s["nearest_prototype"].between(0, pipe.detector_.n_prototypes_ - 1).all()
    # the scores rank the injected anomalies (partly labeled) above normal rows: a sign flip or a
    # broken scorer fails this (measured: AUC-ROC 1.000)
    truth = np.r_[np.ones(N_INJECTED), np.zeros(N - N_INJECTED)]
    assert roc_auc_score(truth, s["score"]) > 0.9


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunk_size_does_not_change_scores(files, tmp_path, fmt):
    got = []
    for cs in (7, 64, 100_000):
        out = tmp_path / f"s{cs}.{fmt}"
        assert run("score", files["model"], files[fmt], "--out", out, "--chunk-size", cs)[0] == 0
        got.append(read_scores(out))
    for g in got[1:]:
        pd.testing.assert_frame_equal(g, got[0])


def test_csv_and_parquet_inputs_agree(files, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    assert run("score", files["model"], files["csv"], "--out", a)[0] == 0
    assert run("score", files["model"], files["parquet"], "--out", b)[0] == 0
    a, b = read_scores(a), read_scores(b)
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6, atol=1e-7)
    assert (a["tx"] == b["tx"]).all()


def test_unknown_category_and_new_blanks_are_tolerated(files, tmp_path):
    df = make_frame(50, seed=5, start=N)
    df.loc[0, "country"] = "never-seen"
    df.loc[1, "amount"] = np.nan  # no blank in 'amount' at training: imputed with the median
    df.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "s.csv"
    assert run("score", files["model"], tmp_path / "new.csv", "--out", out)[0] == 0
    pipe = mnpad.load(files["model"])
    enc = pipe.transform(df.iloc[:2])
    names = pipe.feature_names_out_
    assert enc[0, [i for i, n in enumerate(names) if n.startswith("country=")]].sum() == 0
    med = pipe.preprocessor_.to_json()["median"][0]
    lo, hi = pipe.preprocessor_.to_json()["min"][0], pipe.preprocessor_.to_json()["max"][0]
    assert enc[1, 0] == pytest.approx((med - lo) / (hi - lo), rel=1e-6)
    assert len(read_scores(out)) == 50


def test_no_overwrite_without_force_and_atomic_output(files, tmp_path):
    out = tmp_path / "s.csv"
    out.write_text("precious\n")
    assert_user_error(run("score", files["model"], files["csv"], "--out", out), "exists", "--force")
    assert out.read_text() == "precious\n"
    assert run("score", files["model"], files["csv"], "--out", out, "--force")[0] == 0
    assert len(read_scores(out)) == N
    # fit refuses an existing model before training; plot and explain --out too
    assert_user_error(run("fit", files["csv"], "--label-column", "is_fraud", "--out",
                          files["model"]), "exists")
    png = tmp_path / "p.png"
    png.write_bytes(b"x")
    assert_user_error(run("plot", files["model"], files["csv"], "--out", png), "exists")
    assert png.read_bytes() == b"x"
    # a run that fails half-way (bad value in a later chunk) leaves neither output nor temp file
    bad = files["df"].copy()
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[N - 1, "amount"] = "oops"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out2 = tmp_path / "s2.parquet"
    assert_user_error(run("score", files["model"], tmp_path / "bad.csv", "--out", out2,
                          "--chunk-size", 50), "'amount'", "oops")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "p.png", "s.csv"]


# ---------------------------------------------------------------------- explain / plot
def test_explain_top_rows(files, tmp_path):
    scores = tmp_path / "s.csv"
    run("score", files["model"], files["csv"], "--out", scores)
    top = read_scores(scores).sort_values("score", ascending=False, kind="stable").head(5)
    out = tmp_path / "exp.csv"
    rc, stdout, _ = run("explain", files["model"], files["csv"], "--top", 5, "--chunk-size", 37,
                        "--out", out)
    assert rc == 0
    exp = pd.read_csv(out)
    assert list(exp.columns) == ["rank", "tx", "score", "nearest_prototype", "similarity",
                                 "recon_error", "top_columns"]
    assert exp["tx"].tolist() == top["tx"].tolist()  # same top-5 as a full sort
    np.testing.assert_allclose(exp["score"], top["score"], rtol=1e-6)
    for cell in exp["top_columns"]:
        names = [part.split(":")[0] for part in cell.split(", ")]
        assert len(names) == 3 and set(names) <= {"amount", "n_items", "country", "flag"}
    assert exp["tx"].iloc[0] in stdout


def test_pipeline_explain_maps_one_hot_back(files):
    pipe = mnpad.load(files["model"])
    df = files["df"].iloc[:30]
    exp = pipe.explain(df, top_columns=4)
    assert (exp.index == df.index).all()
    per = pipe.detector_.reconstruction_error(pipe.transform(df), per_feature=True)
    names = pipe.feature_names_out_
    country = [i for i, n in enumerate(names) if n.startswith("country=")]
    for i, cell in enumerate(exp["top_columns"]):
        parts = dict(p.split(":") for p in cell.split(", "))
        assert set(parts) == {"amount", "n_items", "country", "flag"}
        # contributions add up to the row's reconstruction error ...
        assert sum(float(v) for v in parts.values()) == pytest.approx(
            exp["recon_error"].iloc[i], rel=1e-3)
        # ... and a text column's contribution is the sum over its one-hot features
        assert float(parts["country"]) == pytest.approx(per[i, country].sum() / len(names),
                                                        rel=1e-3)
    sim = pipe.detector_.similarity(pipe.transform(df))
    np.testing.assert_allclose(exp["similarity"], sim.max(1), rtol=1e-6)
    assert (exp["nearest_prototype"] == sim.argmax(1)).all()


def test_plot_writes_png(files, tmp_path):
    out = tmp_path / "p.png"
    rc, stdout, err = run("plot", files["model"], files["parquet"], "--out", out,
                          "--max-points", 100, "--chunk-size", 50)
    assert rc == 0, err
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert "100 in the scatter" in stdout
    assert_user_error(run("plot", files["model"], files["csv"], "--out", tmp_path / "p.jpg"),
                      ".png")


# ---------------------------------------------------------------------- errors
def _bad_model(files, tmp_path, edit):
    with zipfile.ZipFile(files["model"]) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(items["meta.json"])
    edit(meta)
    items["meta.json"] = json.dumps(meta).encode()
    path = tmp_path / "other.mnpad"
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in items.items():
            zf.writestr(n, b)
    return path


def test_user_errors_fit(files, tmp_path):
    csv, out = files["csv"], tmp_path / "m.mnpad"
    assert_user_error(run("fit", tmp_path / "nope.csv", "--label-column", "y", "--out", out),
                      "does not exist")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    assert_user_error(run("fit", tmp_path / "junk.parquet", "--label-column", "y", "--out", out),
                      "cannot read")
    (tmp_path / "empty.csv").write_text("")
    assert_user_error(run("fit", tmp_path / "empty.csv", "--label-column", "y", "--out", out),
                      "cannot read")
    assert_user_error(run("fit", tmp_path / "data.xlsx", "--label-column", "y", "--out", out),
                      "unsupported file type")
    assert_user_error(run("fit", csv, "--label-column", "fraud", "--out", out),
                      "unknown label column 'fraud'", "'is_fraud'")
    assert_user_error(run("fit", csv, "--label-column", "is_fraud", "--drop", "nope", "--out",
                          out), "--drop", "'nope'")
    assert_user_error(run("fit", csv, "--label-column", "is_fraud", "--params", "{epochs: 1}",
                          "--out", out), "--params")
    assert_user_error(run("fit", csv, "--label-column", "is_fraud", "--params", '{"epoch": 1}',
                          "--out", out), "unknown parameter", "epoch")
    df = files["df"].assign(is_fraud=np.where(np.arange(N) % 2, "no", ""))
    df.to_csv(tmp_path / "nolab.csv", index=False)
    assert_user_error(run("fit", tmp_path / "nolab.csv", "--label-column", "is_fraud", "--out",
                          out), "no labeled anomalies")
    df.assign(is_fraud="maybe").to_csv(tmp_path / "badlab.csv", index=False)
    assert_user_error(run("fit", tmp_path / "badlab.csv", "--label-column", "is_fraud", "--out",
                          out), "not weak labels", "maybe")
    assert not out.exists()


def test_user_errors_score(files, tmp_path):
    model, csv, out = files["model"], files["csv"], tmp_path / "s.csv"
    assert_user_error(run("score", tmp_path / "none.mnpad", csv, "--out", out), "does not exist")
    assert_user_error(run("score", model, tmp_path / "none.csv", "--out", out), "does not exist")
    (tmp_path / "text.mnpad").write_text("hello")
    assert_user_error(run("score", tmp_path / "text.mnpad", csv, "--out", out),
                      "not an mnpad model")
    files["df"].drop(columns=["country"]).to_csv(tmp_path / "lacks.csv", index=False)
    assert_user_error(run("score", model, tmp_path / "lacks.csv", "--out", out),
                      "lacks column", "'country'")
    newer = _bad_model(files, tmp_path, lambda m: m.update(format_version=99))
    assert_user_error(run("score", newer, csv, "--out", out), "format 99", "Upgrade")
    schema = _bad_model(files, tmp_path, lambda m: m["extra"]["pipeline"].update(schema_version=0))
    assert_user_error(run("score", schema, csv, "--out", out), "pipeline schema version 0")
    pre = _bad_model(files, tmp_path,
                     lambda m: m["extra"]["pipeline"]["preprocessor"].update(schema_version=7))
    assert_user_error(run("score", pre, csv, "--out", out), "preprocessing schema version 7")
    assert_user_error(run("score", model, csv, "--out", tmp_path / "s.txt"), "unsupported file type")
    assert_user_error(run("score", model, csv, "--out", out, "--chunk-size", 0), "chunk")
    assert not out.exists()


# ---------------------------------------------------------------------- Python API
def test_pipeline_api_round_trip_and_other_detector(files, tmp_path):
    df = files["df"]
    pipe = mnpad.Pipeline("mnp", json.loads(TINY), id_column="tx", drop=["note"], random_state=3)
    assert clone(pipe).get_params() == pipe.get_params()
    with pytest.raises(ValueError, match="not fitted"):
        pipe.decision_function(df)
    pipe.fit(df, "is_fraud")
    ref = mnpad.load(files["model"])  # the CLI fit of the same CSV content with the same seed
    np.testing.assert_allclose(pipe.decision_function(df), ref.decision_function(df),
                               rtol=1e-5, atol=1e-6)
    pipe.save(tmp_path / "p.mnpad")
    back = mnpad.load(tmp_path / "p.mnpad")
    np.testing.assert_array_equal(back.decision_function(df), pipe.decision_function(df))
    np.testing.assert_array_equal(back.predict(df), pipe.predict(df))
    assert back.predict_proba(df).shape == (N, 2)
    with pytest.raises(TypeError, match="DataFrame"):
        pipe.decision_function(df.to_numpy())

    iso = mnpad.Pipeline("iforest", drop=["note"], id_column="tx", random_state=0)
    iso.fit(df, "is_fraud")
    iso.save(tmp_path / "iso.mnpad")
    out = tmp_path / "iso.parquet"
    assert run("score", tmp_path / "iso.mnpad", files["parquet"], "--out", out)[0] == 0
    s = read_scores(out)
    assert list(s.columns) == ["tx", "score", "label"]
    np.testing.assert_allclose(s["score"], iso.decision_function(df))
    assert_user_error(run("explain", tmp_path / "iso.mnpad", files["csv"]), "needs an MNP or auto model")
    iso.detector_.save(tmp_path / "bare.mnpad")  # a detector without preprocessing
    assert_user_error(run("score", tmp_path / "bare.mnpad", files["csv"], "--out",
                          tmp_path / "b.csv"), "bare IForest")
    assert run("plot", tmp_path / "iso.mnpad", files["csv"], "--out", tmp_path / "i.png")[0] == 0


# ---------------------------------------------------------------------- subprocesses
def _stream_csv(path, n, block=50_000):
    with open(path, "w") as fh:
        for s in range(0, n, block):
            make_frame(min(block, n - s), seed=s, start=s + 1).to_csv(fh, index=False,
                                                                      header=s == 0)


_PEAK = ("import resource, sys; from mnpad.cli.main import main; rc = main(sys.argv[1:]); "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")


def test_console_script_and_bounded_memory(files, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    exe = BIN / "mnpad"
    if not exe.exists():
        pytest.skip("mnpad console script not installed next to this python")
    out = tmp_path / "cs.csv"
    r = subprocess.run([str(exe), "score", str(files["model"]), str(files["csv"]), "--out",
                        str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(read_scores(out)) == N and "scored 400 rows" in r.stdout

    # peak RSS of scoring n and 4n rows with the same chunk size. Measured on the dev machine:
    # +2.5 MiB with --chunk-size 20000, +47 MiB when the whole file is one chunk (i.e. what a
    # non-streaming implementation costs), so the bound separates the two
    peaks = {}
    for n in (75_000, 300_000):
        data = tmp_path / f"big{n}.csv"
        _stream_csv(data, n)
        r = subprocess.run([sys.executable, "-c", _PEAK, "score", str(files["model"]), str(data),
                            "--out", str(tmp_path / f"big{n}.csv.out.csv"), "--chunk-size",
                            "20000"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        peaks[n] = int(r.stdout.split("PEAK_KB")[1].split()[0]) / 1024  # MiB
        data.unlink()
        assert len(pd.read_csv(tmp_path / f"big{n}.csv.out.csv", usecols=["score"])) == n
    assert peaks[300_000] - peaks[75_000] < 20, peaks
