"""Records kept for later while reports queue (backlog.py), in-process on SQLite and on a
throwaway PostgreSQL: an acknowledged report's records wait as one row, go into `flows`
exactly as they would have at once (the same rows, the same assets at their ends, also
at an address only the report knew), after the burst or when overdue; they go with their
sensor's assets and with old reports; the dashboard says how many wait."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from nps_hub import backlog, conversations, dashboard, ingest, inventory, planner, report
from nps_hub.models import Sensor
from tests.hub.test_hub_retention import OLD, prune, sensors

COLUMNS = "sensor_id, report_id, network, client, server, port, proto, client_bytes, server_bytes, " \
          "client_packets, server_packets, first_seen, last_seen, client_asset, server_asset"  # fmt: skip


def body(n: int) -> bytes:
    """A report of two hosts (the second also at 10.0.0.9, an address only this report
    names) and n records between them and the Internet."""
    stamp = "2026-12-06T10:00:00Z"
    assets = [
        {"ip": "10.0.0.1", "mac": "02:00:00:00:00:01", "class": "inventoried", "packets": 5},
        {"ip": "10.0.0.2", "mac": "02:00:00:00:00:02", "class": "inventoried", "packets": 7,
         "ips": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.9"}]},
    ]  # fmt: skip
    ends = [("10.0.0.1", "10.0.0.2"), ("10.0.0.9", "192.0.2.1"), ("10.0.0.1", "External")]
    flows = [{"client": ends[i % 3][0], "server": ends[i % 3][1], "port": 443, "proto": "tcp",
              "client_bytes": 100 + i, "server_bytes": 7 * i, "first_seen": stamp, "last_seen": stamp}
             for i in range(n)]  # fmt: skip
    return json.dumps({"kind": "report", "assets": assets, "flows": flows, "stats": {}}).encode()


def send(engine: Engine, sensor: Sensor, name: str, n: int, later: bool) -> None:
    data = body(n)
    wire = ingest.Wire(data, "identity") if later else None
    ingest.ingest(engine, sensor, name, report.parse(data), len(data), later=wire)


def rows(engine: Engine, table: str, columns: str = COLUMNS) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY {columns}"))]


def waiting(engine: Engine) -> int:
    with Session(engine) as s:
        return int(dashboard.summary(s)["flows_waiting"])


def test_records_kept_for_later_are_stored_as_they_would_have_been_at_once(engine: Engine) -> None:
    now_, later_ = sensors(engine, "at-once", "later")
    send(engine, now_, "r1", 30, later=False)
    at_once = rows(engine, "flows")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM flows"))

    send(engine, later_, "r1", 30, later=True)
    assert rows(engine, "flows") == [] and waiting(engine) == 30  # the assets are merged, the records wait
    assert len(rows(engine, "assets", "id")) == 2
    with Session(engine) as session:  # an asset's page says its Network's records are still coming
        one = rows(engine, "assets", "id")[0][0]
        assert inventory.traffic(session, one, "N")["waiting"] == 30
        assert inventory.traffic(session, one, "another")["waiting"] == 0
        assert conversations.graph(session, inventory.AssetQuery.model_validate({}))["waiting"] == 30  # and the map
    assert backlog.expand(engine) is True
    assert backlog.expand(engine) is False and waiting(engine) == 0
    stored = rows(engine, "flows")
    # The same rows but for the sensor and its report; 10.0.0.9 found its asset through the report.
    assert [r[2:] for r in stored] == [r[2:] for r in at_once]
    two = next(i for i, ip in rows(engine, "assets", "id, ip") if ip == "10.0.0.2")
    assert {r[13] for r in stored if r[3] == "10.0.0.9"} == {two}


def test_deleting_a_sensors_assets_stores_the_networks_other_records_first(engine: Engine) -> None:
    """So that the ends at an asset going are cleared in them as in the stored ones."""
    a, b = sensors(engine, "a", "b")
    send(engine, b, "r1", 3, later=False)  # b alone sees the two hosts
    data = json.dumps({"kind": "report", "assets": [], "flows": json.loads(body(3))["flows"], "stats": {}}).encode()
    ingest.ingest(engine, a, "r1", report.parse(data), len(data), later=ingest.Wire(data, "identity"))
    assert waiting(engine) == 3
    with engine.begin() as conn:
        assert ingest.delete_assets_of(conn, b) == 2
    assert waiting(engine) == 0 and rows(engine, "assets", "id") == []
    stored = rows(engine, "flows", "client, server, client_asset, server_asset")
    assert len(stored) == 3 and {(r[2], r[3]) for r in stored} == {(None, None)}


def test_the_records_waiting_go_with_their_sensors_assets_and_with_old_reports(engine: Engine) -> None:
    a, b = sensors(engine, "a", "b")
    send(engine, a, "r1", 4, later=True)
    send(engine, b, "r1", 5, later=True)
    with engine.begin() as conn:
        ingest.delete_assets_of(conn, a)
    assert waiting(engine) == 0  # a's are gone, b's stored
    assert [r[0] for r in rows(engine, "flows", "sensor_id")] == [b.id] * 5
    send(engine, b, "r2", 6, later=True)
    with engine.begin() as conn:
        conn.execute(text("UPDATE reports SET received = :old"), {"old": OLD})
    prune(engine)
    assert waiting(engine) == 0 and not backlog.expand(engine) and rows(engine, "flows") == []
    assert rows(engine, "reports", "report_id") == [
        ("r1",),
        ("r1",),
        ("r2",),
    ]  # the reports stay, as for stored records


def test_the_loop_waits_for_the_burst_to_end_or_the_records_to_be_overdue(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    (s,) = sensors(engine, "s")
    send(engine, s, "r1", 6, later=True)
    monkeypatch.setattr(backlog, "POLL", 0.02)

    async def after(quiet: bool, seconds: float) -> int:
        task = asyncio.create_task(backlog.run(engine, lambda _: quiet))
        await asyncio.sleep(seconds)
        task.cancel()
        return waiting(engine)

    analyzed: list[int] = []  # the records waiting when the statistics were looked at

    def refresh(e: Engine) -> list[str]:
        analyzed.append(waiting(e))
        return []

    monkeypatch.setattr(planner, "refresh", refresh)
    assert asyncio.run(after(False, 0.5)) == 6  # reports keep coming: they wait
    monkeypatch.setattr(backlog, "LATEST", 0.0)
    assert asyncio.run(after(False, 0.5)) == 0  # overdue: stored even so
    assert analyzed == []  # not while reports come
    send(engine, s, "r2", 6, later=True)
    monkeypatch.setattr(backlog, "LATEST", 120.0)
    assert asyncio.run(after(True, 0.5)) == 0  # the burst is over
    assert len(rows(engine, "flows")) == 12
    assert analyzed == [0]  # then, once, with every record stored
