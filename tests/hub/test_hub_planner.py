"""The planner's statistics refreshed after a burst (planner.py), on SQLite and on a
throwaway PostgreSQL: a table the burst changed by more than autovacuum's rule allows is
analyzed, once; SQLite has nothing to refresh."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, text

from nps_hub import planner
from nps_hub.models import Asset

ASSETS = cast(Table, Asset.__table__)


def test_the_tables_a_burst_changed_are_analyzed_once(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(ASSETS.insert(), [{"network": "n", "mac": f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}"}
                                       for i in range(500)])  # fmt: skip
        if engine.dialect.name == "postgresql":  # the counts reach the statistics once the transaction ends
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
    if engine.dialect.name != "postgresql":
        assert planner.refresh(engine) == []
        return
    assert planner.refresh(engine) == ["assets"]  # sightings and flows did not change
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'assets'")) == 500
    assert planner.refresh(engine) == []  # nothing changed since
