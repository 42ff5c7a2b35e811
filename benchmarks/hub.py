"""`inv bench --hub`: how fast the hub merges what sensors upload, and what the upload costs.

A sensor registered with a hub (its own process, on loopback) uploads the reports of a
site with 10,000 assets and 100,000 traffic records: first as new-assets reports (every
asset new to the hub), then as update reports (every asset known, merged again), each
gzip-compressed as the uplink sends them. Measured per database (SQLite, then a
throwaway PostgreSQL cluster when Debian's server is installed): reports, assets and
flows merged per second, end to end over HTTP. And the bytes a sensor uploads per asset,
against the product's budget of 1 Mbit/s of uplink for about 10,000 assets.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks import hub_fleet, hub_pages
from benchmarks.hublab import HubProcess, Postgres
from benchmarks.offline import OUT
from nps_sensor.uplink.agent import report_id

ASSETS = 10_000
FLOWS = 100_000
PER_REPORT = 500  # assets per report (a report carries their flows)
UPDATE_WINDOW = 1800.0  # seconds: one update report per 30 minutes carries every active asset


@dataclass
class Result:
    database: str
    phase: str
    reports: int
    assets: int
    flows: int
    seconds: float

    @property
    def reports_per_second(self) -> float:
        return self.reports / self.seconds

    @property
    def assets_per_second(self) -> float:
        return self.assets / self.seconds

    @property
    def flows_per_second(self) -> float:
        return self.flows / self.seconds


# What discovery says of them, in turn (the inventory's columns and filters).
PREDICTED: tuple[dict[str, Any], ...] = (
    {"vendor": "Dell Inc.", "os": {"name": "Windows 10", "family": "Windows", "confidence": 0.9},
     "device": {"type": "workstation", "confidence": 0.8}},
    {"vendor": "Cisco Systems, Inc", "os": {"name": "Cisco IOS", "family": "Cisco IOS", "confidence": 0.95},
     "device": {"type": "switch", "model": "WS-C3560-24TS", "confidence": 0.9}},
    {"vendor": "HP Inc.", "device": {"type": "printer", "confidence": 0.7}},
    {"vendor": "Siemens", "os": {"name": "Linux", "family": "Linux", "confidence": 0.6},
     "device": {"type": "PLC", "model": "S7-300", "confidence": 0.9}},
)  # fmt: skip


def site(seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Assets shaped as the sensor reports them (with some discovery evidence) and flows
    between them and to the outside."""
    rnd = random.Random(seed)
    assets = []
    for i in range(ASSETS):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        mac = f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        assets.append(
            {
                "ip": ip,
                "name": ip,
                "mac": mac,
                "macs": [mac],
                "class": "inventoried",
                "group": "Default",
                "first_seen": "2026-11-27T10:00:00.000000Z",
                "last_seen": "2026-11-27T10:29:59.000000Z",
                "packets": rnd.randrange(10, 100_000),
                "bytes_in": rnd.randrange(1_000, 10_000_000),
                "bytes_out": rnd.randrange(1_000, 10_000_000),
                "vlans": [10 + i % 8],
                "tunnel_ids": [],
                "hostnames": [f"host-{i:05d}"] if i % 3 == 0 else [],
                "services": [{"port": 443, "proto": "tcp", "product": "https"}] if i % 5 == 0 else [],
                "evidence": [{"source": "dhcp", "key": "hostname", "value": f"host-{i:05d}", "count": 2}]
                if i % 3 == 0
                else [],
                **PREDICTED[i % len(PREDICTED)],
            }
        )
    ips = [a["ip"] for a in assets]
    flows = []
    for k in range(FLOWS):
        client = ips[k % ASSETS]
        server = ips[rnd.randrange(ASSETS)] if k % 4 else "External"
        flows.append(
            {
                "client": client,
                "server": server,
                "port": rnd.choice((53, 80, 443, 445, 502, 3389, 8080)),
                "proto": "tcp" if k % 7 else "udp",
                "client_bytes": rnd.randrange(60, 1_000_000),
                "server_bytes": rnd.randrange(60, 5_000_000),
                "client_packets": rnd.randrange(1, 5000),
                "server_packets": rnd.randrange(1, 5000),
                "first_seen": "2026-11-27T10:00:00.000000Z",
                "last_seen": "2026-11-27T10:29:59.000000Z",
            }
        )
    return assets, flows


