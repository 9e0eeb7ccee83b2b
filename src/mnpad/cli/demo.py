"""``mnpad demo``: MNP vs IsolationForest on scikit-learn's bundled digits."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("demo", help="train MNP and IsolationForest on a built-in task; plot",
                       description="Train MNP and IsolationForest on a weakly supervised task "
                       "built from scikit-learn's bundled handwritten digits, print AUC-PR and "
                       "AUC-ROC, and write a PNG of MNP's latent space with its prototypes.")
    p.add_argument("--out", default="demo_out", help="output directory (default: demo_out)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args):
    from ..demo import run

    run(out_dir=args.out, seed=args.seed, progress=not args.quiet)
    return 0
