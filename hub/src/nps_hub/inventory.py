"""The inventory as the API and the web UI show it: assets, traffic records, and each
asset's traffic per service family."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, defer

from nps_hub import backlog, families
from nps_hub.models import Asset, Flow, Sensor, Sighting
from nps_hub.schema import Text32, Text40, Text64, Text128

SORTS = {
    "ip": Asset.ip, "mac": Asset.mac, "hostname": Asset.hostname, "vendor": Asset.vendor, "os": Asset.os,
    "os_family": Asset.os_family, "device_type": Asset.device_type, "class": Asset.klass, "group": Asset.group,
    "network": Asset.network, "first_seen": Asset.first_seen, "last_seen": Asset.last_seen,
    "packets": Asset.packets, "bytes": Asset.bytes_in + Asset.bytes_out, "id": Asset.id,
}  # fmt: skip
Sort = Literal["ip", "mac", "hostname", "vendor", "os", "os_family", "device_type", "class", "group", "network",
               "first_seen", "last_seen", "packets", "bytes", "id"]  # fmt: skip
# The columns a list shows and a CSV export holds, in order.
COLUMNS = ("id", "ip", "mac", "hostname", "vendor", "os", "os_family", "os_confidence", "device_type", "model",
           "device_confidence", "class", "group", "network", "sensors", "first_seen", "last_seen", "packets",
           "bytes_in", "bytes_out")  # fmt: skip


class AssetQuery(BaseModel):
    """The inventory's filters, the same for the API's query string, the web UI's form
    and the CSV export: each narrows the list, empty ones are left out."""

    model_config = ConfigDict(populate_by_name=True)

    q: Text128 = Field("", description="text in an address, MAC, hostname, vendor, OS or model (no wildcards)")
    network: Text128 = ""
    klass: Text32 = Field("", alias="class")
    group: Text128 = ""
    sensor: int | None = Field(None, ge=1, le=2**31 - 1, description="a sensor that saw it")
    device_type: Text64 = ""
    os_family: Text64 = ""
    vendor: Text128 = Field("", description="the start of the vendor's name")
    seen_since: Text40 = Field("", description="last seen at or after (ISO 8601)")
    sort: Sort = "id"
    desc: bool = False

    def args(self) -> dict[str, Any]:
        """The filters set, as a query string takes them (for links and the export)."""
        out = self.model_dump(by_alias=True, exclude_defaults=True)
        return {k: ("1" if v is True else v) for k, v in out.items()}


def like(text: str, prefix: bool = False) -> str:
    """A LIKE pattern finding `text` as it is: `%`, `_` and the escape are escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix else "%" + escaped + "%"


