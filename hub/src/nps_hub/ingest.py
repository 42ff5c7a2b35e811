"""Reports into the merged inventory and the traffic table, exactly once.

A report is stored under (sensor, report id) with a unique constraint, in the same
transaction as everything merged from it: a report sent twice (the hub stopped
before its answer arrived, and the sensor tried again) is recognised and merged
once. Only after the commit does the sensor hear "stored", and only then does it
delete the report from its spool.

Merging: the same device seen by two sensors is one asset. Within a Network (the
sensor's; replicated address spaces, such as the same plant on two cranes, belong
to different Networks), a device is found by its MAC first, then by its hostname
(unless the configuration excludes that hostname from de-duplication), then by its
IP address.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nps_hub.models import Asset, Base, Flow, Report, Sensor, Sighting, now

CHUNK = 500
FLOWS = Table("flows", Base.metadata)  # the Flow model's table, for Core's executemany
CLASSES_WITH_ADDRESS = ("inventoried", "non-inventoried", "monitored")


class BadReport(ValueError):
    """The body is not a sensor report; the message says what is wrong."""


@dataclass
class Ingested:
    report: int  # the hub's row id
    duplicate: bool
    assets: int
    flows: int


def check(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadReport("a report is a JSON object")
    for key, kind in (("assets", list), ("flows", list)):
        if not isinstance(body.get(key), kind):
            raise BadReport(f"the report has no {key!r} list")
    if not isinstance(body.get("kind", ""), str):
        raise BadReport("'kind' must be a text")
    for i, a in enumerate(body["assets"]):
        if not isinstance(a, dict) or not isinstance(a.get("ip") or "", str):
            raise BadReport(f"assets[{i}] is not an asset object")
    for i, f in enumerate(body["flows"]):
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("client", "server", "proto")):
            raise BadReport(f"flows[{i}] is not a traffic record (client, server, proto)")
    return body


def ingest(
    db: Session,
    sensor: Sensor,
    report_id: str,
    body: dict[str, Any],
    size: int,
    dedupe_excluded_hostnames: Iterable[str] = (),
) -> Ingested:
    existing = db.scalar(select(Report).where(Report.sensor_id == sensor.id, Report.report_id == report_id))
    if existing is not None:
        return Ingested(existing.id, True, existing.assets, existing.flows)
    row = Report(
        sensor_id=sensor.id,
        report_id=report_id,
        kind=str(body.get("kind", "report"))[:32],
        window_start=str(body.get("window_start") or "")[:40],
        window_end=str(body.get("window_end") or "")[:40],
        assets=len(body["assets"]),
        flows=len(body["flows"]),
        size=size,
        stats=body.get("stats") if isinstance(body.get("stats"), dict) else {},
        received=now(),
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError:  # the same report, arriving twice at once
        db.rollback()
        existing = db.scalar(select(Report).where(Report.sensor_id == sensor.id, Report.report_id == report_id))
        assert existing is not None
        return Ingested(existing.id, True, existing.assets, existing.flows)
    by_ip = merge_assets(db, sensor, body["assets"], {h.lower() for h in dedupe_excluded_hostnames})
    add_flows(db, sensor, row.id, body["flows"], by_ip)
    sensor.last_report = now()
    db.commit()
    return Ingested(row.id, False, row.assets, row.flows)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _hostname(a: dict[str, Any]) -> str:
    name = a.get("hostname")
    if isinstance(name, str) and name:
        return name.lower()[:255]
    names = a.get("hostnames")
    if isinstance(names, list) and names:
        first = names[0]
        if isinstance(first, dict):  # {name, source, ...}
            first = first.get("name") or first.get("hostname")
        if isinstance(first, str):
            return first.lower()[:255]
    return ""


def merge_assets(
    db: Session, sensor: Sensor, assets: list[dict[str, Any]], excluded_hostnames: set[str]
) -> dict[str, int]:
    """Merge the report's assets; returns IP -> asset id for the flows."""
    network = sensor.network
    mine = [a for a in assets if a.get("ip") and a.get("class") in CLASSES_WITH_ADDRESS]
    shared = _router_macs(mine)
    macs = sorted({a["mac"] for a in mine if a.get("mac") and a["mac"] not in shared})
    ips = sorted({a["ip"] for a in mine})
    names = sorted({h for a in mine if (h := _hostname(a)) and h not in excluded_hostnames})
    known: dict[int, Asset] = {}
    for chunk in _chunks(macs):
        known.update((x.id, x) for x in db.scalars(select(Asset).where(Asset.network == network, Asset.mac.in_(chunk))))
    for chunk in _chunks(ips):
        known.update((x.id, x) for x in db.scalars(select(Asset).where(Asset.network == network, Asset.ip.in_(chunk))))
    for chunk in _chunks(names):
        known.update(
            (x.id, x) for x in db.scalars(select(Asset).where(Asset.network == network, Asset.hostname.in_(chunk)))
        )
    by_mac = {x.mac: x for x in known.values() if x.mac}
    by_name = {x.hostname: x for x in known.values() if x.hostname and x.hostname not in excluded_hostnames}
    by_ip: dict[str, Asset] = {}
    for x in known.values():
        if x.ip:
            by_ip.setdefault(x.ip, x)
    fresh: list[tuple[Asset, dict[str, Any]]] = []
    touched: list[tuple[Asset, dict[str, Any]]] = []
    others: list[tuple[Asset, list[str]]] = []  # each asset's addresses besides its main one
    for a in mine:
        mac, ip, name = a.get("mac") or None, a["ip"], _hostname(a)
        if mac in shared:
            mac = None  # a router's MAC in front of the hosts behind it: the IP tells them apart
        found = by_mac.get(mac) if mac else None
        if found is None and name and name not in excluded_hostnames:
            found = by_name.get(name)
        if found is None:
            candidate = by_ip.get(ip)
            # The same IP with another MAC is another device (the address moved).
            if candidate is not None and not (mac and candidate.mac and candidate.mac != mac):
                found = candidate
        if found is None:
            found = Asset(network=network, mac=mac, ip=ip, ips=[], macs=[], first_seen=a.get("first_seen") or "")
            db.add(found)
            fresh.append((found, a))
        known_at = addresses(a)
        _update(found, a, mac, known_at, name)
        if mac:
            by_mac[mac] = found
        if name:
            by_name.setdefault(name, found)
        by_ip[ip] = found
        touched.append((found, a))
        others.append((found, known_at[1:]))
    for x, more in others:  # its other addresses, for the flows, unless one is another asset's main one
        for other in more:
            by_ip.setdefault(other, x)
    if fresh:
        db.flush()  # ids for the new assets
    ids = sorted({x.id for x, _ in touched})
    sightings: dict[int, Sighting] = {}
    for i in range(0, len(ids), CHUNK):
        for old in db.scalars(
            select(Sighting).where(Sighting.sensor_id == sensor.id, Sighting.asset_id.in_(ids[i : i + CHUNK]))
        ):
            sightings[old.asset_id] = old
    for x, a in touched:
        s = sightings.get(x.id)
        if s is None:
            s = sightings[x.id] = Sighting(asset_id=x.id, sensor_id=sensor.id, first_seen=a.get("first_seen") or "")
            db.add(s)
        s.last_seen = max(s.last_seen or "", a.get("last_seen") or "")
        for k in ("packets", "bytes_in", "bytes_out"):
            v = a.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                setattr(s, k, v)
    db.flush()
    _totals(db, list({x.id: x for x, _ in touched}.values()))
    return {ip: x.id for ip, x in by_ip.items()}


