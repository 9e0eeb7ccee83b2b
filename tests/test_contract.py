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
from numbers import Real

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
    # three cheap candidates with the settings above; 'devnet' is also the fallback
    "auto": dict(candidates={"devnet": dict(epochs=2, steps_per_epoch=2),
                             "iforest": dict(n_estimators=20), "gbdt": dict(max_iter=10)}),
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


@pytest.mark.parametrize("name", NAMES)
def test_concurrent_fits_in_threads_are_reproducible(name):
    """Fits running at the same time in threads of one process (joblib's threading backend,
    Dask's default scheduler) give the scores of a fit alone: each draws from its own torch
    generator, never from torch's global one, which another thread here keeps reseeding and
    drawing from."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import torch

    def new(seed):
        return cls_of(name)(**fast_params(name, random_state=seed))

    ref = {s: new(s).fit(X, Y).decision_scores_ for s in (0, 1, 2)}
    stop = threading.Event()

    def hammer():  # a user's thread that uses torch's global RNG meanwhile
        i = 0
        while not stop.is_set():
            torch.manual_seed(i)
            torch.rand(64)
            i += 1

    start = threading.Barrier(4)

    def fit(seed):
        start.wait()
        return seed, new(seed).fit(X, Y).decision_scores_

    noise = threading.Thread(target=hammer)
    noise.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(fit, (0, 1, 2, 0)))
    finally:
        stop.set()
        noise.join()
    for seed, scores in got:
        np.testing.assert_array_equal(scores, ref[seed], err_msg=f"seed {seed}")


@pytest.mark.parametrize("name", NAMES)
def test_training_runs_on_one_thread_and_restores_the_count(name):
    """Detectors that train a network do it on one torch intra-op thread (float rounding
    depends on the thread count: a fitted network must not depend on the machine's cores),
    and the caller's thread count is restored after ``fit``, also after a failed one."""
    import torch

    trains = cls_of(name)._fit_threads is not None
    seen = []
    det = make(name)
    inner = det._fit

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return inner(*args, **kwargs)

    det._fit = spy
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        det.fit(X, Y)
        assert seen == [1 if trains else 2], seen
        assert torch.get_num_threads() == 2
        det._fit = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
        with pytest.raises(RuntimeError, match="boom"):
            det.fit(X, Y)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    if name == "mnp":
        assert trains


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
    import torch

    torch_state = torch.random.get_rng_state().clone()
    back = mnpad.load(path)
    assert torch.equal(torch.random.get_rng_state(), torch_state), "load touched torch's RNG"
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
    cases = {
        "nan": (Xn, Y, ValueError, "NaN"),
        "inf": (Xi, Y, ValueError, "infinity"),
        "1d": (X[:, 0], Y, ValueError, "2-D.*Reshape your data"),
        "empty": (np.zeros((0, D)), np.zeros(0), ValueError, r"0 sample\(s\)"),
        "no features": (np.zeros((N, 0)), Y, ValueError, r"0 feature\(s\)"),
        "one sample": (X[:1], Y[:1], ValueError, "1 sample"),
        "complex": (X.astype(complex), Y, ValueError, "Complex data not supported"),
        "text column": (df, Y, TypeError, "non-numeric column"),
        "mixed column names": (pd.DataFrame(X, columns=["a", "b", 2, 3, 4]), Y, TypeError,
                               "feature names must all be strings"),
    }
    if weak:
        cases.update({
            "y not 0/1": (X, np.where(Y == 1, 2, 0), ValueError, "only 0"),
            "y length": (X, Y[:-3], ValueError, "entries but X has"),
            "no anomaly": (X, np.zeros(N, int), ValueError, "no labeled anomaly"),
            "y missing": (X, None, ValueError, "requires y to be passed"),
        })
    return cases


BAD_FIT = [(n, case) for n in NAMES for case in _bad_fit_cases(detector_class(n).weakly_supervised)]


@pytest.mark.parametrize("name, case", BAD_FIT)
def test_bad_fit_input(name, case):
    Xb, yb, exc, msg = _bad_fit_cases(is_weak(name))[case]
    with pytest.raises(exc, match=msg):
        make(name).fit(Xb, yb)


@pytest.mark.parametrize("name", NAMES)
def test_bad_scoring_input(name):
    est = fitted(name)
    with pytest.raises(ValueError, match=f"has 3 features, but {type(est).__name__} is expecting 5"):
        est.decision_function(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        est.decision_function(np.full((2, D), np.nan))
    with pytest.raises(ValueError, match="Reshape your data"):
        est.decision_function(X[0])
    with pytest.raises(ValueError, match="method must be 'linear' or 'unify'"):
        est.predict_proba(X, method="softmax")


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
def test_unsupervised_ignore_y_entirely(name):
    """Unsupervised detectors neither check nor use y: no y, all 1s, 2s or a wrong length give
    the same scores and the same threshold."""
    if is_weak(name):
        pytest.skip("weakly supervised: y is required (checked in test_bad_fit_input)")
    ref = fitted(name)
    for y in (None, np.ones(N, int), np.full(N, 2), Y[:10]):
        est = make(name).fit(X, y)
        np.testing.assert_array_equal(est.decision_scores_, ref.decision_scores_)
        assert est.threshold_ == ref.threshold_
    # no labels are used for 'auto' either: PyOD's default contamination of 0.1
    assert ref.threshold_ == np.quantile(ref.decision_scores_, 0.9)


# ---------------------------------------------------------------------------- parameters
def _invalid_values(constraints):
    """Values that no constraint in the list accepts (one below each interval, a string...)."""
    from sklearn.utils._param_validation import Interval

    bad = ["not a valid value", -1.5, 3 + 1j]
    for c in constraints:
        if isinstance(c, Interval) and c.left is not None:
            bad.append(c.left - 1 if c.type is not Real else c.left - 0.5)
            if c.closed in ("right", "neither"):
                bad.append(c.left)
    from mnpad._validation import _satisfied

    return [v for v in bad if not any(_satisfied(c, v) for c in constraints)]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_constraints_declared_and_checked_before_fitting(name):
    cls = cls_of(name)
    params = set(make(name).get_params())
    declared = cls._parameter_constraints
    assert params <= set(declared), f"no constraint for {sorted(params - set(declared))}"
    # keyword-only __init__ (scikit-learn style)
    sig = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in sig.items() if n != "self")
    with pytest.raises(TypeError):
        cls(1)
    for param in sorted(params):
        for value in _invalid_values(declared[param]):
            est = make(name).set_params(**{param: value})
            # checked before the data (X is invalid too) and before any training
            with pytest.raises(ValueError, match=f"^{param} must be .*; got "):
                est.fit(np.zeros((0, D)), Y)
            assert not hasattr(est, "n_features_in_")
    # every default passes
    from mnpad._validation import validate_params

    validate_params(cls())


def test_parameter_messages():
    with pytest.raises(ValueError, match=r"^lr must be a number > 0; got -1\.$"):
        mnpad.get_detector("devnet", lr=-1).fit(X, Y)
    with pytest.raises(ValueError, match=r"^lr must be 'auto' or a number > 0; got 0"):
        mnpad.get_detector("mnp", lr=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"^recipe must be 'authors' or 'mnpad' or 'paper' or a dict"):
        mnpad.get_detector("mnp", recipe="nope").fit(X, Y)
    with pytest.raises(ValueError, match="unknown recipe switch 'nope'"):  # before any training
        mnpad.get_detector("mnp", recipe={"nope": 1}).fit(np.zeros((0, D)), Y)
    with pytest.raises(ValueError, match=r"^n_prototypes must be 'auto' or an int >= 1; got 0"):
        mnpad.get_detector("mnp", n_prototypes=0).fit(X, Y)
    with pytest.raises(ValueError, match="max_prototypes must be >= 2 when n_prototypes='auto'"):
        mnpad.get_detector("mnp", max_prototypes=1).fit(X, Y)
    with pytest.raises(ValueError, match=r"^early_stopping must be 'auto' or 'off' or False"):
        mnpad.get_detector("mnp", early_stopping=True).fit(X, Y)
    with pytest.raises(ValueError, match=r"^hidden_dims must be a tuple of ints >= 1"):
        mnpad.get_detector("deepsvdd", hidden_dims=(10, 0)).fit(X)
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu', 'mps' or 'cuda\[:i\]'"):
        mnpad.get_detector("devnet", device="tpu").fit(X, Y)
    with pytest.raises(ValueError, match=r"^contamination must be 'auto' or a number in \(0, 0.5\)"):
        mnpad.get_detector("iforest", contamination=0.5).fit(X)
    with pytest.raises(ValueError, match=r"^random_state must be None or an int >= 0 or a "
                                         r"numpy Generator; got -3\.$"):
        mnpad.get_detector("iforest", random_state=-3).fit(X)


# ---------------------------------------------------------------------------- thresholds, labels
@pytest.mark.parametrize("name", NAMES)
def test_float_contamination_sets_threshold_quantile(name):
    est = make(name, contamination=0.1).fit(X, Y)
    s = est.decision_scores_
    assert est.threshold_ == np.quantile(s, 0.9)
    np.testing.assert_array_equal(est.labels_, s > est.threshold_)
    assert 18 <= est.labels_.sum() <= 20  # 10 % of 200 rows (fewer only with tied scores)
    np.testing.assert_array_equal(est.decision_scores_, fitted(name).decision_scores_)
    if is_weak(name):  # 'auto' with labels: the labeled anomalies' 10 % quantile, >= the 90 %
        ref = fitted(name)  # quantile of the training scores
        t = max(np.quantile(ref.decision_scores_[Y == 1], 0.1),
                np.quantile(ref.decision_scores_, 0.9))
        assert ref.threshold_ == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_score_samples_predict_proba_fit_predict(name):
    from scipy.special import erf

    est = fitted(name)
    s = est.decision_function(X)
    np.testing.assert_array_equal(est.score_samples(X), -s)
    train = est.decision_scores_
    lin = est.predict_proba(X)[:, 1]
    np.testing.assert_allclose(lin, np.clip((s - train.min()) / (train.max() - train.min()), 0, 1))
    uni = est.predict_proba(X, method="unify")
    assert uni.shape == (N, 2)
    np.testing.assert_allclose(uni.sum(1), 1.0)
    p = uni[:, 1]
    np.testing.assert_allclose(p, np.clip(erf((s - train.mean()) / (train.std() * np.sqrt(2))),
                                          0, 1), rtol=1e-12)
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(p[order]) >= 0), "unify probability must be monotone in the score"
    assert p[s <= train.mean()].max() == 0 and p.max() > 0.5
    labels = make(name).fit_predict(X, None if not is_weak(name) else Y)
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_array_equal(labels, est.predict(X))


