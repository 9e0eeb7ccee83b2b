"""Shared machinery of every mnpad detector.

:class:`BaseDetector` is a scikit-learn ``BaseEstimator`` with PyOD's detector conventions
(higher score = more anomalous, ``decision_scores_``, ``threshold_``, ``predict``,
``predict_proba``). It owns input validation, seeding, thresholds and persistence hooks.
:class:`TorchDetector` adds what the neural detectors share: device choice, the epoch loop with
progress bar, history and early stopping, batched scoring, and saving the network's tensors.

A detector file only defines its network, its loss and its sampling (``_fit`` and ``_score``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import threading
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    DeviceName,
    check_feature_names,
    check_random_state_int,
    check_X,
    check_y,
    feature_names_of,
    validate_params,
)

__all__ = ["BaseDetector", "TorchDetector", "resolve_device"]


class BaseDetector(BaseEstimator):
    """Base class of all mnpad detectors.

    Subclasses declare their hyper-parameters explicitly in a keyword-only ``__init__``
    (scikit-learn style, no ``*args``/``**kwargs``), their allowed values in the class
    attribute ``_parameter_constraints`` (checked once at the start of :meth:`fit`, see
    :func:`mnpad._validation.validate_params`), and implement

    - ``_fit(self, X, y, rng, validation_data)``: train on validated float32 ``X`` and int8 ``y``
      (1 = labeled anomaly, 0 = unlabeled), using only the local generator ``rng``;
    - ``_score(self, X)``: return float64 anomaly scores (higher = more anomalous) for validated X.

    Class attributes
    ----------------
    weakly_supervised : bool
        If True, ``fit`` requires at least one labeled anomaly in ``y``; otherwise ``y`` is
        optional and ignored.
    min_unlabeled : int
        Fewest unlabeled rows ``fit`` accepts.
    """

    weakly_supervised = True
    min_unlabeled = 2
    #: allowed values of the hyper-parameters shared by detectors; each class declares its own
    #: dict as ``{**BaseDetector._parameter_constraints, ...}`` (scikit-learn's convention)
    _parameter_constraints: dict = {
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="neither")],
        "random_state": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator],
        "device": [DeviceName()],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        "verbose": ["boolean", Interval(Integral, 0, None, closed="left")],
    }
    #: names of fitted attributes (numpy arrays) saved by persistence, besides the common ones
    _fitted_arrays: tuple = ()
    #: names of fitted attributes (JSON-able) saved by persistence, besides the common ones
    _fitted_json: tuple = ()
    #: torch intra-op threads during ``fit`` (restored afterwards); None: left as they are
    _fit_threads = None

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, validation_data=None):
        """Fit the detector.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training rows (numeric features).
        y : array-like of shape (n_samples,), optional
            1 marks a labeled anomaly, 0 an unlabeled row (which may itself be an anomaly).
            Required by weakly supervised detectors; unsupervised ones ignore it entirely
            (neither checked nor used, also not for ``threshold_``).
        validation_data : tuple (X_val, y_val), optional
            A labeled validation split (y_val: 1 = anomaly, 0 = normal). Detectors that support
            it use it for early stopping on validation average precision; others ignore it.

        Returns
        -------
        self
        """
        validate_params(self)
        self._validate_param_relations()
        X, columns = check_X(X)
        if X.shape[0] < 2:
            raise ValueError(f"X has 1 sample (n_samples=1); {type(self).__name__} needs at "
                             "least 2 rows to fit.")
        if self.weakly_supervised:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None: "
                    "mark labeled anomalies with 1 and unlabeled rows with 0."
                )
            y = check_y(y, X.shape[0], require_anomaly=True)
        else:  # unsupervised: y is ignored, whatever it holds
            y = np.zeros(X.shape[0], np.int8)
        n_unl = int((y == 0).sum())
        if n_unl < self.min_unlabeled:
            raise ValueError(
                f"X has {n_unl} unlabeled row(s); {type(self).__name__} needs at least "
                f"{self.min_unlabeled}."
            )
        if validation_data is not None:
            validation_data = self._check_validation_data(validation_data, X.shape[1], columns)
        rng = check_random_state_int(self.random_state)
        self.n_features_in_ = X.shape[1]
        if columns is not None:
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        t0 = time.perf_counter()
        with _torch_seeded(int(rng.integers(2**62)), threads=self._fit_threads) as gen:
            self._torch_gen = gen  # the fit's own torch generator (see _torch_seeded)
            try:
                self._fit(X, y, rng, validation_data)
            finally:
                del self._torch_gen
        self.fit_time_ = time.perf_counter() - t0
        self._fitted = True
        self.decision_scores_ = self._score_checked(X)
        self.threshold_ = self._compute_threshold(self.decision_scores_, y)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int8)
        return self

    def _validate_param_relations(self):
        """Checks across several hyper-parameters, after ``_parameter_constraints`` (which
        checks each one alone); raise ``ValueError``. None by default."""

    def _check_validation_data(self, validation_data, n_features, columns=None):
        try:
            Xv, yv = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a tuple (X_val, y_val).") from None
        names_val = feature_names_of(Xv)
        if columns is not None and names_val is not None and list(names_val) != list(columns):
            raise ValueError("X_val's columns differ from X's (names or order); give both the "
                             f"same columns: X has {list(columns)[:5]}, X_val {names_val[:5]}.")
        Xv, _ = check_X(Xv, name="X_val", n_features=n_features,
                        estimator=type(self).__name__)
        yv = check_y(yv, Xv.shape[0], name="y_val", require_anomaly=True)
        if yv.all():
            raise ValueError("y_val has no normal row (0); early stopping needs both classes.")
        return Xv, yv

    def _compute_threshold(self, scores, y):
        """Decision threshold on training scores; also sets ``threshold_info_`` (one line
        saying how it was set, shown by ``mnpad fit``).

        ``contamination`` float: the (1 - contamination) quantile of the training scores.
        ``'auto'``: for a weakly supervised detector with labeled anomalies, the score that
        the lowest 10 % of the labeled anomalies fall under (so ~90 % of the known anomalies
        are flagged), but never below the 90 % quantile of the training scores (so at most
        10 % of the training rows are flagged); for unsupervised detectors (which ignore y)
        or without labels, PyOD's default contamination of 0.1. Measured on the paper's
        datasets in ``benchmarks/results/threshold_study.md``.
        """
        c = self.contamination
        if c == "auto":
            c = 0.1
            if getattr(self, "weakly_supervised", True) and y is not None and y.any():
                t_lab = float(np.quantile(scores[y == 1], 0.1))
                t_cap = float(np.quantile(scores, 1.0 - c))
                if t_lab >= t_cap:
                    self.threshold_info_ = ("contamination='auto': the score ~90 % of the "
                                            "labeled anomalies exceed")
                    return t_lab
                self.threshold_info_ = ("contamination='auto': capped at the top 10 % of the "
                                        "training scores (~90 % of the labeled anomalies "
                                        "score above a lower level)")
                return t_cap
            self.threshold_info_ = "contamination='auto': the top 10 % of the training scores"
            return float(np.quantile(scores, 1.0 - c))
        self.threshold_info_ = (f"contamination={c:g}: the top {100 * c:g} % of the training "
                                "scores")
        return float(np.quantile(scores, 1.0 - c))

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self):
        check_is_fitted(self, ["threshold_", "n_features_in_"])

    def _validate_X(self, X):
        """The one predict-time validator (scikit-learn's ``validate_data(reset=False)``):
        fitted?, feature names (reordered or renamed columns raise ``ValueError``), feature
        count, then the values. Returns validated float32 ``X``. Every public method that
        takes ``X`` after fitting goes through it."""
        self._check_fitted()
        check_feature_names(self, X)
        return check_X(X, n_features=self.n_features_in_, estimator=type(self).__name__)[0]

    def _score_checked(self, X):
        scores = np.asarray(self._score(X), dtype=np.float64).reshape(-1)
        if not np.isfinite(scores).all():
            raise FloatingPointError(
                f"{type(self).__name__} produced non-finite scores; the training probably "
                "diverged. Try a lower learning rate or scale the features to [0, 1]."
            )
        return scores

    def decision_function(self, X):
        """Anomaly scores of ``X``; higher means more anomalous.

        A row's score does not depend on the other rows scored with it.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features_in_)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self._score_checked(self._validate_X(X))

    def score_samples(self, X):
        """Opposite of :meth:`decision_function` (scikit-learn convention: lower = abnormal)."""
        return -self.decision_function(X)

    def predict(self, X):
        """0/1 labels: 1 where ``decision_function(X) > threshold_``."""
        return (self.decision_function(X) > self.threshold_).astype(np.int8)

    def predict_proba(self, X, method="linear"):
        """Probability of being normal / anomalous, shape (n_samples, 2).

        ``method='linear'`` (PyOD's default) min-max scales scores by the training scores;
        ``method='unify'`` uses the Gaussian scaling of Kriegel et al. (2011).
        """
        if method not in ("linear", "unify"):
            raise ValueError(f"method must be 'linear' or 'unify'; got {method!r}.")
        s = self.decision_function(X)
        train = self.decision_scores_
        if method == "linear":
            lo, hi = float(train.min()), float(train.max())
            p = np.clip((s - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
        else:  # 'unify'
            from scipy.special import erf

            mu, sd = float(train.mean()), float(train.std())
            p = np.clip(erf((s - mu) / (max(sd, 1e-12) * math.sqrt(2.0))), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def __sklearn_tags__(self):
        """scikit-learn tags: an outlier detector (PyOD's 0/1 labels, higher score = more
        anomalous); ``y`` required by weakly supervised detectors, ignored by the others;
        float32 ``transform`` output where there is one; deterministic for a fixed seed."""
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "outlier_detector"
        tags.target_tags.required = bool(self.weakly_supervised)
        tags.target_tags.one_d_labels = True
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False  # same seed and data -> identical scores (CPU and CUDA)
        if hasattr(self, "transform"):
            tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        return tags

    def fit_predict(self, X, y=None, **fit_params):
        """Fit, then return the 0/1 labels of the training rows."""
        return self.fit(X, y, **fit_params).labels_

    # ------------------------------------------------------------------ persistence
    def save(self, path, overwrite=False):
        """Save the fitted detector as tensors + JSON (no pickle). See :func:`mnpad.load`."""
        from .persistence import save_detector

        save_detector(self, path, overwrite=overwrite)
        return path

    def _get_fitted_state(self):
        """(json_dict, arrays_dict, blobs_dict) describing the fitted detector."""
        state = {
            "n_features_in_": int(self.n_features_in_),
            "threshold_": float(self.threshold_),
            "fit_time_": float(getattr(self, "fit_time_", 0.0)),
            "history_": getattr(self, "history_", []),
        }
        if hasattr(self, "feature_names_in_"):
            state["feature_names_in_"] = [str(c) for c in self.feature_names_in_]
        for name in self._fitted_json:
            state[name] = _jsonable(getattr(self, name))
        arrays = {"decision_scores_": self.decision_scores_, "labels_": self.labels_}
        for name in self._fitted_arrays:
            arrays[name] = np.asarray(getattr(self, name))
        return state, arrays, {}

    def _set_fitted_state(self, state, arrays, blobs):
        self.n_features_in_ = int(state["n_features_in_"])
        self.threshold_ = float(state["threshold_"])
        self.fit_time_ = float(state.get("fit_time_", 0.0))
        self.history_ = state.get("history_", [])
        if "feature_names_in_" in state:
            self.feature_names_in_ = np.asarray(state["feature_names_in_"], dtype=object)
        for name in self._fitted_json:
            setattr(self, name, state[name])
        self.decision_scores_ = arrays["decision_scores_"]
        self.labels_ = arrays["labels_"]
        for name in self._fitted_arrays:
            setattr(self, name, arrays[name])
        self._fitted = True


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


@contextlib.contextmanager
def _torch_seeded(seed, threads=None):
    """A local torch generator seeded with ``seed`` for a fit (yielded); torch's global RNG is
    not used.

    Every random draw of a fit comes from this generator: network initialisation through
    :func:`_torch_rng_from`, other draws with ``generator=``. So fits running concurrently in
    threads of one process do not share a random stream and stay reproducible. On CUDA,
    deterministic algorithms are switched on for the fit and restored afterwards.
    ``threads``: torch's intra-op thread count for the fit (:func:`_torch_threads`); None
    leaves it alone.
    """
    with _torch_threads(threads), _torch_determinism():
        import torch

        yield torch.Generator().manual_seed(seed % (2**63 - 1))


@functools.cache
def _random_functions():
    """torch's random functions that take ``generator=`` but are often called without it."""
    import torch

    T = torch.Tensor
    return frozenset([T.uniform_, T.normal_, T.random_, T.bernoulli_, T.exponential_,
                      T.cauchy_, T.log_normal_, T.geometric_, torch.rand, torch.randn,
                      torch.randint, torch.randperm, torch.rand_like, torch.randn_like,
                      torch.randint_like, torch.normal, torch.bernoulli, torch.multinomial,
                      torch.poisson])


@contextlib.contextmanager
def _torch_rng_from(gen):
    """Make the random draws of the block (module construction: ``nn.Linear``'s default
    initialisation and ``nn.init`` take no generator when called without one) come from
    ``gen`` instead of torch's global generator.

    A torch function mode injects ``generator=gen`` into every random function called without
    one. Torch's mode stack is per thread, so other threads, and their use of the global
    generator, are unaffected; the draws are exactly those the block would make after
    ``torch.manual_seed`` with ``gen``'s seed and state (same functions, same order, same
    stream). ``gen=None``: a throwaway generator (networks whose initial values are replaced at
    once, e.g. when a saved model is loaded). For the block only: the mode's dispatch through
    Python costs time on every torch call.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    gen = torch.Generator() if gen is None else gen
    random = _random_functions()

    class LocalGenerator(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            # nn.init passes generator=None explicitly; the tensor methods get it added
            if kwargs.get("generator", 0) is None or (func in random and "generator" not in kwargs):
                kwargs["generator"] = gen
            return func(*args, **kwargs)

    with LocalGenerator():
        yield


#: fits inside ``_torch_threads`` now (all threads of the process) and the count before them
_THREADS_LOCK = threading.Lock()
_THREADS = {"depth": 0, "saved": None}


@contextlib.contextmanager
def _torch_threads(n):
    """``torch.set_num_threads(n)`` for the block; the count from before is restored when the
    last block still running in this process ends (torch's setting is per process: fits running
    concurrently in threads of one process share it, and the first one's end must not restore
    it under the others). None: no change."""
    if n is None:
        yield
        return
    import torch

    with _THREADS_LOCK:
        if _THREADS["depth"] == 0:
            _THREADS["saved"] = torch.get_num_threads()
        _THREADS["depth"] += 1
        torch.set_num_threads(int(n))  # also in this thread (OpenMP keeps a count per thread)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS["depth"] -= 1
            if _THREADS["depth"] == 0:
                torch.set_num_threads(_THREADS["saved"])


@contextlib.contextmanager
def _torch_determinism():
    """On CUDA, deterministic kernels for the block (restored afterwards); on the CPU nothing."""
    import torch

    cuda = torch.cuda.is_available()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if cuda:  # deterministic CUDA kernels for the fit (cuBLAS needs this workspace setting)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        if cuda:
            torch.use_deterministic_algorithms(was_deterministic)


def _aligned_matmul():
    """Context in which ``F.linear`` and matrix products pad the reduced dimension with zeros
    to a multiple of 16.

    A BLAS matrix product may round a row differently depending on the row's memory alignment
    (MKL with e.g. 5, 7 or 13 features), so padding chunks to a fixed size is not enough for a
    row's score to be bit-identical however it is batched. With the inner dimension a multiple
    of 16 every row starts 64-byte aligned; the added zero terms leave the products' values
    unchanged. (Checked on 420 shapes, float32 and float64, against row position.)
    """
    import torch
    from torch.nn import functional as F
    from torch.overrides import TorchFunctionMode

    def pad_last(t, k):
        return t if t.shape[-1] == k else F.pad(t, (0, k - t.shape[-1]))

    matmuls = (torch.matmul, torch.mm, torch.Tensor.matmul, torch.Tensor.__matmul__,
               torch.Tensor.mm)

    class AlignedMatmul(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.linear and len(args) >= 2:
                x, w = args[0], args[1]
                bias = args[2] if len(args) > 2 else kwargs.get("bias")
                k = -(-x.shape[-1] // 16) * 16
                return F.linear(pad_last(x, k), pad_last(w, k), bias)
            if (func in matmuls and len(args) == 2 and not kwargs and args[0].dim() >= 2
                    and getattr(args[1], "dim", lambda: 0)() == 2):
                a, m = args
                k = -(-a.shape[-1] // 16) * 16
                return torch.matmul(pad_last(a, k), pad_last(m.t(), k).t())
            return func(*args, **kwargs)

    return AlignedMatmul()


def resolve_device(device):
    """'auto' -> 'cuda' when available else 'cpu'; validates explicit choices."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    dev = str(device)
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available; use 'auto'.")
        return dev
    if dev == "cpu" or dev == "mps":
        return dev
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:i]'; got {device!r}.")


class TorchDetector(BaseDetector):
    """Base of the neural detectors: it owns the training loop.

    :meth:`_fit` is a template (after PyOD's ``BaseDeepLearningDetector``)::

        data = self._setup(X, y, rng, validation_data)    # tensors, draws made before the network
        self.arch_ = self._architecture(X, y)              # network sizes (JSON)
        self.net_ = self._new_network()                    # _build_network(**arch_): nn.Module
        history = self._before_training(data, rng)         # e.g. autoencoder pretraining
        history += self._run_phase("train", ...)           # epochs of _batches + _batch_loss

    A detector implements only its network and its loss and sampling hooks:

    - ``_architecture(X, y) -> dict`` and ``_build_network(**arch) -> nn.Module``;
    - ``_batches(rng, data, epoch) -> sequence`` — one epoch's batches (its sampling);
    - ``_batch_loss(batch, data) -> dict`` — ``'loss'`` is minimised, other entries are
      logged in ``history_`` as per-epoch means;

    and optionally ``_setup``, ``_before_training`` (:meth:`_pretrain_autoencoder` is the shared
    pretraining piece), ``_optimizer``, ``_epoch_start``, ``_epoch_end``, ``_n_epochs``,
    ``_validation_score`` and ``_score_batch`` (the scoring forward pass, default ``net_(t)``).

    ``history_`` has one row per epoch: ``epoch``, ``phase`` (``'pretrain'`` or ``'train'``),
    ``steps`` (optimiser steps taken), ``loss`` and the named terms, and ``val_score`` when a
    validation split is used.
    """

    #: scoring chunk size, fixed so that a row's score never depends on the caller's batching
    _score_chunk = 4096
    #: training runs on one intra-op thread (restored after ``fit``): torch's float rounding
    #: depends on the thread count, so a fitted network would otherwise differ between
    #: machines with different core counts; these networks are too small for a second thread
    #: to pay (docs/mnp.md, "Reproducibility" and "Speed"). Scoring keeps every thread.
    _fit_threads = 1
    #: early-stop on ``validation_data`` when it is given (``patience`` epochs, best restored)
    uses_validation = False

    # -- device / network
    def _device(self):
        if not hasattr(self, "device_"):
            self.device_ = resolve_device(getattr(self, "device", "auto"))
        return self.device_

    def _architecture(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_network(self, **arch):  # pragma: no cover - abstract
        raise NotImplementedError

    def _new_network(self, loading=False):
        """``_build_network(**arch_)`` on the device, its initial values drawn from the fit's
        own generator (:func:`_torch_rng_from`); ``loading``: from a throwaway stream (the
        values are replaced by the saved ones)."""
        with _torch_rng_from(None if loading else self._torch_gen):
            net = self._build_network(**self.arch_)
        return net.to(self._device())

    def _randn(self, like):
        """Standard normal noise shaped like ``like`` from the fit's own generator (drawn on
        the CPU: on the CPU the same values as ``torch.randn_like`` after ``torch.manual_seed``
        with the generator's seed and state)."""
        import torch

        return torch.randn(like.shape, generator=self._torch_gen, dtype=like.dtype).to(
            like.device)

    def _tensor(self, X):
        import torch

        if isinstance(X, np.ndarray) and not X.flags.writeable:
            # read-only input (e.g. joblib's memory-mapped arrays): tensors made from it are
            # only read, so torch's "non-writable array" warning does not apply
            import warnings

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                return torch.as_tensor(X, dtype=torch.float32, device=self._device())
        return torch.as_tensor(X, dtype=torch.float32, device=self._device())

    # -- the training template and its default hooks
    def _fit(self, X, y, rng, validation_data):
        data = self._setup(X, y, rng, validation_data)
        self.arch_ = self._architecture(X, y)
        self.net_ = self._new_network()
        history = self._before_training(data, rng)
        history += self._train(data, rng)
        self.history_ = history
        self.net_.eval()

    def _train(self, data, rng):
        """The end-to-end training phase of ``net_``; its history rows."""
        validation = data.get("validation") if self.uses_validation else None
        return self._run_phase(
            "train", self._n_epochs(validation), self._optimizer(self.net_.parameters()),
            lambda epoch: self._batches(rng, data, epoch),
            lambda batch: self._batch_loss(batch, data),
            validation=validation, patience=getattr(self, "patience", None),
            clip_norm=getattr(self, "clip_norm", None),
            epoch_start=lambda epoch: self._epoch_start(epoch, data),
            epoch_end=lambda sums, n: self._epoch_end(sums, n, data),
            desc=type(self).__name__, **self._stopping())

    def _setup(self, X, y, rng, validation_data):
        """Training data as device tensors: ``Xu`` (unlabeled), ``Xa`` (labeled anomalies),
        and ``validation``. Override to add draws that precede the network (e.g. references)."""
        return {"Xu": self._tensor(X[y == 0]), "Xa": self._tensor(X[y == 1]),
                "validation": validation_data}

    def _before_training(self, data, rng):
        """Work between building the network and training it (pretraining); history rows."""
        return []

    def _optimizer(self, params):
        import torch

        return torch.optim.Adam(params, lr=float(self.lr),
                                weight_decay=float(getattr(self, "weight_decay", 0.0)))

    def _n_epochs(self, validation):
        return int(self.epochs)

    def _stopping(self):
        """Early-stopping rule: keyword arguments of :meth:`_run_phase` (``min_delta``,
        ``restore``)."""
        return {}

    def _epoch_start(self, epoch, data):
        """Called before each training epoch's batches are drawn."""

    def _epoch_end(self, sums, n_steps, data):
        """Called after each training epoch with the summed (detached) loss terms; returns
        extra or replacement history entries."""
        return {}

    def _validation_score(self, X_val, y_val):
        """Early-stopping criterion (higher is better): average precision."""
        from sklearn.metrics import average_precision_score

        return float(average_precision_score(y_val, self._score(X_val)))

    def _score_batch(self, t):
        return self.net_(t)

    def _score(self, X):
        return self._batched(self._score_batch, X, chunk=int(self.batch_size)).astype(np.float64)

    # -- the loop
    def _run_phase(self, phase, n_epochs, optimizer, batches, loss, *, modules=None,
                   validation=None, patience=None, min_delta=1e-12, restore="best",
                   clip_norm=None, epoch_start=None, epoch_end=None, desc=None,
                   backward=True):
        """Train for up to ``n_epochs`` epochs; returns the history rows of this phase.

        Each epoch calls ``epoch_start(epoch)``, draws ``batches(epoch)`` and takes one
        optimiser step per batch on ``loss(batch)['loss']`` (gradient-norm clipping at
        ``clip_norm`` when given); the history row holds every entry of ``loss`` averaged over
        the epoch's steps, updated with ``epoch_end(sums, n_steps)``. ``modules`` (default
        ``[net_]``) are put in train mode each epoch. With ``validation=(X_val, y_val)`` the
        criterion :meth:`_validation_score` (or ``validation()`` when it is a callable) is
        recorded as ``val_score``; training stops after
        ``patience`` epochs without an improvement larger than ``min_delta``, and the best
        epoch's parameters of ``modules`` are restored (``restore='best'``: always;
        ``'on_stop'``: only when early stopping fires, else the last epoch is kept).
        ``backward=False``: ``loss(batch)`` has set every parameter's ``.grad`` itself (a
        hand-written backward pass), so the loop neither clears the gradients nor back-propagates.
        """
        import torch
        from tqdm.auto import tqdm

        modules = modules if modules is not None else [self.net_]
        params = [p for m in modules for p in m.parameters()] if clip_norm else None
        history = []
        best, best_state, wait, stopped = -math.inf, None, 0, False
        bar = tqdm(range(int(n_epochs)), desc=desc or type(self).__name__,
                   disable=not getattr(self, "verbose", False), leave=False)
        for epoch in bar:
            if epoch_start is not None:
                epoch_start(epoch)
            for m in modules:
                m.train()
            sums, n = {}, 0
            for batch in batches(epoch):
                out = loss(batch)
                if backward:
                    optimizer.zero_grad(set_to_none=True)
                    out["loss"].backward()
                if clip_norm:
                    torch.nn.utils.clip_grad_norm_(params, float(clip_norm))
                optimizer.step()
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v.detach()
                n += 1
            rec = {"epoch": epoch, "phase": phase, "steps": n}
            rec.update({k: float(v) / max(n, 1) for k, v in sums.items()})
            if epoch_end is not None:
                rec.update(epoch_end(sums, n) or {})
            if validation is not None:
                v = float(validation() if callable(validation)
                          else self._validation_score(*validation))
                rec["val_score"] = v
                if v > best + min_delta:
                    best, wait = v, 0
                    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
                else:
                    wait += 1
            history.append(rec)
            bar.set_postfix({k: f"{v:.4g}" for k, v in rec.items()
                             if k not in ("epoch", "phase", "steps")})
            if validation is not None and patience is not None and wait >= int(patience):
                stopped = True
                break
        if best_state is not None and (restore == "best" or stopped):
            for m, s in zip(modules, best_state, strict=True):
                m.load_state_dict(s)
        return history

    def _pretrain_autoencoder(self, reconstruct, X, n_epochs, optimizer, batches, *,
                              modules=None, desc=None):
        """Autoencoder pretraining phase: MSE of ``reconstruct(X[b])`` against ``X[b]`` over
        the index batches ``batches(epoch)`` (the shared piece of MNP, FeaWAD, Deep SVDD)."""
        import torch
        from torch.nn import functional as F

        def loss(b):
            x = X[torch.as_tensor(b, device=X.device)]
            return {"loss": F.mse_loss(reconstruct(x), x)}

        return self._run_phase("pretrain", n_epochs, optimizer, batches, loss, modules=modules,
                               desc=desc or f"{type(self).__name__} pretrain")

    @staticmethod
    def _random_batches(rng, n, steps, size, device):
        """(steps, size) row indices drawn with replacement, as one device tensor."""
        import torch

        return torch.as_tensor(rng.integers(0, n, size=(steps, size)), device=device)

    def _batched(self, fn, X, chunk=None, aligned=True):
        """Apply ``fn(tensor) -> tensor`` to X; returns a numpy array.

        ``chunk`` rows (default: the ``batch_size`` parameter) are moved to the device at a
        time, but the network always runs on blocks of exactly ``_score_chunk`` rows (the last
        one zero-padded), so the same kernels run whatever the number of rows or the batch
        size: a row's score is bit-identical however the caller batches its input.
        ``aligned=False`` skips the matmul padding, for ``fn`` that pads its widths itself.
        """
        import torch

        block = int(self._score_chunk)
        chunk = max(int(chunk or getattr(self, "batch_size", block) or block), 1)
        n = X.shape[0]
        outs = []
        net = getattr(self, "net_", None)
        was_training = net.training if net is not None else False
        if net is not None:
            net.eval()
        try:
            with torch.inference_mode(), (_aligned_matmul() if aligned
                                          else contextlib.nullcontext()):
                for start in range(0, n, chunk):
                    t = self._tensor(X[start:start + chunk])
                    for s in range(0, t.shape[0], block):
                        part = t[s:s + block]
                        m = part.shape[0]
                        if m < block:
                            part = torch.cat([part, part.new_zeros((block - m,) + part.shape[1:])])
                        # copy: on the CPU .numpy() shares memory with fn's (reusable) output
                        outs.append(fn(part)[:m].float().cpu().numpy().copy())
        finally:
            if net is not None and was_training:
                net.train()
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    # -- persistence of network tensors
    def _get_fitted_state(self):
        state, arrays, blobs = super()._get_fitted_state()
        state["arch_"] = self.arch_
        for k, v in self.net_.state_dict().items():
            arrays["net." + k] = v.detach().cpu().numpy()
        return state, arrays, blobs

    def _set_fitted_state(self, state, arrays, blobs):
        import torch

        super()._set_fitted_state(state, arrays, blobs)
        self.arch_ = state["arch_"]
        self.net_ = self._new_network(loading=True)
        sd = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net.")}
        try:
            self.net_.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"model file does not match the {type(self).__name__} network: {exc}") from None
        self.net_.eval()
