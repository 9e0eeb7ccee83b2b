"""Auto (``method='auto'``): the choice, its report, its fallback, and that it sees no test labels.

The shared contract (tests/test_contract.py) covers the estimator conventions; these tests use
small synthetic tasks and cheap candidates.
"""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

import mnpad
from mnpad.detectors import _auto_select as sel
from mnpad.detectors.auto import Auto

FAST_CANDIDATES = {"iforest": dict(n_estimators=50), "gbdt": dict(max_iter=20),
                   "devnet": dict(epochs=3, steps_per_epoch=4)}


def _global_outliers(seed=0, n=600, d=6):
    """Normal rows in a tight blob; anomalies scattered far from it in random directions.
    Only a few are labeled, each in its own direction: no labeled pattern to learn, but every
    anomaly is isolated (IForest's task)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.5, 0.04, size=(n, d))
    n_a = 30
    X[:n_a] = rng.uniform(0, 1, size=(n_a, d))
    far = np.abs(X[:n_a] - 0.5).max(1) < 0.3  # push each anomaly out of the blob
    X[:n_a][far, 0] = np.where(rng.random(far.sum()) < 0.5, 0.02, 0.98)
    y_true = np.r_[np.ones(n_a), np.zeros(n - n_a)].astype(int)
    y = np.zeros(n, int)
    y[:6] = 1
    return X.astype(np.float32), y, y_true


def _labeled_cluster(seed=0, n=600, d=6):
    """Normal rows spread uniformly; anomalies a dense cluster inside that range, many of them
    labeled: IForest finds nothing unusual (dense points are hard to isolate), a supervised
    detector learns the cluster."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, d))
    n_a = 60
    X[:n_a] = rng.normal(0.5, 0.03, size=(n_a, d))
    y_true = np.r_[np.ones(n_a), np.zeros(n - n_a)].astype(int)
    y = np.zeros(n, int)
    y[:30] = 1
    return np.clip(X, 0, 1).astype(np.float32), y, y_true


def _auto(**kw):
    return Auto(**{"candidates": {k: FAST_CANDIDATES[k] for k in ("iforest", "gbdt")},
                   "combine": "select", "random_state": 0, "min_labeled": 3, **kw})


_FITS = {}


def fitted(task):
    if task not in _FITS:
        X, y, y_true = (_global_outliers if task == "global" else _labeled_cluster)()
        _FITS[task] = (_auto().fit(X, y), X, y, y_true)
    return _FITS[task]


# ---------------------------------------------------------------------------- the choice
@pytest.mark.parametrize("task, right, wrong", [("global", "iforest", "gbdt"),
                                                ("cluster", "gbdt", "iforest")])
def test_picks_the_candidate_that_is_right_for_the_task(task, right, wrong):
    from sklearn.metrics import average_precision_score

    auto, X, y, y_true = fitted(task)
    assert auto.chosen_ == [right] and auto.weights_ == [1.0]
    assert auto.fallback_reason_ is None and auto.n_splits_ == 3
    assert auto.ranking_ == [right, wrong]
    # measured median held-out AUC: global 0.965 (iforest) vs 0.891 (gbdt); cluster 0.98
    # (gbdt) vs 0.02 (iforest)
    assert auto.cv_median_[right] > auto.cv_median_[wrong] + 0.05
    assert len(auto.cv_scores_[right]) == 3 and None not in auto.cv_scores_[right]
    # the choice is right on the true labels too (sanity check of the synthetic task)
    # (AP of the hidden anomalies among the unlabeled rows; measured: global 1.00 vs 0.77,
    # cluster 0.97 vs 0.03)
    u = y == 0
    ap = {n: average_precision_score(y_true[u], mnpad.get_detector(
        n, random_state=0, **FAST_CANDIDATES[n]).fit(X, y).decision_scores_[u])
        for n in (right, wrong)}
    assert ap[right] > ap[wrong] + 0.1
    np.testing.assert_array_equal(auto.decision_scores_, auto.members_[0].decision_scores_)


