"""The evaluation protocols: ``paper`` (as the MNP authors ran it), ``weak`` and unseen anomalies.

``paper`` (the authors' code, REFERENCE.md section 1):

1. Each class (normal, anomaly) is split on its own, with ``sklearn.model_selection.
   train_test_split`` and the fixed ``split_seed`` (2024): 60 % train vs 40 %, then the 40 % into
   test (35 % of the class) and validation (5 %), i.e. ``test_size=0.4`` then ``0.125``. Rows are
   assembled as [normal rows, anomaly rows] in each part, so the same data gives the same split
   as the authors' code, down to its float rounding: the held-out fraction is 0.35 + 0.05 and
   the validation fraction 0.05 / (0.35 + 0.05) = 0.12500000000000003, so validation gets one
   row more whenever 0.125 * (held-out rows) is a whole number (sklearn rounds test sizes up).
2. Columns constant on the training rows are dropped (the authors test ``std == 0`` on the whole
   data before splitting; mnpad decides on the training rows only, so no test row influences the
   preprocessing; ``constant_columns='all'`` gives the authors' behaviour).
3. Min-max scaling is fitted on the training rows and applied to test and validation rows. Those
   are not clipped: a test value beyond the training range maps outside [0, 1], as in the
   authors' code.
4. The first ``ceil(r * N_a,train)`` training anomalies, in the shuffled order the split produced,
   are labeled (``y_train == 1``); the other training anomalies stay unlabeled (``0``):
   contamination. ``y_train_true`` keeps the ground truth for analysis only.
5. The validation part is returned with ground-truth labels (``X_val``, ``y_val``): the authors
   early-stop on it. Model seeds are ``PAPER_SEEDS``; the split never depends on them.

``weak`` (mnpad's default): the same train and test rows, but no labeled validation exists
(``X_val = y_val = None``). The 5 % validation rows are dropped, not added back to training, so
train and test are identical to ``paper`` and the two protocols differ only in the validation
labels.

Unseen anomalies (Table 3, :func:`make_unseen_split`): from the UNSW-NB15 82k partition, the rows
of attack types Normal, ``seen`` and ``unseen`` are min-max scaled over that subset (the DevNet
recipe, constant columns -> 0); every class (Normal, seen, unseen) is split 60/35/5 as above.
Train and validation hold Normal + ``seen`` rows; test holds Normal + ``unseen`` rows. The
``seen`` test rows and the ``unseen`` train/validation rows are discarded (as in the authors'
``unseen_setting``). Then steps 2-5 as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PAPER_SEEDS", "SPLIT_SEED", "PROTOCOLS", "UNSEEN_TYPES", "Split", "make_split",
           "make_unseen_split", "n_labeled"]

PAPER_SEEDS = (42, 43, 44, 45, 46)
SPLIT_SEED = 2024
PROTOCOLS = ("paper", "weak")
CONSTANT_COLUMNS = ("train", "all")
TEST_FRACTION = 0.35
VAL_FRACTION = 0.05
# paper abbreviation -> UNSW-NB15 attack_cat
UNSEEN_TYPES = {"dos": "DoS", "rec": "Reconnaissance", "bac": "Backdoor", "ana": "Analysis"}


@dataclass
class Split:
    """Train / test / validation data of one protocol run.

    Attributes
    ----------
    X_train : ndarray (n_train, d), float32
    y_train : ndarray (n_train,), int8
        Weak labels: 1 = labeled anomaly, 0 = unlabeled (normal or unlabeled anomaly).
    y_train_true : ndarray (n_train,), int8
        Ground truth of the training rows; for analysis only, never for fitting.
    X_test, y_test : ndarrays
    X_val, y_val : ndarrays or None
        Labeled validation split (``paper``); None under ``weak``.
    info : dict
        protocol, labeled_ratio, n_labeled, dataset, status, split_seed, sizes, kept and dropped
        feature names, and for unseen splits the seen/unseen types.
    idx_train, idx_test, idx_val : ndarrays of int or None
        Row indices of each part in the source dataset (for unseen splits: in the
        ``unsw_nb15_82k`` file); ``idx_val`` is None under ``weak``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    y_train_true: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    info: dict = field(default_factory=dict)
    idx_train: np.ndarray | None = field(default=None, repr=False)
    idx_test: np.ndarray | None = field(default=None, repr=False)
    idx_val: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self):
        val = "None" if self.X_val is None else str(self.X_val.shape)
        return (f"Split({self.info.get('dataset')!r}, protocol={self.info.get('protocol')!r}, "
                f"train={self.X_train.shape}, test={self.X_test.shape}, val={val}, "
                f"labeled={int(self.y_train.sum())})")


