"""Tests of ``mnpad bench``: planning, the SQLite store, resume after a real SIGKILL, joblib and
Dask execution, and report generation from a small hand-made store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import bench_fakes
import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from mnpad.bench import ResultStore, plan, run_experiment, write_reports
from mnpad.bench.report import format_table
from mnpad.cli.main import main

FAKE = "bench_fakes:SlowDetector"
TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


@pytest.fixture
def toy(tmp_path):
    """Two tiny .npz datasets (300 x 5, ~10 % anomalies), given to the bench as file paths."""
    paths = []
    for name in ("toya", "toyb"):
        X, y = bench_fakes.make_data(name)
        p = tmp_path / f"{name}.npz"
        np.savez(p, X=X, y=y)
        paths.append(str(p))
    return paths


def _run(tmp_path, toy, store, **kw):
    kw.setdefault("methods", [FAKE])
    kw.setdefault("seeds", [1, 2])
    return run_experiment("compare", out=tmp_path / "out", store=store, datasets=toy,
                          report=False, progress=False, **kw)


def _by_key(store):
    with ResultStore(store, readonly=True) as st:
        return {(r["dataset"], r["method"], r["setting"], r["seed"]): r for r in st.rows()}


# ---------------------------------------------------------------------------- planning
def test_plan_cells_of_each_experiment(toy):
    cells = plan("compare", datasets=toy, methods=[FAKE], seeds=[1, 2, 3])
    assert len(cells) == 2 * 3
    assert {c.dataset for c in cells} == {"toya", "toyb"}
    assert len({c.split_key for c in cells}) == 2  # one split per dataset, shared by seeds
    assert {c.setting for c in cells} == {"ratio=0.01"}

    ratios = plan("ratios", datasets=toy[:1], methods=[FAKE], seeds=[1])
    assert [c.setting for c in ratios] == ["ratio=0.005", "ratio=0.01", "ratio=0.05",
                                           "ratio=0.1", "ratio=0.2"]
    assert [c.split_key[-1] for c in ratios] == [0.005, 0.01, 0.05, 0.1, 0.2]
    # a subset of the ratios: the same cells (keys) as in the full sweep
    some = plan("ratios", datasets=toy[:1], methods=[FAKE], seeds=[1], ratios=[0.05, 0.01])
    assert [c.setting for c in some] == ["ratio=0.05", "ratio=0.01"]
    assert {c.key for c in some} <= {c.key for c in ratios}

    abl = plan("ablation", datasets=toy[:1], seeds=[1], params={"mnp": {"epochs": 3}})
    got = {c.setting: c.params for c in abl}
    assert got["full"] == {"epochs": 3}
    assert got["no_recon"] == {"epochs": 3, "use_recon_loss": False}
    assert got["no_np"]["use_np_loss"] is False and got["no_weights"]["use_weights"] is False
    assert got["no_decoder"]["use_decoder"] is False
    assert got["single_prototype"]["n_prototypes"] == 1
    assert {c.method for c in abl} == {"mnp"}

    protos = plan("prototypes", datasets=toy[:1], seeds=[1])
    assert [c.params["n_prototypes"] for c in protos] == list(range(1, 11))

    no_registry = lambda *a: []  # noqa: E731 - unseen pairs need no data to be planned
    unseen = plan("unseen", methods=["mnp", "iforest"], seeds=[1], resolve=no_registry)
    assert len(unseen) == 12 * 2
    assert unseen[0].dataset == "Rec->DoS" and unseen[0].split_key[:3] == ("unseen", "Rec", "DoS")
    one = plan("unseen", datasets=["ana:bac"], methods=["mnp"], seeds=[1], resolve=no_registry)
    assert [c.dataset for c in one] == ["Ana->Bac"]


def test_plan_rejects_bad_choices(toy):
    with pytest.raises(ValueError, match="unknown experiment"):
        plan("table9", datasets=toy, methods=[FAKE])
    with pytest.raises(ValueError, match="protocol"):
        plan("compare", datasets=toy, methods=[FAKE], protocol="strong")
    with pytest.raises(ValueError, match="unknown method 'nosuch'"):
        plan("compare", datasets=toy, methods=["nosuch"])
    with pytest.raises(ValueError, match="cannot import"):
        plan("compare", datasets=toy, methods=["bench_fakes:Nope"])
    with pytest.raises(ValueError, match="MNP only"):
        plan("ablation", datasets=toy, methods=["iforest"])
    with pytest.raises(ValueError, match="not run"):
        plan("compare", datasets=toy, methods=[FAKE], params={"mnp": {"epochs": 1}})
    with pytest.raises(ValueError, match="SEEN:UNSEEN"):
        plan("unseen", datasets=["dos"], methods=["mnp"], resolve=lambda *a: [])
    with pytest.raises(ValueError, match="two different"):
        plan("unseen", datasets=["dos:dos"], methods=["mnp"], resolve=lambda *a: [])
    with pytest.raises(FileNotFoundError, match="unsw_nb15_82k"):
        plan("unseen", methods=["mnp"], data_dir=str(Path(toy[0]).parent))
    with pytest.raises(ValueError, match="unknown dataset"):
        plan("compare", datasets=["no_such_dataset"], methods=[FAKE])
    with pytest.raises(ValueError, match="only be chosen for the ratios experiment"):
        plan("compare", datasets=toy, methods=[FAKE], ratios=[0.05])
    with pytest.raises(ValueError, match=r"ratios must be numbers in \(0, 1\]"):
        plan("ratios", datasets=toy, methods=[FAKE], ratios=[0])


# ---------------------------------------------------------------------------- store + run
def test_run_records_every_cell_and_rerun_skips_finished(tmp_path, toy):
    store = tmp_path / "r.sqlite"
    s1 = _run(tmp_path, toy, store)
    assert (s1["total"], s1["skipped"], s1["ok"], s1["error"]) == (4, 0, 4, 0)
    rows = _by_key(store)
    assert len(rows) == 4
    for r in rows.values():
        assert r["status"] == "ok" and r["protocol"] == "paper"
        # anomalies are shifted by +2.5: a working distance detector ranks them well
        # (measured: AUC-ROC 0.992-1.000, AUC-PR 0.939-1.000, trapezoidal 0.936-1.000)
        assert r["aucroc"] > 0.9 and r["aucpr"] > 0.5 and r["aucpr_trapz"] > 0.5
        assert r["fit_time"] >= 0 and r["score_time"] >= 0
        assert r["n_labeled"] >= 1 and r["n_train"] + r["n_test"] < 300
        assert r["dataset_status"] == "custom"
        assert "mnpad" in json.loads(r["versions"])
        if sys.platform.startswith("linux"):
            assert r["peak_mem_mb"] > 10 and "VmHWM" in r["mem_method"]
    s2 = _run(tmp_path, toy, store)
    assert (s2["skipped"], s2["ok"]) == (4, 0)
    assert _by_key(store) == rows  # nothing rewritten


def test_failed_cells_are_recorded_and_retried(tmp_path, toy):
    store = tmp_path / "r.sqlite"
    s = _run(tmp_path, toy, store, seeds=[1], params={FAKE: {"jitter": "oops"}})
    assert (s["ok"], s["error"]) == (0, 2)
    rows = _by_key(store)
    assert all(r["status"] == "error" and "Traceback" in r["error"] for r in rows.values())
    assert all(r["aucpr"] is None for r in rows.values())
    # an error row with the key of a good cell is not "finished": the rerun replaces it
    good = plan("compare", datasets=toy[:1], methods=[FAKE], seeds=[1])[0]
    with ResultStore(store) as st:
        st.put(dict(zip(("experiment", "protocol", "dataset", "method", "setting", "seed",
                         "params"), good.key, strict=True), status="error", error="boom"))
    s = _run(tmp_path, toy[:1], store, seeds=[1])
    assert (s["skipped"], s["ok"]) == (0, 1)
    assert _by_key(store)[("toya", FAKE, "ratio=0.01", 1)]["status"] == "ok"


def test_store_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a"):
        ResultStore(bad)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (a)")
    with pytest.raises(ValueError, match="not an mnpad results store"):
        ResultStore(other, readonly=True)
    with pytest.raises(FileNotFoundError):
        ResultStore(tmp_path / "absent.sqlite", readonly=True)


def test_joblib_workers_give_identical_results(tmp_path, toy):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _run(tmp_path, toy, a, params={FAKE: {"jitter": 1.0}})
    s = _run(tmp_path, toy, b, n_jobs=2, params={FAKE: {"jitter": 1.0}})
    assert s["ok"] == 4
    ra, rb = _by_key(a), _by_key(b)
    assert {k: r["aucpr"] for k, r in ra.items()} == {k: r["aucpr"] for k, r in rb.items()}
    # the seed matters (so equality above is not vacuous)
    assert ra[("toya", FAKE, "ratio=0.01", 1)]["aucpr"] != ra[("toya", FAKE, "ratio=0.01", 2)]["aucpr"]


def test_dask_scheduler_path(tmp_path, toy):
    distributed = pytest.importorskip("distributed")
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _run(tmp_path, toy, a)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        s = _run(tmp_path, toy, b, scheduler=cluster.scheduler_address)
    assert (s["ok"], s["error"]) == (4, 0)
    assert ({k: r["aucpr"] for k, r in _by_key(a).items()}
            == {k: r["aucpr"] for k, r in _by_key(b).items()})


def _count_ok(store):
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM cells WHERE status='ok'").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def test_resume_after_real_sigkill(tmp_path, toy):
    out = tmp_path / "out"
    store = out / "results.sqlite"
    n_seeds = 6
    cmd = [sys.executable, "-m", "mnpad", "bench", "compare", "--datasets", *toy,
           "--methods", FAKE, "--seeds", *(str(s) for s in range(n_seeds)),
           "--params", json.dumps({FAKE: {"delay": 0.2}}), "--out", str(out), "--quiet",
           "--no-report"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count_ok(store) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no cell finished within 60 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-run, most likely inside a cell's fit
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(store) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        done = c.execute("SELECT COUNT(*) FROM cells WHERE status='ok'").fetchone()[0]
    assert 3 <= done < 2 * n_seeds
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (f"{2 * n_seeds} cells, {done} already done, {2 * n_seeds - done} ok, 0 failed"
            in res.stdout)
    with ResultStore(store, readonly=True) as st:
        assert st.integrity_check() == "ok"
        assert len(st.finished_keys()) == len(st) == 2 * n_seeds


# ---------------------------------------------------------------------------- reports
def _row(exp, ds, abbr, status, method, setting, seed, v, **kw):
    return dict(experiment=exp, protocol="paper", dataset=ds, method=method, setting=setting,
                seed=seed, params=kw.pop("params", "{}"), status="ok", aucpr=v,
                aucpr_trapz=v + 0.01, aucroc=min(1.0, v + 0.1), dataset_abbr=abbr,
                dataset_status=status, fit_time=kw.pop("fit_time", 1.0), score_time=0.1, **kw)


DATASETS = [("pendigits", "Pendigits", "exact"), ("bank", "Bank", "exact"),
            ("gamma", "Gamma", "exact"), ("census", "Census", "substitute")]
# per-dataset means: MNP best everywhere, DevNet second, IForest last
LEVELS = {"mnp": [0.80, 0.40, 0.70, 0.35], "devnet": [0.70, 0.30, 0.65, 0.30],
          "iforest": [0.20, 0.25, 0.60, 0.10]}


@pytest.fixture
def hand_store(tmp_path):
    store = tmp_path / "hand.sqlite"
    with ResultStore(store) as st:
        for (ds, abbr, status), i in zip(DATASETS, range(4), strict=True):
            for m, lv in LEVELS.items():
                for seed, eps in ((42, -0.02), (43, 0.02)):
                    st.put(_row("compare", ds, abbr, status, m, "ratio=0.01", seed, lv[i] + eps,
                                fit_time=1.0 + 2 * (seed - 42) + (m == "mnp"), n_test=1000))
            for k in (1, 2, 3):
                st.put(_row("prototypes", ds, abbr, status, "mnp", f"k={k}", 42,
                            0.5 + 0.05 * k, n_prototypes=k))
            for r in (0.005, 0.01, 0.1):
                for m in ("mnp", "iforest"):
                    st.put(_row("ratios", ds, abbr, status, m, f"ratio={r:g}", 42,
                                0.3 + r + (0.2 if m == "mnp" else 0)))
            for variant, v in (("full", 0.6), ("no_recon", 0.55), ("single_prototype", 0.5)):
                st.put(_row("ablation", ds, abbr, status, "mnp", variant, 42, v + 0.01 * i))
        for pair, v in (("Rec->DoS", 0.8), ("Ana->DoS", 0.7)):
            for m, d in (("mnp", 0.0), ("iforest", -0.5)):
                st.put(_row("unseen", pair, None, "substitute", m, "ratio=0.01", 42, v + d))
        st.put(dict(experiment="compare", protocol="paper", dataset="bank", method="dif",
                    setting="ratio=0.01", seed=42, params="{}", status="error",
                    error="Traceback ...\nRuntimeError: out of memory"))
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "table2_paper.csv").write_text(
        "dataset,metric,MNP,DevNet,IForest\n"
        "Pendigits,aucpr,0.856,0.766,0.274\nPendigits,aucroc,0.986,0.971,0.953\n"
        "Bank,aucpr,0.286,0.246,0.283\nBank,aucroc,0.818,0.795,0.801\n")
    (paper / "table3_paper.csv").write_text(
        "seen,unseen,MNP,IForest\nRec,DoS,0.824,0.212\nAna,DoS,0.904,0.248\n")
    (paper / "table4_paper.csv").write_text(
        "variant,avg_aucpr\nw/o L_recon,0.622\nw/o MNP,0.566\nFull Model,0.642\n")
    return store, paper


def _table_rows(md, title):
    """Rows (as lists of cells) of the Markdown table that follows ``title``."""
    block = md.split(title, 1)[1].split("\n\n", 2)[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def test_format_table_marks_best_and_second():
    mean = pd.DataFrame({"mnp": [0.9, 0.2], "a": [0.5, 0.6], "b": [0.7, 0.3]}, index=["x", "y"])
    std = mean * 0
    md, csv = format_table(mean, std, ref="mnp", status={"x": "exact", "y": "substitute"})
    rows = [line for line in md.splitlines() if line.startswith("| x") or line.startswith("| y")]
    assert rows[0] == "| x | exact | **0.900 ± 0.000** | 0.500 ± 0.000 | <u>0.700 ± 0.000</u> |"
    assert rows[1] == "| y | substitute | 0.200 ± 0.000 | **0.600 ± 0.000** | <u>0.300 ± 0.000</u> |"
    assert "| Average |  | **0.550** | **0.550** | <u>0.500</u> |" in md  # a tie: both bold
    assert list(csv.columns) == ["Dataset", "Status", "mnp", "a", "b"]
    assert csv.iloc[0, 2] == "0.900 ± 0.000"


def test_reports_from_hand_made_store(tmp_path, hand_store):
    store, paper = hand_store
    out = tmp_path / "rep"
    files = write_reports(store, out, paper_dir=paper)
    names = {f.name for f in files}
    assert {"report.md", "cells.csv", "compare_paper.md", "compare_paper_aucpr.csv",
            "compare_paper_paper_vs_mnpad.csv", "ratios_paper.png", "prototypes_paper.png",
            "ablation_paper.md", "unseen_paper.md"} <= names
    md = (out / "report.md").read_text()
    rows = _table_rows(md, "### AUC-PR (average precision)")
    assert rows[0] == ["Dataset", "Status", "MNP", "DevNet", "IForest"]
    body = {r[0]: r for r in rows[1:]}
    assert body["pendigits (Pendigits)"] == [
        "pendigits (Pendigits)", "exact", "**0.800 ± 0.020**", "<u>0.700 ± 0.020</u>",
        "0.200 ± 0.020"]
    assert body["census (Census)"][1] == "substitute"
    # Table 2's row order: Gamma, Census, Pendigits, Bank
    assert [r[0].split()[0] for r in rows[1:5]] == ["gamma", "census", "pendigits", "bank"]
    avg = {m: np.mean(v) for m, v in LEVELS.items()}
    assert body["Average"][2] == f"**{avg['mnp']:.3f}**"
    assert body["Average"][3] == f"<u>{avg['devnet']:.3f}</u>"
    p_if = wilcoxon(LEVELS["mnp"], LEVELS["iforest"], alternative="greater").pvalue
    p_dev = wilcoxon(LEVELS["mnp"], LEVELS["devnet"], alternative="greater").pvalue
    prow = [r for r in rows if r[0].startswith("p-value")][0]
    assert prow[2:] == ["—", f"{p_dev:.3f}", f"{p_if:.3f}"]
    # paper vs mnpad: Pendigits MNP, paper 0.856 vs mnpad trapezoid mean 0.81
    pv = pd.read_csv(out / "compare_paper_paper_vs_mnpad.csv")
    r = pv[(pv["dataset"] == "Pendigits") & (pv["method"] == "MNP")].iloc[0]
    assert r["paper AUC-PR"] == 0.856 and r["mnpad AUC-PR (trapz)"] == pytest.approx(0.81)
    assert r["Δ AUC-PR"] == pytest.approx(0.81 - 0.856)
    assert r["status"] == "exact"
    assert set(pv["dataset"]) == {"Pendigits", "Bank"}  # only datasets the paper table has
    # failures are listed; dataset status shown in every per-experiment report
    assert "## Failed cells (1)" in md and "RuntimeError: out of memory" in md
    for exp in ("compare", "ratios", "ablation", "prototypes"):
        assert "| pendigits | Pendigits | exact |" in (out / f"{exp}_paper.md").read_text()
    # ablation: Table 4 names, full model first, paper comparison over the datasets run
    abl = _table_rows(md.split("## Table 4")[1], "### AUC-PR (average precision)")
    assert abl[0][:5] == ["Dataset", "Status", "Full Model", "w/o L_recon", "w/o MNP"]
    pv4 = pd.read_csv(out / "ablation_paper_paper_vs_mnpad.csv")
    full = pv4[pv4["variant"] == "Full Model"].iloc[0]
    assert full["mnpad avg AUC-PR (trapz)"] == pytest.approx(0.61 + 0.015)
    assert full["datasets"] == 4
    # unseen: pairs in Table 3 order with their paper values
    un = _table_rows(md.split("## Table 3")[1], "### AUC-PR (average precision)")
    assert [r[0] for r in un[1:3]] == ["Rec->DoS", "Ana->DoS"]
    assert "| Rec->DoS | — | substitute |" in (out / "unseen_paper.md").read_text()
    pv3 = pd.read_csv(out / "unseen_paper_paper_vs_mnpad.csv")
    assert pv3.set_index(["seen", "method"]).loc[("Rec", "MNP"), "paper AUC-PR"] == 0.824
    # cost: mean fit time over seeds (1 and 3 s; MNP +1 s), 0.1 s over 1000 rows = 100 µs/row
    cost = _table_rows((out / "compare_paper.md").read_text(), "#### Fit time (s)")
    assert cost[0] == ["Dataset", "MNP", "DevNet", "IForest"]
    assert cost[1][1:] == ["3.0", "2.0", "2.0"] and cost[-1][0] == "Mean"
    cf = pd.read_csv(out / "compare_paper_cost.csv").set_index(["dataset", "method"])
    assert cf.loc[("bank", "mnp"), "fit_time"] == pytest.approx(3.0)
    assert cf.loc[("bank", "devnet"), "score_us_per_row"] == pytest.approx(100.0)
    for png in ("ratios_paper.png", "prototypes_paper.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proto = pd.read_csv(out / "prototypes_paper_aucpr.csv")
    assert list(proto.columns[2:]) == ["k=1", "k=2", "k=3"]


def test_cli_report_and_bad_store(tmp_path, hand_store, capsys):
    store, paper = hand_store
    out = tmp_path / "cli"
    assert main(["bench", "report", "--store", str(store), "--out", str(out),
                 "--paper-dir", str(paper)]) == 0
    assert (out / "report.md").is_file()
    assert main(["bench", "report", "--store", str(tmp_path / "nope.sqlite"),
                 "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["bench", "compare", "--params", "{not json", "--out", str(out)]) == 2
    assert "--params is not valid JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------------- real data
def _data_dir():
    return Path(os.environ.get("MNPAD_DATA", REPO.parent / "shared" / "data"))


@pytest.mark.data
def test_smoke_on_real_dataset(tmp_path):
    pytest.importorskip("mnpad.detectors.iforest")
    from mnpad.datasets import available_datasets

    if "pendigits" not in available_datasets(_data_dir()):
        pytest.skip("pendigits not present")
    out = tmp_path / "res"
    rc = main(["bench", "compare", "--datasets", "Pendigits", "--methods", "iforest",
               "--seeds", "42", "--out", str(out), "--data-dir", str(_data_dir()), "--quiet"])
    assert rc == 0
    rows = ResultStore(out / "results.sqlite", readonly=True).rows()
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert rows[0]["dataset_status"] == "exact" and rows[0]["dataset_abbr"] == "Pendigits"
    # IForest reaches ~0.95 AUC-ROC on Pendigits in the paper; measured here (seed 42): 0.955
    assert rows[0]["aucroc"] > 0.8
    assert "| pendigits | Pendigits | exact |" in (out / "report.md").read_text()


def test_partial_column_does_not_shrink_the_other_averages():
    """A variant run on fewer datasets is averaged over its own rows (marked) and leaves the
    complete rows — hence the other averages and p-values — of the full columns unchanged."""
    import pandas as pd

    from mnpad.bench.report import format_table

    mean = pd.DataFrame({"mnp": [0.9, 0.8, 0.7, 0.6], "devnet": [0.5, 0.4, 0.3, 0.2],
                         "mnp (recipe=authors)": [0.95, None, 0.75, None]},
                        index=["a", "b", "c", "d"])
    md, csv = format_table(mean, mean.fillna(0) * 0, ref="mnp")
    avg = csv[csv["Dataset"].str.startswith("Average")].iloc[0]
    assert avg["Dataset"] == "Average"  # all four rows are complete for the full columns
    assert avg["mnp"] == "0.750" and avg["devnet"] == "0.350"
    assert avg["mnp (recipe=authors)"] == "0.850 (2 rows)"
    # a method (not a variant) missing a row still restricts the average to complete rows
    mean.loc["d", "devnet"] = None
    md, csv = format_table(mean, mean.fillna(0) * 0, ref="mnp")
    avg = csv[csv["Dataset"].str.startswith("Average")].iloc[0]
    assert avg["Dataset"] == "Average (3 complete rows)" and avg["mnp"] == "0.800"