def test_rank_combination_scores_against_training_ranks():
    X, y, _ = _global_outliers()
    auto = _auto(combine="rank").fit(X, y)
    assert auto.chosen_ == ["iforest", "gbdt"] and auto.weights_ == [0.5, 0.5]
    ranks = [sel.TrainRank(m.decision_scores_) for m in auto.members_]
    expect = sum(0.5 * r(m.decision_function(X)) for r, m in zip(ranks, auto.members_, strict=True))
    np.testing.assert_allclose(auto.decision_scores_, expect, rtol=0, atol=1e-12)
    # a row's score does not depend on the batch (ranks are against the training scores)
    full = auto.decision_function(X)
    for i in (0, 7, 599):
        np.testing.assert_array_equal(auto.decision_function(X[i:i + 1]), full[i:i + 1])
    np.testing.assert_array_equal(auto.decision_function(X[::-1]), full[::-1])


def test_rank_combination_leaves_out_a_candidate_that_fails_the_held_out_test():
    X, y, _ = _labeled_cluster()
    auto = _auto(combine="rank").fit(X, y)
    assert auto.ranking_ == ["gbdt", "iforest"]
    assert auto.cv_median_["iforest"] < auto.cv_median_["gbdt"] - sel.JOIN_TOLERANCE
    assert auto.chosen_ == ["gbdt"] and len(auto.members_) == 1
    assert any("alone" in line for line in auto.summary_lines())


def test_train_rank_is_monotone_and_continuous_beyond_the_training_range():
    r = sel.TrainRank(np.array([1.0, 2.0, 2.0, 3.0]))
    grid = np.linspace(-1, 5, 61)
    v = r(grid)
    assert np.all(np.diff(v) >= 0) and np.all(np.diff(v[grid > 3]) > 0)
    np.testing.assert_allclose(r(np.array([1.0, 2.0, 3.0])), [0.125, 0.5, 0.875])


def test_successive_halving_drops_the_worse_half():
    X, y, _ = _global_outliers()
    auto = Auto(candidates=FAST_CANDIDATES, halving=True, random_state=0,
                min_labeled=3).fit(X, y)
    evaluated = {n: sum(v is not None for v in s) for n, s in auto.cv_scores_.items()}
    # 3 candidates, at least 2 kept: one is dropped after the first split
    assert sorted(evaluated.values()) == [1, 3, 3]
    no_halving = Auto(candidates=FAST_CANDIDATES, random_state=0, halving=False,
                      min_labeled=3).fit(X, y)
    assert all(None not in s for s in no_halving.cv_scores_.values())
    # survivors' split scores are the same with and without halving (seeds do not depend on it)
    for n, k in evaluated.items():
        if k == 3:
            assert auto.cv_scores_[n] == no_halving.cv_scores_[n]


# ---------------------------------------------------------------------------- determinism
def test_determinism_same_seed_identical():
    X, y, _ = _labeled_cluster()
    a = _auto(combine="rank").fit(X, y)
    b = _auto(combine="rank").fit(X, y)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    assert a.cv_scores_ == b.cv_scores_ and a.chosen_ == b.chosen_


# ---------------------------------------------------------------------------- persistence
def test_persistence_and_pickle_of_a_combination(tmp_path):
    X, y, _ = _global_outliers()
    auto = Auto(candidates=FAST_CANDIDATES, random_state=0, min_labeled=3).fit(X, y)  # 'rank'
    assert len(auto.members_) == 2
    path = tmp_path / "auto.mnpad"
    auto.save(path)
    back = mnpad.load(path)
    assert type(back) is Auto and back.chosen_ == auto.chosen_
    np.testing.assert_array_equal(back.decision_function(X), auto.decision_function(X))
    assert back.cv_scores_ == auto.cv_scores_ and back.ranking_ == auto.ranking_
    # the choice and its reasons are in the file's metadata (JSON), members' tensors in npz
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
        names = zf.namelist()
    assert meta["class"] == "Auto" and meta["state"]["chosen_"] == auto.chosen_
    assert meta["state"]["cv_scores_"] == json.loads(json.dumps(auto.cv_scores_))
    assert [m["class"] for m in meta["state"]["members"]] == [type(m).__name__
                                                              for m in auto.members_]
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    again = pickle.loads(pickle.dumps(auto))
    np.testing.assert_array_equal(again.decision_function(X), auto.decision_scores_)


