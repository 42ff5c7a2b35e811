"""One report's assets into the merged inventory, set-based: a few statements per
report, whatever its size (one query finds every asset it may match, one statement
inserts the new ones, one executemany updates the known ones, one upsert records the
sightings), instead of a query and an update per asset.

Matching, within a Network (the sensor's; replicated address spaces, such as the same
plant on two cranes, belong to different Networks): a device is found by its MAC
first, then by its hostname (unless the configuration excludes that hostname from
de-duplication), then by its IP address; the same IP with another MAC is another
device (the address moved). A MAC that one report shows in front of several IPv4
addresses, or that the sensor flags `behind_router`, is a router's and identifies none.

Callers hold the Network's lock (ingest.network_lock) for the whole transaction, so
what is read here is still true when it is written; the unique index on (network, mac)
stands behind it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nps_hub.models import Asset, Sighting
from nps_hub.report import Asset as Reported
from nps_hub.report import asset_addresses

ASSETS = cast(Table, Asset.__table__)
SIGHTINGS = cast(Table, Sighting.__table__)
IN_CHUNK = 5_000  # values per IN (...): within SQLite's bound on parameters
CLASSES_WITH_ADDRESS = ("inventoried", "non-inventoried", "monitored")
ROW = ("mac", "ip", "ips", "macs", "hostname", "class", "group", "first_seen", "last_seen", "raw", "packets",
       "bytes_in", "bytes_out")  # fmt: skip


@dataclass
class Known:
    """An asset row as the merge sees and changes it (its `raw` is only ever replaced)."""

    id: int | None
    mac: str | None
    ip: str | None
    ips: list[str]
    macs: list[str]
    hostname: str
    klass: str
    group: str
    first_seen: str
    last_seen: str
    raw: dict[str, Any] | None = None
    totals: list[int] = field(default_factory=lambda: [0, 0, 0])  # other sensors' counts
    mine: dict[str, Any] | None = None  # this sensor's sighting

    def row(self) -> dict[str, Any]:
        return {
            "mac": self.mac,
            "ip": self.ip,
            "ips": self.ips,
            "macs": self.macs,
            "hostname": self.hostname,
            "class": self.klass,
            "group": self.group,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "raw": self.raw or {},
            "packets": self.totals[0] + self.count("packets"),
            "bytes_in": self.totals[1] + self.count("bytes_in"),
            "bytes_out": self.totals[2] + self.count("bytes_out"),
        }

    def count(self, key: str) -> int:
        return int((self.mine or {}).get(key, 0))


def chunks(values: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def hostname(a: Reported) -> str:
    name = a.get("hostname")
    if name:
        return name.lower()
    for first in a.get("hostnames") or ():
        text = first.get("name") if isinstance(first, dict) else first
        return (text or "").lower()
    return ""


def router_macs(assets: list[Reported]) -> set[str]:
    """MACs that do not identify one device: the sensor says the address is behind a
    router, or one MAC carries several IPv4 addresses in one report (a router or a NAT
    device; a host's IPv4 and IPv6 addresses on one MAC are still one device)."""
    v4: dict[str, set[str]] = {}
    out = set()
    for a in assets:
        mac = (a.get("mac") or "").lower()
        if not mac:
            continue
        if a.get("behind_router"):
            out.add(mac)
        ip = a.get("ip") or ""
        if ":" not in ip:
            v4.setdefault(mac, set()).add(ip)
    return out | {m for m, ips in v4.items() if len(ips) > 1}


def valid_addresses(a: Reported) -> list[str]:
    """The asset's addresses (report.asset_addresses), each a valid IP address."""
    out = []
    for text in asset_addresses(a):
        try:
            ipaddress.ip_address(text)
        except ValueError:
            continue
        out.append(text)
    return out


class Merge:
    """One report's assets, matched and written; `by_ip` maps addresses to assets for
    the flows."""

    def __init__(self, conn: Connection, network: str, sensor_id: int, excluded: Iterable[str]) -> None:
        self.conn = conn
        self.network = network
        self.sensor_id = sensor_id
        self.excluded = {h.lower() for h in excluded}
        self.by_mac: dict[str, Known] = {}
        self.by_name: dict[str, Known] = {}
        self.by_ip: dict[str, Known] = {}
        self.touched: dict[int, Known] = {}  # id(Known) -> Known, in first-touched order

    def run(self, assets: list[Reported]) -> dict[str, int]:
        mine = [a for a in assets if a.get("ip") and a.get("class") in CLASSES_WITH_ADDRESS]
        shared = router_macs(mine)
        self.load(mine, shared)
        others: list[tuple[Known, list[str]]] = []
        for a in mine:
            known, addresses = self.match(a, shared)
            others.append((known, addresses[1:]))
        for x, more in others:  # its other addresses, for the flows, unless one is another asset's main one
            for other in more:
                self.by_ip.setdefault(other, x)
        self.write()
        return {ip: x.id for ip, x in self.by_ip.items() if x.id is not None}

    # --- reading ----------------------------------------------------------------------

    def load(self, mine: list[Reported], shared: set[str]) -> None:
        """Every asset of the Network that one of these could match, with the other
        sensors' counts and this sensor's sighting, in one query per IN-chunk."""
        macs = sorted({m for a in mine if (m := (a.get("mac") or "").lower()) and m not in shared})
        ips = sorted({a.get("ip") or "" for a in mine})
        names = sorted({h for a in mine if (h := hostname(a)) and h not in self.excluded})
        c = ASSETS.c
        rows: dict[int, Any] = {}
        for column, values in ((c.mac, macs), (c.ip, ips), (c.hostname, names)):
            for chunk in chunks(values):
                stmt = select(
                    c.id, c.mac, c.ip, c.ips, c.macs, c.hostname, c["class"], c.group, c.first_seen, c.last_seen
                ).where(c.network == self.network, column.in_(chunk))
                rows.update((r.id, r) for r in self.conn.execute(stmt))
        known = {
            i: Known(i, r.mac, r.ip, list(r.ips or []), list(r.macs or []), r.hostname or "", r[6] or "", r.group or "",
                     r.first_seen or "", r.last_seen or "")
            for i, r in rows.items()
        }  # fmt: skip
        self.counts(known)
        for x in known.values():
            if x.mac:
                self.by_mac[x.mac] = x
            if x.hostname and x.hostname not in self.excluded:
                self.by_name.setdefault(x.hostname, x)
            if x.ip:
                self.by_ip.setdefault(x.ip, x)

    def counts(self, known: dict[int, Known]) -> None:
        s = SIGHTINGS.c
        ids = sorted(known)
        for chunk in chunks(ids):
            stmt = select(s.asset_id, s.sensor_id, s.first_seen, s.last_seen, s.packets, s.bytes_in, s.bytes_out).where(
                s.asset_id.in_(chunk)
            )
            for r in self.conn.execute(stmt):
                x = known[r.asset_id]
                if r.sensor_id == self.sensor_id:
                    x.mine = {"first_seen": r.first_seen, "last_seen": r.last_seen, "packets": r.packets,
                              "bytes_in": r.bytes_in, "bytes_out": r.bytes_out}  # fmt: skip
                else:
                    x.totals = [x.totals[0] + r.packets, x.totals[1] + r.bytes_in, x.totals[2] + r.bytes_out]

    # --- matching ----------------------------------------------------------------------

    def match(self, a: Reported, shared: set[str]) -> tuple[Known, list[str]]:
        mac: str | None = (a.get("mac") or "").lower() or None
        ip, name = a.get("ip") or "", hostname(a)
        if mac in shared:
            mac = None  # a router's MAC in front of the hosts behind it: the IP tells them apart
        found = self.by_mac.get(mac) if mac else None
        if found is None and name and name not in self.excluded:
            found = self.by_name.get(name)
        if found is None:
            candidate = self.by_ip.get(ip)
            # The same IP with another MAC is another device (the address moved).
            if candidate is not None and not (mac and candidate.mac and candidate.mac != mac):
                found = candidate
        if found is None:
            found = Known(None, mac, ip, [], [], "", "", "", a.get("first_seen") or "", "")
        addresses = valid_addresses(a) or [ip]
        update_known(found, a, mac, addresses, name)
        seen(found, a)
        if mac:
            self.by_mac[mac] = found
        if name:
            self.by_name.setdefault(name, found)
        self.by_ip[ip] = found
        self.touched.setdefault(id(found), found)
        return found, addresses

    # --- writing -----------------------------------------------------------------------

    def write(self) -> None:
        fresh = [x for x in self.touched.values() if x.id is None]
        old = [x for x in self.touched.values() if x.id is not None]
        if fresh:
            inserting = insert(ASSETS).returning(ASSETS.c.id, sort_by_parameter_order=True)
            rows = [{"network": self.network, **x.row()} for x in fresh]
            for x, new in zip(fresh, self.conn.execute(inserting, rows), strict=True):
                x.id = new.id
        if old:
            # Bound parameters may not bear a column's own name in an UPDATE: "v_" + name.
            stmt = update(ASSETS).where(ASSETS.c.id == bindparam("v_id")).values({k: bindparam(f"v_{k}") for k in ROW})
            self.conn.execute(stmt, [{"v_id": x.id, **{f"v_{k}": v for k, v in x.row().items()}} for x in old])
        self.sightings()

    def sightings(self) -> None:
        rows = []
        for x in self.touched.values():
            m = x.mine or {}
            rows.append(
                {
                    "asset_id": x.id,
                    "sensor_id": self.sensor_id,
                    "first_seen": m.get("first_seen") or "",
                    "last_seen": m.get("last_seen") or "",
                    "packets": x.count("packets"),
                    "bytes_in": x.count("bytes_in"),
                    "bytes_out": x.count("bytes_out"),
                }
            )
        if not rows:
            return
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(SIGHTINGS)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["asset_id", "sensor_id"],
            set_={"last_seen": ex.last_seen, "packets": ex.packets, "bytes_in": ex.bytes_in, "bytes_out": ex.bytes_out},
        )
        self.conn.execute(stmt, rows)


