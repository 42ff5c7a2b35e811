"""Reports into the merged inventory and the traffic table, exactly once, whatever
number of sensors upload at the same time and however many hub processes serve them.

A report is stored under (sensor, report id) with a unique constraint, in the same
transaction as everything merged from it: a report sent twice (the hub stopped before
its answer arrived, and the sensor tried again) is recognised and merged once. Only
after the commit does the sensor hear "stored", and only then does it delete the
report from its spool. Nothing is stored half-way: a refusal or a failure rolls the
whole report back. While other reports wait for an ingest thread, the report's traffic
records are kept in that transaction as one row and go into `flows` after the burst
(backlog.py).

One asset per device under concurrency: the merge of one Network is serialised by the
database itself, so two sensors uploading the same device at once cannot both find it
missing and both insert it. On PostgreSQL a transaction-scoped advisory lock per
Network (`pg_advisory_xact_lock`) serialises the merges of one Network across every
hub process, and merges of different Networks run side by side; on SQLite, a single
writer anyway, the transaction takes the write lock at its start (`BEGIN IMMEDIATE`).
The unique index on (network, mac) stands behind both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nps_hub import merge, report
from nps_hub.bulk import Bulk
from nps_hub.merge import chunks
from nps_hub.models import Flow, PendingFlows, Report, Sensor, ServiceTotal, Sighting, TrafficMinute, now
from nps_hub.report import Flow as ReportedFlow
from nps_hub.report import Report as Reported

log = logging.getLogger("nps-hub")
FLOWS = cast(Table, Flow.__table__)
PENDING = cast(Table, PendingFlows.__table__)
REPORTS = cast(Table, Report.__table__)
SENSORS = cast(Table, Sensor.__table__)
SIGHTINGS = cast(Table, Sighting.__table__)
TRAFFIC_MINUTES = cast(Table, TrafficMinute.__table__)
SERVICE_TOTALS = cast(Table, ServiceTotal.__table__)


@dataclass(frozen=True)
class Wire:
    """A report's body as it came, and its Content-Encoding."""

    body: bytes
    encoding: str


@dataclass
class Ingested:
    report: int  # the hub's row id
    duplicate: bool
    assets: int
    flows: int


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write the inventory. On SQLite it holds the write lock
    from its first statement, so nothing it read can change before it writes."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def network_lock(conn: Connection, network: str) -> None:
    """Until the transaction ends, no other merge of this Network (PostgreSQL; SQLite's
    writers are serialised by `writing`)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"nps-hub network\0{network}".encode()).digest()[:8], "big", signed=True)
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def ingest(
    engine: Engine,
    sensor: Sensor,
    report_id: str,
    body: Reported,
    size: int,
    dedupe_excluded_hostnames: Iterable[str] = (),
    later: Wire | None = None,
) -> Ingested:
    """Merge a report's assets and store its records, in one transaction; with `later`
    (the report as it came), its records wait in `pending_flows` (backlog.py)."""
    with writing(engine) as conn:
        row_id = _report_row(conn, sensor.id, report_id, body, size)
        if row_id is None:  # stored before (or by a request that committed meanwhile)
            r = conn.execute(
                select(REPORTS.c.id, REPORTS.c.assets, REPORTS.c.flows).where(
                    REPORTS.c.sensor_id == sensor.id, REPORTS.c.report_id == report_id
                )
            ).one()
            return Ingested(r.id, True, r.assets, r.flows)
        network_lock(conn, sensor.network)
        by_ip = merge.Merge(conn, sensor.network, sensor.id, dedupe_excluded_hostnames).run(body["assets"])
        if later is None:
            add_flows(conn, sensor.id, sensor.network, row_id, body["flows"], by_ip)
        else:
            keep(conn, sensor.id, sensor.network, row_id, later, by_ip)
        conn.execute(update(SENSORS).where(SENSORS.c.id == sensor.id).values(last_report=now()))
    return Ingested(row_id, False, len(body["assets"]), len(body["flows"]))


def _report_row(conn: Connection, sensor_id: int, report_id: str, body: Reported, size: int) -> int | None:
    """The report's row, or None when (sensor, report id) is there already."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(REPORTS)
        .values(
            sensor_id=sensor_id,
            report_id=report_id,
            kind=body.get("kind") or "report",
            window_start=body.get("window_start") or "",
            window_end=body.get("window_end") or "",
            assets=len(body["assets"]),
            flows=len(body["flows"]),
            size=size,
            stats=body.get("stats") or {},
            received=now(),
        )
        .on_conflict_do_nothing(index_elements=["sensor_id", "report_id"])
        .returning(REPORTS.c.id)
    )
    row_id: int | None = conn.scalar(stmt)
    return row_id


