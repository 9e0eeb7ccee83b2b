"""Figure of ``mnpad plot``: 2-D PCA of the latent space + score histogram with the threshold.

Uses matplotlib's object API with the Agg canvas, so no global backend is set.
"""

from __future__ import annotations

import numpy as np


def _latent(frame):
    return frame[[c for c in frame.columns if c.startswith("z")]].to_numpy(np.float64)


def draw(pipe, pool, n_rows, path, data_name="data"):
    """Write the PNG to ``path``.

    ``pool`` maps 'scatter' / 'hist' / 'anom' to DataFrames of sampled rows ('score' and, for
    'scatter' and 'anom', latent columns 'z0', 'z1', ...); 'anom' may be None.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    det = pipe.detector_
    sc, hist, anom = pool["scatter"], pool["hist"], pool.get("anom")
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.15, 1])

    Z = _latent(sc)
    space = "latent space (normalised codes)" if pipe.is_mnp else "encoded features"
    if Z.shape[1] >= 2:
        pca = PCA(n_components=2, random_state=0).fit(Z)
        P = pca.transform(Z)
        ev = pca.explained_variance_ratio_
        xl, yl = f"PC1 ({ev[0]:.0%})", f"PC2 ({ev[1]:.0%})"
    else:  # one feature only: plot it against zero
        pca, P = None, np.column_stack([Z[:, 0], np.zeros(len(Z))])
        xl, yl = "feature", ""

    def proj(A):
        return pca.transform(A) if pca is not None else np.column_stack([A[:, 0], np.zeros(len(A))])

    order = np.argsort(sc["score"].to_numpy(), kind="stable")  # high scores drawn last
    pts = ax1.scatter(P[order, 0], P[order, 1], c=sc["score"].to_numpy()[order], s=6,
                      cmap="viridis", alpha=0.7, linewidths=0, label=f"rows ({len(sc)} of {n_rows})")
    fig.colorbar(pts, ax=ax1, label="anomaly score")
    if anom is not None and len(anom):
        A = proj(_latent(anom))
        ax1.scatter(A[:, 0], A[:, 1], marker="x", c="red", s=28,
                    label=f"labeled anomalies ({len(anom)})")
    if pipe.is_mnp:
        U = proj(det.prototypes_.astype(np.float64))
        ax1.scatter(U[:, 0], U[:, 1], marker="*", c="black", s=260, edgecolors="white",
                    label=f"normal prototypes ({len(U)})")
        for j, (x, y) in enumerate(U):
            ax1.annotate(str(j), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9)
    ax1.set(title=f"PCA of the {space}", xlabel=xl, ylabel=yl)
    ax1.legend(loc="best", fontsize=8)

    s = hist["score"].to_numpy()
    bins = np.histogram_bin_edges(s, bins=60)
    ax2.hist(s, bins=bins, color="tab:blue", alpha=0.75,
             label="all rows" if len(s) == n_rows else f"{len(s)} sampled rows")
    if anom is not None and len(anom):
        ax2.hist(anom["score"].to_numpy(), bins=bins, color="red", alpha=0.6,
                 label="labeled anomalies")
    ax2.axvline(det.threshold_, color="black", ls="--", lw=1.2,
                label=f"threshold {det.threshold_:.4g}")
    ax2.set_yscale("log")
    ax2.set(title="score histogram", xlabel="anomaly score (higher = more anomalous)",
            ylabel="rows")
    ax2.legend(fontsize=8)
    fig.suptitle(f"{type(det).__name__} on {data_name}: {n_rows} rows")
    fig.savefig(path, format="png", dpi=110)
