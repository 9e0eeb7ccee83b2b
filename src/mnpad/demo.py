"""The demo: MNP vs IsolationForest on a weakly supervised task built from real data.

The data is scikit-learn's bundled handwritten digits (UCI optical digits, 8x8 images, 64
features), so the demo needs no download: several digit classes form the multi-modal normal
data, a rare digit is the anomaly class, a few anomalies are labeled and the rest are left in the
unlabeled rows as contamination.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NORMAL_DIGITS = (0, 1, 3, 4, 6)
ANOMALY_DIGIT = 7


@dataclass
class DemoTask:
    X_train: np.ndarray
    y_train: np.ndarray  # weak labels: 1 = labeled anomaly
    y_train_true: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    digits_train: np.ndarray


def make_task(seed=0, anomaly_rate=0.04, n_labeled=5):
    """Build the digits task: normal digits 0,1,3,4,6; anomalies a 4 % sample of digit 7."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    rng = np.random.default_rng(seed)
    X, digit = load_digits(return_X_y=True)
    normal = np.flatnonzero(np.isin(digit, NORMAL_DIGITS))
    n_anom = int(round(anomaly_rate * len(normal) / (1 - anomaly_rate)))
    anom = rng.choice(np.flatnonzero(digit == ANOMALY_DIGIT), n_anom, replace=False)
    idx = np.concatenate([normal, anom])
    y = (digit[idx] == ANOMALY_DIGIT).astype(np.int8)
    tr, te = train_test_split(np.arange(len(idx)), test_size=0.4, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X[idx[tr]])
    Xtr = scaler.transform(X[idx[tr]]).astype(np.float32)
    Xte = np.clip(scaler.transform(X[idx[te]]), 0, None).astype(np.float32)
    ytr_true, yte = y[tr], y[te]
    weak = np.zeros_like(ytr_true)
    weak[rng.choice(np.flatnonzero(ytr_true), n_labeled, replace=False)] = 1
    return DemoTask(Xtr, weak, ytr_true, Xte, yte, digit[idx[tr]])


def run(out_dir="demo_out", seed=0, progress=True, echo=print):
    """Train MNP and IsolationForest, print their test AUC-PR/AUC-ROC, save the latent plot."""
    from sklearn.ensemble import IsolationForest

    from .detectors.mnp import MNP
    from .metrics import evaluate

    task = make_task(seed)
    n_contam = int(task.y_train_true.sum() - task.y_train.sum())
    say = echo
    say(f"digits task: {len(task.X_train)} train rows ({int(task.y_train.sum())} labeled "
        f"anomalies, {n_contam} unlabeled anomalies as contamination), {len(task.X_test)} test "
        f"rows ({int(task.y_test.sum())} anomalies); normal digits {NORMAL_DIGITS}, "
        f"anomaly digit {ANOMALY_DIGIT}")
    results = {}
    t = time.perf_counter()
    mnp = MNP(random_state=seed, verbose=progress).fit(task.X_train, task.y_train)
    results["MNP"] = {**evaluate(task.y_test, mnp.decision_function(task.X_test)),
                      "fit_s": time.perf_counter() - t}
    t = time.perf_counter()
    iforest = IsolationForest(random_state=seed).fit(task.X_train)
    results["IsolationForest"] = {
        **evaluate(task.y_test, -iforest.score_samples(task.X_test)),
        "fit_s": time.perf_counter() - t}
    say(f"\n{'method':<16} {'AUC-PR':>7} {'AUC-ROC':>8} {'fit s':>6}")
    for name, r in results.items():
        say(f"{name:<16} {r['aucpr']:>7.3f} {r['aucroc']:>8.3f} {r['fit_s']:>6.1f}")
    say(f"(AUC-PR = average precision; MNP found {mnp.n_prototypes_} normal prototypes)")
    png = plot_latent(mnp, task, Path(out_dir) / "mnpad_demo_latent.png")
    say(f"latent-space plot: {png}")
    return results, png


def plot_latent(mnp, task, path):
    """PCA of MNP's normalised latent space: rows by digit, anomalies, and the prototypes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    z = mnp.transform(task.X_train)
    protos = mnp.prototypes_
    pca = PCA(n_components=2).fit(z)
    zz, pp = pca.transform(z), pca.transform(protos)
    nearest = mnp.nearest_prototype(task.X_train)
    fig, ax = plt.subplots(figsize=(7.5, 6))
    normal = task.y_train_true == 0
    sc = ax.scatter(zz[normal, 0], zz[normal, 1], c=nearest[normal], cmap="tab10", s=9,
                    alpha=0.55, vmin=0, vmax=9)
    cont = (task.y_train_true == 1) & (task.y_train == 0)
    ax.scatter(zz[cont, 0], zz[cont, 1], marker="x", c="k", s=30,
               label="unlabeled anomalies (contamination)")
    lab = task.y_train == 1
    ax.scatter(zz[lab, 0], zz[lab, 1], marker="*", c="red", s=160, edgecolors="k",
               label="labeled anomalies")
    ax.scatter(pp[:, 0], pp[:, 1], marker="P", c="gold", s=260, edgecolors="k",
               label="normal prototypes")
    for j, (a, b) in enumerate(pp):
        ax.annotate(str(j), (a, b), textcoords="offset points", xytext=(6, 6), fontsize=10)
    ax.set_title(f"MNP latent space (PCA of normalised z), {mnp.n_prototypes_} prototypes\n"
                 "normal rows coloured by nearest prototype")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.colorbar(sc, ax=ax, label="nearest prototype")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
