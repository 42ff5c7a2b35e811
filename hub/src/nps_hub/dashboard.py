"""The dashboard's figures, for the API and the web UI alike: time series on a linear
time axis (every bucket of the window present, empty ones as zero), top talkers and
services, what the inventory is made of, and the sensors that need attention.

Two clocks: traffic and assets are on the captured packets' time (a capture uploaded
today may be from 2015), so their window ends at the newest traffic record; the
sensors' own figures (heartbeats) are on the hub's clock and end now.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from sqlalchemy import Float, Integer, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nps_hub import backlog, families
from nps_hub.db import iso
from nps_hub.models import Asset, Event, Flow, Sample, Sensor, ServiceTotal, TrafficMinute, now

Span = Literal["1h", "24h", "7d", "30d", "all"]
# "all": from the oldest record to the newest (uploaded captures span years); the
# sensors' own history has at most KEEP_DAYS.
SPANS: dict[str, int] = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400, "all": 0}
BUCKETS = 240  # points per series at most
KEEP_DAYS = 30
FINE_DAYS = 2  # samples per minute for this long, then per hour
DAY = 86_400
STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, DAY, 7 * DAY, 30 * DAY, 365 * DAY)  # a bucket's seconds


def step_for(span: int) -> int:
    """The smallest of STEPS that fits the span into BUCKETS buckets."""
    return next((s for s in STEPS if span / s <= BUCKETS), STEPS[-1])


def parse(text: str | None) -> dt.datetime | None:
    """A sensor's time ('2015-09-15T09:38:53.472847Z', or its first 16 characters)."""
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class Axis:
    """The buckets of a window: [start, end) in steps of `step` seconds."""

    def __init__(self, end: dt.datetime, span: int) -> None:
        self.step = step_for(span)
        last = math.floor(end.timestamp() / self.step) * self.step
        self.start = last - (math.ceil(span / self.step) - 1) * self.step
        self.times = list(range(self.start, last + self.step, self.step))

    def index(self, t: dt.datetime) -> int | None:
        i = (int(t.timestamp()) - self.start) // self.step
        return i if 0 <= i < len(self.times) else None

    def text(self, offset: int = 0) -> str:
        """The window's start (plus `offset` buckets) as the sensors write times."""
        when = dt.datetime.fromtimestamp(self.start + offset * self.step, dt.UTC)
        return when.strftime("%Y-%m-%dT%H:%M")


def whole(oldest: str | None, newest: dt.datetime, span: int) -> int:
    """The span itself, or for "all" (0) from the oldest record to the newest."""
    first = parse(oldest)
    return span or max(60, int((newest - first).total_seconds()) + 60 if first else 60)


def traffic(db: Session, span: int) -> dict[str, Any]:
    """Bytes per second per sensor, the window ending at the newest traffic record."""
    newest = parse(db.scalar(select(func.max(TrafficMinute.minute))))
    if newest is None:
        return {"step": 60, "times": [], "series": []}
    oldest = db.scalar(select(func.min(TrafficMinute.minute))) if not span else None
    axis = Axis(newest, whole(oldest, newest, span))
    names = dict(db.execute(select(Sensor.id, Sensor.name)).all())
    series: dict[int, list[float]] = {}
    rows = db.execute(
        select(TrafficMinute.sensor_id, TrafficMinute.minute, TrafficMinute.bytes).where(
            TrafficMinute.minute >= axis.text()
        )
    )
    for sensor_id, text, total in rows:
        t = parse(text)
        i = axis.index(t) if t else None
        if i is not None:
            series.setdefault(sensor_id, [0.0] * len(axis.times))[i] += float(total or 0) / axis.step
    return {
        "step": axis.step,
        "times": axis.times,
        "series": [{"name": names.get(k, f"sensor {k}"), "values": v} for k, v in sorted(series.items())],
    }