def reports(kind: str, assets: list[dict[str, Any]], flows: list[dict[str, Any]]) -> list[bytes]:
    """Serialised as the spool holds them; each report carries the flows of its clients."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    for f in flows:
        by_client.setdefault(f["client"], []).append(f)
    out = []
    for n, i in enumerate(range(0, len(assets), PER_REPORT)):
        chunk = assets[i : i + PER_REPORT]
        body = {
            "kind": kind,
            "window_start": "2026-11-27T10:00:00.000000Z",
            "window_end": f"2026-11-27T10:30:00.{n:06d}Z",
            "assets": chunk,
            "flows": [f for a in chunk for f in by_client.get(a["ip"], [])],
            "sensor": {"version": "bench", "hostname": "bench"},
            "stats": {},
        }
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


def upload(hub: HubProcess, token: str, bodies: list[bytes]) -> float:
    with httpx.Client(base_url=hub.url, timeout=600, headers={"Authorization": f"Bearer {token}"}) as http:
        start = time.perf_counter()
        for data in bodies:
            r = http.post(
                "/api/v1/agent/reports",
                content=gzip.compress(data, compresslevel=6),
                headers={
                    "Content-Encoding": "gzip",
                    "X-Report-Id": report_id(data),
                    "Content-Type": "application/json",
                },
            )
            r.raise_for_status()
        return time.perf_counter() - start


def run_on(
    database: str,
    url: str,
    workdir: Path,
    assets: list[dict[str, Any]],
    flows: list[dict[str, Any]],
    pages: list[hub_pages.PageTime] | None = None,
) -> list[Result]:
    workdir.mkdir(parents=True, exist_ok=True)
    hub = HubProcess(workdir, tls=False, database=url)
    hub.start()
    try:
        api = hub.api()
        _, code = api.create_sensor("bench")
        r = httpx.post(f"{hub.url}/api/v1/agent/register", json={"code": code, "facts": {}})
        r.raise_for_status()
        token = r.json()["token"]
        out = []
        for phase, kind in (("new assets", "new-assets"), ("updates (known assets)", "update")):
            bodies = reports(kind, assets, flows)
            seconds = upload(hub, token, bodies)
            out.append(Result(database, phase, len(bodies), len(assets), len(flows), seconds))
        total = api.get("/api/v1/assets", params={"limit": 1})["total"]
        if total != len(assets):
            raise AssertionError(f"{database}: {total} assets merged, {len(assets)} expected")
        if pages is not None:  # the pages on the site just merged
            pages += hub_pages.measure(hub, database, url)
        return out
    finally:
        hub.stop()


def main(fleet_sizes: list[int] | None = None) -> int:
    """The single sensor's ingest on SQLite and PostgreSQL, then the fleet run."""
    # Piped (a log, CI), rich would cut the fleet's 15 columns to 80 characters.
    console = Console(width=None if sys.stdout.isatty() else 200)
    assets, flows = site()
    update = reports("update", assets, flows)
    raw = sum(len(b) for b in update)
    compressed = sum(len(gzip.compress(b, compresslevel=6)) for b in update)
    per_asset = compressed / len(assets)
    mbps = compressed * 8 / UPDATE_WINDOW / 1e6
    results: list[Result] = []
    pages: list[hub_pages.PageTime] = []
    with tempfile.TemporaryDirectory(prefix="nps-bench-hub-") as tmp:
        console.print(f"[bold]hub ingest[/]: {ASSETS:,} assets, {FLOWS:,} flows in {len(update)} reports each pass")
        results += run_on("SQLite", "", Path(tmp) / "sqlite", assets, flows, pages)
        try:
            pg = Postgres(durable=True)
        except FileNotFoundError as e:
            console.print(f"PostgreSQL skipped: {e}")
        else:
            pg.start()
            try:
                results += run_on("PostgreSQL", pg.url, Path(tmp) / "pg", assets, flows, pages)
            finally:
                pg.stop()
    table = Table(title="Hub ingest over HTTP (one sensor, sequential uploads)")
    for col in ("database", "pass", "reports/s", "assets/s", "flows/s", "seconds"):
        table.add_column(col, justify="left" if col in ("database", "pass") else "right")
    for r in results:
        table.add_row(
            r.database, r.phase, f"{r.reports_per_second:,.1f}", f"{r.assets_per_second:,.0f}",
            f"{r.flows_per_second:,.0f}", f"{r.seconds:.1f}",
        )  # fmt: skip
    console.print(table)
    console.print(hub_pages.table(pages, " ".join(f"{x:.1f}" for x in os.getloadavg())))
    console.print(
        f"upload: {raw / 1e6:.1f} MB of reports, {compressed / 1e6:.1f} MB gzip-compressed for {ASSETS:,} assets and "
        f"{FLOWS:,} flows = {per_asset:,.0f} bytes per asset; one update window of {UPDATE_WINDOW / 60:.0f} minutes "
        f"needs {mbps:.3f} Mbit/s on average ({mbps * 100:.1f} % of the 1 Mbit/s budget)"
    )
    runs: list[hub_fleet.Run] = []
    if fleet_sizes:
        with tempfile.TemporaryDirectory(prefix="nps-bench-fleet-") as tmp:
            runs = hub_fleet.fleet(Path(tmp), fleet_sizes, console)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        console.print(hub_fleet.table(runs, load))
    bad = [run for run in runs if run.lost or run.duplicates or run.flows_found != run.flows_expected]
    for run in bad:
        records = run.flows_expected - run.flows_found
        console.print(f"[red]{run.database}, {run.workers} process(es), {run.sensors} sensors: {run.lost} lost, "
                      f"{run.duplicates} duplicate assets, {records} records lost[/]")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hub.json").write_text(
        json.dumps(
            {
                "results": [
                    asdict(r) | {"reports_per_second": r.reports_per_second, "assets_per_second": r.assets_per_second}
                    for r in results
                ],
                "upload": {"raw_bytes": raw, "gzip_bytes": compressed, "bytes_per_asset": per_asset, "mbps": mbps},
                "fleet": [r.as_dict() for r in runs],
                "pages": [asdict(p) for p in pages],
            },
            indent=1,
        )
    )  # fmt: skip
    return 1 if bad else 0
