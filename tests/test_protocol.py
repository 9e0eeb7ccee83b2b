"""The paper / weak protocols and the unseen-anomaly splits, on small synthetic data."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from mnpad import datasets as mds
from mnpad.protocol import (
    PAPER_SEEDS,
    SPLIT_SEED,
    make_split,
    make_unseen_split,
    n_labeled,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MNPAD_DATA") or REPO.parent / "shared" / "data")


def _dataset(n_norm=997, n_anom=100, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_norm + n_anom, d)).astype(np.float32)
    X[n_norm:] += 3.0
    y = np.r_[np.zeros(n_norm), np.ones(n_anom)].astype(np.int8)
    info = mds.DatasetInfo(name="toy", abbr=None, title="toy", paper_shape=None, status="custom")
    return mds.Dataset(name="toy", X=X, y=y, feature_names=[f"f{i}" for i in range(d)],
                       anomaly_type=None, info=info)


def test_default_split_seed_and_model_seeds_are_used():
    """make_split's default is the SPLIT_SEED split (and not another seed's), and the
    benchmark's default model seeds are PAPER_SEEDS: five distinct seeds, none of them the
    split seed (the split never depends on the model seed)."""
    from mnpad.bench.experiments import plan

    ds = _dataset(300, 30)
    default, explicit = make_split(ds), make_split(ds, split_seed=SPLIT_SEED)
    np.testing.assert_array_equal(default.idx_train, explicit.idx_train)
    np.testing.assert_array_equal(default.idx_val, explicit.idx_val)
    other = make_split(ds, split_seed=SPLIT_SEED + 1)
    assert not np.array_equal(default.idx_train, other.idx_train)
    assert len(set(PAPER_SEEDS)) == len(PAPER_SEEDS) == 5 and SPLIT_SEED not in PAPER_SEEDS
    cells = plan("compare", methods=["iforest"], datasets=["toy"],
                 resolve=lambda requested, data_dir, default: [ds.info])
    assert sorted({c.seed for c in cells}) == sorted(PAPER_SEEDS)


def test_split_sizes_per_class_60_35_5():
    s = make_split(_dataset(997, 100))
    # sklearn holds out ceil(t * n) rows, t = 0.35 + 0.05 (= 0.39999999999999997 in floats),
    # then puts ceil(v * m) of them in validation, v = 0.05 / t (= 0.12500000000000003, as in
    # the authors' code): validation gets one row more whenever v * m is a whole number.
    # normals 997: train 598, held out 399 -> val ceil(49.875) = 50, test 349
    # anomalies 100: train 60, held out 40 -> val ceil(5.0000000000000001) = 6, test 34
    assert (s.y_train_true == 0).sum() == 598 and (s.y_train_true == 1).sum() == 60
    assert (s.y_test == 0).sum() == 349 and (s.y_test == 1).sum() == 34
    assert (s.y_val == 0).sum() == 50 and (s.y_val == 1).sum() == 6
    assert s.info["n_train"] == 658 and s.info["n_test"] == 383 and s.info["n_val"] == 56
    parts = np.concatenate([s.idx_train, s.idx_test, s.idx_val])
    assert np.array_equal(np.sort(parts), np.arange(1097))  # a partition of the rows
    ds = _dataset(997, 100)
    np.testing.assert_array_equal(ds.y[s.idx_test], s.y_test)
    np.testing.assert_array_equal(ds.y[s.idx_train], s.y_train_true)


def test_rows_and_order_follow_sklearn_train_test_split_per_class():
    from sklearn.model_selection import train_test_split

    ds = _dataset(300, 40)
    s = make_split(ds)
    expect = []
    for c in (0, 1):
        idx = np.flatnonzero(ds.y == c)
        tr, rest = train_test_split(idx, test_size=0.4, random_state=2024)
        expect.append(tr)
    np.testing.assert_array_equal(s.idx_train, np.concatenate(expect))


@pytest.mark.parametrize("ratio, expected", [(0.01, 1), (0.05, 3), (0.2, 12), (1.0, 60),
                                             (0.0, 0)])
def test_labeled_count_is_ceil_r_times_training_anomalies(ratio, expected):
    s = make_split(_dataset(997, 100), labeled_ratio=ratio)
    assert expected == min(math.ceil(ratio * 60), 60)
    assert int(s.y_train.sum()) == expected == s.info["n_labeled"]
    assert np.all(s.y_train_true[s.y_train == 1] == 1)  # only true anomalies get labels
    # the rest of the training anomalies stay in training, unlabeled (contamination)
    assert int(((s.y_train == 0) & (s.y_train_true == 1)).sum()) == 60 - expected
    # labeled = the first k training anomalies in the split's (shuffled) order
    first = np.flatnonzero(s.y_train_true == 1)[:expected]
    assert np.array_equal(np.flatnonzero(s.y_train == 1), first)


def test_n_labeled_is_robust_to_float_error():
    assert n_labeled(100, 0.07) == 7  # 0.07 * 100 == 7.000000000000001
    assert n_labeled(93, 0.01) == 1 and n_labeled(5, 1.0) == 5 and n_labeled(0, 0.5) == 0


def test_scaling_is_fitted_on_train_only():
    ds = _dataset(997, 100)
    s = make_split(ds)
    np.testing.assert_allclose(s.X_train.min(0), 0, atol=1e-6)
    np.testing.assert_allclose(s.X_train.max(0), 1, atol=1e-6)
    # an extreme value in one test row changes nothing in train, and is not clipped
    row = s.idx_test[0]
    ds.X[row, 0] = 1e6
    s2 = make_split(ds)
    np.testing.assert_array_equal(s.X_train, s2.X_train)
    np.testing.assert_array_equal(s.X_val, s2.X_val)
    assert s2.X_test[0, 0] > 1000 and s2.X_test.dtype == np.float32
    np.testing.assert_array_equal(s.X_test[1:], s2.X_test[1:])
    # test rows are the same affine map as training rows
    lo, hi = ds.X[s.idx_train].min(0), ds.X[s.idx_train].max(0)
    np.testing.assert_allclose(s.X_test[1:], (ds.X[s.idx_test[1:]] - lo) / (hi - lo),
                               rtol=1e-5, atol=1e-6)


def test_zero_variance_columns_on_train_are_dropped():
    ds = _dataset(997, 100)
    ref = make_split(ds)
    X = np.c_[ds.X, np.full(len(ds.y), 5.0), np.zeros(len(ds.y))].astype(np.float32)
    X[ref.idx_test[3], 5] = 1.0  # varies only on a test row
    ds = mds.Dataset("toy", X, ds.y, ds.feature_names + ["const", "test_only"], None, ds.info)
    s = make_split(ds)
    assert s.info["dropped_features"] == ["const", "test_only"]
    assert s.info["feature_names"] == ["f0", "f1", "f2", "f3"]
    assert s.X_train.shape[1] == s.X_test.shape[1] == s.X_val.shape[1] == 4
    np.testing.assert_array_equal(s.X_train, ref.X_train)
    # the authors' variant drops only columns constant on all rows
    s_all = make_split(ds, constant_columns="all")
    assert s_all.info["dropped_features"] == ["const"]
    assert s_all.X_test[3, 4] == 1.0 and np.all(s_all.X_train[:, 4] == 0)


def test_weak_protocol_has_no_validation_and_same_train_test():
    ds = _dataset(997, 100)
    paper, weak = make_split(ds, "paper"), make_split(ds, "weak")
    assert weak.X_val is None and weak.y_val is None and weak.idx_val is None
    assert weak.info["protocol"] == "weak" and weak.info["n_val"] == 0
    np.testing.assert_array_equal(weak.X_train, paper.X_train)
    np.testing.assert_array_equal(weak.y_train, paper.y_train)
    np.testing.assert_array_equal(weak.X_test, paper.X_test)
    # the validation rows are dropped, not leaked into training or test
    assert not np.isin(paper.idx_val, np.r_[weak.idx_train, weak.idx_test]).any()


def test_split_is_deterministic_and_depends_on_split_seed():
    ds = _dataset(500, 50)
    a, b = make_split(ds), make_split(ds)
    np.testing.assert_array_equal(a.idx_train, b.idx_train)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    c = make_split(ds, split_seed=7)
    assert not np.array_equal(a.idx_train, c.idx_train)


def test_bad_arguments():
    ds = _dataset(100, 10)
    with pytest.raises(ValueError, match="protocol must be one of"):
        make_split(ds, protocol="strict")
    with pytest.raises(ValueError, match=r"labeled_ratio must be in \[0, 1\]"):
        make_split(ds, labeled_ratio=5)
    with pytest.raises(TypeError, match="labeled_ratio"):
        make_split(ds, labeled_ratio="1%")
    with pytest.raises(ValueError, match="class 'anomaly' has 2 row"):
        make_split(_dataset(100, 2))
    with pytest.raises(ValueError, match="no anomalies"):
        make_split(_dataset(100, 0))


# ---------------------------------------------------------------- unseen anomalies


@pytest.fixture
def unsw_dir(tmp_path):
    """A tiny stand-in for the 82k partition file, with attack_cat."""
    rng = np.random.default_rng(1)
    kinds = np.array(["Normal"] * 400 + ["DoS"] * 60 + ["Reconnaissance"] * 40
                     + ["Backdoor"] * 20 + ["Generic"] * 30)
    X = rng.random((kinds.size, 5)).astype(np.float32) * 100
    X[kinds == "Generic", 0] = 1e9  # other attack types must not affect the subset scaling
    path = tmp_path / "unsw_nb15_82k" / "unsw_nb15_82k_devnet196_raw.npz"
    path.parent.mkdir()
    np.savez_compressed(path, X=X, y=(kinds != "Normal").astype(np.int8), attack_cat=kinds,
                        feature_names=np.array([f"c{i}" for i in range(5)]))
    return tmp_path, kinds


def test_unseen_split_puts_each_type_where_documented(unsw_dir):
    root, kinds = unsw_dir
    s = make_unseen_split("rec", "DoS", data_dir=root)
    assert set(kinds[s.idx_train]) == {"Normal", "Reconnaissance"}
    assert set(kinds[s.idx_val]) == {"Normal", "Reconnaissance"}
    assert set(kinds[s.idx_test]) == {"Normal", "DoS"}
    # per type (see test_split_sizes_per_class_60_35_5 for the rounding):
    # Normal 400 -> 240 train, 160 held out -> 21 val, 139 test
    # Rec 40 -> 24 train, 16 held out -> 3 val (13 test, discarded); DoS 60 -> 24 held out -> 20 test
    assert (kinds[s.idx_train] == "Normal").sum() == 240 and s.y_train_true.sum() == 24
    assert (kinds[s.idx_test] == "Normal").sum() == 139 and s.y_test.sum() == 20
    assert s.y_val.sum() == 3 and (s.y_val == 0).sum() == 21
    assert s.y_train.sum() == 1 and s.info["seen"] == "Rec" and s.info["unseen"] == "DoS"
    assert s.info["dataset"] == "Rec->DoS"
    # the normal rows are split the same way whatever the pair
    other = make_unseen_split("Bac", "Rec", data_dir=root)
    np.testing.assert_array_equal(np.sort(s.idx_train[s.y_train_true == 0]),
                                  np.sort(other.idx_train[other.y_train_true == 0]))
    # Generic rows (1e9) are outside the subset: training data scaled to [0, 1]
    assert s.X_train.max() <= 1 + 1e-6 and s.X_test.max() < 10


def test_unseen_bad_types(unsw_dir):
    root, _ = unsw_dir
    with pytest.raises(ValueError, match="different attack types"):
        make_unseen_split("DoS", "dos", data_dir=root)
    with pytest.raises(ValueError, match="unseen must be one of DoS, Rec, Bac, Ana"):
        make_unseen_split("DoS", "Worms", data_dir=root)


# ---------------------------------------------------------------- real data (skips if absent)


@pytest.mark.skipif(not (SHARED / "pendigits" / "28_pendigits.npz").is_file(),
                    reason="shared datasets absent")
def test_pendigits_paper_split_sizes():
    s = make_split("pendigits", data_dir=SHARED)
    # 6714 normals -> 4028 / 2350 / 336 ; 156 anomalies -> 93 / 55 / 8 ; ceil(0.93) = 1 labeled
    assert (s.X_train.shape, s.X_test.shape, s.X_val.shape) == ((4121, 16), (2405, 16), (344, 16))
    assert int(s.y_test.sum()) == 55 and int(s.y_val.sum()) == 8 and int(s.y_train.sum()) == 1
    assert s.info["status"] == "exact"
