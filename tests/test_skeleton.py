"""The shared training machinery (TorchDetector's template and loop), pickling of every
registered detector, and loading a model saved for CUDA on a CPU-only machine."""

from __future__ import annotations

import io
import math
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold, cross_validate
from test_contract import FAST  # the contract suite's fast settings

import mnpad
from mnpad.base import TorchDetector
from mnpad.detectors import detector_class, list_detectors


def _data(n=240, d=6):
    rng = np.random.default_rng(5)
    X = rng.normal(0.5, 0.1, size=(n, d)).astype(np.float32)
    X[:15] += 0.4
    y = np.zeros(n, np.int64)
    y[:8] = 1
    return X, y


X, Y = _data()


def _fit(name, **extra):
    return mnpad.get_detector(name, random_state=0, **{**FAST[name], **extra}).fit(X, Y)


@pytest.mark.parametrize("name", list_detectors())
def test_pickle_and_joblib_round_trips_give_identical_scores(name):
    det = _fit(name)
    s = det.decision_function(X)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.decision_function(X), s)
    buf = io.BytesIO()
    joblib.dump(det, buf)
    buf.seek(0)
    np.testing.assert_array_equal(joblib.load(buf).decision_function(X), s)


def test_cross_validate_in_worker_processes():
    """n_jobs=2 ships detectors to loky worker processes and back (needs pickling)."""
    det = mnpad.get_detector("mnp", random_state=0, **FAST["mnp"])

    def ap(est, X_, y_):
        return average_precision_score(y_, est.decision_function(X_))

    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    res = cross_validate(det, X, Y, cv=cv, n_jobs=2, scoring=ap, return_estimator=True,
                         error_score="raise")
    assert len(res["estimator"]) == 2
    assert all(np.isfinite(res["test_score"]))
    assert all(hasattr(e, "net_") for e in res["estimator"])


@pytest.mark.parametrize("name", [n for n in list_detectors()
                                  if issubclass(detector_class(n), TorchDetector)
                                  and n != "dif"])
def test_history_rows_share_one_format(name):
    det = _fit(name)
    assert det.history_, "a trained detector records its epochs"
    # (MNP's further complete fits, recipe switches fits / snapshot_fits, append their own
    # rows marked with "fit": 1, 2, ...: each fit's rows follow the same format)
    fits = sorted({h.get("fit", 0) for h in det.history_})
    assert fits == list(range(len(fits)))
    for f in fits:
        rows = [h for h in det.history_ if h.get("fit", 0) == f]
        phases = [h["phase"] for h in rows]
        assert set(phases) <= {"pretrain", "train"} and phases[-1] == "train"
        assert phases == sorted(phases, key=lambda p: p == "train"), "pretraining comes first"
        for h in rows:
            assert isinstance(h["epoch"], int) and h["steps"] >= 1
            assert math.isfinite(h["loss"])
        train = [h for h in rows if h["phase"] == "train"]
        assert [h["epoch"] for h in train] == list(range(FAST[name]["epochs"]))


class _Toy(TorchDetector):
    """Smallest TorchDetector: used to drive the loop directly."""

    def __init__(self, lr=0.1, batch_size=64, device="cpu", random_state=None, verbose=False):
        self.lr = lr
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


def _scripted_run(scores, restore, patience=2, n_epochs=None):
    det = _Toy()
    det.net_ = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(det.net_.parameters(), lr=0.1)
    x = torch.ones(4, 1)
    seen = iter(scores)
    weights = []

    def loss(_):
        return {"loss": (det.net_(x) ** 2).mean()}

    def val():
        weights.append(det.net_.weight.item())
        return next(seen)

    hist = det._run_phase("train", n_epochs or len(scores), opt, lambda e: [0], loss,
                          validation=val, patience=patience, restore=restore)
    return det, hist, weights


def test_run_phase_early_stops_and_restores_the_best_epoch():
    det, hist, weights = _scripted_run([0.1, 0.5, 0.3, 0.2, 0.9], restore="best")
    assert len(hist) == 4, "stops after `patience` epochs without improvement"
    assert det.net_.weight.item() == weights[1]  # the epoch with 0.5
    assert [h["val_score"] for h in hist] == [0.1, 0.5, 0.3, 0.2]


def test_run_phase_restore_on_stop_keeps_the_last_epoch_when_no_stop():
    det, hist, weights = _scripted_run([0.1, 0.5, 0.3], restore="on_stop")
    assert len(hist) == 3 and det.net_.weight.item() == weights[-1]
    det, hist, weights = _scripted_run([0.1, 0.5, 0.3, 0.2], restore="on_stop")
    assert det.net_.weight.item() == weights[1]


def test_run_phase_min_delta():
    # improvements of 1e-5 do not count with min_delta=1e-4: stops after 2 more epochs
    det = _Toy()
    det.net_ = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(det.net_.parameters(), lr=0.1)
    vals = iter([0.5, 0.50001, 0.50002, 0.9])
    hist = det._run_phase("train", 4, opt, lambda e: [0],
                          lambda _: {"loss": det.net_(torch.ones(1, 1)).sum() ** 2},
                          validation=lambda: next(vals), patience=2, min_delta=1e-4)
    assert len(hist) == 3


def test_model_saved_for_cuda_loads_on_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU fallback")
    det = _fit("mnp", device="cpu")
    det.device = "cuda"  # as if it had been trained with device='cuda'
    path = tmp_path / "m.mnpad"
    det.save(path)
    back = mnpad.load(path)
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    assert back.device_ == "cpu"
