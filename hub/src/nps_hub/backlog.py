"""Traffic records stored after their report's assets while reports queue.

A report's records cost PostgreSQL more than its assets: five rows per device, each with
four index entries. With the records not stored at all, the fleet bench (100 sensors
uploading at once) merged 40 % more assets a second. So when other reports wait for an
ingest thread, a report's records are kept as one row of `pending_flows` (the report as
it came, still compressed, and the addresses its assets were merged at: ingest.keep), in
the same transaction as its assets: an acknowledged report has lost nothing.

`expand` moves them into `flows`, report by report, oldest first, as ingest.add_flows
would have at once, when the burst is over: no report has come to this hub process for
POLL seconds and no process kept records for later in that time. Under a load that
never stops, records wait LATEST seconds at most, and are then stored while reports
are merged (the ingest threads' queue then pushes back on the sensors).

What a reader sees meanwhile: the assets at once, the records of a burst some seconds
after it (the dashboard says how many wait). A lone sensor's report (nothing queued
behind it) has its records stored at once, as before.

Once a burst is over and no record waits, the planner's statistics of the tables it
filled are refreshed (planner.py): the next burst's queries are planned for the tables
as they now are.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection, Engine, Select, Table, func, select
from starlette.concurrency import run_in_threadpool

from nps_hub import ingest, planner
from nps_hub.db import aware
from nps_hub.models import Report, now

log = logging.getLogger("nps-hub")
PENDING = ingest.PENDING
REPORTS = cast(Table, Report.__table__)
POLL = 1.0  # seconds between looks at the records waiting
LATEST = 120.0  # seconds a report's records wait at most, even while reports keep coming
RETRY = 30  # seconds before trying again after a failure (a database gone away)


def pending(*columns: Any) -> Select[Any]:
    """`columns` over the reports whose records wait (each joined to its report)."""
    return select(*columns).select_from(PENDING.join(REPORTS, REPORTS.c.id == PENDING.c.report_id))


def look(engine: Engine) -> tuple[int, dt.datetime] | None:
    """The newest report whose records wait (while it changes, a hub process is still
    keeping records for later: a burst goes on), and when the oldest was received."""
    with engine.connect() as conn:
        newest, oldest = conn.execute(pending(func.max(PENDING.c.report_id), func.min(REPORTS.c.received))).one()
    return None if newest is None else (int(newest), aware(oldest) or now())


async def run(engine: Engine, quiet: Callable[[float], bool]) -> None:
    """For ever: expand the records waiting whenever the burst that left them is over
    (`quiet(s)`: no report came to this process for s seconds), or they are overdue.
    Once a burst is over and nothing waits, the planner's statistics of the tables it
    filled are refreshed (planner.py)."""
    seen: int | None = None
    changed = True  # reports or records may have come since the statistics were looked at
    while True:
        await asyncio.sleep(POLL)
        try:
            changed = changed or not quiet(2 * POLL)  # a report since the last look (a POLL and its work ago)
            while state := await run_in_threadpool(look, engine):
                settled = state[0] == seen and quiet(POLL)
                overdue = (now() - state[1]).total_seconds() > LATEST
                seen = state[0]
                if not (settled or overdue):
                    break
                await run_in_threadpool(expand, engine)
                changed = True
            else:  # nothing waits
                seen = None
                if changed and quiet(POLL):
                    analyzed = await run_in_threadpool(planner.refresh, engine)
                    changed = False
                    if analyzed:
                        log.info("planner statistics refreshed after a burst: %s", ", ".join(analyzed))
        except Exception:
            log.exception("storing waiting records or analyzing the tables failed; trying again in %d s", RETRY)
            await asyncio.sleep(RETRY)


def expand(engine: Engine) -> bool:
    """Move the oldest report's records waiting into `flows`; False when none waits.
    The Network's lock first, then the row (skipped when another hub process holds it):
    the order every writer of a Network takes them in (ingest.delete_assets_of too)."""
    c = PENDING.c
    with engine.connect() as conn:
        oldest = conn.execute(select(c.report_id, c.network).order_by(c.report_id).limit(1)).first()
    if oldest is None:
        return False
    with ingest.writing(engine) as conn:
        ingest.network_lock(conn, oldest.network)
        query = select(PENDING).where(c.report_id == oldest.report_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = conn.execute(query).first()
        if row is None:  # expanded or deleted meanwhile
            return True
        ingest.add_kept(conn, row)
    return True


def waiting(conn: Connection, network: str | None = None) -> int:
    """How many records wait to be stored, of one Network or of all (the dashboard and
    the asset pages say it)."""
    query = pending(func.coalesce(func.sum(REPORTS.c.flows), 0))
    if network is not None:
        query = query.where(PENDING.c.network == network)
    return int(conn.scalar(query) or 0)