def test_resolve_device_errors():
    import torch

    from mnpad.base import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available; use 'auto'"):
            resolve_device("cuda:0")
        with pytest.raises(ValueError, match="CUDA is not available"):
            make("devnet", device="cuda").fit(X, Y)


# ---------------------------------------------------------------------------- feature names
#: every public method that takes X after fitting, besides the common four
EXTRA_X_METHODS = {
    "mnp": ["transform", "similarity", "nearest_prototype", "reconstruction_error", "explain",
            "row_details"],
    "deepsad": ["transform"],
    "deepsvdd": ["transform"],
    "feawad": ["residual_norm"],
    "auto": ["explain"],
}
COMMON_X_METHODS = ["decision_function", "predict", "predict_proba", "score_samples"]


def _x_methods(name):
    return COMMON_X_METHODS + EXTRA_X_METHODS.get(name, [])


@pytest.mark.parametrize("name", NAMES)
def test_x_method_list_is_complete(name):
    """Guards the list above: a new public method taking X must be added (and validated)."""
    cls = cls_of(name)
    found = {m for m, f in inspect.getmembers(cls, inspect.isfunction)
             if not m.startswith("_") and not m.startswith("fit")
             and list(inspect.signature(f).parameters)[1:2] == ["X"]}
    assert found == set(_x_methods(name))