# ---------------------------------------------------------------------------- fallback
@pytest.mark.parametrize("n_labeled", [1, 2, 8])
def test_fallback_with_too_few_labeled_anomalies(n_labeled):
    """Below min_labeled (default 9) the held-out verdict would rest on 1-2 anomalies a fold."""
    X, _, _ = _global_outliers()
    y = np.zeros(len(X), int)
    y[:n_labeled] = 1
    auto = Auto(candidates=FAST_CANDIDATES, fallback="devnet", random_state=0).fit(X, y)
    assert auto.chosen_ == ["devnet"] and auto.n_splits_ == 0
    assert f"{n_labeled} labeled anomal" in auto.fallback_reason_
    assert "min_labeled=9" in auto.fallback_reason_
    assert "fallback 'devnet'" in auto.fallback_reason_
    assert auto.cv_scores_ == {}
    assert any("fallback" in line for line in auto.summary_lines())
    # the fallback got the parameters given for it among the candidates
    assert auto.members_[0].epochs == FAST_CANDIDATES["devnet"]["epochs"]
    ref = mnpad.get_detector("devnet", **FAST_CANDIDATES["devnet"],
                             random_state=auto.members_[0].random_state).fit(X, y)
    np.testing.assert_array_equal(auto.decision_scores_, ref.decision_scores_)


def test_three_labeled_anomalies_are_evaluated_one_per_split():
    X, _, _ = _global_outliers()
    y = np.zeros(len(X), int)
    y[:3] = 1
    auto = _auto().fit(X, y)
    assert auto.fallback_reason_ is None and auto.n_splits_ == 3
    splits = sel.folds(y, 3, np.random.default_rng(0))
    for fit_idx, ho_idx in splits:
        assert y[ho_idx].sum() == 1 and y[fit_idx].sum() == 2
        assert len(np.intersect1d(fit_idx, ho_idx)) == 0
        assert len(fit_idx) + len(ho_idx) == len(y)


def test_combined_measure_judges_a_rank_average_on_the_same_held_out_rows():
    """The held-out measure of a 'combination' of one member is that member's own (ranks among
    its fit-part scores are monotone); a pair is measured on the same rows and labels."""
    X, y, _ = _global_outliers()
    specs = [(n, FAST_CANDIDATES[n]) for n in ("iforest", "gbdt")]
    splits = sel.folds(y, 3, np.random.default_rng(0))
    maker = _auto()
    maker.device_ = "cpu"
    res = sel.evaluate(X, y, specs, maker._make, splits, halving=False, keep_scores=True)
    for r, (fit_idx, ho_idx) in enumerate(splits):
        np.testing.assert_array_equal(res["holdout_y"][r], y[ho_idx])
        assert len(res["fit_scores"]["gbdt"][r]) == len(fit_idx)
        assert len(res["holdout"]["gbdt"][r]) == len(ho_idx)
    for n, _ in specs:
        alone = sel.combined_measure(res, [n])
        np.testing.assert_allclose(alone["auc"], res["auc"][n], atol=1e-12)
    pair = sel.combined_measure(res, ["iforest", "gbdt"])
    assert all(0.0 <= v <= 1.0 for v in pair["auc"] + pair["ap"])
    assert "holdout" not in sel.evaluate(X, y, specs[:1], maker._make, splits[:1],
                                         halving=False)


# ---------------------------------------------------------------------------- no test labels
class RecordingAuto(Auto):
    """Auto that records what fit received and what it concluded (for the runner test)."""

    seen = []

    def fit(self, X, y=None, validation_data=None):
        super().fit(X, y, validation_data=validation_data)
        RecordingAuto.seen.append({"n_rows": len(X), "validation": validation_data,
                                   "cv": self.cv_scores_, "chosen": self.chosen_,
                                   "scores": self.decision_scores_.copy()})
        return self


