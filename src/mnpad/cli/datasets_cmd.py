"""``mnpad datasets list`` and ``mnpad datasets fetch NAME``."""

from __future__ import annotations


def _shape_str(shape):
    return "-" if shape is None else " x ".join(str(s) for s in shape)


def _paper_str(info):
    if info.paper_shape is None:
        return "-"
    n, d, pct = info.paper_shape
    return f"{n} x {d}, {pct:g} %"


def _list(args):
    from ..datasets import check_file, data_root, find_file, list_datasets, npz_shape

    rows = [("name", "paper", "status", "available", "shape (file)", "paper (N x D, anomalies)")]
    for info in list_datasets():
        path = find_file(info, args.data_dir)
        shape = None
        if path is not None and path.name.endswith(".npz"):
            shape = npz_shape(path)
        bad = None if path is None else check_file(info, path)
        avail = "no" if path is None else ("yes" if bad is None else f"CORRUPT: {bad}")
        if path is not None and shape is None and not path.name.endswith(".npz"):
            shape_s = f"({path.name})"
        else:
            shape_s = _shape_str(shape)
        rows.append((info.name, info.abbr or "(extra)", info.status, avail, shape_s,
                     _paper_str(info)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"\ndata root: {data_root(args.data_dir)}  (--data-dir, else $MNPAD_DATA, else "
          "../shared/data, else the user cache)")
    if args.verbose:
        for info in list_datasets():
            print(f"\n{info.name}: {info.title}\n  source: {info.source}\n  licence: "
                  f"{info.licence}" + (f"\n  note: {info.note}" if info.note else ""))
    return 0


def _fetch(args):
    from ..datasets import check_file, fetch, find_file, get_info

    for name in args.names:
        info = get_info(name)
        before = None if args.force else find_file(info, args.data_dir)
        if before is not None and check_file(info, before) is not None:
            before = None
        path = fetch(name, args.data_dir, force=args.force, progress=not args.quiet)
        how = "already present" if before is not None and path == before else "downloaded, sha256 ok"
        print(f"{name}: {path} ({how})")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("datasets", help="list and fetch the benchmark datasets",
                              description="List the paper's datasets (and extras) with "
                              "availability and status, or download a public original.")
    sub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    pl = sub.add_parser("list", help="show every dataset with status, availability and shape")
    pl.add_argument("--data-dir", default=None, help="data root (default: $MNPAD_DATA, else "
                    "../shared/data, else the user cache)")
    pl.add_argument("-v", "--verbose", action="store_true", help="also print sources, licences")
    pl.set_defaults(func=_list)

    pf = sub.add_parser("fetch", help="download a dataset's public original (sha256-verified)")
    pf.add_argument("names", nargs="+", metavar="NAME", help="dataset name(s), e.g. pendigits")
    pf.add_argument("--data-dir", default=None, help="where to store it (default: the data root, "
                    "or the user cache when that is read-only)")
    pf.add_argument("--force", action="store_true", help="download even if already present")
    pf.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pf.set_defaults(func=_fetch)
    return p
