"""Auto: let the user's own labeled anomalies choose (or combine) the detector, per dataset.

No detector wins on every dataset, and a user of weak labels has no labeled validation split to
find out which one wins on theirs. ``Auto`` finds out from the training data alone: it splits
the labeled anomalies and the unlabeled rows into folds, fits each candidate on the other
folds, and scores it by how highly it ranks the held-out labeled anomalies among the
held-out unlabeled rows (AUC by default; successive halving can cut the cost). It then refits
the best candidate (``combine='select'``) or the ``top_k`` best, averaged by their ranks among
their own training scores (``combine='rank'``), on all rows. With fewer than ``min_labeled``
(9) labeled anomalies the held-out verdict is too noisy: it fits the ``fallback`` detector and
says so. ``docs/auto.md`` gives the measurements behind the defaults.
"""

from __future__ import annotations

import copy
import json
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import BaseDetector
from . import _auto_select as sel

__all__ = ["Auto", "DEFAULT_CANDIDATES", "DEFAULT_FALLBACK", "MNP_ONCE"]

#: recipe of Auto's MNP candidate: the default recipe fitted once (the default ``MNP()`` pools
#: three complete fits; inside Auto's folds that cost more than the budget allows, and one fit
#: measured as well on development splits, docs/auto.md "Session 13")
MNP_ONCE = {"base": "mnpad", "fits": 1, "snapshot_fits": 1}
#: default candidates (name -> parameters), cheapest first: one unsupervised detector,
#: gradient-boosted trees and the weakly supervised detectors, MNP fitted once; chosen by
#: measured cost and quality on development splits (docs/auto.md)
DEFAULT_CANDIDATES = {"iforest": {}, "devnet": {}, "gbdt": {}, "prenet": {},
                      "mnp": {"recipe": MNP_ONCE}}
#: detector fitted when there are too few labeled anomalies to evaluate (chosen on
#: development splits, docs/auto.md)
DEFAULT_FALLBACK = "devnet"
#: fewest labeled anomalies for the held-out evaluation: with 9, each of 3 folds holds out at
#: least 3; with fewer, one or two held-out anomalies decided a fold's verdict and the choice
#: fell to a detector far below the fallback (development splits, docs/auto.md)
DEFAULT_MIN_LABELED = 9


def _registered_names():
    from . import list_detectors

    return [n for n in list_detectors() if n != "auto"]


