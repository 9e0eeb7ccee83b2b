"""MNP: reconstruction-based Multi-Normal Prototypes learning (Dong et al., AAAI 2025).

The detector of the paper in ``shared/paper``: an autoencoder (eq. 1-2) whose latent space holds
``k`` learned normal prototypes (eq. 6), a per-row likelihood of being normal ``w_i`` (eq. 7)
that down-weights contaminated unlabeled rows in the reconstruction loss (eq. 3-5), a DEC
clustering loss (eq. 8) and a contrastive loss (eq. 9-10) on the prototypes, and a scorer on
``cat(e, z, s)`` (eq. 11-12); the three losses are balanced by dynamic weight averaging (eq. 13).
``docs/mnp.md`` maps every equation to this file and lists each choice and deviation.
"""

from __future__ import annotations

import threading
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from ..base import TorchDetector

__all__ = ["MNP"]

#: ``epochs='auto'``: the maximum with early stopping on ``validation_data`` ...
AUTO_EPOCHS_WITH_VALIDATION = 100
#: ... and the fixed schedule without it (median validation-chosen epoch, docs/mnp.md)
AUTO_EPOCHS_WITHOUT_VALIDATION = 6
#: fewest held-out labeled anomalies for the internal validation split (early_stopping='auto')
MIN_HELD_OUT_ANOMALIES = 2


