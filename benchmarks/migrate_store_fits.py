"""One-off store migration for session 11: keep the weak-protocol MNP cells of the session-10
default reachable, and clear those the new default changes.

Session 11 added ``fits=3`` to ``recipe='mnpad'`` (the default): with 48 or more labeled
anomalies and no ``validation_data`` (the internal split, the top-5 path), the score is the rank
ensemble of the best epochs of 3 complete fits instead of one. Every weak MNP cell stored with
the default (params ``{}``) is copied under params ``{"recipe":{"base":"mnpad","fits":1}}``
(exactly the detector that produced it: the session-10 default), and the ``{}`` cells with
``n_labeled >= 48`` are deleted so that ``mnpad bench compare/ratios --protocol weak`` reruns
them with the new default. Cells with fewer labeled anomalies are unchanged by the switch and
stay. Idempotent.

    python benchmarks/migrate_store_fits.py [--store benchmarks/results/results.sqlite]
"""

from migrate_store_top_epochs import main

OLD = '{"recipe":{"base":"mnpad","fits":1}}'

if __name__ == "__main__":
    main(OLD)
