"""The merge's writes on SQLite, in-process: an update that keeps an asset's indexed
columns (mac, ip, hostname) leaves them out of its statement (bulk.update_assets), so
a report that moves an address or names a nameless device must still store it, and one
that keeps them must still store the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from nps_hub import db, ingest, report
from nps_hub.models import Sensor


def body(assets: list[dict[str, Any]]) -> report.Report:
    return report.parse(json.dumps({"kind": "report", "assets": assets, "flows": [], "stats": {}}).encode())


def asset(ip: str, last_seen: str, **more: Any) -> dict[str, Any]:
    return {"ip": ip, "mac": "00:11:22:33:44:55", "class": "inventoried", "group": "Default",
            "first_seen": "2026-12-05T10:00:00Z", "last_seen": last_seen, "packets": 7, **more}  # fmt: skip


def hub_with_a_sensor(tmp_path: Path) -> tuple[Engine, Sensor]:
    """A migrated SQLite hub database and one sensor of the Network "N" in it."""
    engine = db.engine_for(f"sqlite:///{tmp_path}/hub.sqlite3")
    db.migrate(engine)
    with Session(engine, expire_on_commit=False) as s:
        sensor = Sensor(name="s", network="N")
        s.add(sensor)
        s.commit()
    return engine, sensor


def test_moved_and_kept_keys_are_both_stored(tmp_path: Path) -> None:
    engine, sensor = hub_with_a_sensor(tmp_path)
    reports = [
        [asset("10.0.0.1", "2026-12-05T10:01:00Z")],
        [asset("10.0.0.1", "2026-12-05T10:02:00Z", packets=9)],  # nothing indexed changes
        [asset("10.0.0.2", "2026-12-05T10:03:00Z", hostname="Printer")],  # the address moves, a name comes
        [asset("10.0.0.2", "2026-12-05T10:04:00Z", packets=11)],
    ]
    seen = []
    for n, assets in enumerate(reports):
        ingest.ingest(engine, sensor, f"r{n}", body(assets), 1)
        with engine.connect() as conn:
            seen.append(
                tuple(conn.exec_driver_sql("SELECT mac, ip, hostname, last_seen, packets, ips FROM assets").one())
            )
    assert seen == [
        ("00:11:22:33:44:55", "10.0.0.1", "", "2026-12-05T10:01:00Z", 7, '["10.0.0.1"]'),
        ("00:11:22:33:44:55", "10.0.0.1", "", "2026-12-05T10:02:00Z", 9, '["10.0.0.1"]'),
        ("00:11:22:33:44:55", "10.0.0.2", "printer", "2026-12-05T10:03:00Z", 7, '["10.0.0.1","10.0.0.2"]'),
        ("00:11:22:33:44:55", "10.0.0.2", "printer", "2026-12-05T10:04:00Z", 11, '["10.0.0.1","10.0.0.2"]'),
    ]


def test_a_router_keeps_its_mac_and_the_hosts_behind_it_their_addresses(tmp_path: Path) -> None:
    """The sensor names a router by its MAC (`id` mac:…) and flags the hosts whose packets
    carry that MAC `behind_router`: the MAC finds the router, whether it has an address of
    its own or is known by its MAC alone, and none of the hosts; a second report of the
    same adds nothing."""
    engine, sensor = hub_with_a_sensor(tmp_path)
    gw, core = "02:00:00:00:00:01", "02:00:00:00:00:02"

    def host(ip: str, mac: str) -> dict[str, Any]:
        return {**asset(ip, "2026-12-05T10:01:00Z"), "mac": mac, "id": f"ip:{ip}", "behind_router": True}

    assets = [
        {**asset("10.0.0.1", "2026-12-05T10:01:00Z"), "mac": gw, "id": f"mac:{gw}"},  # the gateway's own address
        host("10.2.0.5", gw),
        host("10.2.0.6", gw),
        {"mac": core, "id": f"mac:{core}", "class": "inventoried", "packets": 0},  # a router known by its MAC alone
        host("10.3.0.5", core),
    ]
    for n in range(2):
        ingest.ingest(engine, sensor, f"r{n}", body(assets), 1)
    with engine.connect() as conn:
        rows = sorted(conn.exec_driver_sql("SELECT coalesce(ip, ''), coalesce(mac, '') FROM assets").all())
    assert [tuple(r) for r in rows] == [
        ("", core),
        ("10.0.0.1", gw),
        ("10.2.0.5", ""),
        ("10.2.0.6", ""),
        ("10.3.0.5", ""),
    ]