_FRAME_CACHE = {}


def fitted_on_frame(name):
    if name not in _FRAME_CACHE:
        df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
        _FRAME_CACHE[name] = (make(name).fit(df, pd.Series(Y)), df)
    return _FRAME_CACHE[name]


@pytest.mark.parametrize("name", NAMES)
def test_feature_names_checked_by_every_x_method(name):
    import warnings

    est, df = fitted_on_frame(name)
    reordered = df[df.columns[::-1]]
    renamed = df.rename(columns={"f1": "g1"})
    for method in _x_methods(name):
        fn = getattr(est, method)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the same columns: no warning
            same = fn(df)
        with pytest.raises(ValueError, match="same order as they were in fit"):
            fn(reordered)
        with pytest.raises(ValueError, match="unseen at fit time:\n- g1\n.*missing:\n- f1"):
            fn(renamed)
        with pytest.raises(ValueError, match="seen at fit time, yet now missing:\n- f4"):
            fn(df.iloc[:, :4])
        with pytest.warns(UserWarning, match="X does not have valid feature names, but"):
            arr = fn(X)
        if isinstance(same, pd.DataFrame):
            pd.testing.assert_frame_equal(same, arr)
        elif isinstance(same, dict):
            for k in same:
                np.testing.assert_array_equal(same[k], arr[k])
        else:
            np.testing.assert_array_equal(same, arr)