def n_labeled(n_anomalies, labeled_ratio):
    """``ceil(r * n)`` training anomalies to label (capped at ``n``).

    The product is rounded to 9 decimals first so float error cannot add a label
    (``0.07 * 100`` is 7.000000000000001 in floating point; this returns 7).
    """
    return min(int(math.ceil(round(labeled_ratio * n_anomalies, 9))), int(n_anomalies))


def _check_args(protocol, labeled_ratio, split_seed, constant_columns="train"):
    if constant_columns not in CONSTANT_COLUMNS:
        raise ValueError(f"constant_columns must be one of {CONSTANT_COLUMNS}; got "
                         f"{constant_columns!r}.")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}.")
    if isinstance(labeled_ratio, bool) or not isinstance(labeled_ratio, (int, float, np.number)):
        raise TypeError(f"labeled_ratio must be a number in [0, 1]; got {labeled_ratio!r}.")
    if not 0.0 <= float(labeled_ratio) <= 1.0:
        raise ValueError(f"labeled_ratio must be in [0, 1] (a fraction, 0.01 = 1 %); got "
                         f"{labeled_ratio}.")
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) \
            or split_seed < 0:
        raise ValueError(f"split_seed must be a non-negative int; got {split_seed!r}.")


def _split_class(idx, seed, label):
    """Indices of one class -> (train, test, val) with the 60/35/5 proportions."""
    from sklearn.model_selection import train_test_split

    if idx.size < 3:
        raise ValueError(f"class {label!r} has {idx.size} row(s); the 60/35/5 split needs at "
                         "least 3 rows per class.")
    tr, rest = train_test_split(idx, test_size=TEST_FRACTION + VAL_FRACTION, random_state=seed)
    te, va = train_test_split(rest, test_size=VAL_FRACTION / (TEST_FRACTION + VAL_FRACTION),
                              random_state=seed)
    return tr, te, va


def _finish(X, y, train, test, val, *, protocol, labeled_ratio, feature_names, info,
            rows=None, constant_columns="train"):
    """Steps 2-5 of the protocol on row index arrays of the three parts."""
    from sklearn.preprocessing import MinMaxScaler

    rows = np.arange(X.shape[0]) if rows is None else rows
    X_tr = X[train]
    ref = X_tr if constant_columns == "train" else X
    keep = ref.max(axis=0) > ref.min(axis=0)
    if not keep.any():
        raise ValueError("every feature is constant on the training rows; nothing to learn from.")
    scaler = MinMaxScaler().fit(X_tr[:, keep])

    def scaled(rows):
        return np.ascontiguousarray(scaler.transform(X[rows][:, keep]), dtype=np.float32)

    y_true = y[train].astype(np.int8)
    anomalies = np.flatnonzero(y_true == 1)  # in the split's shuffled order
    k = n_labeled(anomalies.size, labeled_ratio)
    y_weak = np.zeros_like(y_true)
    y_weak[anomalies[:k]] = 1
    names = list(feature_names)
    if len(names) != X.shape[1]:
        names = [f"x{i}" for i in range(X.shape[1])]
    X_val = y_val = None
    if protocol == "paper":
        X_val, y_val = scaled(val), y[val].astype(np.int8)
    info.update(
        protocol=protocol, constant_columns=constant_columns, labeled_ratio=float(labeled_ratio), n_labeled=int(k),
        n_train=int(train.size), n_test=int(test.size),
        n_val=int(val.size) if protocol == "paper" else 0,
        n_anomalies_train=int(anomalies.size), n_anomalies_test=int(y[test].sum()),
        val_rows="labeled validation split" if protocol == "paper" else "dropped",
        feature_names=[n for n, kept in zip(names, keep, strict=True) if kept],
        dropped_features=[n for n, kept in zip(names, keep, strict=True) if not kept],
    )
    return Split(X_train=scaled(train), y_train=y_weak, y_train_true=y_true,
                 X_test=scaled(test), y_test=y[test].astype(np.int8), X_val=X_val, y_val=y_val,
                 info=info, idx_train=rows[train], idx_test=rows[test],
                 idx_val=rows[val] if protocol == "paper" else None)


