"""The paper's experiments as lists of cells.

A cell is one detector fitted with one seed on one split: ``(experiment, protocol, dataset,
method, setting, seed, params)``. :func:`plan` turns an experiment name and the user's choices
into cells; cells that share a split carry the same ``split_key`` so the runner builds each
split once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .store import canonical_params

__all__ = [
    "Cell", "EXPERIMENTS", "PAPER_METHODS", "RATIOS", "UNSEEN_PAIRS", "ABLATION_VARIANTS",
    "PROTOTYPE_KS", "FIG4_DATASETS", "plan", "parse_pair", "load_method",
]

EXPERIMENTS = ("compare", "ratios", "unseen", "ablation", "prototypes")

#: the nine methods of Table 2, in the paper's column order
PAPER_METHODS = ("mnp", "rosas", "prenet", "devnet", "deepsad", "feawad", "dif", "deepsvdd",
                 "iforest")
#: labeled-anomaly ratios of Figure 3 (the paper's default is 1 %)
RATIOS = (0.005, 0.01, 0.05, 0.1, 0.2)
DEFAULT_RATIO = 0.01
#: (seen, unseen) anomaly types of Table 3, in the paper's row order
UNSEEN_PAIRS = (
    ("Rec", "DoS"), ("Ana", "DoS"), ("Bac", "DoS"),
    ("DoS", "Rec"), ("Ana", "Rec"), ("Bac", "Rec"),
    ("DoS", "Ana"), ("Rec", "Ana"), ("Bac", "Ana"),
    ("DoS", "Bac"), ("Rec", "Bac"), ("Ana", "Bac"),
)
#: registry dataset the unseen splits are built from (mnpad.protocol.make_unseen_split)
UNSEEN_SOURCE = "unsw_nb15_82k"
_UNSEEN_TYPES = {t.lower(): t for t in ("DoS", "Rec", "Bac", "Ana")}
#: Table 4's variants as MNP parameters (setting name -> params)
ABLATION_VARIANTS = {
    "full": {},
    "no_recon": {"use_recon_loss": False},
    "no_np": {"use_np_loss": False},
    "no_weights": {"use_weights": False},
    "no_decoder": {"use_decoder": False},
    "single_prototype": {"n_prototypes": 1},
}
#: numbers of prototypes of Figure 4
PROTOTYPE_KS = tuple(range(1, 11))
#: the four datasets Figure 4 shows (paper abbreviations)
FIG4_DATASETS = ("Rec", "C&C", "Census", "Bank")


@dataclass(frozen=True)
class Cell:
    """One unit of work: fit ``method`` with ``seed`` on the split ``split_key``."""

    experiment: str
    protocol: str
    dataset: str
    method: str
    setting: str
    seed: int
    params: dict = field(compare=False, hash=False)
    split_key: tuple = field(compare=False, hash=False)
    dataset_abbr: str | None = field(default=None, compare=False, hash=False)
    dataset_status: str | None = field(default=None, compare=False, hash=False)

    @property
    def params_json(self):
        return canonical_params(self.params)

    @property
    def key(self):
        """The cell's primary key in the store (see ``store.KEY_COLUMNS``)."""
        return (self.experiment, self.protocol, self.dataset, self.method, self.setting,
                int(self.seed), self.params_json)


@dataclass(frozen=True)
class _FileDataset:
    """A dataset given as a file path (``.npz``/``.csv``/``.parquet``), not in the registry."""

    name: str
    abbr: str | None
    status: str
    path: str


def parse_pair(text):
    """'Rec:DoS' or 'Rec->DoS' -> ('Rec', 'DoS') (case-insensitive)."""
    for sep in ("->", ":", ">", "/"):
        if sep in text:
            a, b = (p.strip().lower() for p in text.split(sep, 1))
            break
    else:
        raise ValueError(f"unseen pair {text!r} must look like SEEN:UNSEEN, e.g. Rec:DoS.")
    if a not in _UNSEEN_TYPES or b not in _UNSEEN_TYPES or a == b:
        raise ValueError(
            f"unseen pair {text!r}: seen and unseen must be two different types among "
            f"{', '.join(_UNSEEN_TYPES.values())}."
        )
    return _UNSEEN_TYPES[a], _UNSEEN_TYPES[b]


def _resolve_datasets(requested, data_dir, default):
    """Dataset infos for the requested names/abbreviations (or the defaults), present on disk."""
    from .. import datasets as ds

    infos = ds.list_datasets()
    by_key = {}
    for info in infos:
        by_key[info.name.lower()] = info
        if info.abbr:
            by_key.setdefault(info.abbr.lower(), info)
    available = set(ds.available_datasets(data_dir))
    if requested:
        out = []
        for name in requested:
            info = by_key.get(str(name).lower())
            path = Path(str(name))
            if info is None and path.suffix and path.is_file():
                out.append(_FileDataset(path.name.split(".")[0], None, "custom",
                                        str(path.resolve())))
                continue
            if info is None:
                raise ValueError(
                    f"unknown dataset {name!r}; known: {', '.join(i.name for i in infos)}")
            if info.name not in available:
                ds.load(info.name, data_dir=data_dir)  # raises DatasetNotAvailable with a hint
            out.append(info)
    else:
        out = ([by_key[d.lower()] for d in default if d.lower() in by_key] if default
               else [i for i in infos if i.abbr])  # the paper's datasets; extras on request
        out = [i for i in out if i.name in available]
        if not out:
            raise FileNotFoundError(
                f"no dataset of this experiment is present under {ds.data_root(data_dir)}; "
                "see `mnpad datasets list`.")
    seen, unique = set(), []
    for i in out:
        if i.name not in seen:
            seen.add(i.name)
            unique.append(i)
    return unique


