"""The hub's tables (SQLAlchemy 2). Alembic's migrations in `migrations/` create them;
a test checks that the two agree.

Secrets are stored only as HMAC-SHA256 digests keyed with the hub's secret key
(personalization codes, sensor credentials, session tokens) or argon2 hashes
(passwords).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")  # administrator, operator, viewer (roles.py)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # may not log in; sessions ended
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)

    @property
    def admin(self) -> bool:
        return self.role == "administrator"


class UserSession(Base):
    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Sensor(Base):
    __tablename__ = "sensors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    location: Mapped[str] = mapped_column(String(256), default="")
    network: Mapped[str] = mapped_column(String(128), default="Default")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    # Personalization code: HMAC digest, expiry; cleared once used.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    code_used: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The sensor's own credential (HMAC digest), from registration until deregistration.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    registered: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deregistered: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Facts the appliance gives at registration.
    model: Mapped[str] = mapped_column(String(128), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    hostname: Mapped[str] = mapped_column(String(255), default="")
    mgmt_ipv4: Mapped[str] = mapped_column(String(64), default="")
    mgmt_ipv6: Mapped[str] = mapped_column(String(64), default="")
    mac: Mapped[str] = mapped_column(String(32), default="")
    # What the hub wants (start sensing / pause) and what the sensor last said.
    want_sensing: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_version: Mapped[int] = mapped_column(Integer, default=0)  # applied on the sensor
    last_report: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Command(Base):
    """A quick action on its way to a sensor: pending until the sensor acknowledges it."""

    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, done, failed
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    delivered: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[str] = mapped_column(String(64), default="")


class Report(Base):
    """One report a sensor uploaded; (sensor, report_id) is unique, which makes ingest idempotent."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("sensor_id", "report_id", name="uq_reports_sensor_report"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    report_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[str] = mapped_column(String(40), default="")
    window_end: Mapped[str] = mapped_column(String(40), default="")
    received: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    assets: Mapped[int] = mapped_column(Integer, default=0)
    flows: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes on the wire (compressed)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Asset(Base):
    """One device of the merged inventory: the same device seen by two sensors is one asset."""

    __tablename__ = "assets"
    __table_args__ = (
        # One asset per MAC in a Network, enforced by the database (NULLs are distinct).
        Index("uq_assets_network_mac", "network", "mac", unique=True),
        Index("ix_assets_network_ip", "network", "ip"),
        Index("ix_assets_network_hostname", "network", "hostname"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(128), default="Default")
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(45))
    ips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    macs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    klass: Mapped[str] = mapped_column("class", String(32), default="")
    group: Mapped[str] = mapped_column(String(128), default="")
    first_seen: Mapped[str] = mapped_column(String(40), default="")
    last_seen: Mapped[str] = mapped_column(String(40), default="")
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the latest discovery data, as reported
    # What discovery predicted, out of `raw` into columns that lists filter, search and sort.
    vendor: Mapped[str] = mapped_column(String(255), default="")  # the MAC's registrant, else the device's maker
    os: Mapped[str] = mapped_column(String(255), default="")  # name and version
    os_family: Mapped[str] = mapped_column(String(64), default="")
    os_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    device_type: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(255), default="")
    device_confidence: Mapped[float] = mapped_column(Float, default=0.0)


class Sighting(Base):
    """Which sensors saw an asset, and when.

    No foreign keys, as for the flows: PostgreSQL checked both for every row a burst of
    new assets inserted, three quarters of what the sightings cost it. Their cascades
    are done where rows go: ingest.delete_assets_of deletes a sensor's sightings before
    the sensor, merge.delete_unseen deletes only assets no sighting names."""

    __tablename__ = "sightings"
    asset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seen: Mapped[str] = mapped_column(String(40), default="")
    last_seen: Mapped[str] = mapped_column(String(40), default="")
    # The sensor's own counts since its service started (as its reports give them).
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)


