"""Retention (retention.py), in-process on SQLite and on a throwaway PostgreSQL: the
records of reports the hub received long ago go, batch by batch, and so do the
per-minute totals past their days; what is recent stays exactly as it was; a sweep with
nothing to delete writes nothing; a sensor's records are still found (GET /flows?sensor=)
and deleted (delete_assets) through its reports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text, update
from sqlalchemy.orm import Session

from nps_hub import api, db, ingest, report, retention
from nps_hub.models import Report, Sensor

NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=45)  # past the 30 days kept
RECENT = NOW - dt.timedelta(days=2)
FLOW_COLUMNS = "id, sensor_id, report_id, network, client, server, port, proto, client_bytes, server_bytes, " \
               "client_packets, server_packets, first_seen, last_seen, client_asset, server_asset"  # fmt: skip


def sensors(engine: Engine, *names: str) -> list[Sensor]:
    with Session(engine, expire_on_commit=False) as s:
        made = [Sensor(name=n, network="N") for n in names]
        s.add_all(made)
        s.commit()
    return made


def send(engine: Engine, sensor: Sensor, name: str, flows: int, seen: dt.datetime, received: dt.datetime) -> None:
    """One report of `flows` records last seen at `seen` (the sensor's clock), received at `received`."""
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [{"client": f"10.0.0.{i % 250 + 1}", "server": "192.0.2.1", "port": 443, "proto": "tcp",
                "client_bytes": 100 + i, "first_seen": stamp, "last_seen": stamp} for i in range(flows)]  # fmt: skip
    body = report.parse(json.dumps({"kind": "report", "assets": [], "flows": records, "stats": {}}).encode())
    ingest.ingest(engine, sensor, name, body, 1)
    with engine.begin() as conn:
        conn.execute(update(Report).where(Report.report_id == name, Report.sensor_id == sensor.id)
                     .values(received=received))  # fmt: skip


def rows(engine: Engine, table: str, columns: str, order: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY {order}"))]


def prune(engine: Engine, keep_days: int = 30, **options: Any) -> retention.Pruned:
    """As the sweep does: under the sweep's lock, its session."""
    with db.only_one(engine, "sweep") as s:
        assert s is not None
        return retention.prune(s, keep_days, at=NOW, pause=False, **options)


class Writes:
    """The statements that change something, as the engine sends them."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self.note)

    def note(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("DELETE", "UPDATE", "INSERT"):
            self.seen.append(" ".join(statement.split()))


def test_old_records_and_totals_go_recent_ones_stay_as_they_were(engine: Engine) -> None:
    a, b = sensors(engine, "a", "b")
    for n in range(3):
        send(engine, a, f"old{n}", 5, OLD, OLD + dt.timedelta(minutes=n))
        send(engine, b, f"old{n}", 4, OLD, OLD + dt.timedelta(minutes=n))
    for n in range(2):
        send(engine, a, f"new{n}", 5, RECENT, RECENT + dt.timedelta(minutes=n))
        send(engine, b, f"new{n}", 3, RECENT, RECENT + dt.timedelta(minutes=n))
    # A capture from 2015 uploaded a week ago: its records stay (the hub's clock), and
    # so do its per-minute totals (older than 30 days before the sensor's own newest).
    (c,) = sensors(engine, "capture")
    send(engine, c, "pcap", 6, dt.datetime(2015, 9, 15, 9, 38, tzinfo=dt.UTC), NOW - dt.timedelta(days=7))
    flows = rows(engine, "flows", FLOW_COLUMNS, "id")
    recent = [r for r in flows if r[13] != OLD.strftime("%Y-%m-%dT%H:%M:%SZ")]
    minutes = rows(engine, "traffic_minutes", "sensor_id, minute, bytes, records", "sensor_id, minute")
    assert len(flows) == 3 * 9 + 2 * 8 + 6 and len(minutes) == 2 * 2 + 1

    pruned = prune(engine)
    assert (pruned.flows, pruned.minutes, pruned.more) == (3 * 9, 2, False)
    cut = NOW - dt.timedelta(days=30)
    assert pruned.line() == (
        f"retention: deleted 27 traffic records of reports received before {cut:%Y-%m-%d %H:%M} UTC "
        "and 2 per-minute traffic totals older than 30 days"
    )
    assert rows(engine, "flows", FLOW_COLUMNS, "id") == recent
    assert len(recent) == 2 * 8 + 6
    assert rows(engine, "traffic_minutes", "sensor_id, minute, bytes, records", "sensor_id, minute") == [
        m for m in minutes if m[1] >= RECENT.strftime("%Y-%m-%d") or m[1].startswith("2015")
    ]
    assert prune(engine) == retention.Pruned(cut=NOW - dt.timedelta(days=30), minute_days=30)  # nothing left


def test_a_backlog_larger_than_a_batch_goes_in_several(engine: Engine) -> None:
    (a,) = sensors(engine, "a")
    for n in range(6):
        send(engine, a, f"old{n}", 5, OLD, OLD + dt.timedelta(minutes=n))
    send(engine, a, "new", 5, RECENT, RECENT)
    kept = rows(engine, "flows", FLOW_COLUMNS, "id")[30:]
    writes = Writes(engine)
    assert prune(engine, batch=7).flows == 30
    deletes = [w for w in writes.seen if w.startswith("DELETE FROM flows")]
    assert len(deletes) == 6  # reports of 5 records, batches of 7: whole reports, one a batch
    assert rows(engine, "flows", FLOW_COLUMNS, "id") == kept
    # A report larger than a batch goes whole, in one statement.
    for n in range(3):
        send(engine, a, f"older{n}", 5, OLD, OLD - dt.timedelta(minutes=10 - n))
    with engine.begin() as conn:  # received long ago, stored now: ids above the recent report's
        conn.execute(update(Report).where(Report.report_id == "new").values(received=OLD))
    writes.seen.clear()
    assert prune(engine, batch=3).flows == 20
    assert len([w for w in writes.seen if w.startswith("DELETE FROM flows")]) == 4
    assert rows(engine, "flows", "count(*)", "1") == [(0,)]


def test_per_minute_totals_go_in_batches_too(engine: Engine) -> None:
    (a,) = sensors(engine, "a")
    send(engine, a, "new", 1, RECENT, RECENT)
    with engine.begin() as conn:
        for n in range(10):
            minute = (OLD - dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M")
            conn.execute(text("INSERT INTO traffic_minutes VALUES (:s, :m, 5, 1)"), {"s": a.id, "m": minute})
    kept = rows(engine, "traffic_minutes", "sensor_id, minute, bytes, records", "minute")[10:]
    writes = Writes(engine)
    assert prune(engine, batch=3).minutes == 10
    assert len([w for w in writes.seen if w.startswith("DELETE FROM traffic_minutes")]) == 4
    assert rows(engine, "traffic_minutes", "sensor_id, minute, bytes, records", "minute") == kept


def test_the_budget_stops_a_sweep_and_the_next_goes_on(engine: Engine) -> None:
    (a,) = sensors(engine, "a")
    for n in range(4):
        send(engine, a, f"old{n}", 5, OLD, OLD + dt.timedelta(minutes=n))
    first = prune(engine, batch=5, budget=0)
    assert (first.flows, first.more) == (5, True)
    assert "more at the next sweeps" in first.line()
    second = prune(engine, batch=5)
    assert (second.flows, second.more) == (15, False)


def test_keep_days_0_deletes_nothing_and_nothing_to_delete_writes_nothing(engine: Engine) -> None:
    (a,) = sensors(engine, "a")
    send(engine, a, "old", 5, OLD, OLD)
    send(engine, a, "new", 5, RECENT, RECENT)
    writes = Writes(engine)
    assert prune(engine, keep_days=0) == retention.Pruned()
    assert prune(engine, keep_days=60).flows == 0
    assert writes.seen == []  # not even an empty DELETE: SQLite's write lock stays free
    assert rows(engine, "flows", "count(*)", "1") == [(10,)]
    assert rows(engine, "traffic_minutes", "count(*)", "1") == [(2,)]


def test_a_sensors_records_are_found_and_deleted_through_its_reports(engine: Engine) -> None:
    a, b = sensors(engine, "a", "b")
    send(engine, a, "r1", 5, RECENT, RECENT)
    send(engine, b, "r1", 4, RECENT, RECENT)
    send(engine, a, "r2", 3, RECENT, RECENT)
    every = rows(engine, "flows", FLOW_COLUMNS, "id")
    b_rows = [r for r in every if r[1] == b.id]
    with Session(engine) as s:
        for sensor, limit, offset in ((a, 1000, 0), (b, 2, 3), (a, 3, 2)):
            got = api.flows(user=None, db=s, asset=None, sensor=sensor.id, limit=limit, offset=offset)  # type: ignore[arg-type]
            mine = [r[0] for r in sorted(every, key=lambda r: (r[2], r[0])) if r[1] == sensor.id]
            assert (got["total"], [f["id"] for f in got["flows"]]) == (len(mine), mine[offset : offset + limit])
    with ingest.writing(engine) as conn:
        ingest.delete_assets_of(conn, a)
    assert rows(engine, "flows", FLOW_COLUMNS, "id") == b_rows


def test_a_bad_retention_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from nps_hub import cli

    assert cli.main(["serve", "--flows-keep-days", "-1"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        "nps-hub: --flows-keep-days=-1: days between 1 and 36500, or 0 to keep the traffic records forever\n"
    )


def test_the_sensors_records_use_the_report_index_on_sqlite(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN: a sensor's records, and retention's ranges, on ix_flows_report_id."""
    e = db.engine_for(f"sqlite:///{tmp_path}/hub.sqlite3")
    db.migrate(e)
    with e.connect() as conn:
        for sql in (
            "SELECT id FROM flows WHERE report_id IN (SELECT id FROM reports WHERE sensor_id = 1) "
            "ORDER BY report_id, id",
            "DELETE FROM flows WHERE report_id IN (SELECT id FROM reports WHERE sensor_id = 1)",
            "DELETE FROM flows WHERE report_id >= 1 AND report_id <= 9",
            "SELECT min(report_id) FROM flows",
        ):
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_flows_report_id" in plan, (sql, plan)