def load_method(method):
    """The detector class of a method: a registry name, or ``package.module:Class`` for a
    detector of your own (any class following mnpad's detector API)."""
    if ":" in method:
        import importlib

        mod, _, cls = method.partition(":")
        try:
            return getattr(importlib.import_module(mod), cls)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import detector {method!r}: {exc}") from None
    from ..detectors import detector_class, list_detectors

    try:
        return detector_class(method)
    except KeyError:
        raise ValueError(
            f"unknown method {method!r}; available: {', '.join(list_detectors())} "
            "(or package.module:Class)") from None


def _normalise_method(m):
    m = str(m)
    return m if ":" in m else m.lower()


def plan(experiment, *, datasets=None, methods=None, seeds=None, protocol="paper",
         params=None, data_dir=None, resolve=None, ratios=None):
    """List the cells of one experiment.

    Parameters
    ----------
    experiment : {'compare', 'ratios', 'unseen', 'ablation', 'prototypes'}
    datasets : list of str, optional
        Registry names, paper abbreviations or data file paths (for ``unseen``: pairs
        ``SEEN:UNSEEN``). Default: every paper dataset present (extras only when named);
        ``prototypes``: those of Figure 4's Rec, C&C, Census, Bank that are present; ``unseen``:
        the 12 pairs of Table 3.
    methods : list of str, optional
        Registry names or ``package.module:Class`` (default: the paper's nine). ``ablation`` and
        ``prototypes`` run MNP only.
    seeds : list of int, optional
        Model seeds (default: the paper's 42..46).
    protocol : {'paper', 'weak'}
    params : dict, optional
        Per-method parameter overrides ``{method: {param: value}}``.
    data_dir : str, optional
    resolve : callable, optional
        ``resolve(requested, data_dir, default) -> list of DatasetInfo``; replaces the dataset
        registry (tests).
    ratios : list of float, optional
        ``ratios`` only: the labeled-anomaly ratios to run (default: Figure 3's ``RATIOS``). A
        subset gives the same cells as the full sweep, so a later full run skips them.

    Returns
    -------
    cells : list of Cell
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; choose from {', '.join(EXPERIMENTS)}")
    if protocol not in ("paper", "weak"):
        raise ValueError(f"protocol must be 'paper' or 'weak'; got {protocol!r}")
    if seeds is None:
        from ..protocol import PAPER_SEEDS

        seeds = PAPER_SEEDS
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    if ratios is not None:
        if experiment != "ratios":
            raise ValueError("ratios can only be chosen for the ratios experiment.")
        ratios = [float(r) for r in ratios]
        if not ratios or not all(0 < r <= 1 for r in ratios):
            raise ValueError(f"ratios must be numbers in (0, 1]; got {ratios}.")
    params = {_normalise_method(k): v for k, v in (params or {}).items()}
    for m, p in params.items():
        if not isinstance(p, dict):
            raise TypeError(f"params[{m!r}] must be a dict of detector parameters; got {p!r}")
    if experiment in ("ablation", "prototypes"):
        if methods and list(methods) != ["mnp"]:
            raise ValueError(f"the {experiment} experiment runs MNP only; drop --methods.")
        methods = ["mnp"]
    methods = [_normalise_method(m) for m in (methods or PAPER_METHODS)]
    classes = {m: load_method(m) for m in methods}  # fails early on an unknown method
    unknown = set(params) - set(methods)
    if unknown:
        raise ValueError(f"params given for method(s) not run: {', '.join(sorted(unknown))}")
    for m, p in params.items():  # an unknown parameter fails once here, not in every cell
        names = getattr(classes[m], "_get_param_names", None)
        bad = sorted(set(p) - set(names())) if names is not None else []
        if bad:
            raise ValueError(f"unknown parameter(s) {bad} for method {m!r}; valid: "
                             f"{', '.join(sorted(names()))}.")
    resolve = resolve or _resolve_datasets

    cells = []

    def add(dataset, abbr, status, method, setting, extra, split_key):
        p = {**params.get(method, {}), **extra}
        for seed in seeds:
            cells.append(Cell(experiment, protocol, dataset, method, setting, seed, p, split_key,
                              abbr, status))

    if experiment == "unseen":
        pairs = [parse_pair(t) for t in datasets] if datasets else list(UNSEEN_PAIRS)
        if resolve is _resolve_datasets:  # fail now, not once per cell, if the data is absent
            _resolve_datasets([UNSEEN_SOURCE], data_dir, None)
        for seen, unseen in pairs:
            key = ("unseen", seen, unseen, protocol, DEFAULT_RATIO)
            for m in methods:
                add(f"{seen}->{unseen}", None, None, m, f"ratio={DEFAULT_RATIO:g}", {}, key)
        return cells

    default = FIG4_DATASETS if experiment == "prototypes" else None
    for info in resolve(datasets, data_dir, default):
        def std_key(ratio, info=info):
            return ("std", getattr(info, "path", None) or info.name, protocol, ratio)

        if experiment == "compare":
            for m in methods:
                add(info.name, info.abbr, info.status, m, f"ratio={DEFAULT_RATIO:g}", {},
                    std_key(DEFAULT_RATIO))
        elif experiment == "ratios":
            for r in (ratios or RATIOS):
                for m in methods:
                    add(info.name, info.abbr, info.status, m, f"ratio={r:g}", {}, std_key(r))
        elif experiment == "ablation":
            for variant, extra in ABLATION_VARIANTS.items():
                add(info.name, info.abbr, info.status, "mnp", variant, extra,
                    std_key(DEFAULT_RATIO))
        else:  # prototypes
            for k in PROTOTYPE_KS:
                add(info.name, info.abbr, info.status, "mnp", f"k={k}", {"n_prototypes": k},
                    std_key(DEFAULT_RATIO))
    return cells