def seen(x: Known, a: Reported) -> None:
    """This sensor's sighting of the asset: counts as its report gives them (since its
    service started), the latest last_seen, the first first_seen."""
    m = x.mine or {}
    first, last = a.get("first_seen") or "", a.get("last_seen") or ""
    x.mine = {
        "first_seen": m.get("first_seen") or first,
        "last_seen": max(m.get("last_seen") or "", last),
        "packets": a.get("packets", m.get("packets", 0)),
        "bytes_in": a.get("bytes_in", m.get("bytes_in", 0)),
        "bytes_out": a.get("bytes_out", m.get("bytes_out", 0)),
    }


def update_known(x: Known, a: Reported, mac: str | None, addresses: list[str], name: str) -> None:
    """`addresses`: the report's addresses for it, its main one first."""
    if mac and not x.mac:
        x.mac = mac
    x.ip = addresses[0]
    new = [i for i in addresses if i not in x.ips]
    if new:
        x.ips = [*x.ips, *new]
    more = [m.lower() for m in ([mac] if mac else []) + list(a.get("macs") or ())]
    if any(m not in x.macs for m in more):
        x.macs = sorted({*x.macs, *more})
    if name and not x.hostname:
        x.hostname = name[:255]
    x.klass = a.get("class") or x.klass
    x.group = a.get("group") or x.group
    first, last = a.get("first_seen") or "", a.get("last_seen") or ""
    if first and (not x.first_seen or first < x.first_seen):
        x.first_seen = first
    x.last_seen = max(x.last_seen, last)
    x.raw = dict(a)