def assets_over_time(db: Session, span: int) -> dict[str, Any]:
    """New assets (first seen) and active assets (seen at some time in the bucket) per
    bucket, on the traffic's clock."""
    newest = parse(db.scalar(select(func.max(Asset.last_seen))))
    if newest is None:
        return {"step": 60, "times": [], "new": [], "active": []}
    oldest = db.scalar(select(func.min(Asset.first_seen)).where(Asset.first_seen != "")) if not span else None
    axis = Axis(newest, whole(oldest, newest, span))
    n = len(axis.times)
    new, change = [0] * n, [0] * (n + 1)
    for first_text, last_text in db.execute(
        select(func.substr(Asset.first_seen, 1, 16), func.substr(Asset.last_seen, 1, 16)).where(
            Asset.last_seen >= axis.text()
        )
    ):
        first, last = parse(first_text), parse(last_text)
        if last is None:
            continue
        i = axis.index(first) if first else None
        if i is not None:
            new[i] += 1
        a = 0 if first is None or i is None else i
        b = axis.index(last)
        b = n - 1 if b is None else b
        change[a] += 1
        change[b + 1] -= 1
    active, running = [], 0
    for d in change[:n]:
        running += d
        active.append(running)
    return {"step": axis.step, "times": axis.times, "new": new, "active": active}


def bucket_of(db: Session, step: int) -> Any:
    """SQL: the start of a sample's bucket, in seconds since the epoch."""
    seconds: Any
    if db.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", Sample.minute)
    else:
        seconds = cast(func.strftime("%s", Sample.minute), Integer)
    return cast(func.floor(cast(seconds, Float) / step), Integer) * step


def health(db: Session, span: int) -> dict[str, Any]:
    """Per sensor and bucket, from its heartbeats: packets/s and CPU and memory (mean),
    kernel drops in the bucket (the rise of the sensor's counter)."""
    axis = Axis(now(), span or KEEP_DAYS * DAY)
    bucket = bucket_of(db, axis.step)
    names = dict(db.execute(select(Sensor.id, Sensor.name)).all())
    since = dt.datetime.fromtimestamp(axis.start, dt.UTC)
    out: dict[int, dict[str, list[float | None]]] = {}
    rows = db.execute(
        select(Sample.sensor_id, bucket, func.avg(Sample.pps), func.max(Sample.dropped) - func.min(Sample.dropped),
               func.avg(Sample.cpu_percent), func.avg(Sample.memory_percent))
        .where(Sample.minute >= since).group_by(Sample.sensor_id, bucket)
    )  # fmt: skip
    for sensor_id, start, pps, drops, cpu, memory in rows:
        i = (int(start) - axis.start) // axis.step
        if not 0 <= i < len(axis.times):
            continue
        s = out.setdefault(sensor_id, {k: [None] * len(axis.times) for k in ("pps", "drops", "cpu", "memory")})
        s["pps"][i], s["drops"][i], s["cpu"][i], s["memory"][i] = pps, drops, cpu, memory
    return {
        "step": axis.step,
        "times": axis.times,
        "sensors": [{"name": names.get(k, f"sensor {k}"), **v} for k, v in sorted(out.items())],
    }


def tops(db: Session, limit: int = 10) -> dict[str, Any]:
    """Top talkers and services by bytes; the inventory by device type, OS family, vendor."""
    total = (Asset.bytes_in + Asset.bytes_out).label("bytes")
    talkers = [
        {"id": a.id, "name": a.hostname or a.ip or a.mac, "device_type": a.device_type, "bytes": b}
        for a, b in db.execute(select(Asset, total).where(total > 0).order_by(total.desc()).limit(limit))
    ]
    sent = func.sum(ServiceTotal.bytes).label("bytes")
    services = []
    for proto, number, b, n in db.execute(
        select(ServiceTotal.proto, ServiceTotal.port, sent, func.sum(ServiceTotal.records))
        .group_by(ServiceTotal.proto, ServiceTotal.port).order_by(sent.desc()).limit(limit)
    ):  # fmt: skip
        port = None if number < 0 else number
        name, family = families.classify(proto, port)
        services.append({"service": f"{proto}/{port}" if port is not None else proto, "name": name,
                         "family": family, "bytes": int(b or 0), "records": int(n or 0)})  # fmt: skip
    out: dict[str, Any] = {"talkers": talkers, "services": services}
    for key, column in (("device_type", Asset.device_type), ("os_family", Asset.os_family), ("vendor", Asset.vendor)):
        counted = func.count().label("n")
        out[key] = [{"value": v or "(unknown)", "assets": c} for v, c in db.execute(
            select(column, counted).group_by(column).order_by(counted.desc(), column).limit(limit))]  # fmt: skip
    return out


