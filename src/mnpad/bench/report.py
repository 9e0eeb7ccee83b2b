"""Reports from the results store: Markdown + CSV tables shaped like the paper's, PNG figures.

Everything here reads the store only; nothing is retrained. Tables put datasets in rows and
methods in columns, each cell ``mean ± std`` over seeds (``np.std``, ddof=0), the best mean of a
row in bold and the second underlined (compared at the 3 decimals shown), an Average row (over
the datasets where every column has a result) and a row of one-sided paired Wilcoxon p-values
of MNP against each column over the per-dataset means (``mnpad.metrics.wilcoxon_pvalue``,
alternative 'greater' = MNP better). Every report lists each dataset's status (exact /
substitute) next to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import ABLATION_VARIANTS, EXPERIMENTS, UNSEEN_PAIRS
from .store import ResultStore

__all__ = ["write_reports", "format_table", "paper_dir_default", "METHOD_NAMES"]

#: registry name -> column name used in the paper's tables
METHOD_NAMES = {
    "mnp": "MNP", "rosas": "RoSAS", "prenet": "PReNet", "devnet": "DevNet", "deepsad": "DeepSAD",
    "feawad": "FeaWAD", "dif": "DIF", "deepsvdd": "DeepSVDD", "iforest": "IForest", "gbdt": "GBDT",
    "auto": "Auto",
}
#: Table 2's row order (paper abbreviations)
PAPER_ORDER = ("DoS", "Rec", "Bac", "Ana", "C&C", "Attack", "DDoS", "Okiru", "Fraud", "VC", "VI",
               "Gamma", "Census", "Pendigits", "Bank")
#: ablation setting -> Table 4's row name
VARIANT_NAMES = {"full": "Full Model", "no_recon": "w/o L_recon", "no_np": "w/o L_np",
                 "no_weights": "w/o w_i", "no_decoder": "w/o Decoder",
                 "single_prototype": "w/o MNP"}
METRIC_TITLES = {
    "aucpr": "AUC-PR (average precision)",
    "aucpr_trapz": "AUC-PR (trapezoidal area under the PR curve, the authors' measure)",
    "aucroc": "AUC-ROC",
}


def paper_dir_default():
    """``$MNPAD_PAPER`` if set, else None: the paper's tables shipped with mnpad
    (``mnpad/bench/paper/*.csv``, read with :mod:`importlib.resources`)."""
    env = os.environ.get("MNPAD_PAPER")
    return Path(env) if env else None


# ---------------------------------------------------------------------------- tables
def _fmt(x, nd=3):
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def _wilcoxon(a, b):
    from ..metrics import wilcoxon_pvalue

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or np.allclose(a, b):
        return float("nan")
    try:
        return float(wilcoxon_pvalue(a, b, alternative="greater"))
    except ValueError:
        return float("nan")


def format_table(mean, std, *, row_labels=None, status=None, ref=None, first="Dataset",
                 average=True, pvalues=True):
    """A paper-style table from per-row/per-column means and stds.

    Parameters
    ----------
    mean, std : DataFrame
        Rows = datasets (or settings), columns = methods; NaN where absent.
    row_labels : dict, optional
        Display label of each row index.
    status : dict, optional
        Row index -> dataset status, shown in a 'Status' column.
    ref : str, optional
        Column of the reference method (MNP) for the Wilcoxon row.
    average, pvalues : bool
        Add the Average row / the Wilcoxon p-value row.

    Returns
    -------
    markdown : str
    csv : DataFrame
        The same table as text cells (``mean ± std``), without Markdown markup.
    """
    cols = list(mean.columns)
    head = [first] + (["Status"] if status is not None else []) + cols
    md_rows, csv_rows = [], []

    def emit(label, st, means, cells):
        shown = [round(m, 3) if m is not None and not np.isnan(m) else None for m in means]
        vals = sorted({v for v in shown if v is not None}, reverse=True)
        best = vals[0] if vals else None
        second = vals[1] if len(vals) > 1 else None
        md = []
        for v, c in zip(shown, cells, strict=True):
            if v is not None and v == best and len(vals) > 1:
                md.append(f"**{c}**")
            elif v is not None and v == second:
                md.append(f"<u>{c}</u>")
            else:
                md.append(c)
        lead = [label] + ([st or ""] if status is not None else [])
        md_rows.append(lead + md)
        csv_rows.append(lead + list(cells))

    for idx in mean.index:
        means = [float(mean.at[idx, c]) for c in cols]
        cells = [
            "—" if np.isnan(m) else f"{m:.3f} ± {float(std.at[idx, c]):.3f}"
            for m, c in zip(means, cols, strict=True)
        ]
        emit((row_labels or {}).get(idx, str(idx)),
             (status or {}).get(idx), means, cells)
    # rows complete for every method; a parameter variant of a method (label "name (k=v)",
    # e.g. run on the exact datasets only) does not shrink them: it is averaged and tested
    # over its own rows among them, and marked
    full = [c for c in cols if " (" not in str(c)] or cols
    complete = mean.dropna(how="any", subset=full)
    if average and len(mean) > 1:
        note = "" if len(complete) == len(mean) else f" ({len(complete)} complete rows)"
        avg, cells = [], []
        for c in cols:
            v = complete[c].dropna()
            avg.append(float(v.mean()) if len(v) else float("nan"))
            cells.append(_fmt(avg[-1]) + ("" if c in full or not len(v) else f" ({len(v)} rows)"))
        emit(f"Average{note}", "", [a if c in full else float("nan") for a, c in
                                    zip(avg, cols, strict=True)], cells)
    if pvalues and ref in cols and len(complete) >= 2:
        def pair(c):
            both = complete[[ref, c]].dropna()
            return _pfmt(_wilcoxon(both[ref], both[c]))

        ps = ["—" if c == ref else pair(c) for c in cols]
        lead = [f"p-value ({_name(ref)} > column)"] + ([""] if status is not None else [])
        md_rows.append(lead + ps)
        csv_rows.append(lead + ps)
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in md_rows]
    return "\n".join(md), pd.DataFrame(csv_rows, columns=head)


def _pfmt(p):
    if np.isnan(p):
        return "n/a"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _name(method):
    base, sep, rest = str(method).partition(" ")
    return METHOD_NAMES.get(base, base) + sep + rest


def _str(v):
    """A text cell of the store frame, None for SQL NULL / NaN."""
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


_PAIRS = [f"{s}->{u}" for s, u in UNSEEN_PAIRS]


def _dataset_sort_key(abbr, name):
    abbr = _str(abbr)
    if abbr in PAPER_ORDER:
        return (0, PAPER_ORDER.index(abbr), name)
    if name in _PAIRS:
        return (1, _PAIRS.index(name), name)
    return (2, 0, name)


def _aggregate(df, row, col, metric):
    g = df.groupby([row, col])[metric]
    mean = g.mean().unstack(col)
    std = g.std(ddof=0).unstack(col)
    return mean, std


# ---------------------------------------------------------------------------- store -> frame
def _load(store_path):
    with ResultStore(store_path, readonly=True) as st:
        df = st.to_frame()
    return df


def _label_methods(g):
    """Column label per row: the method's name, made unique when one method ran with several
    parameter sets in the same experiment."""
    g = g.copy()
    n_params = g.groupby("method")["params"].nunique()

    def label(m, p):
        if n_params[m] == 1 or p in (None, "", "{}"):
            return m  # the method with its defaults keeps the plain name
        try:
            items = json.loads(p).items()
        except (TypeError, ValueError):
            return f"{m}{p}"
        return m + " (" + ", ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in items) + ")"

    g["col"] = [label(m, p) for m, p in zip(g["method"], g["params"], strict=True)]
    return g


def _status_section(g):
    first = g.drop_duplicates("dataset").set_index("dataset")
    lines = ["| Dataset | Paper abbr. | Status |", "|---|---|---|"]
    for ds in _ordered_datasets(g):
        lines.append(f"| {ds} | {_str(first.at[ds, 'dataset_abbr']) or '—'} | "
                     f"{_str(first.at[ds, 'dataset_status']) or 'unknown'} |")
    return "\n".join(lines)


def _ordered_datasets(g):
    first = g.drop_duplicates("dataset").set_index("dataset")
    names = list(first.index)
    return sorted(names, key=lambda n: _dataset_sort_key(first.at[n, "dataset_abbr"], n))


def _row_meta(g):
    first = g.drop_duplicates("dataset").set_index("dataset")
    abbr = {n: _str(first.at[n, "dataset_abbr"]) for n in first.index}
    labels = {n: f"{n} ({abbr[n]})" if abbr[n] else n for n in first.index}
    status = {n: _str(first.at[n, "dataset_status"]) or "unknown" for n in first.index}
    return labels, status


def _col_order(cols, preferred):
    pref = [c for c in preferred if c in cols]
    return pref + sorted(c for c in cols if c not in pref)


# ---------------------------------------------------------------------------- sections
class _Writer:
    def __init__(self, out):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.files = []

    def csv(self, name, frame):
        p = self.out / name
        frame.to_csv(p, index=False)
        self.files.append(p)
        return p

    def text(self, name, text):
        p = self.out / name
        p.write_text(text, encoding="utf-8")
        self.files.append(p)
        return p


def _metric_tables(w, g, stem, rows, row_labels, status, cols, ref, *, metrics, first,
                   average=True, pvalues=True, rename=None):
    parts = []
    for metric in metrics:
        mean, std = _aggregate(g, "row", "col", metric)
        mean = mean.reindex(index=rows, columns=cols)
        std = std.reindex(index=rows, columns=cols)
        if rename:
            mean, std = mean.rename(columns=rename), std.rename(columns=rename)
        md, csv = format_table(mean, std, row_labels=row_labels, status=status,
                               ref=(rename or {}).get(ref, ref), first=first, average=average,
                               pvalues=pvalues)
        w.csv(f"{stem}_{metric}.csv", csv)
        parts.append(f"### {METRIC_TITLES[metric]}\n\n{md}\n")
    return parts


def _seeds_line(g):
    seeds = sorted(g["seed"].unique())
    return f"Seeds: {', '.join(str(s) for s in seeds)} ({len(seeds)}); cells: {len(g)}."


def _section_compare(w, g, protocol, paper_dir):
    stem = f"compare_{protocol}"
    g = _label_methods(g)
    g["row"] = g["dataset"]
    rows = _ordered_datasets(g)
    labels, status = _row_meta(g)
    cols = _col_order(set(g["col"]), list(METHOD_NAMES))
    rename = {c: _name(c) for c in cols}
    parts = [f"## Table 2 — compare (protocol '{protocol}')\n", _seeds_line(g) + "\n"]
    parts += _metric_tables(w, g, stem, rows, labels, status, cols, "mnp",
                            metrics=("aucpr", "aucpr_trapz", "aucroc"), first="Dataset",
                            rename=rename)
    parts.append(_cost_section(w, g, stem, rows, labels, cols, rename))
    pv = _paper_vs_compare(g, paper_dir)
    if pv is not None:
        w.csv(f"{stem}_paper_vs_mnpad.csv", pv)
        parts.append("### Paper vs mnpad (Table 2)\n\n" + _paper_vs_note() + "\n\n"
                     + _frame_md(pv) + "\n")
    return parts


#: cost columns: (store-derived column, title, decimals)
_COSTS = (("fit_time", "Fit time (s)", 1),
          ("score_us_per_row", "Scoring cost (µs per test row)", 1),
          ("peak_mem_mb", "Peak RSS of the cell (MiB)", 0))


def _cost_section(w, g, stem, rows, labels, cols, rename):
    """Mean fit time, scoring cost per row and peak memory per dataset x method (no ranking
    marks: lower is better here and the figures depend on the machine and its load)."""
    g = g.copy()
    g["score_us_per_row"] = 1e6 * g["score_time"] / g["n_test"].where(g["n_test"] > 0)
    names = [rename.get(c, c) for c in cols]
    parts, long = ["### Cost: fit time, scoring cost, memory\n\n" + _cost_note(g) + "\n"], []
    for metric, title, nd in _COSTS:
        mean = g.groupby(["row", "col"])[metric].mean().unstack("col")
        mean = mean.reindex(index=rows, columns=cols)
        lines = ["| Dataset | " + " | ".join(names) + " |", "|" + "---|" * (len(cols) + 1)]
        for r in rows:
            lines.append(f"| {labels.get(r, r)} | "
                         + " | ".join(_fmt(float(mean.at[r, c]), nd) for c in cols) + " |")
        lines.append("| Mean | " + " | ".join(_fmt(float(mean[c].mean()), nd) for c in cols)
                     + " |")
        parts.append(f"#### {title}\n\n" + "\n".join(lines) + "\n")
        long.append(mean.stack().rename(metric))
    frame = pd.concat(long, axis=1).reset_index()
    frame.columns = ["dataset", "method", *[m for m, _, _ in _COSTS]]
    w.csv(f"{stem}_cost.csv", frame)
    return "\n".join(parts)


def _cost_note(g):
    hosts = sorted({_str(h) for h in g["host"] if _str(h)})
    where = f" on {', '.join(hosts)}" if hosts else ""
    return ("Means over seeds of each cell's wall-clock `fit_time`, `score_time` divided by the "
            f"test rows, and peak RSS (see docs/benchmarks.md), measured{where}. They depend on "
            "the machine, its load and how many cells ran at once, so compare them within a "
            "table, not across runs; the Mean row averages over the datasets shown.")


def _paper_vs_note():
    return ("The paper's AUC-PR is the trapezoidal area (authors' code), so Δ AUC-PR compares it "
            "with mnpad's `aucpr_trapz`; mnpad's average precision is shown too. Δ = mnpad − "
            "paper. Only datasets with a paper abbreviation and methods in the paper appear.")


def _frame_md(df):
    head = list(df.columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(
            _fmt(v) if isinstance(v, float) else ("—" if v is None else str(v)) for v in r)
            + " |")
    return "\n".join(lines)


def _read_paper(paper_dir, name):
    """One of the paper's tables: from ``paper_dir``, or from mnpad's package data."""
    if paper_dir is None:
        from importlib import resources

        res = resources.files("mnpad.bench") / "paper" / name
        if not res.is_file():
            return None
        with res.open("r", encoding="utf-8") as fh:
            return pd.read_csv(fh)
    p = Path(paper_dir) / name
    if not p.is_file():
        return None
    return pd.read_csv(p)


def _paper_vs_compare(g, paper_dir):
    paper = _read_paper(paper_dir, "table2_paper.csv")
    if paper is None:
        return None
    means = g.groupby(["dataset", "method"])[["aucpr", "aucpr_trapz", "aucroc"]].mean()
    first = g.drop_duplicates("dataset").set_index("dataset")
    out = []
    for ds in _ordered_datasets(g):
        abbr = _str(first.at[ds, "dataset_abbr"])
        sub = paper[paper["dataset"] == abbr]
        if not abbr or sub.empty:
            continue
        pr = sub[sub["metric"] == "aucpr"].iloc[0]
        roc = sub[sub["metric"] == "aucroc"].iloc[0]
        for m in METHOD_NAMES:
            pname = _name(m)
            if (ds, m) not in means.index or pname not in paper.columns:
                continue
            r = means.loc[(ds, m)]
            out.append({
                "dataset": abbr, "status": _str(first.at[ds, "dataset_status"]), "method": pname,
                "paper AUC-PR": float(pr[pname]), "mnpad AUC-PR (trapz)": float(r["aucpr_trapz"]),
                "Δ AUC-PR": float(r["aucpr_trapz"] - pr[pname]),
                "mnpad AUC-PR (AP)": float(r["aucpr"]),
                "paper AUC-ROC": float(roc[pname]), "mnpad AUC-ROC": float(r["aucroc"]),
                "Δ AUC-ROC": float(r["aucroc"] - roc[pname]),
            })
    return pd.DataFrame(out) if out else None


def _pair_order(names):
    return sorted(names, key=lambda n: _dataset_sort_key(None, n))


def _section_unseen(w, g, protocol, paper_dir):
    stem = f"unseen_{protocol}"
    g = _label_methods(g)
    g["row"] = g["dataset"]
    rows = _pair_order(set(g["dataset"]))
    status = g.drop_duplicates("dataset").set_index("dataset")["dataset_status"].to_dict()
    cols = _col_order(set(g["col"]), list(METHOD_NAMES))
    rename = {c: _name(c) for c in cols}
    parts = [f"## Table 3 — unseen anomalies (protocol '{protocol}')\n",
             "Rows are seen -> unseen anomaly types of UNSW-NB15. " + _seeds_line(g) + "\n"]
    parts += _metric_tables(w, g, stem, rows, None, status, cols, "mnp",
                            metrics=("aucpr", "aucpr_trapz", "aucroc"), first="Seen -> unseen",
                            rename=rename)
    paper = _read_paper(paper_dir, "table3_paper.csv")
    if paper is not None:
        means = g.groupby(["dataset", "method"])[["aucpr", "aucpr_trapz"]].mean()
        out = []
        for _, pr in paper.iterrows():
            ds = f"{pr['seen']}->{pr['unseen']}"
            for m in METHOD_NAMES:
                if (ds, m) in means.index and _name(m) in paper.columns:
                    r = means.loc[(ds, m)]
                    out.append({"seen": pr["seen"], "unseen": pr["unseen"],
                                "status": status.get(ds), "method": _name(m),
                                "paper AUC-PR": float(pr[_name(m)]),
                                "mnpad AUC-PR (trapz)": float(r["aucpr_trapz"]),
                                "Δ AUC-PR": float(r["aucpr_trapz"] - pr[_name(m)]),
                                "mnpad AUC-PR (AP)": float(r["aucpr"])})
        if out:
            pv = pd.DataFrame(out)
            w.csv(f"{stem}_paper_vs_mnpad.csv", pv)
            parts.append("### Paper vs mnpad (Table 3)\n\n" + _paper_vs_note() + "\n\n"
                         + _frame_md(pv) + "\n")
    return parts


def _section_ablation(w, g, protocol, paper_dir):
    stem = f"ablation_{protocol}"
    g = g.copy()
    g["row"], g["col"] = g["dataset"], g["setting"]
    rows = _ordered_datasets(g)
    labels, status = _row_meta(g)
    cols = _col_order(set(g["col"]), list(ABLATION_VARIANTS))
    rename = {c: VARIANT_NAMES.get(c, c) for c in cols}
    parts = [f"## Table 4 — ablation of MNP (protocol '{protocol}')\n",
             "p-values: the full model against each variant. " + _seeds_line(g) + "\n"]
    parts += _metric_tables(w, g, stem, rows, labels, status, cols, "full",
                            metrics=("aucpr", "aucpr_trapz", "aucroc"), first="Dataset",
                            rename=rename)
    paper = _read_paper(paper_dir, "table4_paper.csv")
    if paper is not None:
        mean = g.groupby(["dataset", "setting"])[["aucpr", "aucpr_trapz"]].mean()
        complete = mean["aucpr"].unstack("setting").dropna().index
        out = []
        for _, pr in paper.iterrows():
            setting = {v: k for k, v in VARIANT_NAMES.items()}.get(pr["variant"])
            if setting is None or setting not in set(g["setting"]):
                continue
            sub = mean.xs(setting, level="setting").reindex(complete)
            out.append({"variant": pr["variant"], "paper avg AUC-PR": float(pr["avg_aucpr"]),
                        "mnpad avg AUC-PR (trapz)": float(sub["aucpr_trapz"].mean()),
                        "Δ": float(sub["aucpr_trapz"].mean() - pr["avg_aucpr"]),
                        "mnpad avg AUC-PR (AP)": float(sub["aucpr"].mean()),
                        "datasets": len(complete)})
        if out:
            pv = pd.DataFrame(out)
            w.csv(f"{stem}_paper_vs_mnpad.csv", pv)
            parts.append("### Paper vs mnpad (Table 4)\n\nThe paper averages over its 15 "
                         "datasets; mnpad over the datasets run here (column `datasets`). "
                         + _paper_vs_note().split(" Only")[0] + "\n\n" + _frame_md(pv) + "\n")
    return parts


def _section_sweep(w, g, protocol, kind):
    """ratios (Figure 3) or prototypes (Figure 4): tables + one PNG panel per dataset."""
    g = _label_methods(g)
    labels, status = _row_meta(g)
    datasets = _ordered_datasets(g)
    if kind == "ratios":
        g["x"] = g["setting"].str.replace("ratio=", "", regex=False).astype(float)
        g["row"] = [f"{d} @ {x:g}" for d, x in zip(g["dataset"], g["x"], strict=True)]
        title = f"## Figure 3 — labeled-anomaly ratios (protocol '{protocol}')\n"
        xlabel, curve = "labeled anomaly ratio", "col"
    else:
        g["x"] = g["setting"].str.replace("k=", "", regex=False).astype(int)
        g["row"], g["col"] = g["dataset"], g["setting"]
        title = f"## Figure 4 — number of prototypes (protocol '{protocol}')\n"
        xlabel, curve = "number of prototypes k", None
    stem = f"{kind}_{protocol}"
    parts = [title, _seeds_line(g) + "\n"]
    if kind == "ratios":
        xs = sorted(set(g["x"]))
        rows = [f"{d} @ {x:g}" for d in datasets for x in xs]
        rows = [r for r in rows if r in set(g["row"])]
        rlabels = {f"{d} @ {x:g}": f"{labels[d]} @ {x:g}" for d in datasets for x in xs}
        rstatus = {f"{d} @ {x:g}": status[d] for d in datasets for x in xs}
        cols = _col_order(set(g["col"]), list(METHOD_NAMES))
        rename = {c: _name(c) for c in cols}
        parts += _metric_tables(w, g, stem, rows, rlabels, rstatus, cols, "mnp",
                                metrics=("aucpr", "aucroc"), first="Dataset @ ratio",
                                average=False, pvalues=False, rename=rename)
    else:
        cols = sorted(set(g["col"]), key=lambda s: int(s.split("=")[1]))
        parts += _metric_tables(w, g, stem, datasets, labels, status, cols, None,
                                metrics=("aucpr", "aucroc"), first="Dataset", pvalues=False)
    png = _plot_sweep(w.out / f"{stem}.png", g, datasets, labels, status, curve, xlabel,
                      log_x=kind == "ratios")
    w.files.append(png)
    parts.append(f"![{kind}]({png.name})\n")
    return parts


def _plot_sweep(path, g, datasets, labels, status, curve, xlabel, log_x):
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    n = len(datasets)
    ncols = min(4, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(4.0 * ncols, 3.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, ds in zip(axes, datasets, strict=False):
        sub = g[g["dataset"] == ds]
        if curve:
            order = _col_order(set(sub[curve]), list(METHOD_NAMES))
            groups = [(c, sub[sub[curve] == c]) for c in order]
        else:
            groups = [("MNP", sub)]
        for name, cs in groups:
            agg = cs.groupby("x")["aucpr"].agg(["mean", lambda s: s.std(ddof=0)])
            agg.columns = ["mean", "std"]
            ax.plot(agg.index, agg["mean"], marker="o", label=_name(name))
            ax.fill_between(agg.index, agg["mean"] - agg["std"], agg["mean"] + agg["std"],
                            alpha=0.2)
        xs = sorted(set(sub["x"]))
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{100 * x:g}%" for x in xs])
            ax.minorticks_off()
        else:
            ax.set_xticks(xs)
        ax.set_title(f"{labels[ds]} [{status[ds]}]", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("AUC-PR (AP)")
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    if curve:
        axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path


def _failed_section(df):
    bad = df[df["status"] != "ok"]
    if bad.empty:
        return []
    lines = [f"## Failed cells ({len(bad)})\n",
             "| Experiment | Protocol | Dataset | Method | Setting | Seed | Error |",
             "|---|---|---|---|---|---|---|"]
    for _, r in bad.iterrows():
        err = (r["error"] or "").strip().splitlines()
        err = (err[-1] if err else "").replace("|", "\\|")[:200]
        lines.append(f"| {r['experiment']} | {r['protocol']} | {r['dataset']} | {r['method']} | "
                     f"{r['setting']} | {r['seed']} | {err} |")
    return ["\n".join(lines) + "\n"]


def _recipe_of(params):
    try:
        return json.loads(params or "{}").get("recipe")
    except (TypeError, ValueError, AttributeError):
        return None


def _by_recipe(section):
    """Wrap an MNP-only section (ablation, prototypes): its tables use the rows run with MNP's
    current defaults; rows kept from an earlier default (an explicit ``recipe`` parameter,
    e.g. ``{"recipe": "paper"}``) get a before/after table of averages per setting."""
    def run(w, g, protocol, paper_dir):
        rec = g["params"].map(_recipe_of)
        current, older = g[rec.isna()], sorted(set(rec.dropna()))
        if current.empty:  # not rerun with the current defaults yet: show the older rows
            name = older.pop(0)
            current = g[rec == name]
            note = (f"(MNP with recipe={name!r}: not yet rerun with the current default.)\n")
        else:
            note = None
        parts = section(w, current, protocol, paper_dir)
        if note:
            parts.insert(1, note)
        for name in older:
            old = g[rec == name]
            common = sorted(set(old["dataset"]) & set(current["dataset"]))
            cols = {}
            for label, h in ((f"recipe={name}", old), ("current default", current)):
                h = h[h["dataset"].isin(common)]
                cols[label] = h.groupby(["setting", "dataset"])["aucpr_trapz"].mean().groupby(
                    "setting").mean()
            table = pd.DataFrame(cols)
            table["Δ"] = table["current default"] - table[f"recipe={name}"]
            parts.append(f"### Before/after: MNP with recipe={name!r} vs the current default\n\n"
                         f"Mean AUC-PR (trapz) over the {len(common)} datasets both ran.\n\n"
                         + _frame_md(table.reset_index()) + "\n")
        return parts
    return run


_SECTIONS = {
    "compare": lambda w, g, p, pd_: _section_compare(w, g, p, pd_),
    "unseen": lambda w, g, p, pd_: _section_unseen(w, g, p, pd_),
    "ablation": _by_recipe(_section_ablation),
    "ratios": lambda w, g, p, pd_: _section_sweep(w, g, p, "ratios"),
    "prototypes": _by_recipe(lambda w, g, p, pd_: _section_sweep(w, g, p, "prototypes")),
}


def write_reports(store, out, paper_dir=None):
    """Regenerate every report from a results store (no retraining).

    Parameters
    ----------
    store : str or Path
        The SQLite results store.
    out : str or Path
        Folder for ``report.md``, one ``<experiment>_<protocol>.md`` per experiment run, the
        CSV tables, ``cells.csv`` (every row of the store) and the PNG figures.
    paper_dir : str or Path, optional
        Folder with ``table2_paper.csv``, ``table3_paper.csv``, ``table4_paper.csv`` (default
        :func:`paper_dir_default`: ``$MNPAD_PAPER``, else the copies shipped with mnpad); a
        table missing there leaves its "paper vs mnpad" table out.

    Returns
    -------
    files : list of Path
        The files written.
    """
    df = _load(store)
    w = _Writer(out)
    paper_dir = Path(paper_dir) if paper_dir else paper_dir_default()
    w.csv("cells.csv", df)
    ok = df[df["status"] == "ok"]
    body = ["# mnpad benchmark report\n",
            f"Store: `{Path(store).name}` — {len(df)} cells, {len(ok)} ok, "
            f"{len(df) - len(ok)} failed. Regenerate with "
            f"`mnpad bench report --store {Path(store).name} --out DIR`.\n",
            "Each cell: mean ± std (ddof=0) over seeds; **bold** best, <u>underlined</u> "
            "second; Average over the datasets every column has; p-value: one-sided paired "
            "Wilcoxon signed-rank test (MNP greater) over per-dataset means. AUC-PR (AP) is "
            "average precision; AUC-PR (trapz) is the authors' trapezoidal PR area. Memory: "
            "see `mem_method` in cells.csv.\n"]
    if paper_dir is not None and not paper_dir.is_dir():
        body.append(f"(Paper tables not found at {paper_dir}: paper vs mnpad tables omitted.)\n")
    for exp in EXPERIMENTS:
        for protocol in sorted(set(ok.loc[ok["experiment"] == exp, "protocol"])):
            g = ok[(ok["experiment"] == exp) & (ok["protocol"] == protocol)].copy()
            parts = _SECTIONS[exp](w, g, protocol, paper_dir)
            parts.insert(1, "### Datasets\n\n" + _status_section(g) + "\n")
            text = "\n".join(parts)
            w.text(f"{exp}_{protocol}.md", text + "\n")
            body.append(text)
    body += _failed_section(df)
    w.text("report.md", "\n".join(body) + "\n")
    return w.files
