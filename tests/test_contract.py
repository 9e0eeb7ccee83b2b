"""One contract suite over every registered detector (``mnpad.list_detectors()``).

Each detector is fitted a handful of times on tiny data with fast parameters; fitted models are
shared across tests through a module-level cache. A registered detector whose module does not
exist yet fails here with a clear message instead of being skipped.
"""

from __future__ import annotations

import inspect
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import mnpad
from mnpad.detectors import detector_class, list_detectors

NAMES = list_detectors()

# Fast settings: few epochs/steps/trees. Batch sizes keep their defaults so that the 60-row test
# really has fewer unlabeled rows than a training batch. Only names in a class's signature are
# passed (see fast_params).
FAST = {
    "mnp": dict(epochs=2, pretrain_epochs=1, steps_per_epoch=4, n_prototypes=2),
    "devnet": dict(epochs=2, steps_per_epoch=2),
    "prenet": dict(epochs=2, steps_per_epoch=2, n_refs=4),
    "feawad": dict(epochs=2, pretrain_epochs=1, steps_per_epoch=2),
    "rosas": dict(epochs=2, steps_per_epoch=2),
    "deepsad": dict(epochs=2, pretrain_epochs=1),
    "deepsvdd": dict(epochs=2, pretrain_epochs=1),
    "dif": dict(n_ensemble=4, n_estimators=3),
    "iforest": dict(n_estimators=20),
    "gbdt": dict(max_iter=10),
}

N, D = 200, 5


def _data():
    rng = np.random.default_rng(12345)
    X = rng.normal(0.5, 0.1, size=(N, D))
    X[:12] += 0.4  # 12 true anomalies
    y = np.zeros(N, dtype=np.int64)
    y[:5] = 1  # 5 of them labeled
    return np.clip(X, 0, 1).astype(np.float32), y


X, Y = _data()


def cls_of(name):
    try:
        return detector_class(name)
    except (ModuleNotFoundError, AttributeError) as exc:
        pytest.fail(f"detector {name!r} is registered but its implementation is missing: {exc}")


def fast_params(name, **extra):
    cls = cls_of(name)
    sig = inspect.signature(cls.__init__).parameters
    params = {k: v for k, v in FAST.get(name, {}).items() if k in sig}
    params.update(extra)
    if "verbose" in sig:
        params["verbose"] = False
    return params


def make(name, **extra):
    return cls_of(name)(**fast_params(name, random_state=0, **extra))


_CACHE = {}


def fitted(name):
    """The detector fitted on (X, Y) with seed 0, shared by all tests of this module."""
    if name not in _CACHE:
        _CACHE[name] = make(name).fit(X, Y)
    return _CACHE[name]


def is_weak(name):
    return cls_of(name).weakly_supervised


# ---------------------------------------------------------------------------- registry / params
@pytest.mark.parametrize("name", NAMES)
def test_registry_and_clone(name):
    cls = cls_of(name)
    est = mnpad.get_detector(name, random_state=3)
    assert type(est) is cls and est.random_state == 3
    params = make(name).get_params()
    c = clone(make(name))
    assert c.get_params() == params
    assert c.set_params(random_state=7) is c and c.get_params()["random_state"] == 7
    assert c.get_params()["contamination"] == "auto"
    with pytest.raises(ValueError, match="[Ii]nvalid parameter"):
        c.set_params(no_such_parameter=1)
    # clone of a fitted detector is unfitted and has the same params
    c2 = clone(fitted(name))
    assert not hasattr(c2, "decision_scores_")
    assert c2.get_params() == params


# ---------------------------------------------------------------------------- fitted attributes
@pytest.mark.parametrize("name", NAMES)
def test_fitted_attributes(name):
    est = fitted(name)
    s = est.decision_scores_
    assert s.shape == (N,) and s.dtype == np.float64 and np.isfinite(s).all()
    assert np.unique(s).size > N // 2, "scores are (nearly) constant"
    assert isinstance(est.threshold_, float)
    assert est.n_features_in_ == D
    assert est.labels_.shape == (N,) and set(np.unique(est.labels_)) <= {0, 1}
    np.testing.assert_array_equal(est.labels_, (s > est.threshold_).astype(int))
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert est.fit_time_ >= 0
    p = est.predict_proba(X)
    assert p.shape == (N, 2) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(1), 1.0)
    # (the direction of the score is checked by the quality tests: fast params barely train)