def search(f: AssetQuery) -> Select[Asset]:
    """Assets by every filter of `f`; text matched without regard to case."""
    stmt = select(Asset)
    for column, value in ((Asset.network, f.network), (Asset.klass, f.klass), (Asset.group, f.group)):
        if value:
            stmt = stmt.where(column == value)
    for column, value in ((Asset.device_type, f.device_type), (Asset.os_family, f.os_family)):
        if value:
            stmt = stmt.where(func.lower(column) == value.lower())
    if f.vendor:
        stmt = stmt.where(func.lower(Asset.vendor).like(like(f.vendor.lower(), prefix=True), escape="\\"))
    if f.sensor is not None:
        stmt = stmt.where(Asset.id.in_(select(Sighting.asset_id).where(Sighting.sensor_id == f.sensor)))
    if f.seen_since:
        stmt = stmt.where(Asset.last_seen >= f.seen_since)
    if f.q:
        pattern = like(f.q.strip().lower())
        columns = (Asset.ip, Asset.mac, Asset.hostname, Asset.vendor, Asset.os, Asset.model, Asset.device_type)
        stmt = stmt.where(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
    return stmt


def ordered(stmt: Select[Asset], f: AssetQuery) -> Select[Asset]:
    column = SORTS[f.sort]
    return stmt.order_by(column.desc() if f.desc else column, Asset.id)


def total(db: Session, stmt: Select[Any]) -> int:
    return db.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def listing(db: Session, f: AssetQuery, limit: int, offset: int = 0) -> dict[str, Any]:
    """One page of the filtered inventory and how many there are in all."""
    stmt = search(f)
    rows = list(db.scalars(ordered(stmt, f).options(defer(Asset.raw)).limit(limit).offset(offset)))
    names = sensors_of(db, [a.id for a in rows])
    assets = [asset_dict(db, a, brief=True) | {"sensors": names.get(a.id, [])} for a in rows]
    return {"total": total(db, stmt), "assets": assets}


def choices(db: Session) -> dict[str, list[str]]:
    """The values each filter can take, as the inventory holds them."""
    out = {}
    for key, column in (("class", Asset.klass), ("group", Asset.group), ("network", Asset.network),
                        ("device_type", Asset.device_type), ("os_family", Asset.os_family)):  # fmt: skip
        out[key] = [v for v in db.scalars(select(column).distinct().order_by(column).limit(200)) if v]
    return out


def sensors_of(db: Session, ids: list[int]) -> dict[int, list[str]]:
    """The names of the sensors that saw each asset."""
    out: dict[int, list[str]] = {}
    if ids:
        q = select(Sighting.asset_id, Sensor.name).join(Sensor, Sensor.id == Sighting.sensor_id)
        for asset_id, name in db.execute(q.where(Sighting.asset_id.in_(ids)).order_by(Sensor.name)):
            out.setdefault(asset_id, []).append(name)
    return out


def export_csv(db: Session, f: AssetQuery, limit: int = 100_000) -> Iterator[str]:
    """The filtered inventory as CSV, exactly the rows the list shows, a thousand at a
    time from one query (a server-side cursor on PostgreSQL), without the discovery
    data a row does not show (`raw`, the largest column by far)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    stmt = ordered(search(f), f).options(defer(Asset.raw)).limit(limit)
    for rows in db.scalars(stmt.execution_options(yield_per=1000)).partitions():
        names = sensors_of(db, [a.id for a in rows])
        for a in rows:
            row = asset_dict(db, a, brief=True) | {"sensors": names.get(a.id, [])}
            writer.writerow([" ".join(row[c]) if c == "sensors" else row[c] for c in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


RAW_LISTS = ("hostnames", "services", "vlans", "tls_sni", "ja3", "ja4", "user_agents", "evidence")


def asset_dict(db: Session, a: Asset, brief: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "network": a.network,
        "ip": a.ip,
        "ips": a.ips,
        "mac": a.mac,
        "macs": a.macs,
        "hostname": a.hostname,
        "vendor": a.vendor,
        "os": a.os,
        "os_family": a.os_family,
        "os_confidence": a.os_confidence,
        "device_type": a.device_type,
        "model": a.model,
        "device_confidence": a.device_confidence,
        "class": a.klass,
        "group": a.group,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "packets": a.packets,
        "bytes_in": a.bytes_in,
        "bytes_out": a.bytes_out,
    }
    if not brief:
        raw = a.raw or {}
        for key in RAW_LISTS:
            out[key] = raw.get(key) or []
        out["os_detail"] = raw.get("os") or {}
        out["device"] = raw.get("device") or {}
        out["raw"] = raw
        out["sensors"] = [
            {"sensor": s.sensor_id, "name": name, "first_seen": s.first_seen, "last_seen": s.last_seen,
             "packets": s.packets}
            for s, name in db.execute(
                select(Sighting, Sensor.name)
                .join(Sensor, Sensor.id == Sighting.sensor_id)
                .where(Sighting.asset_id == a.id)
                .order_by(Sighting.first_seen)
            )
        ]  # fmt: skip
    return out


def flow_dict(f: Flow) -> dict[str, Any]:
    return {
        "id": f.id,
        "sensor": f.sensor_id,
        "network": f.network,
        "client": f.client,
        "server": f.server,
        "port": f.port,
        "proto": f.proto,
        "client_bytes": f.client_bytes,
        "server_bytes": f.server_bytes,
        "client_packets": f.client_packets,
        "server_packets": f.server_packets,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "client_asset": f.client_asset,
        "server_asset": f.server_asset,
    }


def traffic(db: Session, asset_id: int, network: str) -> dict[str, Any]:
    """Traffic per service family, service (protocol and port) and role: as client (egress =
    its bytes sent) and as server (ingress = the clients' bytes); `waiting`: the records of
    its Network still being stored after a burst (backlog.py), which may name it too."""
    services: dict[str, dict[str, Any]] = {}
    by_family: dict[str, dict[str, int]] = {}
    totals = {"ingress": 0, "egress": 0}
    for f in db.scalars(select(Flow).where(or_(Flow.client_asset == asset_id, Flow.server_asset == asset_id))):
        for role, sent, received in (
            ("client", f.client_bytes, f.server_bytes),
            ("server", f.server_bytes, f.client_bytes),
        ):
            if (f.client_asset if role == "client" else f.server_asset) != asset_id:
                continue
            key = f"{f.proto}/{f.port}" if f.port is not None else f.proto
            name, family = families.classify(f.proto, f.port)
            s = services.setdefault(
                f"{role} {key}",
                {"service": key, "name": name, "family": family, "role": role, "ingress": 0, "egress": 0},
            )
            s["egress"] += sent
            s["ingress"] += received
            fam = by_family.setdefault(family, {"ingress": 0, "egress": 0})
            fam["egress"] += sent
            fam["ingress"] += received
            totals["egress"] += sent
            totals["ingress"] += received
    for s in services.values():
        s["total"] = s["ingress"] + s["egress"]
    totals["total"] = totals["ingress"] + totals["egress"]
    fams = [{"family": k, **v, "total": v["ingress"] + v["egress"]} for k, v in by_family.items()]
    return {
        "waiting": backlog.waiting(db.connection(), network),
        "totals": totals,
        "families": sorted(fams, key=lambda x: -x["total"]),
        "services": sorted(services.values(), key=lambda s: -s["total"]),
    }
