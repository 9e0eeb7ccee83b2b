"""The command line a careful user trusts (issue 11) and straight layers (issue 10, item 5).

One test (or group) per numbered item of issue 11; each failed before its fix.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mnpad
from mnpad.cli.main import build_parser, main

TINY = {"epochs": 2, "pretrain_epochs": 1, "steps_per_epoch": 2, "n_prototypes": 5}  # >= 5: item 7
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def run(*argv, stderr=None):
    out, err = io.StringIO(), stderr or io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def one_line_error(res, *fragments):
    rc, _, err = res
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnpad: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


def frame(n=300, seed=0, d=7):
    """Numeric table (d columns: 9 encoded features with the text column) + labels + id."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, d)).round(5), columns=[f"x{i}" for i in range(d)])
    df["kind"] = rng.choice(["a", "b"], n)
    df.insert(0, "id", [f"r{i}" for i in range(n)])
    df["lab"] = 0
    df.loc[:7, "lab"] = 1
    df.loc[:7, "x0"] += 6
    return df


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    csv = d / "train.csv"
    frame().to_csv(csv, index=False)
    for method, params in (("mnp", TINY), ("iforest", {"n_estimators": 20})):
        rc, _, err = run("fit", csv, "--label-column", "lab", "--id-column", "id",
                         "--method", method, "--params", json.dumps(params),
                         "--out", d / f"{method}.mnpad")
        assert rc == 0, err
    return d


# ------------------------------------------------------------------ item 1: fetch offline
def _offline(monkeypatch):
    def refuse(*a, **k):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setattr("urllib.request.urlopen", refuse)


def test_fetch_without_network_one_line_no_folders(tmp_path, monkeypatch):
    _offline(monkeypatch)
    fresh = tmp_path / "fresh"
    one_line_error(run("datasets", "fetch", "pendigits", "gamma", "--data-dir", fresh, "--quiet"),
                   "could not download")
    assert not fresh.exists(), list(fresh.rglob("*"))