def _padded_inference(net, n_features):
    """Inference-only copy of a trained MNPNet with every width padded to a multiple of 16.

    Zero-padded inputs, units and weights leave every value unchanged (LeakyReLU(0) = 0,
    SmoothL1(0, 0) = 0), while each row of every matrix product starts 64-byte aligned and no
    per-call padding or dispatch overhead remains: scoring is faster and a row's score is
    bit-identical wherever it sits in a batch (BLAS rounding can depend on row alignment).
    Returns ``fn(x) -> (logit, e, s, zn)`` for a block ``x`` of shape (B, n_features).
    """
    import torch
    from torch.nn import functional as F

    def r16(n):
        return -(-n // 16) * 16

    def padded(w, rows, cols):
        out = w.new_zeros(rows, cols)
        out[:w.shape[0], :w.shape[1]] = w
        return out

    D = n_features
    e1, e2, d1, d2 = net.encoder[0], net.encoder[2], net.decoder[0], net.decoder[2]
    s1, s2 = net.scorer[0], net.scorer[2]
    h, H = e1.out_features, e2.out_features
    Dp, hp, Hp = r16(D), r16(h), r16(H)
    with torch.no_grad():
        W1, b1 = padded(e1.weight, hp, Dp).T.contiguous(), padded(e1.bias[:, None], hp, 1)[:, 0]
        W2, b2 = padded(e2.weight, Hp, hp).T.contiguous(), padded(e2.bias[:, None], Hp, 1)[:, 0]
        W3, b3 = padded(d1.weight, hp, Hp).T.contiguous(), padded(d1.bias[:, None], hp, 1)[:, 0]
        W4, b4 = padded(d2.weight, Dp, hp).T.contiguous(), padded(d2.bias[:, None], Dp, 1)[:, 0]
        unT = padded(F.normalize(net.prototypes, dim=1), net.prototypes.shape[0], Hp).T.contiguous()
        # scorer input laid out as [zn (Hp), e, smax, 0...]; the network's is [e, zn, smax]
        Fp = r16(Hp + 2)
        ws = s1.weight
        W5 = ws.new_zeros(ws.shape[0], Fp)
        off = 1 if net.use_decoder else 0
        W5[:, :H] = ws[:, off:off + H]
        if net.use_decoder:
            W5[:, Hp] = ws[:, 0]
        W5[:, Hp + 1] = ws[:, off + H]
        W5, b5 = W5.T.contiguous(), s1.bias.clone()
        W6, b6 = s2.weight.T.contiguous(), s2.bias.clone()
    alpha, use_dec = net.alpha, net.use_decoder
    local = threading.local()  # per-thread work buffers, reused across blocks

    def buffers(x):
        B = x.shape[0]
        b = getattr(local, "b", None)
        if b is None or b["x"].shape[0] != B or b["x"].device != x.device:
            new = lambda n: x.new_zeros(B, n)  # noqa: E731
            b = local.b = {"x": new(Dp), "a1": new(hp), "z": new(Hp), "a3": new(hp),
                           "xh": new(Dp), "f": new(Fp), "a5": new(W5.shape[1]), "o": new(1)}
        return b

    def fn(x):
        b = buffers(x)
        xp, z, feats = b["x"], b["z"], b["f"]
        xp[:, :D].copy_(x)  # the padding columns stay zero
        F.leaky_relu_(torch.addmm(b1, xp, W1, out=b["a1"]), 0.01)
        F.leaky_relu_(torch.addmm(b2, b["a1"], W2, out=z), 0.01)
        zn = F.normalize(z, dim=1)
        dist = (2.0 - 2.0 * (zn @ unT)).clamp_min_(0.0)
        s = 1.0 / (1.0 + dist) if alpha == 1.0 else (1.0 + dist / alpha).pow(-(alpha + 1) / 2)
        feats[:, :Hp] = zn
        feats[:, Hp + 1] = s.max(1).values
        e = None
        if use_dec:
            F.leaky_relu_(torch.addmm(b3, z, W3, out=b["a3"]), 0.01)
            F.leaky_relu_(torch.addmm(b4, b["a3"], W4, out=b["xh"]), 0.01)
            e = F.smooth_l1_loss(b["xh"], xp, reduction="none").sum(1) / D
            feats[:, Hp] = e
        F.leaky_relu_(torch.addmm(b5, feats, W5, out=b["a5"]), 0.01)
        logit = torch.addmm(b6, b["a5"], W6, out=b["o"])[:, 0].clone()
        return logit, e, s, zn[:, :H]

    return fn


def _net_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MNPNet(nn.Module):
        """Encoder psi, decoder psi', prototypes {u_j} and scorer phi."""

        def __init__(self, n_features, hidden, latent, n_prototypes, scorer_hidden, use_decoder,
                     alpha):
            super().__init__()
            act = lambda: nn.LeakyReLU(0.01)  # noqa: E731 - authors' activation, every layer
            self.encoder = nn.Sequential(nn.Linear(n_features, hidden), act(),
                                         nn.Linear(hidden, latent), act())
            self.decoder = nn.Sequential(nn.Linear(latent, hidden), act(),
                                         nn.Linear(hidden, n_features), act())
            self.prototypes = nn.Parameter(torch.zeros(n_prototypes, latent))
            self.use_decoder = bool(use_decoder)
            n_in = latent + 1 + int(self.use_decoder)
            self.scorer = nn.Sequential(nn.Linear(n_in, scorer_hidden), act(),
                                        nn.Linear(scorer_hidden, 1))
            self.alpha = float(alpha)

        def similarity(self, zn):
            """Eq. (6): Student-t kernel between normalised z and normalised prototypes."""
            un = F.normalize(self.prototypes, dim=1)
            # both unit-norm: ||z - u||^2 = 2 - 2 z.u  (one matmul instead of a (B, k, H) tensor)
            d2 = (2.0 - 2.0 * zn @ un.T).clamp_min(0.0)
            if self.alpha == 1.0:
                return 1.0 / (1.0 + d2)
            return (1.0 + d2 / self.alpha).pow(-(self.alpha + 1.0) / 2.0)

        def recon_error(self, x, z):
            """Per-row l(x, x_hat): mean SmoothL1 over features (the authors' choice of l)."""
            return F.smooth_l1_loss(self.decoder(z), x, reduction="none").mean(1)

        def forward(self, x):
            z = self.encoder(x)
            zn = F.normalize(z, dim=1)
            s = self.similarity(zn)
            smax = s.max(1).values
            if self.use_decoder:
                e = self.recon_error(x, z)
                feats = torch.cat([e[:, None], zn, smax[:, None]], 1)
            else:
                e = None
                feats = torch.cat([zn, smax[:, None]], 1)
            return self.scorer(feats)[:, 0], e, s, zn

    return MNPNet


class MNP(TorchDetector):
    """Reconstruction-based Multi-Normal Prototypes weakly supervised anomaly detector.

    Parameters
    ----------
    n_prototypes : int or 'auto', default='auto'
        Number ``k`` of normal prototypes. ``'auto'`` picks k in 2..``max_prototypes`` by the best
        silhouette of KMeans on encoded unlabeled training rows (a subsample of at most
        ``cluster_sample`` rows); labels are never used.
    max_prototypes : int, default=10
    latent_dim : int, default=8
        H, the latent width (paper: 8).
    epochs : int or 'auto', default='auto'
        Training epochs of ``steps_per_epoch`` steps. With ``validation_data`` this is the
        maximum and training stops early after ``patience`` epochs without improvement of the
        validation average precision, restoring the best epoch; without it the full schedule
        runs. ``'auto'``: at most 100 epochs with ``validation_data``; 6 epochs without it,
        the median best epoch that validation-based early stopping chose on development splits
        (see docs/mnp.md; no test split was used).
    steps_per_epoch : int, default=64
    batch_size_unlabeled : int, default=128
        b_u (paper: 128).
    batch_size_anomaly : int, default=32
        b_a (paper: 32); labeled anomalies are drawn with replacement.
    lr : float, default=2e-4
        Adam learning rate of the end-to-end training. The paper uses 5e-3; with it the
        validation curves of every dataset we tried oscillate and collapse within a few epochs,
        with 2e-4 they are smooth and peak higher (docs/mnp.md, chosen on validation splits of
        development split seeds, never on a test split).
    weight_decay : float, default=5e-4
    margin : float, default=0.02
        m1 of the reconstruction hinge (eq. 4).
    alpha : float, default=1.0
        Degrees of freedom of the Student-t similarity (eq. 6).
    beta : float, default=1.0
        Scale of the normal-likelihood weight ``w_i = sigmoid(beta * max_j s_ij)`` (eq. 7).
    pretrain_epochs : int, default=10
        Autoencoder pretraining epochs (``steps_per_epoch`` steps of ``pretrain_batch_size``
        unlabeled rows each, MSE, Adam at ``pretrain_lr``).
    pretrain_lr : float, default=5e-3
        Adam learning rate of the pretraining (the paper's and the authors' 5e-3).
    pretrain_batch_size : int, default=256
    dwa_temperature : float, default=2.0
        T of dynamic weight averaging (eq. 13).
    patience : int, default=15
        Early-stopping patience in epochs (with ``validation_data`` or the internal split).
    early_stopping : 'auto' or False, default='auto'
        Without ``validation_data``: ``'auto'`` holds out ``validation_fraction`` of the
        labeled anomalies and of the unlabeled rows (when that is at least 2 labeled anomalies)
        and early-stops on their average precision, unlabeled rows counted as negatives;
        ``False`` (or too few labeled anomalies) trains on the fixed schedule.
        ``validation_data``, when given, is always used.
    validation_fraction : float, default=0.2
        Share held out by ``early_stopping='auto'``.
    use_recon_loss, use_np_loss, use_weights, use_decoder : bool, default=True
        Ablation switches of Table 4: without L_recon, without L_np (= L_con + L_kl), without
        w_i (all weights 1), without decoder (no reconstruction loss and the scorer sees no
        reconstruction error). "Without MNP" is ``n_prototypes=1``.
    contamination : 'auto' or float, default='auto'
        Sets ``threshold_``; see :meth:`BaseDetector._compute_threshold`.
    batch_size : int, default=4096
        Rows per scoring chunk (memory only: scores never depend on it).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
    random_state : int, numpy Generator or None
    verbose : bool, default=False
        Show a tqdm progress bar over epochs.

    Attributes
    ----------
    n_prototypes_ : int
        k used. ``silhouette_`` holds the silhouette per candidate k when chosen automatically.
    decision_scores_, threshold_, labels_, history_, n_features_in_
        As in PyOD; ``history_`` is a list of per-epoch dicts of losses, DWA weights and, with
        ``validation_data``, ``val_score``.

    Notes
    -----
    ``decision_function`` returns the scorer's logit, i.e. the paper's sigmoid score before the
    sigmoid: same ranking, but no ties from float32 saturation at 1.0.
    """

    weakly_supervised = True
    min_unlabeled = 16
    _fitted_json = ("n_prototypes_", "silhouette_", "validation_")
    _parameter_constraints = {
        **TorchDetector._parameter_constraints,
        "n_prototypes": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_prototypes": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "epochs": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
        "steps_per_epoch": [Interval(Integral, 1, None, closed="left")],
        "batch_size_unlabeled": [Interval(Integral, 1, None, closed="left")],
        "batch_size_anomaly": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither")],
        "pretrain_batch_size": [Interval(Integral, 1, None, closed="left")],
        "dwa_temperature": [Interval(Real, 0, None, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "early_stopping": [StrOptions({"auto", "off"}), Options(bool, {False})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "use_recon_loss": ["boolean"],
        "use_np_loss": ["boolean"],
        "use_weights": ["boolean"],
        "use_decoder": ["boolean"],
    }

    def __init__(self, *, n_prototypes="auto", max_prototypes=10, latent_dim=8, epochs="auto",
                 steps_per_epoch=64, batch_size_unlabeled=128, batch_size_anomaly=32, lr=2e-4,
                 weight_decay=5e-4, margin=0.02, alpha=1.0, beta=1.0, pretrain_epochs=10,
                 pretrain_lr=5e-3, pretrain_batch_size=256, dwa_temperature=2.0, patience=15,
                 early_stopping="auto", validation_fraction=0.2, use_recon_loss=True,
                 use_np_loss=True, use_weights=True, use_decoder=True,
                 contamination="auto",
                 batch_size=4096, device="auto", random_state=None, verbose=False):
        self.n_prototypes = n_prototypes
        self.max_prototypes = max_prototypes
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.batch_size_unlabeled = batch_size_unlabeled
        self.batch_size_anomaly = batch_size_anomaly
        self.lr = lr
        self.weight_decay = weight_decay
        self.margin = margin
        self.alpha = alpha
        self.beta = beta
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.pretrain_batch_size = pretrain_batch_size
        self.dwa_temperature = dwa_temperature
        self.patience = patience
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.use_recon_loss = use_recon_loss
        self.use_np_loss = use_np_loss
        self.use_weights = use_weights
        self.use_decoder = use_decoder
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def _validate_param_relations(self):
        if self.n_prototypes == "auto" and self.max_prototypes < 2:
            raise ValueError("max_prototypes must be >= 2 when n_prototypes='auto'; got "
                             f"{self.max_prototypes!r}.")

    def _build_network(self, n_features, hidden, latent, n_prototypes):
        return _net_class()(n_features, hidden, latent, n_prototypes, 16, self.use_decoder,
                            self.alpha)

    # ------------------------------------------------------------------ training
    def _fit(self, X, y, rng, validation_data):
        import torch

        dev = self._device()
        D, H = X.shape[1], int(self.latent_dim)
        hidden = max(D - (D - H) // 2, H)  # authors: D -> D - (D-H)//2 -> H
        self.validation_ = "given" if validation_data is not None else "none"
        if validation_data is None:
            X, y, validation_data = self._internal_validation(X, y, rng)
        Xu_np = X[y == 0]
        Xa_np = X[y == 1]
        Xu, Xa = self._tensor(Xu_np), self._tensor(Xa_np)

        # 1) autoencoder pretraining on unlabeled rows (k is unknown yet: build with 1 slot)
        k_max = 1 if self.n_prototypes == "auto" else int(self.n_prototypes)
        self.arch_ = {"n_features": D, "hidden": hidden, "latent": H, "n_prototypes": k_max}
        self.net_ = self._build_network(**self.arch_).to(dev)
        history = self._pretrain(Xu, rng)

        # 2) prototypes: KMeans on normalised codes of unlabeled rows; k by silhouette if 'auto'
        codes = self._batched(lambda t: torch.nn.functional.normalize(self.net_.encoder(t), dim=1),
                              Xu_np)
        k, centers, self.silhouette_ = self._init_prototypes(codes, rng)
        self.n_prototypes_ = int(k)
        if k != k_max:
            state = {n: v for n, v in self.net_.state_dict().items() if n != "prototypes"}
            self.arch_["n_prototypes"] = k
            self.net_ = self._build_network(**self.arch_).to(dev)
            self.net_.load_state_dict({**state, "prototypes": self.net_.prototypes.detach()})
        with torch.no_grad():
            self.net_.prototypes.copy_(torch.as_tensor(centers, dtype=torch.float32))

        # 3) end-to-end training of all parameters on L_total (eq. 13)
        history += self._train(Xu, Xa, rng, validation_data)
        self.history_ = history
        self.net_.eval()

    def _internal_validation(self, X, y, rng):
        """Hold out ``validation_fraction`` of the labeled anomalies and of the unlabeled rows.

        Without ``validation_data`` and with ``early_stopping='auto'``, when at least
        ``MIN_HELD_OUT_ANOMALIES`` labeled anomalies can be held out, early stopping uses the
        average precision of the held-out labeled anomalies against the held-out unlabeled rows
        (unlabeled counted as negatives: contamination only makes the criterion noisier).
        Otherwise training follows the fixed schedule.
        """
        if self.early_stopping is False or self.early_stopping == "off":
            return X, y, None
        ia, iu = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        n_a = int(round(len(ia) * float(self.validation_fraction)))
        if n_a < MIN_HELD_OUT_ANOMALIES:
            return X, y, None
        n_u = min(int(round(len(iu) * float(self.validation_fraction))), 20000)
        held = np.concatenate([rng.choice(ia, n_a, replace=False),
                               rng.choice(iu, n_u, replace=False)])
        keep = np.ones(len(y), bool)
        keep[held] = False
        self.validation_ = f"internal ({n_a} labeled anomalies, {n_u} unlabeled rows held out)"
        return X[keep], y[keep], (X[held], y[held])

    def _pretrain(self, Xu, rng):
        import torch

        net = self.net_
        params = list(net.encoder.parameters()) + list(net.decoder.parameters())
        opt = torch.optim.Adam(params, lr=self.pretrain_lr)
        n, bs, steps = Xu.shape[0], int(self.pretrain_batch_size), int(self.steps_per_epoch)

        def epoch(_):
            idx = torch.as_tensor(rng.integers(0, n, size=(steps, min(bs, n))), device=Xu.device)
            total = 0.0
            for b in idx:
                x = Xu[b]
                loss = torch.nn.functional.mse_loss(net.decoder(net.encoder(x)), x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach()
            return {"pretrain_mse": float(total) / steps}

        hist = self._run_epochs(int(self.pretrain_epochs), epoch, desc="MNP pretrain")
        return [{**h, "phase": "pretrain"} for h in hist]

    def _init_prototypes(self, codes, rng):
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        cap = 5000
        sample = codes if len(codes) <= cap else codes[rng.choice(len(codes), cap, replace=False)]
        seed = int(rng.integers(2**31 - 1))

        def km(k):
            return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)

        if self.n_prototypes != "auto":
            k = int(self.n_prototypes)
            if k == 1:
                return 1, sample.mean(0, keepdims=True), {}
            return k, km(min(k, len(sample))).cluster_centers_, {}
        sil, best = {}, None
        sil_n = min(2000, len(sample))
        for k in range(2, min(int(self.max_prototypes), len(sample) - 1) + 1):
            model = km(k)
            if len(np.unique(model.labels_)) < 2:
                continue
            sil[k] = float(silhouette_score(sample, model.labels_, sample_size=sil_n,
                                            random_state=seed))
            if best is None or sil[k] > sil[best[0]]:
                best = (k, model.cluster_centers_)
        if best is None:  # degenerate codes (e.g. all identical): one prototype
            return 1, sample.mean(0, keepdims=True), sil
        return best[0], best[1], {str(k): v for k, v in sil.items()}

    def _train(self, Xu, Xa, rng, validation_data):
        import torch
        from torch.nn import functional as F

        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n_u, n_a = Xu.shape[0], Xa.shape[0]
        bu, ba, steps = int(self.batch_size_unlabeled), int(self.batch_size_anomaly), int(
            self.steps_per_epoch)
        bu = min(bu, n_u) if n_u >= bu else bu  # fewer rows than a batch: draw with replacement
        names = ["recon", "np", "score"]
        active = [self.use_recon_loss and self.use_decoder, self.use_np_loss, True]
        lam = torch.ones(3, device=Xu.device)  # DWA weights w_1..w_3 (eq. 13)
        prev = []  # per-epoch mean losses, for DWA
        T = float(self.dwa_temperature)
        m1, beta = float(self.margin), float(self.beta)
        zero = torch.zeros((), device=Xu.device)

        def step_losses(xu, xa):
            x = torch.cat([xu, xa])
            logit, e, s, zn = net(x)
            su, sa = s[:bu], s[bu:]
            smax_u, smax_a = su.max(1).values, sa.max(1).values
            # eq. (7): likelihood of an unlabeled row being normal (a weight: no gradient)
            w = torch.sigmoid(beta * smax_u).detach() if self.use_weights else torch.ones_like(smax_u)
            # eq. (3)-(5)
            if active[0]:
                eu, ea = e[:bu], e[bu:]
                l_u = (w * eu).mean()
                l_recon = l_u + F.relu(m1 - (ea - l_u)).mean()
            else:
                l_recon = zero
            # eq. (8)-(10)
            if active[1]:
                q = su / su.sum(1, keepdim=True)
                p = q.pow(2) / q.sum(0)
                p = (p / p.sum(1, keepdim=True)).detach()  # DEC target distribution
                # KL(P || Q) averaged over the batch (eq. 8 sums; see docs/mnp.md)
                l_kl = (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(1).mean()
                l_con = -F.logsigmoid((w * smax_u).mean() - smax_a.mean())
                l_np = l_con + l_kl
            else:
                l_np = zero
            # eq. (11)-(12); l = SmoothL1 on the sigmoid score
            score = torch.sigmoid(logit)
            l_score = (w * F.smooth_l1_loss(score[:bu], torch.zeros_like(score[:bu]),
                                            reduction="none")).mean() + F.smooth_l1_loss(
                score[bu:], torch.ones_like(score[bu:]))
            return torch.stack([l_recon, l_np, l_score])

        def epoch(ep):
            nonlocal lam
            if len(prev) >= 2:  # Liu et al. (2019): w_k = K softmax(r_k / T), r_k = L_k(t-1)/L_k(t-2)
                r = prev[-1] / prev[-2].clamp_min(1e-12)
                lam = 3.0 * torch.softmax(r / T, 0)
            iu = torch.as_tensor(rng.integers(0, n_u, size=(steps, bu)), device=Xu.device)
            ia = torch.as_tensor(rng.integers(0, n_a, size=(steps, ba)), device=Xu.device)
            total = torch.zeros(3, device=Xu.device)
            for t in range(steps):
                losses = step_losses(Xu[iu[t]], Xa[ia[t]])
                loss = (lam * losses).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += losses.detach()
            mean = total / steps
            prev.append(mean)
            rec = {f"loss_{n}": float(v) for n, v in zip(names, mean, strict=True)}
            rec["loss_total"] = float((lam * mean).sum())
            rec.update({f"dwa_{n}": float(v) for n, v in zip(names, lam, strict=True)})
            return rec

        val_fn = None
        if validation_data is not None:
            from sklearn.metrics import average_precision_score

            Xv, yv = validation_data

            def val_fn():
                return average_precision_score(yv, self._score(Xv))

        n_epochs = self.epochs
        if n_epochs == "auto":
            n_epochs = AUTO_EPOCHS_WITH_VALIDATION if val_fn else AUTO_EPOCHS_WITHOUT_VALIDATION
        return self._run_epochs(int(n_epochs), epoch, val_fn=val_fn, patience=int(self.patience),
                                desc="MNP")

    # ------------------------------------------------------------------ scoring
    def _inference(self):
        """The padded inference function of the current network (built once, then cached)."""
        cache = getattr(self, "_inference_cache", None)
        if cache is None or cache[0] is not self.net_ or self.net_.training:
            fn = _padded_inference(self.net_, self.n_features_in_)
            self._inference_cache = cache = (self.net_, fn)
        return cache[1]

    def _score(self, X):
        # during training (validation scoring) the weights change: build a fresh copy
        fn = (_padded_inference(self.net_, self.n_features_in_) if self.net_.training
              else self._inference())
        return self._batched(lambda t: fn(t)[0], X, aligned=False).astype(np.float64)

    def row_details(self, X):
        """Per-row outputs of one forward pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        dict of ndarrays
            ``score`` (float64, as :meth:`decision_function`), ``recon_error`` (mean SmoothL1 per
            row; zeros without decoder), ``similarity`` (n_samples, n_prototypes_), ``latent``
            (normalised codes, n_samples, latent_dim).
        """
        logit, e, s, zn = self._outputs(X)
        scores = logit.astype(np.float64)
        if not np.isfinite(scores).all():
            raise FloatingPointError("MNP produced non-finite scores.")
        return {"score": scores, "recon_error": e, "similarity": s, "latent": zn}

    def _outputs(self, X, validated=False):
        """(logit, recon error, similarities, normalised latent) of X, as numpy; ``validated``:
        X already went through :meth:`_validated` (validate once per public call)."""
        import torch

        X = X if validated else self._validated(X)
        k, H = self.n_prototypes_, self.arch_["latent"]

        infer = self._inference()

        def fn(t):
            logit, e, s, zn = infer(t)
            e = torch.zeros_like(logit) if e is None else e
            return torch.cat([logit[:, None], e[:, None], s, zn], 1)

        out = self._batched(fn, X, aligned=False)
        return out[:, 0], out[:, 1], out[:, 2:2 + k], out[:, 2 + k:2 + k + H]

    def _validated(self, X):
        return self._validate_X(X)

    @property
    def prototypes_(self):
        """Normalised normal prototypes, shape (n_prototypes_, latent_dim)."""
        import torch

        self._check_fitted()
        return torch.nn.functional.normalize(self.net_.prototypes.detach(), dim=1).cpu().numpy()

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then :meth:`transform` the training rows (scikit-learn's transformer API)."""
        return self.fit(X, y, **fit_params).transform(X)

    def transform(self, X):
        """Normalised latent representation z / ||z|| of X, shape (n_samples, latent_dim)."""
        return self._outputs(X)[3]

    def similarity(self, X):
        """Student-t similarity of each row to each prototype (eq. 6), shape (n_samples, k)."""
        return self._outputs(X)[2]

    def nearest_prototype(self, X):
        """Index of the most similar prototype per row."""
        return self.similarity(X).argmax(1)

    def reconstruction_error(self, X, per_feature=False):
        """Reconstruction error per row (mean SmoothL1), or per feature with ``per_feature``."""
        return self._reconstruction_error(self._validated(X), per_feature)

    def _reconstruction_error(self, X, per_feature):
        from torch.nn import functional as F

        if per_feature:
            return self._batched(
                lambda t: F.smooth_l1_loss(self.net_.decoder(self.net_.encoder(t)), t,
                                           reduction="none"), X)
        return self._batched(lambda t: self.net_.recon_error(t, self.net_.encoder(t)), X,
                             chunk=int(self.batch_size))

    def explain(self, X, top_features=3, feature_names=None):
        """Per-row explanation as a DataFrame.

        Columns: ``score``, ``nearest_prototype``, ``similarity`` (to that prototype),
        ``recon_error``, and ``top_features`` (the features with the largest reconstruction
        error, ``name:error`` pairs, largest first).
        """
        import pandas as pd

        Xv = self._validated(X)
        logit, e, s, _ = self._outputs(Xv, validated=True)
        per = self._reconstruction_error(Xv, per_feature=True)
        names = feature_names
        if names is None:
            names = (list(self.feature_names_in_) if hasattr(self, "feature_names_in_")
                     else [f"x{i}" for i in range(self.n_features_in_)])
        top = np.argsort(-per, axis=1, kind="stable")[:, :top_features]
        tops = [", ".join(f"{names[j]}:{per[i, j]:.4g}" for j in row) for i, row in enumerate(top)]
        return pd.DataFrame({
            "score": logit.astype(np.float64),
            "nearest_prototype": s.argmax(1),
            "similarity": s.max(1),
            "recon_error": e,
            "top_features": tops,
        })