class Auto(BaseDetector):
    """Chooses or combines detectors by how they rank held-out labeled anomalies.

    Parameters
    ----------
    candidates : list of str, dict or None, default=None
        Registry names of the candidate detectors, or a dict ``{name: params}`` giving each
        candidate's parameters. None: ``DEFAULT_CANDIDATES`` (IForest, DevNet, GBDT, PReNet
        with their defaults, and MNP fitted once, ``recipe=MNP_ONCE``: the default ``MNP()``
        pools three complete fits, which inside the folds would cost more than the budget;
        RoSAS, FeaWAD and Deep SAD cost 3-4 default MNP fits each and are left out; see
        docs/auto.md). The name ``'mnp'`` in a list means the default ``MNP()``.
    n_splits : int, default=3
        Folds of the internal evaluation (at most one per labeled anomaly and per unlabeled
        row).
    metric : {'auc', 'ap'}, default='auc'
        How a candidate is scored on a held-out fold: ``'auc'``, the AUC-ROC of the held-out
        labeled anomalies against the held-out unlabeled rows (their mean rank); ``'ap'``,
        their average precision. Both are recorded in ``cv_results_``.
    combine : {'select', 'rank'}, default='rank'
        ``'select'``: refit the best candidate alone. ``'rank'``: refit the ``top_k`` best and
        average their scores' ranks among their own training scores (measured better on
        development splits, docs/auto.md); a candidate whose median held-out score is more
        than 0.1 below the best's is not averaged in.
    top_k : int, default=2
        Members averaged with ``combine='rank'``.
    halving : bool, default=False
        Successive halving: after each split but the last, only the better half of the
        candidates (at least ``max(2, top_k)``) is evaluated further. Cheaper, but one split's
        verdict is noisy with few labeled anomalies: off by default (docs/auto.md).
    fallback : str, default='devnet'
        Registry name of the detector fitted when ``y`` has fewer than ``min_labeled`` labeled
        anomalies. Its parameters come from ``candidates`` when given there.
    min_labeled : int, default=9
        Fewest labeled anomalies for the held-out evaluation (at least 3: a fold must hold one
        out and train on two). With 9 and ``n_splits=3`` every fold holds out at least 3;
        below it, a fold's verdict rests on one or two anomalies, and on development splits
        that chose detectors far below the fallback (docs/auto.md).
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_`` (on Auto's own scores).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Passed to the members that take a device.
    random_state : int, numpy Generator or None
        Seeds the folds and every member.
    verbose : bool, default=False
        Print the evaluation's progress to stderr (one line per fitted candidate).

    Attributes
    ----------
    members_ : list of fitted detectors
        The chosen detectors, refitted on all rows.
    chosen_ : list of str
        Their registry names; ``weights_`` their weights (summing to 1).
    cv_scores_ : dict
        Per candidate, its ``metric`` on each split (None where halving dropped it).
    cv_median_ : dict
        Per candidate, the median of its split scores, which ranks the candidates (None when
        not evaluated).
    cv_results_ : dict
        ``{'auc': {...}, 'ap': {...}}``: both held-out measures, per candidate and split.
    ranking_ : list of str
        Candidates best first.
    candidate_errors_ : dict
        Candidates that failed during the evaluation (e.g. too few rows), with the error.
    fallback_reason_ : str or None
        Why the fallback detector was used, or None when the evaluation chose.
    n_splits_ : int
        Folds actually used (0 with the fallback).
    eval_time_ : float
        Seconds spent in the internal evaluation; ``candidate_fit_time_`` per candidate.
    decision_scores_, threshold_, labels_, n_features_in_
        As in PyOD.

    Notes
    -----
    ``validation_data`` is ignored: the choice uses only ``X`` and ``y``. With
    ``combine='select'`` the scores are the chosen member's own scores; with ``'rank'`` they
    lie around [0, 1] (above 1 for rows scoring above every training row of a member).
    """

    weakly_supervised = True
    min_unlabeled = 2
    _fitted_json = ("chosen_", "weights_", "cv_scores_", "cv_median_", "cv_results_", "ranking_",
                    "candidate_errors_", "fallback_reason_", "n_splits_", "eval_time_",
                    "candidate_fit_time_")
    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "candidates": [None, list, tuple, dict],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "metric": [StrOptions(set(sel.METRICS))],
        "combine": [StrOptions({"select", "rank"})],
        "top_k": [Interval(Integral, 2, None, closed="left")],
        "halving": ["boolean"],
        "fallback": [StrOptions(set(_registered_names()))],
        "min_labeled": [Interval(Integral, sel.MIN_LABELED_EVAL, None, closed="left")],
    }

    def __init__(self, *, candidates=None, n_splits=3, metric="auc", combine="rank", top_k=2,
                 halving=False, fallback=DEFAULT_FALLBACK, min_labeled=DEFAULT_MIN_LABELED,
                 contamination="auto", device="auto", random_state=None, verbose=False):
        self.candidates = candidates
        self.n_splits = n_splits
        self.metric = metric
        self.combine = combine
        self.top_k = top_k
        self.halving = halving
        self.fallback = fallback
        self.min_labeled = min_labeled
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def _specs(self):
        """Candidates as a list of (name, params dict)."""
        c = DEFAULT_CANDIDATES if self.candidates is None else self.candidates
        items = list(c.items()) if isinstance(c, dict) else [(n, {}) for n in c]
        return [(str(n).lower(), copy.deepcopy(dict(p or {}))) for n, p in items]

    def _validate_param_relations(self):
        from . import detector_class

        specs = self._specs()
        if not specs:
            raise ValueError("candidates must name at least one detector.")
        known = _registered_names()
        names = [n for n, _ in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"candidates names a detector twice: {names}.")
        for name, params in specs:
            if name not in known:
                raise ValueError(f"unknown candidate {name!r}; available: {', '.join(known)}.")
            valid = set(detector_class(name)._get_param_names())
            bad = sorted(set(params) - valid)
            if bad:
                raise ValueError(f"unknown parameter(s) {bad} for candidate {name!r}; valid: "
                                 f"{', '.join(sorted(valid))}.")

    def _make(self, name, params, seed):
        from . import detector_class

        cls = detector_class(name)
        valid = set(cls._get_param_names())
        p = dict(params)
        if "device" in valid and "device" not in p:
            p["device"] = self.device_
        if "random_state" in valid:
            p["random_state"] = int(seed)
        return cls(**p)

    def _log(self, msg):
        if self.verbose:  # progress goes to stderr, like the other detectors' bars
            import sys

            print(f"[Auto] {msg}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ fitting
    def _fit(self, X, y, rng, validation_data):
        from ..base import resolve_device

        self.device_ = resolve_device(self.device)
        specs = self._specs()
        base = int(rng.integers(2**31 - 1))
        n_lab = int(y.sum())
        self.candidate_errors_, self.candidate_fit_time_ = {}, {}
        self.cv_scores_, self.cv_median_, self.cv_results_ = {}, {}, {}
        self.eval_time_ = 0.0
        if n_lab < int(self.min_labeled):
            self.fallback_reason_ = (
                f"{n_lab} labeled anomal{'y' if n_lab == 1 else 'ies'}: too few for the "
                f"held-out evaluation (min_labeled={int(self.min_labeled)}); fitted the "
                f"fallback {self.fallback!r}")
            self.n_splits_ = 0
            self.ranking_ = [self.fallback]
            chosen = [self.fallback]
        else:
            import time

            self.fallback_reason_ = None
            self.n_splits_ = min(int(self.n_splits), n_lab, int((y == 0).sum()))
            splits = sel.folds(y, self.n_splits_, rng)
            t0 = time.perf_counter()
            res = sel.evaluate(X, y, specs, self._make, splits, metric=self.metric,
                               halving=bool(self.halving),
                               min_keep=max(2, int(self.top_k)), base_seed=base, log=self._log)
            self.eval_time_ = time.perf_counter() - t0
            names = [n for n, _ in specs]
            self.candidate_errors_ = res["errors"]
            self.candidate_fit_time_ = res["fit_time"]
            self.cv_scores_ = res["score"]
            self.cv_results_ = {m: res[m] for m in sel.METRICS}
            self.cv_median_ = {n: (None if all(v is None for v in res["score"][n])
                                 else sel.summarise(res["score"][n])) for n in names}
            self.ranking_ = [n for n in sel.ranking(res, names) if n not in res["errors"]]
            if not self.ranking_:
                raise ValueError("every candidate failed during Auto's evaluation: "
                                 + "; ".join(f"{n}: {m}" for n, m in res["errors"].items()))
            k = 1 if self.combine == "select" else int(self.top_k)
            best = self.cv_median_[self.ranking_[0]]
            chosen = [self.ranking_[0]] + [
                n for n in self.ranking_[1:k]
                if self.cv_median_[n] is not None
                and self.cv_median_[n] >= best - sel.JOIN_TOLERANCE]
        params = dict(specs)
        index = {n: i for i, (n, _) in enumerate(specs)}
        self.members_ = []
        for name in chosen:
            self._log(f"refitting {name} on all {len(X)} rows")
            det = self._make(name, params.get(name, {}), sel.member_seed(base, index.get(name, -1),
                                                                        -1))
            self.members_.append(det.fit(X, y))
        self.chosen_ = list(chosen)
        self.weights_ = [1.0 / len(chosen)] * len(chosen)
        self._set_ranks()
        self.history_ = []

    def _set_ranks(self):
        self._ranks = [sel.TrainRank(m.decision_scores_) for m in self.members_]

    def _score(self, X):
        if len(self.members_) == 1:
            return self.members_[0].decision_function(X)
        total = np.zeros(X.shape[0], np.float64)
        for w, m, rank in zip(self.weights_, self.members_, self._ranks, strict=True):
            total += w * rank(m.decision_function(X))
        return total

    # ------------------------------------------------------------------ reporting
    def summary_lines(self):
        """Lines saying what Auto chose and why (``mnpad fit`` prints them)."""
        self._check_fitted()
        how = " + ".join(f"{n} ({w:.2f})" for n, w in zip(self.chosen_, self.weights_,
                                                          strict=True))
        lines = [f"  auto chose:         {how}"
                 + ("" if len(self.chosen_) == 1 else " by rank averaging")]
        params = dict(self._specs())
        for n in self.chosen_:
            if params.get(n):  # e.g. Auto's MNP: fitted once
                text = json.dumps(params[n], sort_keys=True, default=str)
                lines.append(f"    {n} with {text}")
        if (self.combine == "rank" and not self.fallback_reason_
                and len(self.chosen_) < min(int(self.top_k), len(self.ranking_))):
            lines.append(f"    (alone: the next candidate's held-out {self.metric.upper()} is "
                         f"more than {sel.JOIN_TOLERANCE:g} below)")
        if self.fallback_reason_:
            lines.append(f"    fallback:         {self.fallback_reason_}")
            return lines
        lines.append(f"    held-out {self.metric.upper()} ({self.n_splits_} splits, "
                     f"{self.eval_time_:.1f} s):")
        for n in self.ranking_:
            aps = [a for a in self.cv_scores_[n] if a is not None]
            dropped = (f"; dropped after split {len(aps)} (halving)"
                       if len(aps) < self.n_splits_ else "")
            lines.append(f"      {n:<10} {self.cv_median_[n]:.3f}  (splits: "
                         + ", ".join(f"{a:.3f}" for a in aps) + dropped + ")")
        for n, msg in self.candidate_errors_.items():
            lines.append(f"      {n:<10} failed: {msg}")
        return lines

    def explain(self, X, top_features=3):
        """Per-row explanation as a DataFrame.

        Columns: ``score`` (Auto's), and for each member ``<name>_score`` and ``<name>_rank``
        (the score's rank among that member's training scores, ~[0, 1]), so one sees which
        member flags the row. When a single member was chosen and it has its own ``explain``
        (MNP), its columns follow (``nearest_prototype``, ``similarity``, ...).
        """
        import pandas as pd

        X = self._validate_X(X)
        out = pd.DataFrame({"score": self._score_checked(X)})
        for name, m, rank in zip(self.chosen_, self.members_, self._ranks, strict=True):
            s = m.decision_function(X)
            out[f"{name}_score"] = s
            out[f"{name}_rank"] = rank(s)
        if len(self.members_) == 1 and hasattr(self.members_[0], "explain"):
            inner = self.members_[0].explain(X, top_features=top_features)
            out = pd.concat([out, inner.drop(columns=["score"], errors="ignore")
                             .reset_index(drop=True)], axis=1)
        return out

    # ------------------------------------------------------------------ persistence
    def _get_fitted_state(self):
        state, arrays, blobs = super()._get_fitted_state()
        state["members"] = []
        for i, m in enumerate(self.members_):
            ms, ma, mb = m._get_fitted_state()
            state["members"].append({"class": type(m).__name__,
                                     "params": m.get_params(deep=False), "state": ms})
            arrays.update({f"m{i}.{k}": v for k, v in ma.items()})
            blobs.update({f"m{i}.{k}": v for k, v in mb.items()})
        return state, arrays, blobs

    def _set_fitted_state(self, state, arrays, blobs):
        from ..base import resolve_device
        from . import detector_class

        super()._set_fitted_state(state, arrays, blobs)
        self.device_ = resolve_device(self.device)
        self.members_ = []
        for i, spec in enumerate(state["members"]):
            try:
                cls = detector_class(spec["class"])
            except KeyError:
                raise ValueError(f"unknown member class {spec['class']!r} in the Auto model "
                                 "file.") from None
            params = dict(spec["params"])
            if "device" in params:
                params["device"] = self.device
            m = cls(**params)
            pre = f"m{i}."
            m._set_fitted_state(spec["state"],
                                {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)},
                                {k[len(pre):]: v for k, v in blobs.items() if k.startswith(pre)})
            self.members_.append(m)
        if len(self.members_) != len(self.chosen_):
            raise ValueError("corrupt mnpad model file: Auto's members do not match chosen_.")
        self._set_ranks()