@pytest.mark.parametrize("name", NAMES)
def test_frame_on_array_fitted_warns_and_scores_identically(name):
    import warnings

    est = fitted(name)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    with pytest.warns(UserWarning, match="X has feature names, but .* fitted without"):
        s = est.decision_function(df)
    np.testing.assert_array_equal(s, est.decision_scores_)
    # a frame built from an array has integer column names: no names, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(est.decision_function(pd.DataFrame(X)),
                                      est.decision_scores_)


def test_validation_data_columns_must_match():
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    yv = np.zeros(60, int)
    yv[:6] = 1
    with pytest.raises(ValueError, match="X_val's columns differ from X's"):
        make("mnp").fit(df, Y, validation_data=(df.iloc[:60, ::-1], yv))


# ---------------------------------------------------------------------------- refit, batching
@pytest.mark.parametrize("name", NAMES)
def test_refit_same_object_and_scoring_batch_size(name):
    est = make(name)
    first = est.fit(X, Y).decision_scores_.copy()
    np.testing.assert_array_equal(est.fit(X, Y).decision_scores_, first)
    np.testing.assert_array_equal(first, fitted(name).decision_scores_)
    if "device" in est.get_params():  # the default 'auto' resolves on a CPU-only machine too
        import torch

        assert est.device == "auto" and est.device_ == ("cuda" if torch.cuda.is_available()
                                                         else "cpu")
    if "batch_size" in est.get_params():  # memory only: never changes a score
        est.set_params(batch_size=7)
        np.testing.assert_array_equal(est.decision_function(X), first)
        est.set_params(batch_size=1)  # one row at a time (on 20 rows: slow for DIF)
        np.testing.assert_array_equal(est.decision_function(X[:20]), first[:20])


@pytest.mark.parametrize("name", NAMES)
def test_too_few_unlabeled_rows(name):
    cls = cls_of(name)
    if not is_weak(name):
        pytest.skip("unsupervised: every row is unlabeled")
    k = cls.min_unlabeled - 1
    Xs, ys = X[:k + 2], np.r_[np.zeros(k), np.ones(2)]
    with pytest.raises(ValueError, match=f"X has {k} unlabeled row\\(s\\); {cls.__name__} needs "
                                         f"at least {cls.min_unlabeled}"):
        make(name).fit(Xs, ys)


# ---------------------------------------------------------------------------- tags
@pytest.mark.parametrize("name", NAMES)
def test_sklearn_tags(name):
    from sklearn.utils import get_tags

    tags = get_tags(make(name))
    assert tags.estimator_type == "outlier_detector"
    assert tags.target_tags.required is is_weak(name)
    assert (tags.transformer_tags is not None) == hasattr(cls_of(name), "transform")
    assert tags.non_deterministic is False
    if tags.transformer_tags is not None:
        assert fitted(name).transform(X).dtype == np.float32