def make_split(dataset, protocol="paper", labeled_ratio=0.01, split_seed=SPLIT_SEED,
               data_dir=None, *, constant_columns="train"):
    """Split a dataset under the ``paper`` or ``weak`` protocol (see module docstring).

    Parameters
    ----------
    dataset : Dataset or str
        A loaded :class:`mnpad.datasets.Dataset` or a registry name.
    protocol : {'paper', 'weak'}
    labeled_ratio : float in [0, 1]
        Fraction r of training anomalies that are labeled: ``ceil(r * N_a,train)``.
    split_seed : int
        Seed of the train/test/validation split (2024 in the paper).
    data_dir : path, optional
        Data root when ``dataset`` is a name.
    constant_columns : {'train', 'all'}
        Drop columns constant on the training rows (default) or, as the authors' code does,
        only those constant on all rows before splitting (then a column constant on train is
        kept and test values there map to ``x - min``).

    Returns
    -------
    Split
    """
    from .datasets import Dataset, load

    _check_args(protocol, labeled_ratio, split_seed, constant_columns)
    ds = dataset if isinstance(dataset, Dataset) else load(dataset, data_dir)
    y = np.asarray(ds.y)
    if not y.any():
        raise ValueError(f"dataset {ds.name!r} has no anomalies (y == 1); cannot split.")
    parts = [_split_class(np.flatnonzero(y == c), split_seed, lab)
             for c, lab in ((0, "normal"), (1, "anomaly"))]
    train, test, val = (np.concatenate([p[i] for p in parts]) for i in range(3))
    info = {"dataset": ds.name, "status": ds.info.status, "split_seed": int(split_seed),
            "n_features_raw": int(ds.X.shape[1])}
    return _finish(ds.X, y, train, test, val, protocol=protocol, labeled_ratio=labeled_ratio,
                   feature_names=ds.feature_names, info=info,
                   constant_columns=constant_columns)


def _attack_type(name, role):
    key = str(name).strip().lower()
    full = {v.lower(): v for v in UNSEEN_TYPES.values()}
    if key in UNSEEN_TYPES:
        return UNSEEN_TYPES[key]
    if key in full:
        return full[key]
    raise ValueError(f"{role} must be one of DoS, Rec, Bac, Ana (case-insensitive); got {name!r}.")


def make_unseen_split(seen, unseen, protocol="paper", labeled_ratio=0.01,
                      split_seed=SPLIT_SEED, data_dir=None, *, constant_columns="train"):
    """Unseen-anomaly split (Table 3): ``seen`` type in train/validation, ``unseen`` in test only.

    Built from the UNSW-NB15 82k partition (registry ``unsw_nb15_82k``): rows of types Normal,
    ``seen`` and ``unseen``; min-max over that subset; each type split 60/35/5; train and
    validation = Normal + seen; test = Normal + unseen; then the protocol's own train-fitted
    scaling and labeling. ``seen``/``unseen`` in {'DoS', 'Rec', 'Bac', 'Ana'}.
    """
    from sklearn.preprocessing import minmax_scale

    from .datasets import load

    _check_args(protocol, labeled_ratio, split_seed, constant_columns)
    seen_t, unseen_t = _attack_type(seen, "seen"), _attack_type(unseen, "unseen")
    if seen_t == unseen_t:
        raise ValueError(f"seen and unseen must be different attack types; both are {seen_t}.")
    raw = load("unsw_nb15_82k", data_dir)
    if raw.anomaly_type is None:
        raise ValueError("the unsw_nb15_82k file has no attack_cat array; cannot build unseen splits.")
    rows = np.flatnonzero(np.isin(raw.anomaly_type, ["Normal", seen_t, unseen_t]))
    kind = raw.anomaly_type[rows]
    X = minmax_scale(raw.X[rows].astype(np.float64)).astype(np.float32)  # constant -> 0
    normal, seen_p, unseen_p = (_split_class(np.flatnonzero(kind == t), split_seed, t)
                                for t in ("Normal", seen_t, unseen_t))
    train = np.concatenate([normal[0], seen_p[0]])
    test = np.concatenate([normal[1], unseen_p[1]])
    val = np.concatenate([normal[2], seen_p[2]])
    y = (kind != "Normal").astype(np.int8)
    abbr = {v: k.capitalize() for k, v in UNSEEN_TYPES.items()}
    abbr["DoS"] = "DoS"
    info = {"dataset": f"{abbr[seen_t]}->{abbr[unseen_t]}", "status": "substitute",
            "split_seed": int(split_seed), "seen": abbr[seen_t], "unseen": abbr[unseen_t],
            "source_dataset": raw.name, "n_features_raw": int(X.shape[1])}
    return _finish(X, y, train, test, val, protocol=protocol, labeled_ratio=labeled_ratio,
                   feature_names=raw.feature_names, info=info, rows=rows,
                   constant_columns=constant_columns)
