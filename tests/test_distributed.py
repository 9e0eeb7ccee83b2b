"""Many files and Dask (issue 12): ``mnpad score DIR --out FOLDER [--scheduler ...]``,
resuming, ``mnpad fit`` on a streamed sample, ``mnpad.distributed.score_dask``, errors.

Clusters are ``distributed.LocalCluster`` started here on the loopback interface; files are
small. The 20-million-row measurement lives in ``benchmarks/distributed_score.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli_data import TINY, assert_user_error, make_frame, run

import mnpad
from mnpad import distributed as D

distributed = pytest.importorskip("distributed")

N_FILES, ROWS = 6, 300


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Six Parquet files (several row groups each), a model fitted on the first, and the
    single-process ``mnpad score`` output of every file (the reference)."""
    d = tmp_path_factory.mktemp("dist")
    flows = d / "flows"
    flows.mkdir()
    for i in range(N_FILES):
        df = make_frame(n=ROWS, seed=i, start=0 if i == 0 else 1000 * i).drop(columns="note")
        df.to_parquet(flows / f"part-{i}.parquet", row_group_size=70)
    model = d / "model.mnpad"
    res = run("fit", flows / "part-0.parquet", "--label-column", "is_fraud", "--id-column", "tx",
              "--out", model, "--params", TINY)
    assert res[0] == 0, res
    ref = {}
    for i in range(N_FILES):
        out = d / f"ref-{i}.parquet"
        res = run("score", model, flows / f"part-{i}.parquet", "--out", out)
        assert res[0] == 0, res
        ref[f"part-{i}.parquet"] = pd.read_parquet(out)
    return {"dir": d, "flows": flows, "model": model, "ref": ref}


@pytest.fixture(scope="module")
def threads_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def procs_cluster():
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.CRITICAL) as cluster:
        yield cluster


