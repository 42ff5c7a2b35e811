"""Which sensors saw an asset (`sightings`), in-process on SQLite and on a throwaway
PostgreSQL. The table has no foreign keys (a check per row was most of what a burst of
new assets cost it): the sightings of new assets go straight in, the known ones' are
upserted, and what the cascades did is done where sensors and assets go."""

from __future__ import annotations

import json
from typing import Any

from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from nps_hub import db, ingest, report
from nps_hub.models import Sensor
from tests.hub.test_hub_retention import sensors

HOSTS = {n: (f"10.0.0.{n}", f"02:00:00:00:00:0{n}") for n in (1, 2, 3)}


def send(engine: Engine, sensor: Sensor, name: str, hosts: tuple[int, ...], packets: int) -> None:
    assets = [{"ip": HOSTS[n][0], "mac": HOSTS[n][1], "class": "inventoried", "packets": packets * n,
               "first_seen": "2026-12-07T01:00:00Z", "last_seen": f"2026-12-07T0{packets}:00:00Z"}
              for n in hosts]  # fmt: skip
    data = json.dumps({"kind": "report", "assets": assets, "flows": [], "stats": {}}).encode()
    ingest.ingest(engine, sensor, name, report.parse(data), len(data))


def seen(engine: Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(asset's IP, sensor's name) -> (first_seen, last_seen, packets), and the asset's total."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.ip, s.name, g.first_seen, g.last_seen, g.packets, a.packets FROM sightings g "
            "LEFT JOIN assets a ON a.id = g.asset_id LEFT JOIN sensors s ON s.id = g.sensor_id"
        ))  # fmt: skip
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_new_and_known_assets_sightings_and_what_goes_with_a_sensor(engine: Engine) -> None:
    assert inspect(engine).get_foreign_keys("sightings") == []  # migrated away (0010)
    a, b = sensors(engine, "a", "b")
    send(engine, a, "r1", (1, 2), 1)  # two new assets: inserted
    send(engine, b, "r1", (2, 3), 2)  # one known (upserted beside a's), one new
    send(engine, a, "r2", (1, 2), 3)  # a's again: its counts replaced, last_seen moved on
    first = "2026-12-07T01:00:00Z"
    assert seen(engine) == {
        ("10.0.0.1", "a"): (first, "2026-12-07T03:00:00Z", 3, 3),
        ("10.0.0.2", "a"): (first, "2026-12-07T03:00:00Z", 6, 10),  # the total: a's 6 and b's 4
        ("10.0.0.2", "b"): (first, "2026-12-07T02:00:00Z", 4, 10),
        ("10.0.0.3", "b"): (first, "2026-12-07T02:00:00Z", 6, 6),
    }

    with engine.begin() as conn:  # deleting sensor a, as the API and the web UI do
        assert ingest.delete_assets_of(conn, a) == 1  # 10.0.0.1: only a saw it
    with Session(engine) as s:
        s.delete(s.get(Sensor, a.id))
        s.commit()
    # No sighting of the sensor gone nor of the asset gone; the shared one's total is b's.
    assert seen(engine) == {
        ("10.0.0.2", "b"): (first, "2026-12-07T02:00:00Z", 4, 4),
        ("10.0.0.3", "b"): (first, "2026-12-07T02:00:00Z", 6, 6),
    }


def test_the_migration_goes_back_and_forth_with_the_rows(engine: Engine) -> None:
    """0010 down puts both keys back (named as PostgreSQL names them), up takes them away
    again; SQLite makes the table anew each way, and no sighting is lost."""
    a, b = sensors(engine, "a", "b")
    send(engine, a, "r1", (1, 2), 1)
    send(engine, b, "r1", (2, 3), 2)
    before = seen(engine)
    command.downgrade(db.alembic_config(engine), "0009")
    keys = {(k["name"], tuple(k["constrained_columns"]), k["referred_table"])
            for k in inspect(engine).get_foreign_keys("sightings")}  # fmt: skip
    assert keys == {("sightings_asset_id_fkey", ("asset_id",), "assets"),
                    ("sightings_sensor_id_fkey", ("sensor_id",), "sensors")}  # fmt: skip
    assert seen(engine) == before
    db.migrate(engine)
    assert inspect(engine).get_foreign_keys("sightings") == []
    assert seen(engine) == before