# ------------------------------------------------------------------ item 2: scheduler
def test_unreachable_scheduler_one_line_no_store(tmp_path):
    pytest.importorskip("distributed")
    import dask

    from mnpad.datasets import available_datasets

    if "pendigits" not in available_datasets():
        pytest.skip("pendigits not available")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        res = run("bench", "compare", "--datasets", "pendigits", "--methods", "iforest",
                  "--seeds", "0", "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path,
                  "--quiet", "--no-report")
    one_line_error(res, "cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ item 3: progress
class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_on_a_terminal_and_quiet(models, tmp_path):
    csv = tmp_path / "d.csv"
    frame(200, seed=1).to_csv(csv, index=False)
    rc, _, err = run("score", models / "iforest.mnpad", csv, "--out", tmp_path / "s.csv",
                     "--chunk-size", "64", stderr=_TTY())
    assert rc == 0 and "score" in err and "rows" in err, err
    rc, _, err = run("score", models / "iforest.mnpad", csv, "--out", tmp_path / "s2.csv",
                     "--quiet", stderr=_TTY())
    assert rc == 0 and err == "", err
    rc, _, err = run("score", models / "iforest.mnpad", csv, "--out", tmp_path / "s3.csv")
    assert rc == 0 and err == "", err  # not a terminal: no bar
    rc, out, err = run("fit", csv, "--label-column", "lab", "--params", json.dumps(TINY),
                       "--out", tmp_path / "m.mnpad", stderr=_TTY())
    assert rc == 0 and "MNP" in err and "loss" in err, err
    meta = json.loads(zipfile.ZipFile(tmp_path / "m.mnpad").read("meta.json"))
    assert meta["params"]["verbose"] is False  # the bar is not saved into the model
    assert "verbose" not in meta["extra"]["pipeline"]["params"]["detector_params"]


def test_verbose_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert '"verbose": true' in text and "--quiet" in text


# ------------------------------------------------------------------ item 4: fast start
def _imported(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(sorted(sys.modules))"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(eval(out.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output


@pytest.mark.parametrize("argv", [["--help"], ["datasets", "list"],
                                  ["bench", "report", "--store", "nothere.sqlite"]])
def test_light_commands_do_not_import_torch(argv):
    code = ("import contextlib, io\nfrom mnpad.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    mods = _imported(code)
    assert "torch" not in mods
    if argv == ["--help"]:
        assert "pandas" not in mods and "numpy" not in mods


def test_scoring_iforest_model_does_not_import_torch(models, tmp_path):
    csv = tmp_path / "three.csv"
    frame(3).to_csv(csv, index=False)
    code = ("from mnpad.cli.main import main\n"
            f"assert main(['score', {str(models / 'iforest.mnpad')!r}, {str(csv)!r}, "
            f"'--out', {str(tmp_path / 's.csv')!r}]) == 0")
    assert "torch" not in _imported(code)


# ------------------------------------------------------------------ item 5: debris
def _parts(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_part_files_after_sigterm_or_sigkill(models, tmp_path, sig):
    csv = tmp_path / "big.csv"
    big = frame(40_000, seed=2)
    big.to_csv(csv, index=False)
    for _ in range(4):  # 200,000 rows: long enough that the signal lands mid-run on a fast machine
        big.to_csv(csv, index=False, header=False, mode="a")
    out = tmp_path / "scores.csv"
    cmd = [str(BIN / "mnpad"), "score", str(models / "iforest.mnpad"), str(csv), "--out",
           str(out), "--chunk-size", "16"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not _parts(tmp_path) and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert _parts(tmp_path), "scoring never started writing"
    time.sleep(0.1)
    assert p.poll() is None, "scoring finished before the signal could be sent"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert p.returncode == 143, err
        assert b"Traceback" not in err
        assert _parts(tmp_path) == []  # cleaned up by the process itself
    # the next run over the same output removes what a killed run left
    frame(5).to_csv(tmp_path / "small.csv", index=False)
    rc, _, err = run("score", models / "iforest.mnpad", tmp_path / "small.csv", "--out", out,
                     "--force")
    assert rc == 0, err
    assert _parts(tmp_path) == []


def test_stale_parts_of_live_processes_are_kept(tmp_path):
    from mnpad._atomic import atomic_write_bytes, part_files

    target = tmp_path / "x.bin"
    with contextlib.ExitStack() as st:
        from mnpad._atomic import atomic_output

        tmp = st.enter_context(atomic_output(target))  # this process: alive
        atomic_write_bytes(tmp_path / "y.bin", b"1")  # another target is not touched
        assert [p for p, *_ in part_files(target)] == [Path(tmp)]
        Path(tmp).write_bytes(b"ok")
    assert target.read_bytes() == b"ok" and _parts(tmp_path) == []


# ------------------------------------------------------------------ item 6: permissions
def test_outputs_honour_the_umask(models, tmp_path):
    csv = tmp_path / "d.csv"
    frame(100, seed=3).to_csv(csv, index=False)
    old = os.umask(0o022)
    try:
        outs = {"model": tmp_path / "m.mnpad", "scores": tmp_path / "s.csv",
                "parquet": tmp_path / "s.parquet", "explain": tmp_path / "e.csv",
                "png": tmp_path / "p.png"}
        assert run("fit", csv, "--label-column", "lab", "--method", "iforest", "--out",
                   outs["model"])[0] == 0
        assert run("score", models / "mnp.mnpad", csv, "--out", outs["scores"])[0] == 0
        assert run("score", models / "mnp.mnpad", csv, "--out", outs["parquet"])[0] == 0
        assert run("explain", models / "mnp.mnpad", csv, "--out", outs["explain"])[0] == 0
        assert run("plot", models / "mnp.mnpad", csv, "--out", outs["png"])[0] == 0
    finally:
        os.umask(old)
    for name, p in outs.items():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, (name, oct(p.stat().st_mode))


# ------------------------------------------------------------------ item 7: chunk size
def test_chunk_size_never_changes_scores(models, tmp_path):
    csv = tmp_path / "d.csv"
    frame(250, seed=4).to_csv(csv, index=False)
    pq = tmp_path / "d.parquet"
    frame(250, seed=4).to_parquet(pq, row_group_size=37)  # row groups not a multiple of 16
    got = {}
    for src in (csv, pq):
        for cs in (1, 7, 100, 100_000):
            out = tmp_path / f"s_{src.suffix[1:]}_{cs}.csv"
            rc, _, err = run("score", models / "mnp.mnpad", src, "--out", out, "--chunk-size", cs)
            assert rc == 0, err
            got[(src.suffix, cs)] = pd.read_csv(out)["score"].to_numpy()
    ref = got[(".csv", 100_000)]
    for key, s in got.items():
        np.testing.assert_array_equal(s, ref, err_msg=str(key))


# ------------------------------------------------------------------ item 8: smaller items
def test_header_only_file(models, tmp_path):
    csv = tmp_path / "empty.csv"
    frame(5).head(0).to_csv(csv, index=False)
    one_line_error(run("fit", csv, "--label-column", "lab", "--out", tmp_path / "m.mnpad"),
                   "has no rows")
    rc, _, err = run("score", models / "mnp.mnpad", csv, "--out", tmp_path / "s.csv")
    assert rc == 0, err
    assert list(pd.read_csv(tmp_path / "s.csv").columns) == ["id", "score", "label",
                                                              "nearest_prototype"]
    for cmd, extra in (("explain", []), ("plot", ["--out", tmp_path / "p.png"])):
        res = run(cmd, models / "mnp.mnpad", csv, *extra)
        one_line_error(res, "has no rows")
        assert "SimpleImputer" not in res[2]


def test_broken_pipe_is_quiet():
    p = subprocess.Popen([str(BIN / "mnpad"), "datasets", "list", "-v"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader goes away before anything is written (`| head -0`)
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_debug_after_the_subcommand(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["score", str(tmp_path / "no.mnpad"), str(tmp_path / "x.csv"), "--out",
              str(tmp_path / "s.csv"), "--debug"])
    with pytest.raises(FileNotFoundError):
        main(["--debug", "score", str(tmp_path / "no.mnpad"), str(tmp_path / "x.csv"),
              "--out", str(tmp_path / "s.csv")])


def test_output_type_message_lists_only_writable_types(models, tmp_path):
    csv = tmp_path / "d.csv"
    frame(20).to_csv(csv, index=False)
    rc, _, err = run("score", models / "iforest.mnpad", csv, "--out", tmp_path / "x.xlsx")
    one_line_error((rc, "", err), "unsupported file type")
    listed = err.split("ending in ")[1].rstrip(".\n").replace(" or ", ", ").split(", ")
    assert ".gz" not in err
    for ext in listed:
        rc, _, e = run("score", models / "iforest.mnpad", csv, "--out", tmp_path / f"x{ext}")
        assert rc == 0, (ext, e)


def test_bench_unknown_param_fails_once_up_front(tmp_path):
    res = run("bench", "compare", "--datasets", "pendigits", "--methods", "iforest", "--seeds",
              "0", "--params", '{"iforest": {"n_estimator": 5}}', "--out", tmp_path, "--quiet")
    one_line_error(res, "unknown parameter(s) ['n_estimator'] for method 'iforest'")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_dataset_file_is_not_available(tmp_path, monkeypatch):
    from mnpad.datasets import get_info

    info = get_info("pendigits")
    f = tmp_path / info.files[0]
    f.parent.mkdir(parents=True)
    f.write_bytes(b"broken")
    rc, out, _ = run("datasets", "list", "--data-dir", tmp_path)
    line = next(ln for ln in out.splitlines() if ln.startswith("pendigits"))
    assert rc == 0 and "CORRUPT" in line, line
    _offline(monkeypatch)
    res = run("datasets", "fetch", "pendigits", "--data-dir", tmp_path, "-q")
    assert "already present" not in res[1]
    one_line_error(res)


def test_pipeline_explain_and_score_frame_as_the_cli(models, tmp_path):
    pipe = mnpad.load(models / "mnp.mnpad")
    df = frame(40, seed=5)
    sf = pipe.score_frame(df)
    assert list(sf.columns) == ["id", "score", "label", "nearest_prototype"]
    assert list(sf["id"]) == list(df["id"])
    exp = pipe.explain(df.iloc[:6])
    assert list(exp.columns[:3]) == ["rank", "id", "score"]
    assert sorted(exp["rank"]) == list(range(1, 7))
    assert exp.sort_values("rank")["score"].is_monotonic_decreasing
    csv = tmp_path / "d.csv"
    df.to_csv(csv, index=False)
    rc, _, err = run("explain", models / "mnp.mnpad", csv, "--top", "6", "--out",
                     tmp_path / "e.csv")
    assert rc == 0, err
    cli = pd.read_csv(tmp_path / "e.csv")
    top = pipe.explain(df.loc[df.index.isin(np.argsort(-sf["score"].to_numpy(),
                                                       kind="stable")[:6])])
    assert list(cli.columns) == list(top.columns)
    np.testing.assert_array_equal(cli.sort_values("rank")["id"],
                                  top.sort_values("rank")["id"])


def test_every_option_has_help():
    import argparse

    missing = []

    def walk(parser, path):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    walk(sp, path + [name])
            elif a.option_strings and a.help is None:
                missing.append(" ".join(path + [a.option_strings[-1]]))
            elif not a.option_strings and a.help is None and a.dest != "help":
                missing.append(" ".join(path + [a.dest]))

    walk(build_parser(), ["mnpad"])
    assert missing == []


def test_unsupervised_detector_ignores_labels(tmp_path):
    df = frame(60).drop(columns="id")
    df["lab"] = 1  # every row a labeled anomaly: IForest ignores y
    pipe = mnpad.Pipeline("iforest", {"n_estimators": 10}, random_state=0).fit(df, "lab")
    assert pipe.detector_.labels_.mean() <= 0.1 + 1e-9
    with pytest.raises(ValueError, match="no labeled anomalies"):
        mnpad.Pipeline("devnet").fit(df.assign(lab=0), "lab")


# ------------------------------------------------------------------ item 9: threshold
def test_default_threshold_flags_at_most_a_tenth():
    from types import SimpleNamespace

    from mnpad.base import BaseDetector

    s = np.linspace(0, 1, 1001)
    y = np.zeros(1001, np.int8)
    y[100:120] = 1  # labeled anomalies that the detector scores low
    det = SimpleNamespace(contamination="auto", weakly_supervised=True)
    t = BaseDetector._compute_threshold(det, s, y)
    assert (s > t).mean() <= 0.1 + 1e-9  # legacy rule: the median, half of the rows
    assert "capped" in det.threshold_info_
    y[:] = 0
    y[-10:] = 1  # labeled anomalies on top: their level, fewer than 10 % flagged
    t = BaseDetector._compute_threshold(det, s, y)
    assert t == np.quantile(s[-10:], 0.1) and "labeled anomalies exceed" in det.threshold_info_
    det = SimpleNamespace(contamination="auto", weakly_supervised=False)
    t = BaseDetector._compute_threshold(det, s, y)
    assert t == np.quantile(s, 0.9) and "top 10 %" in det.threshold_info_


def test_fit_summary_says_how_the_threshold_was_set(tmp_path):
    csv = tmp_path / "d.csv"
    frame(200).to_csv(csv, index=False)
    rc, out, err = run("fit", csv, "--label-column", "lab", "--params", json.dumps(TINY),
                       "--out", tmp_path / "m.mnpad")
    assert rc == 0, err
    assert "set by:" in out and "contamination='auto'" in out, out


# ------------------------------------------------------------------ issue 10 item 5 + 9
def test_cli_bugs_are_not_user_errors(monkeypatch, tmp_path):
    from mnpad.cli import datasets_cmd

    def buggy(args):
        raise TypeError("bug in mnpad")

    monkeypatch.setattr(datasets_cmd, "_list", buggy)
    with pytest.raises(TypeError):
        main(["datasets", "list"])


def test_model_files_carry_their_kind_and_load_through_the_registry(models, tmp_path):
    meta = json.loads(zipfile.ZipFile(models / "mnp.mnpad").read("meta.json"))
    assert meta["kind"] == "pipeline"
    det = mnpad.load(models / "iforest.mnpad").detector_
    det.save(tmp_path / "d.mnpad")
    assert json.loads(zipfile.ZipFile(tmp_path / "d.mnpad").read("meta.json"))["kind"] == \
        "detector"
    assert type(mnpad.load(tmp_path / "d.mnpad")).__name__ == "IForest"


def test_layers_have_no_cycle_and_no_repository_paths():
    mods = _imported("import mnpad.persistence, mnpad.base")
    assert "mnpad.pipeline" not in mods
    pkg = Path(mnpad.__file__).parent  # the sources under test
    for f in pkg.rglob("*.py"):
        assert "__file__" not in f.read_text(), f
    persistence = (pkg / "persistence.py").read_text().splitlines()
    assert not [ln for ln in persistence
                if ln.strip().startswith(("import ", "from ")) and "pipeline" in ln]
    assert "importlib" not in "\n".join(persistence)
    assert "_pass(" not in (pkg / "cli" / "data_cmds.py").read_text()
    assert "isinstance" not in (pkg / "pipeline.py").read_text().split(
        "def is_mnp")[1].split("def ")[1]


def test_paper_tables_ship_with_the_package():
    from mnpad.bench.report import _read_paper

    t = _read_paper(None, "table2_paper.csv")
    assert t is not None and len(t) > 5


def _with_saved_device(src, dst, device):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "meta.json":
                meta = json.loads(data)
                meta["params"]["device"] = device
                data = json.dumps(meta).encode()
            zout.writestr(name, data)


def test_cuda_saved_model_loads_on_cpu_for_both_kinds(models, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("the fallback is for machines without CUDA")
    df = frame(30, seed=6)
    pipe = mnpad.load(models / "mnp.mnpad")
    _with_saved_device(models / "mnp.mnpad", tmp_path / "p.mnpad", "cuda")
    np.testing.assert_array_equal(mnpad.load(tmp_path / "p.mnpad").decision_function(df),
                                  pipe.decision_function(df))
    pipe.detector_.save(tmp_path / "d.mnpad")
    _with_saved_device(tmp_path / "d.mnpad", tmp_path / "d_cuda.mnpad", "cuda:0")
    Z = pipe.transform(df)
    np.testing.assert_array_equal(mnpad.load(tmp_path / "d_cuda.mnpad").decision_function(Z),
                                  pipe.detector_.decision_function(Z))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_sigterm_still_ends_the_run(monkeypatch, capsys):
    """SIGTERM's exception is swallowed when the signal lands in a finaliser (Python prints
    "Exception ignored" and goes on); the flag the handler sets still stops chunk loops and
    ends the command with 143."""
    import argparse

    from mnpad.cli import main as cli

    class Finaliser:
        def __del__(self):
            cli._on_sigterm(signal.SIGTERM, None)

    def command(args):
        Finaliser()  # the handler's raise lands in __del__: ignored
        with pytest.raises(cli.Terminated):  # a chunk loop's check
            cli.raise_if_terminated()
        return 0

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=command, debug=False)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 143
    assert "terminated" in capsys.readouterr().err
    parser.set_defaults(func=lambda args: 0)  # the flag is reset for the next run
    assert cli.main([]) == 0
