"""One-off store migration for session 13: keep the weak-protocol Auto cells of the former
default candidates reachable, and clear those the new default changes.

Session 13 added MNP fitted once (``recipe=MNP_ONCE``) to Auto's default candidates. Every weak
Auto cell stored with the default (params ``{}``) is copied under params
``{"candidates":["iforest","devnet","gbdt","prenet"]}`` (exactly the detector that produced
it), and the ``{}`` cells with 9 or more labeled anomalies (``min_labeled``: where Auto
evaluates its candidates) are deleted so that ``mnpad bench ratios --protocol weak --methods
auto`` reruns them. Below 9 Auto fits its fallback, DevNet, with the same seed as before: those
cells are unchanged and stay. Idempotent. Run it on both stores:

    python benchmarks/migrate_store_auto_mnp.py --store benchmarks/results/auto/results.sqlite
    python benchmarks/migrate_store_auto_mnp.py --store benchmarks/results/results.sqlite
"""

from migrate_store_top_epochs import main

OLD = '{"candidates":["iforest","devnet","gbdt","prenet"]}'

if __name__ == "__main__":
    main(OLD, min_labeled=9, method="auto")
