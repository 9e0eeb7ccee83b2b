"""One-off store migration for session 10: keep the weak-protocol MNP cells of the session-9
default reachable, and clear those the new default changes.

Session 10 added ``top_epochs=5`` to ``recipe='mnpad'`` (the default): with 48 or more labeled
anomalies and no ``validation_data`` (the internal split), the score is the rank ensemble of
the 5 epochs with the best held-out criterion instead of the one restored epoch. Every weak
MNP cell stored with the default (params ``{}``) is copied under params
``{"recipe":{"base":"mnpad","top_epochs":0}}`` (exactly the detector that produced it: the
session-9 default), and the ``{}`` cells with ``n_labeled >= 48`` are deleted so that
``mnpad bench compare/ratios --protocol weak`` reruns them with the new default. Cells with
fewer labeled anomalies are unchanged by the switch and stay. Idempotent.

    python benchmarks/migrate_store_top_epochs.py [--store benchmarks/results/results.sqlite]
"""

import argparse
import sqlite3

OLD = '{"recipe":{"base":"mnpad","top_epochs":0}}'


def keep_and_clear(store, old_params, min_labeled=48, below=False, method="mnp"):
    """Copy every weak ``method`` cell of the default (params ``{}``) under ``old_params`` (the
    detector that produced it) and delete the default cells with ``n_labeled >= min_labeled``
    (``below``: with ``n_labeled < min_labeled``), which the new default changes, so that the
    harness reruns them. Idempotent."""
    con = sqlite3.connect(store)
    cols = [r[1] for r in con.execute("PRAGMA table_info(cells)")]
    sel = ", ".join("?" if c == "params" else c for c in cols)
    with con:
        copied = con.execute(
            f"INSERT OR IGNORE INTO cells ({', '.join(cols)}) SELECT {sel} FROM cells "
            "WHERE method = ? AND protocol = 'weak' AND params = '{}'",
            (old_params, method)).rowcount
        deleted = con.execute(
            "DELETE FROM cells WHERE method = ? AND protocol = 'weak' AND params = '{}' "
            f"AND n_labeled {'<' if below else '>='} ?", (method, min_labeled)).rowcount
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"copied {copied} weak {method} cells to params {old_params}; deleted {deleted} default "
          f"cells with {'<' if below else '>='} {min_labeled} labeled anomalies (rerun them)")


def main(old_params=OLD, below=False, min_labeled=48, method="mnp"):
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="benchmarks/results/results.sqlite")
    keep_and_clear(ap.parse_args().store, old_params, min_labeled=min_labeled, below=below,
                   method=method)

if __name__ == "__main__":
    main()