def attention(db: Session, limit: int = 20) -> list[dict[str, Any]]:
    """Open events, newest first, with their sensor's name."""
    rows = db.execute(
        select(Event, Sensor.name).join(Sensor, Sensor.id == Event.sensor_id).where(Event.open.is_(True))
        .order_by(Event.last.desc()).limit(limit)
    )  # fmt: skip
    return [{"sensor": name, "sensor_id": e.sensor_id, "kind": e.kind, "detail": e.detail,
             "since": iso(e.first),
             "count": e.count} for e, name in rows]  # fmt: skip


def summary(db: Session, span: Span = "24h") -> dict[str, Any]:
    seconds = SPANS[span]
    return {
        "span": span,
        "assets": db.scalar(select(func.count()).select_from(Asset)) or 0,
        "sensors": db.scalar(select(func.count()).select_from(Sensor)) or 0,
        "flows": db.scalar(select(func.count()).select_from(Flow)) or 0,
        "flows_waiting": backlog.waiting(db.connection()),  # of reports that queued (backlog.py)
        "traffic": traffic(db, seconds),
        "inventory": assets_over_time(db, seconds),
        "health": health(db, seconds),
        **tops(db),
        "attention": attention(db),
    }


def record(db: Session, sensor_id: int, status: dict[str, Any], at: dt.datetime | None = None) -> None:
    """Keep this heartbeat's figures as the sensor's sample of the minute."""
    at = (at or now()).replace(second=0, microsecond=0)
    system = status.get("system") or {}
    throughput = status.get("throughput") or {}
    dropped = sum(i.get("dropped") or 0 for i in status.get("interfaces") or [] if isinstance(i, dict))
    row = {
        "sensor_id": sensor_id, "minute": at, "pps": float(throughput.get("pps") or 0),
        "mbps": float(throughput.get("mbps") or 0), "dropped": int(dropped),
        "cpu_percent": system.get("cpu_percent"), "memory_percent": (system.get("memory") or {}).get("used_percent"),
    }  # fmt: skip
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Sample).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sensor_id", "minute"], set_={k: v for k, v in row.items() if k not in ("sensor_id", "minute")}
    )
    db.execute(stmt)


def prune(db: Session) -> int:
    """Forget samples older than KEEP_DAYS; downsample the others past FINE_DAYS."""
    cut = now() - dt.timedelta(days=KEEP_DAYS)
    result: Any = db.execute(delete(Sample).where(Sample.minute < cut))
    return int(result.rowcount or 0) + downsample(db)


def downsample(db: Session, at: dt.datetime | None = None) -> int:
    """Past FINE_DAYS, one sample per sensor and hour (the means; the drop counter's
    highest value), at the hour's start: a 30-day chart then reads 20 times fewer rows.
    Returns how many rows went."""
    cut = ((at or now()) - dt.timedelta(days=FINE_DAYS)).replace(minute=0, second=0, microsecond=0)
    hour = bucket_of(db, 3600)
    old = Sample.minute < cut
    rows = db.execute(
        select(Sample.sensor_id, hour, func.avg(Sample.pps), func.avg(Sample.mbps), func.max(Sample.dropped),
               func.avg(Sample.cpu_percent), func.avg(Sample.memory_percent), func.count())
        .where(old).group_by(Sample.sensor_id, hour).having(func.count() > 1)
    ).all()  # fmt: skip
    gone = 0
    for sensor_id, start, pps, mbps, dropped, cpu, memory, n in rows:
        begin = dt.datetime.fromtimestamp(int(start), dt.UTC)
        db.execute(delete(Sample).where(Sample.sensor_id == sensor_id, Sample.minute >= begin,
                                        Sample.minute < begin + dt.timedelta(hours=1)))  # fmt: skip
        db.add(Sample(sensor_id=sensor_id, minute=begin, pps=pps or 0.0, mbps=mbps or 0.0, dropped=dropped or 0,
                      cpu_percent=cpu, memory_percent=memory))  # fmt: skip
        gone += n - 1
    db.flush()
    return gone