def test_benchmark_runner_gives_auto_no_test_labels():
    """The harness fits Auto on the training split only: permuting the test labels changes the
    metrics but neither the held-out evaluation nor a single score."""
    from mnpad.bench.experiments import Cell
    from mnpad.bench.runner import run_cell

    X, y, y_true = _labeled_cluster()
    rng = np.random.default_rng(1)
    Xt, _, yt = _labeled_cluster(seed=1)

    class FakeSplit:
        X_train, y_train, X_val, y_val, X_test = X, y, None, None, Xt
        info = {}

    params = {"candidates": {k: FAST_CANDIDATES[k] for k in ("iforest", "gbdt")},
              "combine": "select"}
    cell = Cell("compare", "weak", "synthetic", "test_auto:RecordingAuto", "ratio=0.05", 0,
                params, ("std",))
    RecordingAuto.seen.clear()
    rows = []
    for labels in (yt, rng.permutation(yt), 1 - yt):
        split = FakeSplit()
        split.y_test = labels
        rows.append(run_cell(cell, split))
    assert [r["status"] for r in rows] == ["ok"] * 3, rows[0].get("error")
    assert len({r["aucpr"] for r in rows}) == 3  # the test labels did change the metrics...
    first = RecordingAuto.seen[0]
    assert first["n_rows"] == len(X) and first["validation"] is None
    for other in RecordingAuto.seen[1:]:  # ...and nothing Auto computed
        assert other["cv"] == first["cv"] and other["chosen"] == first["chosen"]
        np.testing.assert_array_equal(other["scores"], first["scores"])


# ---------------------------------------------------------------------------- report, explain
def test_summary_lines_and_explain():
    auto, X, y, _ = fitted("global")
    lines = auto.summary_lines()
    assert "auto chose:" in lines[0] and "iforest" in lines[0]
    assert any("held-out AUC (3 splits" in line for line in lines)
    assert any(line.strip().startswith("gbdt") for line in lines)
    exp = auto.explain(X[:5])
    assert list(exp.columns) == ["score", "iforest_score", "iforest_rank"]
    np.testing.assert_array_equal(exp["score"], auto.decision_scores_[:5])


def test_explain_delegates_to_a_chosen_mnp():
    X, y, _ = _labeled_cluster()
    mnp = dict(epochs=2, pretrain_epochs=1, steps_per_epoch=4, n_prototypes=2)
    auto = Auto(candidates={"mnp": mnp}, random_state=0).fit(X, y)
    exp = auto.explain(X[:4], top_features=2)
    assert {"score", "mnp_score", "mnp_rank", "nearest_prototype", "similarity"} <= set(exp)
    np.testing.assert_array_equal(exp["score"], exp["mnp_score"])
    # the summary says with which parameters a chosen member was fitted
    assert '    mnp with {"epochs": 2, "n_prototypes": 2, "pretrain_epochs": 1, ' \
           '"steps_per_epoch": 4}' in auto.summary_lines()


# ---------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("candidates, msg", [
    (["iforest", "nope"], "unknown candidate 'nope'; available: mnp, "),
    (["auto"], "unknown candidate 'auto'"),
    (["gbdt", "GBDT"], "names a detector twice"),
    ({"gbdt": {"epochs": 3}}, r"unknown parameter\(s\) \['epochs'\] for candidate 'gbdt'"),
    ([], "at least one detector"),
])
def test_bad_candidates_fail_before_fitting(candidates, msg):
    with pytest.raises(ValueError, match=msg):
        Auto(candidates=candidates).fit(np.zeros((0, 3)), np.zeros(0))


def test_min_labeled_below_three_is_refused():
    with pytest.raises(ValueError, match="min_labeled"):
        Auto(min_labeled=2).fit(np.zeros((0, 3)), np.zeros(0))


def test_fallback_must_be_a_registered_detector():
    with pytest.raises(ValueError, match="^fallback must be .*'devnet'.*; got 'auto'"):
        Auto(fallback="auto").fit(np.zeros((0, 3)), np.zeros(0))


