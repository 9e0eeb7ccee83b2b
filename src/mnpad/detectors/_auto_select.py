"""Selection logic of :class:`mnpad.detectors.auto.Auto`, kept apart from the estimator.

Everything here uses only the training rows and their weak labels (1 = labeled anomaly,
0 = unlabeled): the held-out parts are carved out of the training data, never out of a test
or validation split.

- :func:`folds` — repeated stratified splits: the labeled anomalies and the unlabeled rows are
  each shuffled and dealt into ``n_splits`` folds; fold r is held out in split r.
- :func:`evaluate` — fits each candidate on the fit part of a split and measures how highly it
  ranks the held-out labeled anomalies among the held-out unlabeled rows (AUC, i.e. their mean
  rank, or average precision); with
  ``halving`` only the better half of the candidates (at least ``min_keep``) goes on to the next
  split (successive halving).
- :class:`TrainRank` — maps a member's scores to their rank among that member's *training*
  scores (so a row's combined score never depends on the other rows scored with it).
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["folds", "evaluate", "combined_measure", "summarise", "ranking",
           "member_seed", "TrainRank", "MIN_LABELED_EVAL", "METRICS", "JOIN_TOLERANCE"]

#: fewest labeled anomalies with which a split can hold one out and still train on two: the
#: smallest ``min_labeled`` Auto accepts (its default is higher, see ``auto.DEFAULT_MIN_LABELED``)
MIN_LABELED_EVAL = 3


def member_seed(base, index, round_):
    """Seed of candidate ``index`` in evaluation round ``round_`` (``-1``: the final refit)."""
    ss = np.random.SeedSequence([int(base), int(index), int(round_) + 1])
    return int(ss.generate_state(1)[0] & 0x7FFFFFFF)


def folds(y, n_splits, rng):
    """List of ``(fit_idx, holdout_idx)``; each fold holds out about ``1/n_splits`` of the
    labeled anomalies and of the unlabeled rows (every labeled anomaly is held out once)."""
    lab = rng.permutation(np.flatnonzero(y == 1))
    unl = rng.permutation(np.flatnonzero(y == 0))
    fold_of = np.empty(len(y), np.int64)
    fold_of[lab] = np.arange(len(lab)) % n_splits
    fold_of[unl] = np.arange(len(unl)) % n_splits
    return [(np.flatnonzero(fold_of != r), np.flatnonzero(fold_of == r))
            for r in range(n_splits)]


#: with ``combine='rank'``, a candidate after the best joins only if its median held-out score
#: is at most this much below the best's (measured: on development splits it never left out a
#: member the rule without it kept, docs/auto.md; it keeps a detector that fails the held-out
#: test out of the average)
JOIN_TOLERANCE = 0.1

#: held-out measures: AUC (mean rank of the held-out labeled anomalies among the held-out
#: unlabeled rows) and average precision
METRICS = ("auc", "ap")


def _measure(y, s):
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"auc": float(roc_auc_score(y, s)), "ap": float(average_precision_score(y, s))}


def evaluate(X, y, specs, make, splits, *, metric="auc", halving=True, min_keep=2, base_seed=0,
             log=None, keep_scores=False):
    """Internal evaluation of the candidates.

    Parameters
    ----------
    X, y : training rows and weak labels
    specs : list of (name, params)
    make : callable ``make(name, params, seed) -> unfitted detector``
    splits : list of (fit_idx, holdout_idx)
    metric : {'auc', 'ap'}
        Held-out measure that ranks the candidates (both are recorded).
    halving : bool
        Successive halving: after each split but the last, keep the better
        ``max(min_keep, ceil(n / 2))`` candidates (by :func:`summarise` of ``metric`` so far;
        ties: the earlier one).
    min_keep : int
    base_seed : int
        Members' seeds derive from it (:func:`member_seed`).
    log : callable, optional
        ``log(message)`` for progress.
    keep_scores : bool, default=False
        Also return each candidate's scores per split: ``holdout`` (on the held-out rows) and
        ``fit_scores`` (its ``decision_scores_`` on the fit part), name -> list per split
        (None where not evaluated), so a combination of candidates can be judged on the same
        held-out rows (:func:`combined_measure`).

    Returns
    -------
    dict with ``auc`` and ``ap`` (name -> list of per-split values, None where not
    evaluated), ``score`` (the one of them named by ``metric``), ``fit_time``
    (name -> seconds summed over its fits), ``errors`` (name -> message of a candidate that
    failed; it is dropped), ``eliminated`` (name -> round after which it was dropped).
    """
    names = [n for n, _ in specs]
    found = {m: {n: [None] * len(splits) for n in names} for m in METRICS}
    ap = found[metric]
    fit_time = {n: 0.0 for n in names}
    kept = {k: {n: [None] * len(splits) for n in names} for k in ("holdout", "fit_scores")}
    errors, eliminated = {}, {}
    alive = list(range(len(specs)))
    for r, (fit_idx, ho_idx) in enumerate(splits):
        Xf, yf, Xh, yh = X[fit_idx], y[fit_idx], X[ho_idx], y[ho_idx]
        for i in list(alive):
            name, params = specs[i]
            t0 = time.perf_counter()
            try:
                det = make(name, params, member_seed(base_seed, i, r)).fit(Xf, yf)
                s = det.decision_function(Xh)
            except (ValueError, FloatingPointError) as exc:  # e.g. too few rows for it
                errors[name] = f"{type(exc).__name__}: {exc}"
                alive.remove(i)
                continue
            finally:
                fit_time[name] += time.perf_counter() - t0
            for m, v in _measure(yh, s).items():
                found[m][name][r] = v
            if keep_scores:
                kept["holdout"][name][r] = np.asarray(s, np.float64)
                kept["fit_scores"][name][r] = np.asarray(det.decision_scores_, np.float64)
            if log is not None:
                log(f"split {r + 1}/{len(splits)}: {name} AUC {found['auc'][name][r]:.4f} "
                    f"AP {found['ap'][name][r]:.4f}")
        if halving and r < len(splits) - 1 and len(alive) > min_keep:
            keep = max(int(min_keep), math.ceil(len(alive) / 2))
            order = sorted(alive, key=lambda i: (-summarise(ap[names[i]]), i))
            for i in order[keep:]:
                eliminated[names[i]] = r
            alive = sorted(order[:keep])
    out = {**found, "score": ap, "fit_time": fit_time, "errors": errors,
           "eliminated": eliminated}
    if keep_scores:
        out.update(kept, holdout_y=[y[h] for _, h in splits])
    return out


def combined_measure(result, members):
    """Held-out AUC and AP, per split, of the rank average of ``members`` (each member's
    held-out scores ranked among its own fit-part scores, as the refitted combination ranks
    them among its training scores); needs ``evaluate(..., keep_scores=True)``. A split where
    a member was not evaluated gives None."""
    out = {m: [] for m in METRICS}
    for r, yh in enumerate(result["holdout_y"]):
        parts = [(result["fit_scores"][n][r], result["holdout"][n][r]) for n in members]
        if any(f is None for f, _ in parts):
            for m in METRICS:
                out[m].append(None)
            continue
        tot = sum(TrainRank(f)(h) for f, h in parts) / len(parts)
        for m, v in _measure(yh, tot).items():
            out[m].append(v)
    return out


def summarise(values):
    """A candidate's score over the splits it was evaluated on: the median (robust to one
    split whose held-out anomalies are unlike the labeled ones it was fitted on; measured
    against the mean in docs/auto.md). ``-inf`` when never evaluated."""
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else -math.inf


def ranking(result, names):
    """Candidates best first: survivors of every round by :func:`summarise` of their split
    scores, then the others by the round they were dropped in (later first) and that summary;
    failed candidates last."""
    def key(item):
        i, n = item
        if n in result["errors"]:
            return (2, 0, 0.0, i)
        dropped = result["eliminated"].get(n)
        return (0 if dropped is None else 1, -(dropped or 0), -summarise(result["score"][n]), i)

    return [n for _, n in sorted(enumerate(names), key=key)]


class TrainRank:
    """A member's score -> its mid-rank among the member's training scores, in [0, 1].

    Between training scores the rank is linearly interpolated; beyond the lowest or highest
    training score it continues linearly (slope: 1 / the training scores' range), so scores
    above every training score keep their order instead of all tying at 1. Depends only on
    the training scores: a row's rank never depends on the other rows scored with it.
    """

    def __init__(self, train_scores):
        s = np.sort(np.asarray(train_scores, np.float64))
        xs, first, counts = np.unique(s, return_index=True, return_counts=True)
        self.xs = xs
        self.ps = (first + (counts - 1) / 2.0 + 0.5) / len(s)  # mid-ranks in (0, 1)
        span = float(xs[-1] - xs[0])
        self.slope = 1.0 / span if span > 0 else 1.0

    def __call__(self, scores):
        s = np.asarray(scores, np.float64)
        out = np.interp(s, self.xs, self.ps)
        hi, lo = s > self.xs[-1], s < self.xs[0]
        out[hi] = self.ps[-1] + (s[hi] - self.xs[-1]) * self.slope
        out[lo] = self.ps[0] + (s[lo] - self.xs[0]) * self.slope
        return out