# ---------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", NAMES)
def test_determinism_dataframe_and_global_rng(name):
    import torch

    ref = fitted(name).decision_scores_
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    again = make(name).fit(X, Y)
    np.testing.assert_array_equal(again.decision_scores_, ref)
    assert np.array_equal(np.random.get_state()[1], np_state), "fit touched numpy's global RNG"
    assert torch.equal(torch.random.get_rng_state(), torch_state), "fit touched torch's RNG"
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    est = make(name).fit(df, pd.Series(Y))
    np.testing.assert_array_equal(est.decision_scores_, ref)
    assert list(est.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(est.decision_function(df), ref)


# ---------------------------------------------------------------------------- batch independence
@pytest.mark.parametrize("name", NAMES)
def test_batch_independence(name):
    est = fitted(name)
    full = est.decision_function(X)
    np.testing.assert_array_equal(full, est.decision_scores_)
    for i in (0, 17, N - 1):
        np.testing.assert_array_equal(est.decision_function(X[i:i + 1]), full[i:i + 1])
    np.testing.assert_array_equal(est.decision_function(X[50:83]), full[50:83])
    perm = np.random.default_rng(0).permutation(N)
    np.testing.assert_array_equal(est.decision_function(X[perm]), full[perm])


# ---------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", NAMES)
def test_persistence_roundtrip(name, tmp_path):
    est = fitted(name)
    path = tmp_path / "model.mnpad"
    est.save(path)
    back = mnpad.load(path)
    assert type(back) is type(est)
    np.testing.assert_array_equal(back.decision_function(X), est.decision_function(X))
    np.testing.assert_array_equal(back.decision_scores_, est.decision_scores_)
    assert back.threshold_ == est.threshold_
    assert back.get_params() == json.loads(json.dumps(est.get_params()))
    with pytest.raises(FileExistsError):
        est.save(path)
    # truncated file
    data = path.read_bytes()
    bad = tmp_path / "truncated.mnpad"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="mnpad model file"):
        mnpad.load(bad)
    # every blob (scikit-learn estimators) replaced by garbage
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    blobs = [n for n in members if n.startswith("blobs/")]
    if blobs:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, v in members.items():
                zf.writestr(n, b"not a skops file" if n in blobs else v)
        bad.write_bytes(buf.getvalue())
        with pytest.raises(ValueError, match="corrupt mnpad model file"):
            mnpad.load(bad)


def test_corrupt_files(tmp_path):
    rnd = tmp_path / "random.mnpad"
    rnd.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(ValueError, match="not an mnpad model file"):
        mnpad.load(rnd)
    nometa = tmp_path / "nometa.mnpad"
    with zipfile.ZipFile(nometa, "w") as zf:
        zf.writestr("arrays.npz", b"")
    with pytest.raises(ValueError, match="missing meta.json"):
        mnpad.load(nometa)


# ---------------------------------------------------------------------------- bad input
def _bad_fit_cases(weak):
    Xn = X.copy()
    Xn[3, 2] = np.nan
    Xi = X.copy()
    Xi[4, 1] = np.inf
    df = pd.DataFrame(X, columns=list("abcde"))
    df["c"] = ["x"] * N
    cases = [
        ("nan", Xn, Y, ValueError, "NaN"),
        ("inf", Xi, Y, ValueError, "infinity"),
        ("1d", X[:, 0], Y, ValueError, "2-D"),
        ("empty", np.zeros((0, D)), np.zeros(0), ValueError, "0 row"),
        ("text column", df, Y, TypeError, "non-numeric column"),
        ("y not 0/1", X, np.where(Y == 1, 2, 0), ValueError, "only 0"),
        ("y length", X, Y[:-3], ValueError, "entries but X has"),
    ]
    if weak:
        cases += [("no anomaly", X, np.zeros(N, int), ValueError, "no labeled anomaly"),
                  ("y missing", X, None, ValueError, "y is required")]
    return cases


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs(name):
    for label, Xb, yb, exc, msg in _bad_fit_cases(is_weak(name)):
        with pytest.raises(exc, match=msg):
            make(name).fit(Xb, yb)
        assert label  # the case name shows in the traceback if the block above fails
    est = fitted(name)
    with pytest.raises(ValueError, match="features"):
        est.decision_function(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        est.decision_function(np.full((2, D), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        est.decision_function(X[0])


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_raises(name):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make(name).decision_function(X)


# ---------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("name", NAMES)
def test_single_labeled_anomaly_and_validation_data(name):
    y1 = np.zeros(N, int)
    y1[0] = 1
    yv = np.zeros(60, int)
    yv[:6] = 1
    est = make(name).fit(X, y1, validation_data=(X[:60], yv))
    assert np.isfinite(est.decision_scores_).all()


@pytest.mark.parametrize("name", NAMES)
def test_fewer_unlabeled_rows_than_a_batch(name):
    Xs = X[:63]
    ys = np.zeros(63, int)
    ys[:3] = 1  # 60 unlabeled rows
    est = make(name).fit(Xs, ys)
    assert est.decision_scores_.shape == (63,) and np.isfinite(est.decision_scores_).all()


@pytest.mark.parametrize("name", NAMES)
def test_unsupervised_accept_y_none_and_ignore_y(name):
    if is_weak(name):
        pytest.skip("weakly supervised: y is required (checked in test_bad_inputs)")
    est = make(name).fit(X)
    np.testing.assert_array_equal(est.decision_scores_, fitted(name).decision_scores_)