def _router_macs(assets: list[dict[str, Any]]) -> set[str]:
    """MACs that do not identify one device: the sensor says the address is behind a
    router, or one MAC carries several IPv4 addresses in one report (a router or a NAT
    device; a host's IPv4 and IPv6 addresses on one MAC are still one device)."""
    v4: dict[str, set[str]] = {}
    out = set()
    for a in assets:
        mac = a.get("mac")
        if not mac:
            continue
        if a.get("behind_router"):
            out.add(mac)
        if ":" not in a["ip"]:
            v4.setdefault(mac, set()).add(a["ip"])
    return out | {m for m, ips in v4.items() if len(ips) > 1}


def addresses(a: dict[str, Any]) -> list[str]:
    """The asset's addresses: its main one, then every other one the sensor saw it use
    (`ips`: a dual-stack host's IPv6 beside its IPv4), each a valid address, once."""
    out = [a["ip"]]
    for item in a.get("ips") or []:
        text = item.get("ip") if isinstance(item, dict) else item
        if isinstance(text, str) and text not in out:
            try:
                ipaddress.ip_address(text)
            except ValueError:
                continue
            out.append(text)
    return out


def _update(x: Asset, a: dict[str, Any], mac: str | None, known_at: list[str], name: str) -> None:
    """`known_at`: the report's addresses for it (`addresses`), its main one first."""
    if mac and not x.mac:
        x.mac = mac
    x.ip = known_at[0]
    new = [i for i in known_at if i not in (x.ips or [])]
    if new:
        x.ips = [*(x.ips or []), *new]
    more = [m for m in ([mac] if mac else []) + list(a.get("macs") or []) if isinstance(m, str)]
    if any(m not in (x.macs or []) for m in more):
        x.macs = sorted({*(x.macs or []), *more})
    if name and not x.hostname:
        x.hostname = name
    x.klass = str(a.get("class") or x.klass)
    x.group = str(a.get("group") or x.group)
    first, last = a.get("first_seen") or "", a.get("last_seen") or ""
    if first and (not x.first_seen or first < x.first_seen):
        x.first_seen = first
    if last > (x.last_seen or ""):
        x.last_seen = last
    x.raw = dict(a)


