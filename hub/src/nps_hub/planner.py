"""PostgreSQL's planner statistics of the tables a burst of reports fills, refreshed as
soon as the burst is over (backlog.run calls `refresh` once nothing waits).

Why: the merge finds a report's known assets with one query (`network = $1 AND (mac =
ANY($2) OR ip = ANY($3) OR hostname = ANY($4))`, bulk.Bulk.assets_matching). On a
table never analyzed, the planner takes `network = $1` for a rare value (0.5 % of the
rows, its default), reads every asset of the Network through an index on the network
alone and filters them against the key lists: 7.3 ms for a report of 1,533 assets in a
Network of 16,116, the cost growing with the Network. With statistics it looks the
keys up in their indexes. Autovacuum analyzes a table once its changes pass 10 % of
its rows and 50, but only when it next wakes (autovacuum_naptime, a minute by default):
a fleet's first bursts came before that. In the fleet bench (100 sensors, two hub
processes) the update burst then cost PostgreSQL 0.43 CPU-s per 10,000 assets; with the
tables analyzed after the burst of new assets, 0.31. PostgreSQL's manual says the same
of any bulk load ("Populating a Database": run ANALYZE afterwards).

The rule is autovacuum's own (THRESHOLD + SCALE of the rows), so a table is analyzed no
more often than autovacuum would; only sooner. SQLite's planner has no statistics
unless asked (sqlite_stat1), and its plans for these queries need none: nothing to do.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

TABLES = ("assets", "sightings", "flows")
THRESHOLD = 50  # autovacuum_analyze_threshold's default
SCALE = 0.1  # autovacuum_analyze_scale_factor's default


def stale(conn: Connection) -> list[str]:
    """TABLES changed by more than the rule allows since they were last analyzed (a table
    never analyzed counts its rows as 0)."""
    rows = conn.execute(
        text(
            "SELECT s.relname, s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)"
        ),
        {"tables": list(TABLES)},
    )
    return sorted(name for name, changed, tuples in rows if changed > THRESHOLD + SCALE * max(tuples, 0))


def refresh(engine: Engine) -> list[str]:
    """Analyze the stale TABLES; returns their names (none on SQLite)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        names = stale(conn)
        for name in names:  # a name of TABLES, not of the input
            conn.exec_driver_sql(f"ANALYZE {name}")
        conn.commit()
    return names
