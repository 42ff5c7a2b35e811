"""The ingest's CPU per 10,000 assets, in-process and stage by stage, on a durable
throwaway PostgreSQL or SQLite: `python -m benchmarks.hub_ingest_cpu [--sensors 10]
[--passes 5] [--statements | --sqlite]`.

The fleet run (`inv bench --hub`) measures the hub as sensors see it, but its figures
move with the load of the moment by a factor of two. Here the fleet's own reports (one
Network's sensors, benchmarks.hub_fleet) are parsed and merged one after another with
`ingest.ingest`, without HTTP or threads: the hub's CPU by time.process_time around each
stage (parse and validate; the merge; the traffic records and their totals), the
server's from /proc of the postmaster's processes. `--sqlite` runs the same passes on a
throwaway SQLite file (WAL, as the hub opens it): the database's work is then the hub
process's own, inside the stages, and there is no server column. A pass is the Network's reports
once, new then updates; the least of the update passes is the figure to compare (on a
shared machine a pass only ever measures more than the work, never less).

`--statements` has each statement's CPU logged by the server (`log_statement_stats`,
its getrusage before and after) and adds it up by statement over the passes: where
PostgreSQL's share goes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import random
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from benchmarks import hub_fleet
from benchmarks.hublab import Postgres, cpu_seconds, process_tree
from nps_hub import db, ingest, report, server
from nps_hub.models import Sensor

STATS = re.compile(r"!\t([0-9.]+) s user, ([0-9.]+) s system.*?STATEMENT:\s+([^\n]{0,60})", re.S)


@dataclass
class Stages:
    """CPU seconds of one pass."""

    parse: float = 0.0
    merge: float = 0.0
    records: float = 0.0
    server: float | None = None  # PostgreSQL's CPU seconds; None on SQLite
    per: dict[str, float] = field(default_factory=dict)

    def per_10k(self, assets: int) -> dict[str, float]:
        f = 1e4 / assets
        hub = self.parse + self.merge + self.records
        out = {"parse": self.parse * f, "merge": self.merge * f, "records": self.records * f, "hub": hub * f}
        if self.server is not None:  # PostgreSQL's; SQLite's work is inside the hub's stages
            out |= {"server": self.server * f, "sum": (hub + self.server) * f}
        return out


class Timed:
    """ingest.add_flows with its CPU time added up (the merge is ingest.ingest's rest)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.inner = ingest.add_flows

    def __call__(self, *args: Any) -> None:
        t = time.process_time()
        self.inner(*args)
        self.seconds += time.process_time() - t


def sensors(engine: Engine, n: int) -> list[Sensor]:
    """n sensors of one Network, as the fleet run's first Network."""
    with Session(engine) as s:
        made = [Sensor(name=f"sensor-{i}", network="Network-0") for i in range(n)]
        s.add_all(made)
        s.commit()
        for x in made:
            s.refresh(x)
            s.expunge(x)
    return made


def one_pass(engine: Engine, pg: Postgres | None, made: list[Sensor], own: list[int], kind: str, seed: str) -> Stages:
    """The sensors' reports of one kind merged one after another."""
    rnd = random.Random(seed)
    bodies = [hub_fleet.report(i, own[i], kind, rnd) for i in range(len(made))]
    timed = Timed()
    ingest.add_flows = timed  # type: ignore[assignment]
    gc.collect()
    gc.freeze()  # as the hub does after start-up (nps_hub.server)
    gc.set_threshold(server.GC_YOUNG)
    out = Stages()
    before = cpu_seconds(process_tree(pg.pid or 0)) if pg else 0.0
    try:
        for i, data in enumerate(bodies):
            t0 = time.process_time()
            parsed = report.parse(data)
            t1 = time.process_time()
            ingest.ingest(engine, made[i], f"{seed}-{i}", parsed, len(data))
            out.parse += t1 - t0
            out.merge += time.process_time() - t1
    finally:
        ingest.add_flows = timed.inner
    out.server = cpu_seconds(process_tree(pg.pid or 0)) - before if pg else None
    out.records = timed.seconds
    out.merge -= timed.seconds
    return out


def statements(log: Path, assets: int) -> list[tuple[float, str]]:
    """(CPU-s per 10,000 assets, the statement's start) by statement, most first."""
    by: dict[str, float] = collections.defaultdict(float)
    for m in STATS.finditer(log.read_text(errors="replace")):
        by[m.group(3)] += float(m.group(1)) + float(m.group(2))
    return sorted(((v * 1e4 / assets, k) for k, v in by.items()), reverse=True)


@contextlib.contextmanager
def database(sqlite: bool) -> Iterator[tuple[str, Postgres | None]]:
    """(URL, server) of a throwaway database: a durable PostgreSQL, or a SQLite file."""
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="nps-ingest-") as tmp:
            yield f"sqlite:///{tmp}/hub.sqlite3", None
        return
    pg = Postgres(durable=True)
    pg.start()
    try:
        yield pg.url, pg
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sensors", type=int, default=10, help="sensors of the Network (default 10: 9,076 assets)")
    ap.add_argument("--passes", type=int, default=5, help="passes: the first new, the others updates")
    ap.add_argument("--statements", action="store_true", help="the server's CPU by statement")
    ap.add_argument("--sqlite", action="store_true", help="a throwaway SQLite file instead of PostgreSQL")
    args = ap.parse_args(argv)
    if args.sqlite and args.statements:
        ap.error("--statements is PostgreSQL's (SQLite has no server)")
    with database(args.sqlite) as (url, pg):
        engine = db.engine_for(url)
        db.migrate(engine)
        if args.statements:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER DATABASE hub SET log_statement_stats = on")
            engine.dispose()  # the setting holds from the next connection on
        made = sensors(engine, args.sensors)
        own = hub_fleet.sizes(args.sensors)
        assets = sum(own) + hub_fleet.SHARED_PER_NETWORK * args.sensors
        print(f"{assets:,} assets, {sum(own) * hub_fleet.FLOWS_PER_ASSET:,} records per pass; CPU-s per 10,000 assets")
        for p in range(args.passes):
            kind = "new" if p == 0 else "update"
            figures = one_pass(engine, pg, made, own, kind, f"{kind}-{p}").per_10k(assets)
            print(f"{kind:6} " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
        if args.statements and pg:
            for seconds, sql in statements(pg.root / "log", assets * args.passes)[:15]:
                print(f"{seconds:7.3f}  {sql}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
