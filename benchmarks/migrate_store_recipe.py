"""One-off store migration for issue 9: keep MNP's results under its old default reachable.

Until 2026-11-30 ``MNP()`` meant ``MNP(recipe='paper')``. When the default changed, every MNP
cell stored with the old defaults (params without a ``recipe`` key, finished before
``CUTOFF``) was relabelled with ``"recipe": "paper"`` in its params, which is exactly the
detector that produced it (``MNP(recipe='paper')`` reproduces those runs) and keeps the cells
rerunnable (``--params '{"mnp": {"recipe": "paper"}}'``). Reports then show them as
"MNP (recipe=paper)" next to the new default, and the ablation and prototypes reports get a
before/after table. Idempotent: cells with a recipe, or newer than ``CUTOFF``, are untouched.

    python benchmarks/migrate_store_recipe.py [--store benchmarks/results/results.sqlite]
"""

import argparse
import json
import sqlite3

CUTOFF = "2026-11-30T08:30:00+00:00"  # before the first cell run with the new default


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="benchmarks/results/results.sqlite")
    a = ap.parse_args()
    con = sqlite3.connect(a.store)
    rows = con.execute("SELECT rowid, params FROM cells WHERE method = 'mnp' AND finished_at < ?",
                       (CUTOFF,)).fetchall()
    n = 0
    with con:
        for rowid, params in rows:
            p = json.loads(params or "{}")
            if "recipe" in p:
                continue
            p["recipe"] = "paper"
            con.execute("UPDATE cells SET params = ? WHERE rowid = ?",
                        (json.dumps(p, sort_keys=True, separators=(",", ":")), rowid))
            n += 1
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"relabelled {n} MNP cells with recipe='paper'")


if __name__ == "__main__":
    main()