def keep(conn: Connection, sensor_id: int, network: str, report_row: int, wire: Wire, by_ip: dict[str, int]) -> None:
    """Keep a report's records for later (backlog.py), in the transaction that merges its assets."""
    conn.execute(
        PENDING.insert().values(
            report_id=report_row, sensor_id=sensor_id, network=network, encoding=wire.encoding, body=wire.body,
            by_ip=json.dumps(by_ip, separators=(",", ":")),
        )
    )  # fmt: skip


def add_kept(conn: Connection, row: Any) -> None:
    """A report's records kept for later (a row of PENDING), into `flows` as add_flows
    would have put them at once; the row goes."""
    conn.execute(PENDING.delete().where(PENDING.c.report_id == row.report_id))
    try:
        flows = report.read_flows(row.body, row.encoding)
    except report.Refused as e:  # it was read once: only a lowered limit gets here
        log.warning("traffic records of report %d dropped: %s", row.report_id, e)
        return
    add_flows(conn, row.sensor_id, row.network, row.report_id, flows, json.loads(row.by_ip))


def add_flows(
    conn: Connection, sid: int, network: str, report: int, flows: list[ReportedFlow], by_ip: dict[str, int]
) -> None:
    """The report's traffic records, each with the assets at its ends where the hub knows them."""
    bulk = Bulk(conn)
    missing = sorted({e for f in flows for e in (f["client"], f["server"]) if e not in by_ip})
    for chunk in chunks(missing):
        for asset_id, ip in bulk.ids_at(network, chunk):
            by_ip.setdefault(ip, asset_id)
    get = by_ip.get
    rows = [
        (sid, report, network, f["client"], f["server"], f.get("port"), f["proto"], f.get("client_bytes", 0),
         f.get("server_bytes", 0), f.get("client_packets", 0), f.get("server_packets", 0),
         f.get("first_seen") or "", f.get("last_seen") or "", get(f["client"]), get(f["server"]))
        for f in flows
    ]  # fmt: skip
    bulk.insert_flows(rows)
    add_rollups(bulk, sid, rows)


def add_rollups(bulk: Bulk, sensor_id: int, rows: list[tuple[Any, ...]]) -> None:
    """The records' bytes (rows in bulk.FLOW_COLUMNS' order) added to their sensor's
    minute and service totals (what the dashboard reads instead of grouping every record)."""
    minutes: dict[str, list[int]] = {}
    services: dict[tuple[str, int], list[int]] = {}
    for r in rows:
        size = r[7] + r[8]  # client_bytes + server_bytes
        minute = r[12][:16]  # of last_seen
        if minute:
            m = minutes.setdefault(minute, [0, 0])
            m[0] += size
            m[1] += 1
        port = r[5]
        s = services.setdefault((r[6], -1 if port is None else port), [0, 0])
        s[0] += size
        s[1] += 1
    by_minute = [(sensor_id, k, b, n) for k, (b, n) in sorted(minutes.items())]
    by_service = [(sensor_id, *k, b, n) for k, (b, n) in sorted(services.items())]
    bulk.add_totals("traffic_minutes", ("sensor_id", "minute"), by_minute)
    bulk.add_totals("service_totals", ("sensor_id", "proto", "port"), by_service)


def delete_assets_of(conn: Connection, sensor: Sensor) -> int:
    """Forget what one sensor discovered: its sightings and flows (stored or waiting:
    backlog.py); assets no other sensor saw go (under the Network's lock: a merge must
    not match an asset going away). The other records waiting in the Network are stored
    first, so that the ends of theirs at an asset going are cleared with the rest."""
    network_lock(conn, sensor.network)
    conn.execute(FLOWS.delete().where(FLOWS.c.report_id.in_(reports_of(sensor.id))))
    conn.execute(PENDING.delete().where(PENDING.c.sensor_id == sensor.id))
    for row in conn.execute(select(PENDING).where(PENDING.c.network == sensor.network)).all():
        add_kept(conn, row)
    conn.execute(TRAFFIC_MINUTES.delete().where(TRAFFIC_MINUTES.c.sensor_id == sensor.id))
    conn.execute(SERVICE_TOTALS.delete().where(SERVICE_TOTALS.c.sensor_id == sensor.id))
    s = SIGHTINGS.c
    asset_ids = list(conn.scalars(select(s.asset_id).where(s.sensor_id == sensor.id)))
    conn.execute(SIGHTINGS.delete().where(s.sensor_id == sensor.id))
    return merge.delete_unseen(conn, asset_ids)


def reports_of(sensor_id: int) -> Any:
    """SQL: the ids of one sensor's reports. Its records are found through them, on
    flows.report_id's index (the records have no index on sensor_id: one less per row)."""
    return select(REPORTS.c.id).where(REPORTS.c.sensor_id == sensor_id)


def addresses(a: dict[str, Any]) -> list[str]:
    """An asset's addresses as the hub keeps them: its main one, then every other valid
    one the sensor saw it use, each once (what the tests compare with)."""
    return merge.valid_addresses(a)  # type: ignore[arg-type]