def outputs(folder):
    """Visible output files (what a user or a Parquet reader sees)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_file()
                  and not p.name.startswith((".", "_")))


def hidden(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def assert_identical(folder, ref, names=None):
    names = names or sorted(ref)
    assert outputs(folder) == sorted(names)
    for name in names:
        got = pd.read_parquet(Path(folder) / name)
        # bit-identical: exact comparison of every value, float bits included
        pd.testing.assert_frame_equal(got, ref[name], check_exact=True)
        assert np.array_equal(got["score"].to_numpy().view(np.int64),
                              ref[name]["score"].to_numpy().view(np.int64))


# ---------------------------------------------------------------------------- inputs
def test_expand_inputs_folder_glob_list(tmp_path):
    (tmp_path / "a" / "day=2").mkdir(parents=True)
    for p in ["a/x.parquet", "a/day=2/y.csv", "a/_SUCCESS", "a/.hidden.parquet",
              "a/notes.txt"]:
        (tmp_path / p).write_text("")
    files, root = D.expand_inputs(tmp_path / "a")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/day=2/y.csv", "a/x.parquet"]
    assert root == tmp_path / "a"
    assert D.output_path(files[0], root, "out") == Path("out/day=2/y.parquet")
    files, _ = D.expand_inputs(str(tmp_path / "a" / "**" / "*.csv"))
    assert [f.name for f in files] == ["y.csv"]
    with pytest.raises(FileNotFoundError, match="no file matches"):
        D.expand_inputs(str(tmp_path / "*.pq"))
    with pytest.raises(ValueError, match="unsupported file type"):
        D.expand_inputs([tmp_path / "a" / "x.parquet", tmp_path / "a" / "notes.txt"])
    assert D.is_many(tmp_path / "a") and D.is_many("x/*.parquet") and D.is_many(["a", "b"])
    assert not D.is_many(tmp_path / "a" / "x.parquet")


# ---------------------------------------------------------------------------- scoring
def test_scores_bit_identical_to_single_process(data, threads_cluster, tmp_path):
    # in this process, from a glob
    res = run("score", data["model"], data["flows"] / "*.parquet", "--out", tmp_path / "local")
    assert res[0] == 0, res
    assert f"of {N_FILES} file(s)" in res[1]
    assert_identical(tmp_path / "local", data["ref"])
    assert hidden(tmp_path / "local") == []
    # on a Dask cluster, from a folder
    res = run("score", data["model"], data["flows"], "--out", tmp_path / "dask",
              "--scheduler", threads_cluster.scheduler_address, "--chunk-size", "50")
    assert res[0] == 0, res
    assert "on 2 Dask worker(s)" in res[1]
    assert_identical(tmp_path / "dask", data["ref"])
    assert hidden(tmp_path / "dask") == []
    rec = json.loads((tmp_path / "dask" / "_mnpad" / "part-3.parquet.json").read_text())
    assert rec["model_sha256"] == D.model_digest(data["model"])
    assert rec["rows"] == ROWS


def test_rerun_skips_complete_outputs_and_refuses_foreign_ones(data, tmp_path):
    out = tmp_path / "s"
    assert run("score", data["model"], data["flows"], "--out", out)[0] == 0
    mtimes = {p: (out / p).stat().st_mtime_ns for p in outputs(out)}
    rc, text, _ = run("score", data["model"], data["flows"], "--out", out)
    assert rc == 0 and f"skipped {N_FILES} file(s)" in text and "scored 0 rows" in text
    assert {p: (out / p).stat().st_mtime_ns for p in outputs(out)} == mtimes
    # an output deleted, another input touched: exactly those two are redone
    (out / "part-1.parquet").unlink()
    src = data["flows"] / "part-4.parquet"
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rc, text, _ = run("score", data["model"], data["flows"], "--out", out)
    assert rc == 0 and "of 2 file(s)" in text and f"skipped {N_FILES - 2}" in text, text
    assert_identical(out, data["ref"])
    # another model: refuses to overwrite, names the file; --force replaces
    other = tmp_path / "other.mnpad"
    with zipfile.ZipFile(data["model"]) as zin, zipfile.ZipFile(other, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.comment = b"another model file"
    assert_user_error(run("score", other, data["flows"], "--out", out),
                      "part-0.parquet exists and was written for another model", "--force")
    assert run("score", other, data["flows"], "--out", out, "--force")[0] == 0
    # a file mnpad did not write is never overwritten silently
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "part-2.parquet").write_text("mine")
    assert_user_error(run("score", data["model"], data["flows"], "--out", foreign),
                      "part-2.parquet exists and was not written by mnpad score")
    assert (foreign / "part-2.parquet").read_text() == "mine"
    assert_user_error(run("score", data["model"], data["flows"], "--out", tmp_path / "x.parquet"),
                      "--out", "folder")


def _kill_worker_once(marker, target):
    """Patch run on each worker: the first write of ``target`` kills its worker process."""
    def patch():
        import os

        from mnpad.io import TableWriter

        orig = TableWriter.write

        def write(self, df):
            orig(self, df)
            if target in self.path.name and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)  # the worker process dies mid-file

        TableWriter.write = write
    return patch


def _block(target):
    def patch():
        import time

        from mnpad.io import TableWriter

        orig = TableWriter.write

        def write(self, df):
            orig(self, df)
            if target in self.path.name:
                time.sleep(600)  # stuck mid-file until the worker is restarted

        TableWriter.write = write
    return patch


@pytest.mark.slow
def test_killed_worker_is_replaced_and_run_completes(data, procs_cluster, tmp_path):
    out = tmp_path / "s"
    with distributed.Client(procs_cluster) as client:
        client.run(_kill_worker_once(str(tmp_path / "killed"), "part-2"))
        rc, text, err = run("score", data["model"], data["flows"], "--out", out, "--scheduler",
                            procs_cluster.scheduler_address, "--chunk-size", "30")
    assert (tmp_path / "killed").exists()  # a worker did die while writing part-2
    assert rc == 0, err
    assert_identical(out, data["ref"])
    assert hidden(out) == []  # the dead worker's temporary file was removed on retry


@pytest.mark.slow
def test_killed_client_leaves_no_partial_output_and_rerun_finishes(data, procs_cluster,
                                                                   tmp_path):
    out = tmp_path / "s"
    with distributed.Client(procs_cluster) as client:
        client.run(_block("part-3"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "mnpad", "score", str(data["model"]), str(data["flows"]),
             "--out", str(out), "--scheduler", procs_cluster.scheduler_address,
             "--chunk-size", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        records = out / "_mnpad"
        while time.monotonic() < deadline and not (
                records.exists() and len(list(records.glob("*.json"))) >= N_FILES - 1):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        while not any(".part-3" in n for n in hidden(out)) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)  # the client dies mid-run
        proc.wait()
        done = [n for n in sorted(data["ref"]) if n != "part-3.parquet"]
        assert_identical(out, data["ref"], done)  # complete files only: part-3 is not visible
        assert any(".part-3" in n for n in hidden(out))  # its partial data is a hidden temp
        # kills the stuck worker (and the patch); on a loaded machine a new worker process
        # (importing torch) can take longer than restart's default 120 s wait for all workers
        client.restart(timeout=300, wait_for_workers=False)
        client.wait_for_workers(1, timeout=300)
    rc, text, err = run("score", data["model"], data["flows"], "--out", out, "--scheduler",
                        procs_cluster.scheduler_address)
    assert rc == 0, err
    assert f"skipped {N_FILES - 1} file(s)" in text and "of 1 file(s)" in text, text
    assert_identical(out, data["ref"])
    assert hidden(out) == []


@pytest.mark.slow
def test_local_cluster_from_the_command_line(data, tmp_path):
    """``--scheduler local:1`` from ``python -m mnpad``: starts (and stops) its own cluster."""
    r = subprocess.run([sys.executable, "-m", "mnpad", "score", str(data["model"]),
                        str(data["flows"] / "part-[12].parquet"), "--out", str(tmp_path / "s"),
                        "--scheduler", "local:1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "on 1 Dask worker(s)" in r.stdout and "peak memory per worker process" in r.stdout
    assert_identical(tmp_path / "s", data["ref"], ["part-1.parquet", "part-2.parquet"])


# ---------------------------------------------------------------------------- errors
def test_bad_files_give_one_line_errors_naming_them(data, threads_cluster, tmp_path):
    def folder(name, bad_name, bad):
        d = tmp_path / name
        d.mkdir()
        for i in range(3):
            (d / f"part-{i}.parquet").write_bytes((data["flows"] / f"part-{i}.parquet").read_bytes())
        bad(d / bad_name)
        return d

    def drift(p):
        df = make_frame(n=50, seed=9, start=5000).drop(columns="note")
        df["amount"] = df["amount"].astype(str)
        df.to_parquet(p)

    def lacking(p):
        make_frame(n=50, seed=9, start=5000).drop(columns=["note", "country"]).to_parquet(p)

    def garbage(p):
        p.write_bytes(b"PAR1 not really parquet")

    for name, bad, expect in [("drift", drift, "schema drift"),
                              ("lacking", lacking, "lacks column(s) the model was trained on: "
                                                   "'country'"),
                              ("garbage", garbage, "cannot read")]:
        d = folder(name, "part-1.parquet", bad)
        for sched in ([], ["--scheduler", threads_cluster.scheduler_address]):
            out = tmp_path / f"out-{name}-{len(sched)}"
            assert_user_error(run("score", data["model"], d, "--out", out, *sched),
                              str(d / "part-1.parquet"), expect)
            assert not out.exists()  # files are checked before anything is written
    # a bad value in the third row group: error names file and row group, no output for it
    df = make_frame(n=ROWS, seed=11, start=9000).drop(columns="note")
    df.loc[150, "amount"] = np.inf
    d = folder("inf", "part-9.parquet", lambda p: df.to_parquet(p, row_group_size=70))
    for sched in ([], ["--scheduler", threads_cluster.scheduler_address]):
        out = tmp_path / f"out-inf-{len(sched)}"
        assert_user_error(run("score", data["model"], d, "--out", out, *sched),
                          f"{d / 'part-9.parquet'}, row group 2", "infinite value")
        assert "part-9.parquet" not in outputs(out) and not any("part-9" in n for n in hidden(out))
    # CSV: the rows of the failing chunk are named
    csv = tmp_path / "csvs"
    csv.mkdir()
    bad = make_frame(n=ROWS, seed=3).drop(columns="note")
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[210, "amount"] = "oops"
    bad.to_csv(csv / "b.csv", index=False)
    assert_user_error(run("score", data["model"], csv, "--out", tmp_path / "o", "--chunk-size",
                          "100"), f"{csv / 'b.csv'}, rows 200-299", "'oops'")


def test_missing_dask_is_a_clear_error(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert_user_error(run("score", data["model"], data["flows"], "--out", tmp_path / "s",
                          "--scheduler", "local:1"), "pip install 'mnpad[dask]'")


# ---------------------------------------------------------------------------- score_dask
def test_score_dask_frame_is_lazy_and_identical(data, threads_cluster):
    dd = pytest.importorskip("dask.dataframe")
    files = sorted(data["ref"])
    ddf = dd.read_parquet([str(data["flows"] / f) for f in files])
    ref = pd.concat([data["ref"][f] for f in files], ignore_index=True)
    lazy = D.score_dask(data["model"], ddf)
    assert list(lazy.columns) == ["tx", "score", "label", "nearest_prototype"]
    got = lazy.compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    with distributed.Client(threads_cluster) as client:
        lazy = D.score_dask(data["model"], ddf, client=client)
        got = lazy.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    with pytest.raises(ValueError, match="lacks column"):
        D.score_dask(data["model"], ddf.drop(columns="amount"))


# ---------------------------------------------------------------------------- sampling / fit
@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    d = tmp_path_factory.mktemp("labeled")
    frames = []
    for i in range(4):
        df = make_frame(n=ROWS, seed=20 + i, start=1000 * i).drop(columns="note")
        lab = np.zeros(ROWS, object)
        lab[:] = ""
        lab[[5 + i, 100 + i]] = "1"
        df["is_fraud"] = lab
        df.to_parquet(d / f"f{i}.parquet", row_group_size=64)
        frames.append(pd.read_parquet(d / f"f{i}.parquet"))
    return d, pd.concat(frames, ignore_index=True)


def test_sample_files_keeps_labeled_and_is_uniform_and_deterministic(labeled):
    d, full = labeled
    s1, info = D.sample_files(d, "is_fraud", max_rows=200, seed=3, chunk_size=50)
    s2, _ = D.sample_files(d, "is_fraud", max_rows=200, seed=3, chunk_size=7)
    pd.testing.assert_frame_equal(s1, s2)  # same seed and files: same sample, any chunking
    assert info == {**info, "files": 4, "rows_read": 4 * ROWS, "labeled": 8,
                    "rows_sampled": 200, "seed": 3, "max_rows": 200}
    assert (s1["is_fraud"] == "1").sum() == 8  # every labeled anomaly is kept
    assert s1["tx"].is_unique and set(s1["tx"]) <= set(full["tx"])
    order = full.reset_index().set_index("tx").loc[s1["tx"], "index"].to_numpy()
    assert (np.diff(order) > 0).all()  # file order kept
    s3, _ = D.sample_files(d, "is_fraud", max_rows=200, seed=4)
    assert set(s3["tx"]) != set(s1["tx"])
    # uniform: over 40 seeds every unlabeled row is kept with probability 192/1192
    counts = pd.Series(0, index=full["tx"][full["is_fraud"] != "1"])
    for seed in range(40):
        s, _ = D.sample_files(d, "is_fraud", max_rows=200, seed=seed, chunk_size=128)
        counts[s["tx"][s["is_fraud"] != "1"]] += 1
    p = 192 / 1192
    assert counts.sum() == 40 * 192
    by_file = counts.groupby(np.repeat(np.arange(4), [ROWS - 2] * 4)).mean() / 40
    assert np.allclose(by_file, p, atol=0.02), by_file  # no file over- or under-sampled
    # everything fits: the whole table in file order
    s, info = D.sample_files(d, "is_fraud", max_rows=10_000)
    pd.testing.assert_frame_equal(s, full)
    assert info["rows_sampled"] == 4 * ROWS


def test_fit_on_files_records_sample_and_is_deterministic(labeled, tmp_path):
    d, _ = labeled
    args = ["fit", d / "*.parquet", "--label-column", "is_fraud", "--id-column", "tx",
            "--method", "iforest", "--max-rows", "500", "--random-state", "7"]
    rc, text, err = run(*args, "--out", tmp_path / "a.mnpad")
    assert rc == 0, err
    assert "on 500 rows sampled from 1200 rows of 4 file(s)" in text
    pipe = mnpad.load(tmp_path / "a.mnpad")
    assert pipe.training_sample_ == {**pipe.training_sample_, "rows_read": 1200,
                                     "rows_sampled": 500, "labeled": 8, "seed": 7,
                                     "max_rows": 500, "files": 4}
    assert pipe.n_rows_ == 500 and pipe.n_labeled_ == 8 and "tx" not in pipe.feature_columns_
    assert run(*args, "--out", tmp_path / "b.mnpad")[0] == 0
    probe = make_frame(n=50, seed=99, start=7)
    np.testing.assert_array_equal(pipe.decision_function(probe),
                                  mnpad.load(tmp_path / "b.mnpad").decision_function(probe))
    # schema drift between training files: one line naming the file
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in sorted(d.glob("*.parquet")):
        (bad / f.name).write_bytes(f.read_bytes())
    df = pd.read_parquet(bad / "f2.parquet")
    df["n_items"] = df["n_items"].astype(str)
    df.to_parquet(bad / "f2.parquet")
    assert_user_error(run("fit", bad, "--label-column", "is_fraud", "--out", tmp_path / "c.mnpad"),
                      "schema drift", str(bad / "f2.parquet"), "'n_items'")
    assert not (tmp_path / "c.mnpad").exists()


def test_fit_on_csv_files_reads_numbers_as_single_file_fit(labeled, tmp_path):
    d, full = labeled
    full.iloc[:500].to_csv(tmp_path / "p0.csv", index=False)
    full.iloc[500:].to_csv(tmp_path / "p1.csv", index=False)
    full.to_csv(tmp_path / "all.csv", index=False)
    base = ["--label-column", "is_fraud", "--id-column", "tx", "--method", "iforest"]
    assert run("fit", tmp_path / "p0.csv", tmp_path / "p1.csv", *base, "--out",
               tmp_path / "m1.mnpad")[0] == 0
    assert run("fit", tmp_path / "all.csv", *base, "--out", tmp_path / "m2.mnpad")[0] == 0
    a, b = mnpad.load(tmp_path / "m1.mnpad"), mnpad.load(tmp_path / "m2.mnpad")
    assert a.preprocessor_.to_json() == b.preprocessor_.to_json()
    np.testing.assert_array_equal(a.decision_function(full), b.decision_function(full))
