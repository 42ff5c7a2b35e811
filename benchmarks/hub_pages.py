"""`inv bench --hub`, the pages: how long the dashboard, the filtered inventory and the
conversation map take on a hub holding a large site.

After the ingest run (10,000 assets, 100,000 traffic records), the hub is given 20
sensors with 30 days of heartbeats at a 1-minute cadence (864,000 samples, written
straight into its database: the minutes a real fleet takes to make them are not what
is measured), then each page is asked for several times over HTTP by a logged-in user
and the median time to the last byte is kept: the web pages (server-rendered, with the
data their charts draw) and the JSON API's answers behind them.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass

from rich.table import Table
from sqlalchemy import insert
from sqlalchemy.orm import Session

from benchmarks.hublab import HubProcess
from nps_hub import dashboard, db
from nps_hub.models import Sample

SENSORS = 20
DAYS = 30
TRIES = 5
CHUNK = 20_000
PAGES = (
    ("dashboard, 24 h", "/dashboard"),
    ("dashboard, 30 days", "/dashboard?span=30d"),
    ("inventory, all (a page of 500)", "/assets"),
    ("inventory, search", "/assets?q=host-01"),
    ("inventory, device type + vendor", "/assets?device_type=workstation&vendor=Dell"),
    ("inventory, sorted by bytes", "/assets?sort=bytes&desc=1"),
    ("conversation map, all", "/map"),
    ("conversation map, one asset", "/map?asset=1"),
    ("API dashboard, 30 days", "/api/v1/dashboard?span=30d"),
    ("API assets, OS family filter", "/api/v1/assets?os_family=Windows&limit=1000"),
    ("CSV export, everything", "/api/v1/assets.csv"),
)


@dataclass
class PageTime:
    database: str
    page: str
    median_ms: float
    worst_ms: float
    kib: float


def heartbeats(url: str, sensor_ids: list[int]) -> int:
    """DAYS of one sample per minute for each sensor, ending now."""
    engine = db.engine_for(url)
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    minutes = DAYS * 1440
    rows = 0
    with engine.begin() as conn:
        for sid in sensor_ids:
            batch = []
            for m in range(minutes):
                at = end - dt.timedelta(minutes=m)
                batch.append({"sensor_id": sid, "minute": at, "pps": float(1000 + (m * 37 + sid) % 5000),
                              "mbps": 8.0, "dropped": m // 60, "cpu_percent": float(5 + m % 50),
                              "memory_percent": 40.0})  # fmt: skip
                if len(batch) == CHUNK:
                    conn.execute(insert(Sample), batch)
                    rows += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(Sample), batch)
                rows += len(batch)
    with Session(engine) as session:  # what the hub's sweep keeps of them: minutes for 2 days, then hours
        started = time.perf_counter()
        gone = dashboard.downsample(session)
        session.commit()
        print(f"{rows:,} samples written; downsampled: {gone:,} fewer in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return rows


def measure(hub: HubProcess, database: str, url: str) -> list[PageTime]:
    api = hub.api()
    ids = [api.create_sensor(f"bench-{i:02d}")[0] for i in range(1, SENSORS)]
    existing = [s["id"] for s in api.get("/api/v1/sensors")]
    heartbeats(url or f"sqlite:///{hub.data / 'hub.sqlite3'}", sorted(set(existing) | set(ids)))
    http = api.http
    http.cookies.set("nps_session", http.headers["Authorization"].removeprefix("Bearer "))
    out = []
    for name, path in PAGES:
        times, size = [], 0
        for _ in range(TRIES):
            start = time.perf_counter()
            r = http.get(path)
            times.append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
            size = len(r.content)
        out.append(PageTime(database, name, statistics.median(times), max(times), size / 1024))
    return out


def table(results: list[PageTime], load: str) -> Table:
    t = Table(title=f"Hub pages with 10,000 assets, 100,000 flows, {SENSORS} sensors × {DAYS} days of heartbeats "
                    f"(median of {TRIES}; load average {load})")  # fmt: skip
    for col in ("database", "page", "median ms", "worst ms", "KiB"):
        t.add_column(col, justify="left" if col in ("database", "page") else "right")
    for r in results:
        t.add_row(r.database, r.page, f"{r.median_ms:,.0f}", f"{r.worst_ms:,.0f}", f"{r.kib:,.0f}")
    return t
