"""One-off store migration for session 12: keep the weak-protocol MNP cells of the session-11
default reachable, and clear those the new default changes.

Session 12 added ``snapshot_fits=3`` to ``recipe='mnpad'`` (the default): with fewer than 48
labeled anomalies and no ``validation_data`` (the snapshot path), the score is the median over
3 complete fits of each fit's snapshot rank ensemble instead of one fit's. Every weak MNP cell
stored with the default (params ``{}``) is copied under params
``{"recipe":{"base":"mnpad","snapshot_fits":1}}`` (exactly the detector that produced it: the
session-11 default), and the ``{}`` cells with ``n_labeled < 48`` are deleted so that
``mnpad bench compare/ratios --protocol weak`` reruns them with the new default. Cells with
48 or more labeled anomalies are unchanged by the switch and stay. Idempotent.

    python benchmarks/migrate_store_snapshot_fits.py [--store benchmarks/results/results.sqlite]
"""

from migrate_store_top_epochs import main

OLD = '{"recipe":{"base":"mnpad","snapshot_fits":1}}'

if __name__ == "__main__":
    main(OLD, below=True)
