"""Dataset registry, readers, data root, fetch (loopback HTTP only) and ``mnpad datasets``."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnpad import datasets as mds
from mnpad.cli.main import main as cli_main

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MNPAD_DATA") or REPO.parent / "shared" / "data")
needs_data = pytest.mark.skipif(not (SHARED / "MANIFEST.md").is_file(),
                                reason="shared datasets absent")

PAPER_ABBRS = ["DoS", "Rec", "Bac", "Ana", "C&C", "Attack", "DDoS", "Okiru", "Fraud", "VC", "VI",
               "Gamma", "Census", "Pendigits", "Bank"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MNPAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _write_npz(path, X, y, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, X=X, y=y, **extra)
    return path


# ---------------------------------------------------------------- registry


def test_registry_has_the_papers_15_datasets_with_manifest_status():
    infos = mds.list_datasets()
    assert [i.abbr for i in infos if i.abbr] == PAPER_ABBRS
    status = {i.abbr: i.status for i in infos if i.abbr}
    assert {a for a, s in status.items() if s == "exact"} == {"Bac", "VI", "Gamma", "Pendigits",
                                                              "Bank"}
    assert {a for a, s in status.items() if s == "substitute"} == {"DoS", "Rec", "Ana", "Census"}
    assert {a for a, s in status.items() if s == "missing"} == {
        "C&C", "Attack", "DDoS", "Okiru", "Fraud", "VC"}
    for i in infos:
        assert i.status in mds.STATUSES and i.source and i.licence
        if i.abbr:
            n, d, pct = i.paper_shape
            assert n > 0 and d > 0 and 0 < pct < 100
        if i.url:
            assert i.url.startswith("https://raw.githubusercontent.com/")
            assert len(i.sha256) == 64 and i.fetch_file in i.files
    assert mds.get_info("C&C").name == "cc" and mds.get_info("GAMMA").name == "gamma"
    assert mds.get_info("bac").paper_shape == (95329, 196, 2.4)


def test_unknown_name_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*pendigits"):
        mds.load("nope")


# ---------------------------------------------------------------- readers


def test_read_npz_casts_and_keeps_names_and_types(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    p = _write_npz(tmp_path / "a.npz", X, np.array([0, 1, 0, 1], dtype=np.int64),
                   feature_names=np.array(["a", "b", "c"]),
                   attack_cat=np.array(["Normal", "DoS", "Normal", "DoS"]))
    ds = mds.load_file(p)
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int8
    np.testing.assert_array_equal(ds.X, X.astype(np.float32))
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1])
    assert ds.feature_names == ["a", "b", "c"] and ds.name == "a"
    assert ds.anomaly_type.tolist() == ["Normal", "DoS", "Normal", "DoS"]
    assert ds.info.status == "custom"
    # ADBench-style: only X and y, bool labels accepted
    ds = mds.load_file(_write_npz(tmp_path / "b.npz", X, np.array([1, 0, 0, 0], dtype=bool)))
    assert ds.feature_names == ["x0", "x1", "x2"] and ds.anomaly_type is None
    assert ds.y.tolist() == [1, 0, 0, 0]
    assert mds.npz_shape(p) == (4, 3)


def test_read_csv_with_label_column_type_column_and_compression(tmp_path):
    df = pd.DataFrame({"f1": [0.5, 1.5, 2.5, 3.5], "cls": [0, 0, 1, 0],
                       "kind": ["Normal", "Normal", "Fuzz", "Normal"], "f2": [1, 2, 3, 4]})
    for name in ("t.csv", "t.csv.gz"):
        df.to_csv(tmp_path / name, index=False)
        ds = mds.load_file(tmp_path / name, label_column="cls", anomaly_type_column="kind")
        assert ds.feature_names == ["f1", "f2"]
        np.testing.assert_array_equal(ds.X, [[0.5, 1], [1.5, 2], [2.5, 3], [3.5, 4]])
        assert ds.y.tolist() == [0, 0, 1, 0] and ds.anomaly_type[2] == "Fuzz"
    # string labels mapped with positive_label
    df2 = df.assign(cls=["no", "no", "yes", "yes"]).drop(columns="kind")
    df2.to_csv(tmp_path / "s.csv", index=False)
    ds = mds.load_file(tmp_path / "s.csv", label_column="cls", positive_label="yes")
    assert ds.y.tolist() == [0, 0, 1, 1]


def test_read_parquet_and_tar_xz_csv(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 0.0, 1.0], "label": [0, 1, 0]})
    df.to_parquet(tmp_path / "t.parquet")
    ds = mds.load_file(tmp_path / "t.parquet")
    assert ds.X.shape == (3, 2) and ds.y.tolist() == [0, 1, 0] and ds.feature_names == ["a", "b"]
    raw = df.rename(columns={"label": "class"}).to_csv(index=False).encode()
    with tarfile.open(tmp_path / "t.tar.xz", "w:xz") as tar:
        info = tarfile.TarInfo("inner/t.csv")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    ds = mds.load_file(tmp_path / "t.tar.xz", label_column="class", anomaly_type="Backdoor")
    assert ds.y.tolist() == [0, 1, 0] and ds.anomaly_type.tolist() == ["Normal", "Backdoor",
                                                                       "Normal"]


def test_wrong_label_values_are_rejected(tmp_path):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"0 \(normal\) / 1 \(anomaly\); found \[2\]"):
        mds.load_file(_write_npz(tmp_path / "a.npz", X, np.array([0, 1, 2])))
    pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "a"]}).to_csv(tmp_path / "s.csv",
                                                                    index=False)
    with pytest.raises(ValueError, match="non-numeric values.*positive_label"):
        mds.load_file(tmp_path / "s.csv")
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(ValueError, match="no label column 'label'"):
        mds.load_file(tmp_path / "n.csv")
    with pytest.raises(ValueError, match="NaN"):
        mds.load_file(_write_npz(tmp_path / "nan.npz", np.array([[np.nan, 1.0]]), np.array([1])))


def test_corrupt_files_give_a_clear_value_error(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file at all")
    with pytest.raises(ValueError, match="junk.npz is not a readable .npz"):
        mds.load_file(tmp_path / "junk.npz")
    good = _write_npz(tmp_path / "g.npz", np.random.default_rng(0).random((200, 20)),
                      np.zeros(200, dtype=np.int8))
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="trunc.npz is not a readable .npz"):
        mds.load_file(tmp_path / "trunc.npz")
    np.savez(tmp_path / "noy.npz", X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must hold arrays 'X' and 'y'"):
        mds.load_file(tmp_path / "noy.npz")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ValueError, match="bad.parquet could not be read"):
        mds.load_file(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="unsupported file type"):
        (tmp_path / "x.txt").write_text("1")
        mds.load_file(tmp_path / "x.txt")


# ---------------------------------------------------------------- data root and registry load


def test_data_root_precedence(monkeypatch, tmp_path):
    assert mds.data_root(tmp_path / "d") == tmp_path / "d"
    monkeypatch.setenv("MNPAD_DATA", str(tmp_path / "env"))
    assert mds.data_root() == tmp_path / "env"
    assert mds.data_root(tmp_path / "d") == tmp_path / "d"
    monkeypatch.delenv("MNPAD_DATA")
    root = mds.data_root()
    assert root == REPO.parent / "shared" / "data" if (REPO.parent / "shared" / "data").is_dir() \
        else root == tmp_path / "cache" / "mnpad"


def test_missing_dataset_says_where_to_get_it(tmp_path):
    with pytest.raises(mds.DatasetNotAvailable) as exc:
        mds.load("fraud", data_dir=tmp_path)
    assert isinstance(exc.value, FileNotFoundError)
    msg = str(exc.value)
    assert str(tmp_path / "fraud" / "13_fraud.npz") in msg and "Kaggle" in msg
    with pytest.raises(FileNotFoundError, match="mnpad datasets fetch pendigits.*raw.github"):
        mds.load("pendigits", data_dir=tmp_path)


def test_registered_dataset_loads_from_data_dir(tmp_path):
    X = np.random.default_rng(0).random((10, 3))
    _write_npz(tmp_path / "pendigits" / "28_pendigits.npz", X, np.array([0] * 9 + [1]))
    assert mds.available_datasets(tmp_path) == ["pendigits"]
    ds = mds.load("Pendigits", data_dir=tmp_path)
    assert ds.name == "pendigits" and ds.info.status == "exact" and ds.X.shape == (10, 3)


# ---------------------------------------------------------------- fetch over loopback HTTP


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/truncated"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def served_dataset(server, monkeypatch):
    """A registry entry whose URL points at the loopback server."""
    root, base = server
    payload = _write_npz(root / "28_pendigits.npz", np.arange(8.0).reshape(4, 2),
                         np.array([0, 0, 0, 1]))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    info = dataclasses.replace(mds.REGISTRY["pendigits"], url=f"{base}/28_pendigits.npz",
                               sha256=sha)
    monkeypatch.setitem(mds.REGISTRY, "pendigits", info)
    return info, payload


def test_fetch_downloads_verifies_and_stores(served_dataset, tmp_path):
    info, payload = served_dataset
    out = tmp_path / "data"
    path = mds.fetch("pendigits", out)
    assert path == out / "pendigits" / "28_pendigits.npz"
    assert path.read_bytes() == payload.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["28_pendigits.npz"]  # no .part left
    assert mds.load("pendigits", data_dir=out).y.tolist() == [0, 0, 0, 1]
    assert mds.fetch("pendigits", out) == path  # present and verified: no new download


def test_fetch_sha256_mismatch_leaves_nothing(served_dataset, monkeypatch, tmp_path):
    info, _ = served_dataset
    monkeypatch.setitem(mds.REGISTRY, "pendigits", dataclasses.replace(info, sha256="0" * 64))
    out = tmp_path / "data"
    with pytest.raises(ValueError, match="sha256 mismatch.*nothing was stored"):
        mds.fetch("pendigits", out)
    assert not (out / "pendigits").exists()  # neither the file nor a folder made for it


def test_download_is_atomic_on_truncated_body(server, tmp_path):
    _, base = server
    dest = tmp_path / "d" / "file.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"old complete file")
    with pytest.raises(OSError):
        mds.download(f"{base}/truncated", dest, None, timeout=10)
    assert dest.read_bytes() == b"old complete file"  # previous file untouched
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_fetch_without_public_original_says_where_to_get_it(tmp_path):
    with pytest.raises(mds.DatasetNotAvailable, match="cannot be fetched.*IoT-23"):
        mds.fetch("okiru", tmp_path)


# ---------------------------------------------------------------- CLI


def test_cli_fetch_and_list(served_dataset, tmp_path, capsys):
    out = tmp_path / "data"
    assert cli_main(["datasets", "fetch", "pendigits", "--data-dir", str(out), "-q"]) == 0
    assert (out / "pendigits" / "28_pendigits.npz").is_file()
    capsys.readouterr()
    assert cli_main(["datasets", "list", "--data-dir", str(out)]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.strip()}
    assert lines["pendigits"].split()[:4] == ["pendigits", "Pendigits", "exact", "yes"]
    assert "4 x 2" in lines["pendigits"] and "6870 x 16" in lines["pendigits"]
    assert lines["fraud"].split()[2:4] == ["missing", "no"]
    assert cli_main(["datasets", "fetch", "vc", "--data-dir", str(out)]) == 2
    assert "Vehicle Claims" in capsys.readouterr().err


# ---------------------------------------------------------------- the shared data (skips if absent)


@needs_data
def test_shared_files_match_the_manifest():
    shapes = {"dos": (41089, 196), "rec": (40496, 196), "bac": (95329, 196),
              "ana": (37677, 196), "vi": (15420, 148), "gamma": (19020, 10),
              "census": (299285, 495), "pendigits": (6870, 16), "bank": (41188, 62),
              "bac_82k": (37583, 196), "unsw_nb15_82k": (82332, 196)}
    for name, shape in shapes.items():
        path = mds.find_file(mds.get_info(name), SHARED)
        assert path is not None, name
        assert mds.npz_shape(path) == shape, name
        info = mds.get_info(name)
        if info.status == "exact" and info.paper_shape:
            assert shape == info.paper_shape[:2], name
    for name in ("gamma", "pendigits"):
        path = mds.find_file(mds.get_info(name), SHARED)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == mds.get_info(name).sha256
    ds = mds.load("pendigits", SHARED)
    assert ds.X.dtype == np.float32 and int(ds.y.sum()) == 156


def test_vehicle_insurance_converter_rejects_other_csv(tmp_path):
    d = tmp_path / "vehicle_insurance"
    d.mkdir()
    pd.DataFrame({"a": [1, 2], "FraudFound_P": [0, 1]}).to_csv(d / "fraud_oracle.csv",
                                                               index=False)
    with pytest.raises(ValueError, match="not the Vehicle Insurance csv: missing columns"):
        mds.load("vi", data_dir=tmp_path)


def _link(tmp_path, rel):
    dest = tmp_path / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(SHARED / rel)
    return tmp_path


@needs_data
@pytest.mark.parametrize("name, raw", [
    ("vi", "vehicle_insurance/fraud_oracle.csv.gz"),
    ("bac", "unsw_nb15_backdoor/UNSW_NB15_traintest_backdoor.tar.xz"),
])
def test_raw_originals_give_the_converted_npz(tmp_path, name, raw):
    if not (SHARED / raw).is_file():
        pytest.skip(f"{raw} absent")
    from_raw = mds.load(name, data_dir=_link(tmp_path, raw))
    ref = mds.load(name, data_dir=SHARED)
    np.testing.assert_array_equal(from_raw.X, ref.X)
    np.testing.assert_array_equal(from_raw.y, ref.y)
    assert from_raw.feature_names == ref.feature_names
    if ref.anomaly_type is not None:
        np.testing.assert_array_equal(from_raw.anomaly_type, ref.anomaly_type)