class Flow(Base):
    """A traffic record as the sensor reports it: (client, server, port, protocol) per window.

    The table that grows fastest has no foreign keys: checking four of them per row cost
    PostgreSQL three times the insert itself. What they did is done where rows go:
    ingest.delete_assets_of deletes a sensor's flows, merge.delete_unseen clears the
    ends of the assets it deletes.

    Every index costs every row COPY writes. The ends' indexes (an asset's page, the map
    of one asset, the ends cleared when an asset goes) are partial: a record with no
    known asset at that end (a server on the Internet, most of them) is in neither. The
    one on report_id serves retention (a range of old reports' records) and a sensor's
    records alike (`report_id IN` its reports): no index on sensor_id as well."""

    __tablename__ = "flows"
    __table_args__ = tuple(
        Index(
            f"ix_flows_{end}", end, postgresql_where=text(f"{end} IS NOT NULL"), sqlite_where=text(f"{end} IS NOT NULL")
        )
        for end in ("client_asset", "server_asset")
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(Integer)
    report_id: Mapped[int] = mapped_column(Integer, index=True)  # retention's ranges; a sensor's via its reports
    network: Mapped[str] = mapped_column(String(128), default="Default")
    client: Mapped[str] = mapped_column(String(128))
    server: Mapped[str] = mapped_column(String(128))
    port: Mapped[int | None] = mapped_column(Integer)
    proto: Mapped[str] = mapped_column(String(16))
    client_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    server_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    client_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    server_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[str] = mapped_column(String(40), default="")
    last_seen: Mapped[str] = mapped_column(String(40), default="")
    client_asset: Mapped[int | None] = mapped_column(Integer)
    server_asset: Mapped[int | None] = mapped_column(Integer)


class PendingFlows(Base):
    """A report's traffic records not yet in `flows` (backlog.py): the report as it came,
    still compressed, and the addresses its assets were merged at. While reports queue
    for the ingest threads, their records wait here and go into `flows` once the queue is
    empty: one row per report instead of one per record."""

    __tablename__ = "pending_flows"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    sensor_id: Mapped[int] = mapped_column(Integer)
    network: Mapped[str] = mapped_column(String(128))
    encoding: Mapped[str] = mapped_column(String(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    by_ip: Mapped[str] = mapped_column(Text)  # JSON: {address: asset id}, as the merge left it


class ConfigVersion(Base):
    """The asset configuration, versioned: sensors pull the newest on heartbeat."""

    __tablename__ = "config_versions"
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    author: Mapped[str] = mapped_column(String(64), default="")


class RangeTag(Base):
    """A named set of IP ranges that internal asset groups can use by name."""

    __tablename__ = "range_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    ranges: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    author: Mapped[str] = mapped_column(String(64), default="")


class Event(Base):
    """Something about a sensor that needs attention, open from `first` while it lasts
    (`count` times seen); `notified` once its e-mail went out."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_sensor_kind_open", "sensor_id", "kind", "open"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    first: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    last: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now)
    count: Mapped[int] = mapped_column(Integer, default=1)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)


class Attempt(Base):
    """A failed login or registration, for the limits on guessing (ratelimit.py): kept in
    the database so every hub process counts the same and a restart forgets nothing.
    `key` is a keyed digest (of a user name, an address, a code), never the text typed."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_kind_key_at", "kind", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LoginSource(Base):
    """An address (its keyed digest) a user logged in from: logins from there are never
    slowed down by failures elsewhere."""

    __tablename__ = "login_sources"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Sample(Base):
    """A sensor's figures from its heartbeats, one row per sensor and minute (the last
    heartbeat of the minute): the dashboard's history of packets per second, kernel
    drops, CPU and memory. Kept for dashboard.KEEP_DAYS; read back averaged into as
    many buckets as a chart shows."""

    __tablename__ = "samples"
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True, index=True)
    pps: Mapped[float] = mapped_column(Float, default=0.0)
    mbps: Mapped[float] = mapped_column(Float, default=0.0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)  # kernel drops, all interfaces, since start
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    memory_percent: Mapped[float | None] = mapped_column(Float)


class TrafficMinute(Base):
    """Bytes and records per sensor and minute (of the records' last_seen), added to at
    ingest: the traffic chart reads these instead of grouping every record."""

    __tablename__ = "traffic_minutes"
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[str] = mapped_column(String(16), primary_key=True)  # '2026-11-27T10:29'
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)


class ServiceTotal(Base):
    """Bytes and records per sensor and service (protocol, port), added to at ingest:
    the dashboard's top services."""

    __tablename__ = "service_totals"
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    proto: Mapped[str] = mapped_column(String(16), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: none (ICMP and the like)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