def _totals(db: Session, assets: list[Asset]) -> None:
    """An asset's counts: the sum of what each sensor that saw it counted."""
    ids = [x.id for x in assets]
    sums: dict[int, list[int]] = {i: [0, 0, 0] for i in ids}
    for i in range(0, len(ids), CHUNK):
        for s in db.scalars(select(Sighting).where(Sighting.asset_id.in_(ids[i : i + CHUNK]))):
            t = sums[s.asset_id]
            t[0] += s.packets
            t[1] += s.bytes_in
            t[2] += s.bytes_out
    for x in assets:
        x.packets, x.bytes_in, x.bytes_out = sums[x.id]


def add_flows(db: Session, sensor: Sensor, report: int, flows: list[dict[str, Any]], by_ip: dict[str, int]) -> None:
    missing = sorted({e for f in flows for e in (f["client"], f["server"]) if e not in by_ip})
    for chunk in _chunks(missing):
        for asset_id, ip in db.execute(
            select(Asset.id, Asset.ip).where(Asset.network == sensor.network, Asset.ip.in_(chunk))
        ):
            if ip:
                by_ip.setdefault(ip, asset_id)
    rows = []
    for f in flows:
        rows.append(
            {
                "sensor_id": sensor.id,
                "report_id": report,
                "network": sensor.network,
                "client": f["client"][:128],
                "server": f["server"][:128],
                "port": f.get("port") if isinstance(f.get("port"), int) else None,
                "proto": f["proto"][:16],
                "client_bytes": _int(f.get("client_bytes")),
                "server_bytes": _int(f.get("server_bytes")),
                "client_packets": _int(f.get("client_packets")),
                "server_packets": _int(f.get("server_packets")),
                "first_seen": str(f.get("first_seen") or "")[:40],
                "last_seen": str(f.get("last_seen") or "")[:40],
                "client_asset": by_ip.get(f["client"]),
                "server_asset": by_ip.get(f["server"]),
            }
        )
    if rows:
        # Core's executemany on the table: the ORM's bulk path costs four times as much here.
        db.execute(insert(FLOWS), rows)


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62 else 0


def delete_assets_of(db: Session, sensor_id: int) -> int:
    """Forget what one sensor discovered: its sightings and flows; assets no other sensor saw go."""
    asset_ids = list(db.scalars(select(Sighting.asset_id).where(Sighting.sensor_id == sensor_id)))
    db.query(Flow).filter(Flow.sensor_id == sensor_id).delete(synchronize_session=False)
    db.query(Sighting).filter(Sighting.sensor_id == sensor_id).delete(synchronize_session=False)
    gone = 0
    for i in range(0, len(asset_ids), CHUNK):
        chunk = asset_ids[i : i + CHUNK]
        still = set(db.scalars(select(Sighting.asset_id).where(Sighting.asset_id.in_(chunk))))
        orphans = [a for a in chunk if a not in still]
        if orphans:
            db.query(Flow).filter(Flow.client_asset.in_(orphans)).update(
                {Flow.client_asset: None}, synchronize_session=False
            )
            db.query(Flow).filter(Flow.server_asset.in_(orphans)).update(
                {Flow.server_asset: None}, synchronize_session=False
            )
            gone += db.query(Asset).filter(Asset.id.in_(orphans)).delete(synchronize_session=False)
    _totals(db, list(db.scalars(select(Asset).where(Asset.id.in_(asset_ids)))) if asset_ids else [])
    return gone


def when(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None