def delete_unseen(conn: Connection, ids: list[int]) -> int:
    """Assets among `ids` that no sensor has seen any more go; the others' totals are
    summed again. Returns how many went."""
    s, c = SIGHTINGS.c, ASSETS.c
    gone = 0
    for chunk in chunks(sorted(ids)):
        still = set(conn.scalars(select(s.asset_id).where(s.asset_id.in_(chunk))))
        orphans = [i for i in chunk if i not in still]
        if orphans:
            gone += conn.execute(ASSETS.delete().where(c.id.in_(orphans))).rowcount
        if still:
            sums = {
                r.asset_id: r
                for r in conn.execute(
                    select(
                        s.asset_id,
                        func.sum(s.packets).label("p"),
                        func.sum(s.bytes_in).label("i"),
                        func.sum(s.bytes_out).label("o"),
                    )
                    .where(s.asset_id.in_(sorted(still)))
                    .group_by(s.asset_id)
                )
            }
            stmt = (
                update(ASSETS)
                .where(c.id == bindparam("v_id"))
                .values(packets=bindparam("p"), bytes_in=bindparam("i"), bytes_out=bindparam("o"))
            )
            conn.execute(stmt, [{"v_id": i, "p": r.p, "i": r.i, "o": r.o} for i, r in sums.items()])
    return gone
