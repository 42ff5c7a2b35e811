"""Traffic records kept for a bounded time: the sweep deletes the records of reports the
hub received more than `flows_keep_days` ago (settings; 0 keeps them for ever), and the
per-minute traffic totals past the same age, at least dashboard.KEEP_DAYS (what the
dashboard's 30-day chart shows). A site of 200 sensors adds some 100 million records a
day: without this the disk fills.

Age by the hub's clock, not the sensor's: a capture uploaded today may be from 2015, and
its records stay as long as any other report's. Report ids and `received` grow together
(a row's id is taken as it is stored, `received` just before), so the records to delete
are those of the reports up to the last one received before the cut: a range of
flows.report_id, on its index. Finding that range reads the oldest record's report and
the reports after it up to the first one received since the cut, so a sweep with nothing
to delete reads two index entries and one row, whatever the size of the table.

Deleting is batched: at most BATCH records per statement (one report larger than that,
report.MAX_FLOWS at most, goes in one), committed one by one, with a pause as long as the
batch between them, and at most BUDGET seconds of it per sweep. A backlog (a hub upgraded
with months of records) then never holds SQLite's single writer lock, nor a PostgreSQL
transaction, for long while sensors upload; it goes over the following sweeps.

The per-minute totals are on the captured packets' clock (their minute is the records'
last_seen): a sensor's go once older than the cut before the earlier of now and its own
newest minute, so a capture from 2015 keeps its chart, and a sensor whose clock jumped
to 2030 once loses nothing more than by the hub's clock.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from nps_hub import dashboard
from nps_hub.models import Flow, PendingFlows, Report, Sensor, TrafficMinute, now

BATCH = 20_000  # rows per DELETE
BUDGET = 5.0  # seconds of deleting per sweep (pauses not counted)
MINUTE = "%Y-%m-%dT%H:%M"  # TrafficMinute.minute
# Per database: the report id up to which this process deleted every record.
_done: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


@dataclass
class Pruned:
    """What one sweep deleted."""

    flows: int = 0
    minutes: int = 0
    cut: dt.datetime | None = None  # records of reports received before this went
    minute_days: int = 0  # totals this many days older than their sensor's newest (or now) went
    more: bool = False  # the budget ran out before the backlog did

    def line(self) -> str:
        """One line for the hub's log."""
        when = f"{self.cut:%Y-%m-%d %H:%M} UTC" if self.cut else "?"
        more = "; more at the next sweeps" if self.more else ""
        return (
            f"retention: deleted {self.flows:,} traffic records of reports received before {when} and "
            f"{self.minutes:,} per-minute traffic totals older than {self.minute_days} days{more}"
        )


class Pacer:
    """The sweep's budget of deleting, and the pause after each batch that lets the
    writers waiting for the database in."""

    def __init__(self, budget: float, pause: bool) -> None:
        self.left = budget
        self.pause = pause

    def spent(self, started: float) -> bool:
        """After a batch that began at `started` (time.monotonic()): is the budget gone?"""
        took = time.monotonic() - started
        self.left -= took
        if self.pause and self.left > 0:
            time.sleep(took)
        return self.left <= 0


def prune(
    db: Session, keep_days: int, at: dt.datetime | None = None, batch: int = BATCH, budget: float = BUDGET,
    pause: bool = True,
) -> Pruned:  # fmt: skip
    """Delete what is past its days, batch by batch, each committed; nothing at keep_days 0."""
    if keep_days <= 0:
        return Pruned()
    at = at or now()
    cut = at - dt.timedelta(days=keep_days)
    out = Pruned(cut=cut, minute_days=max(keep_days, dashboard.KEEP_DAYS))
    pacer = Pacer(budget, pause)
    # Records still waiting (backlog.py) of a report that old go with the others.
    waiting = select(PendingFlows.report_id).join(Report, Report.id == PendingFlows.report_id)
    if old := list(db.scalars(waiting.where(Report.received < cut))):
        db.execute(delete(PendingFlows).where(PendingFlows.report_id.in_(old)))
        db.commit()
    out.flows, more = prune_flows(db, cut, batch, pacer)
    out.minutes, more_minutes = (0, True) if more else prune_minutes(db, at, out.minute_days, batch, pacer)
    out.more = more or more_minutes
    return out


def old_reports(db: Session, cut: dt.datetime) -> tuple[int, int] | None:
    """The report ids [first, last] whose records go: from the oldest record's report to
    the last report received before the cut. Never a report still being stored: that one
    was received after the cut, and its id is above a report received before it."""
    # Below _done, nothing is left: the oldest record need not be looked for again
    # (on PostgreSQL that walks the index entries of the records deleted until VACUUM).
    done = _done.get(db.get_bind().engine)
    first = done + 1 if done is not None else db.scalar(select(func.min(Flow.report_id)))
    if first is None:
        return None
    newer = db.scalar(select(Report.id).where(Report.id >= first, Report.received >= cut).order_by(Report.id).limit(1))
    last_query = select(func.max(Report.id))
    last = db.scalar(last_query.where(Report.id < newer) if newer is not None else last_query)
    return (first, last) if last is not None and last >= first else None


def prune_flows(db: Session, cut: dt.datetime, batch: int, pacer: Pacer) -> tuple[int, bool]:
    """Records of reports received before the cut; (how many went, whether some are left)."""
    span = old_reports(db, cut)
    if span is None:
        return 0, False
    lo, hi = span
    gone = 0
    while lo <= hi:
        started = time.monotonic()
        # The report of the record just past one batch: the records before it go.
        past = db.scalar(
            select(Flow.report_id).where(Flow.report_id >= lo, Flow.report_id <= hi)
            .order_by(Flow.report_id).offset(batch).limit(1)
        )  # fmt: skip
        top = hi if past is None else max(lo, past - 1)  # one report larger than a batch goes whole
        result: Any = db.execute(delete(Flow).where(Flow.report_id >= lo, Flow.report_id <= top))
        db.commit()
        gone += int(result.rowcount or 0)
        lo = top + 1
        _done[db.get_bind().engine] = top
        if pacer.spent(started):
            break
    return gone, lo <= hi


def prune_minutes(db: Session, at: dt.datetime, days: int, batch: int, pacer: Pacer) -> tuple[int, bool]:
    """Each sensor's per-minute totals older than `days` before the earlier of now and its
    newest. Every sensor's oldest and newest minute in one statement (two probes of the
    primary key each): with nothing to delete, 200 sensors cost one query, not 400."""
    t = TrafficMinute
    newest = select(func.max(t.minute)).where(t.sensor_id == Sensor.id).scalar_subquery()
    oldest = select(func.min(t.minute)).where(t.sensor_id == Sensor.id).scalar_subquery()
    gone = 0
    for sensor_id, new_text, oldest_text in db.execute(select(Sensor.id, newest, oldest).order_by(Sensor.id)).all():
        last = dashboard.parse(new_text)
        if last is None:
            continue
        cut = (min(at, last) - dt.timedelta(days=days)).strftime(MINUTE)
        mine, left = t.sensor_id == sensor_id, oldest_text
        while left is not None and left < cut:
            started = time.monotonic()
            past = db.scalar(select(t.minute).where(mine, t.minute < cut).order_by(t.minute).offset(batch).limit(1))
            result: Any = db.execute(delete(t).where(mine, t.minute < (past or cut)))
            db.commit()
            gone += int(result.rowcount or 0)
            left = past
            if pacer.spent(started):
                return gone, left is not None
    return gone, False
