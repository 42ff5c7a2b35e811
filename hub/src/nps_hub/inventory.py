"""The inventory as the API and the web UI show it: assets, traffic records, and each
asset's traffic per service family."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from nps_hub import families
from nps_hub.models import Asset, Flow, Sensor, Sighting


def search(network: str | None, klass: str | None, sensor: int | None, q: str | None) -> Select[Asset]:
    """Assets by Network, class, sensor that saw them, and text in their address, MAC or
    hostname (`%` and `_` are taken as they are, not as wildcards)."""
    stmt = select(Asset)
    if network:
        stmt = stmt.where(Asset.network == network)
    if klass:
        stmt = stmt.where(Asset.klass == klass)
    if sensor is not None:
        stmt = stmt.where(Asset.id.in_(select(Sighting.asset_id).where(Sighting.sensor_id == sensor)))
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Asset.ip.like(like, escape="\\"),
                Asset.mac.like(like, escape="\\"),
                Asset.hostname.like(like, escape="\\"),
            )
        )
    return stmt


def total(db: Session, stmt: Select[Any]) -> int:
    return db.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def asset_dict(db: Session, a: Asset, brief: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "network": a.network,
        "ip": a.ip,
        "ips": a.ips,
        "mac": a.mac,
        "macs": a.macs,
        "hostname": a.hostname,
        "class": a.klass,
        "group": a.group,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "packets": a.packets,
        "bytes_in": a.bytes_in,
        "bytes_out": a.bytes_out,
    }
    if not brief:
        out["raw"] = a.raw
        out["sensors"] = [
            {"sensor": s.sensor_id, "name": name, "first_seen": s.first_seen, "last_seen": s.last_seen}
            for s, name in db.execute(
                select(Sighting, Sensor.name)
                .join(Sensor, Sensor.id == Sighting.sensor_id)
                .where(Sighting.asset_id == a.id)
            )
        ]
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


def traffic(db: Session, asset_id: int) -> dict[str, Any]:
    """Traffic per service family, service (protocol and port) and role: as client (egress =
    its bytes sent) and as server (ingress = the clients' bytes)."""
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
        "totals": totals,
        "families": sorted(fams, key=lambda x: -x["total"]),
        "services": sorted(services.values(), key=lambda s: -s["total"]),
    }