# ---------------------------------------------------------------------------- CLI
def test_cli_fit_method_auto_prints_the_choice(tmp_path, capsys):
    import pandas as pd

    from mnpad.cli.main import main

    X, y, _ = _labeled_cluster()
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    df["flag"] = y
    data = tmp_path / "train.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "m.mnpad"
    params = json.dumps({"candidates": {k: FAST_CANDIDATES[k] for k in ("iforest", "gbdt")},
                         "combine": "select"})
    rc = main(["fit", str(data), "--label-column", "flag", "--method", "auto", "--params", params,
               "--out", str(out), "-q"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "trained Auto" in text and "auto chose:         gbdt (1.00)" in text
    assert "held-out AUC (3 splits" in text
    pipe = mnpad.load(out)
    assert pipe.detector_.chosen_ == ["gbdt"]
    # mnpad explain: Auto's score, the chosen member's score and training rank per row
    rc = main(["explain", str(out), str(data), "--top", "3", "--out", str(tmp_path / "e.csv"),
               "-q"])
    capsys.readouterr()
    assert rc == 0
    exp = pd.read_csv(tmp_path / "e.csv")
    assert list(exp.columns) == ["rank", "row", "score", "gbdt_score", "gbdt_rank"]
    assert exp["rank"].tolist() == [1, 2, 3]
    full = pipe.decision_function(df.drop(columns="flag"))
    np.testing.assert_allclose(exp["score"], np.sort(full)[::-1][:3], rtol=1e-6)
    assert (exp["gbdt_rank"].between(0, 1.01)).all()


def test_default_candidates_include_mnp_fitted_once():
    from sklearn.base import clone

    from mnpad.detectors.auto import DEFAULT_CANDIDATES, MNP_ONCE
    from mnpad.detectors.mnp import resolve_recipe

    specs = Auto()._specs()
    assert [n for n, _ in specs] == ["iforest", "devnet", "gbdt", "prenet", "mnp"]
    params = dict(specs)
    assert all(params[n] == {} for n in ("iforest", "devnet", "gbdt", "prenet"))
    recipe = resolve_recipe(params["mnp"]["recipe"])
    assert recipe["fits"] == recipe["snapshot_fits"] == 1
    assert {k: v for k, v in recipe.items() if k not in ("fits", "snapshot_fits")} == {
        k: v for k, v in resolve_recipe("mnpad").items() if k not in ("fits", "snapshot_fits")}
    # the specs are copies: changing one cannot change the module's defaults
    params["mnp"]["recipe"]["fits"] = 7
    assert MNP_ONCE["fits"] == 1 and DEFAULT_CANDIDATES["mnp"]["recipe"]["fits"] == 1
    # the defaults can be given explicitly, and extended
    assert Auto(candidates=DEFAULT_CANDIDATES)._specs() == Auto()._specs()
    clone(Auto(candidates={**DEFAULT_CANDIDATES, "rosas": {}}))
    # a list naming 'mnp' means the default MNP(), three complete fits
    assert dict(Auto(candidates=["mnp"])._specs()) == {"mnp": {}}


def test_auto_mnp_candidate_is_one_complete_fit(tmp_path):
    from mnpad.detectors.auto import MNP_ONCE

    X, y, _ = _labeled_cluster()
    tiny = dict(epochs=2, pretrain_epochs=1, steps_per_epoch=4, n_prototypes=2)
    once = mnpad.get_detector("mnp", recipe=MNP_ONCE, random_state=0, **tiny).fit(X, y)
    default = mnpad.get_detector("mnp", random_state=0, **tiny).fit(X, y)
    assert once.n_fits_ == 1 and default.n_fits_ == 3
    # as Auto's member: saved and loaded with its recipe, same scores
    auto = Auto(candidates={"mnp": {**tiny, "recipe": MNP_ONCE}}, random_state=0).fit(X, y)
    path = tmp_path / "auto_mnp.mnpad"
    auto.save(path)
    back = mnpad.load(path)
    assert back.members_[0].get_params()["recipe"] == MNP_ONCE
    assert back.members_[0].n_fits_ == 1
    np.testing.assert_array_equal(back.decision_function(X), auto.decision_function(X))
    # the first of the default's fits is the fit Auto's candidate makes
    k = len(once.snapshot_states_)
    assert k and len(default.snapshot_states_) == 3 * k
    for a, b in zip(once.snapshot_states_, default.snapshot_states_[:k], strict=True):
        assert a.keys() == b.keys()
        assert all(np.array_equal(np.asarray(a[n]), np.asarray(b[n])) for n in a)
