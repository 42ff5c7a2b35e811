"""One report's assets into the merged inventory, set-based: a few statements per
report, whatever its size (one query finds every asset it may match, one statement
inserts the new ones, one executemany updates the known ones, one upsert records the
sightings), instead of a query and an update per asset.

Matching, within a Network (the sensor's; replicated address spaces, such as the same
plant on two cranes, belong to different Networks): a device is found by its MAC
first, then by its hostname (unless the configuration excludes that hostname from
de-duplication), then by its IP address; the same IP with another MAC is another
device (the address moved). A MAC that one report shows in front of several IPv4
addresses, or that the sensor flags `behind_router`, is a router's and identifies none
of the hosts behind it; it identifies the router itself, the one entry the sensor names
by that MAC (`id` "mac:…") and does not flag.

Callers hold the Network's lock (ingest.network_lock) for the whole transaction, so
what is read here is still true when it is written; the unique index on (network, mac)
stands behind it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select, update

from nps_hub.bulk import Bulk, dumps
from nps_hub.models import Asset, Flow, Sighting
from nps_hub.report import Asset as Reported
from nps_hub.report import asset_addresses

ASSETS = cast(Table, Asset.__table__)
SIGHTINGS = cast(Table, Sighting.__table__)
FLOWS = cast(Table, Flow.__table__)
IN_CHUNK = 5_000  # keys per query
CLASSES_WITH_ADDRESS = ("inventoried", "non-inventoried", "monitored")
NO_PREDICTION: tuple[Any, ...] = ("", "", "", 0.0, "", "", 0.0)


@dataclass(slots=True)
class Known:
    """An asset row as the merge sees and changes it (its `raw` is only ever replaced)."""

    id: int | None
    mac: str | None
    ip: str | None
    ips: str  # JSON lists, as stored: parsed only when they grow
    macs: str
    hostname: str
    klass: str
    group: str
    first_seen: str
    last_seen: str
    raw: Reported | None = None
    predicted: tuple[Any, ...] = NO_PREDICTION  # in bulk.PREDICTION_COLUMNS' order
    totals: list[int] = field(default_factory=lambda: [0, 0, 0])  # other sensors' counts
    mine: dict[str, Any] | None = None  # this sensor's sighting
    stored: tuple[Any, ...] = ()  # (mac, ip, hostname) as loaded: the indexed columns

    def moved(self) -> bool:
        """Whether an indexed column changed since it was loaded."""
        return self.stored != (self.mac, self.ip, self.hostname)

    def row(self, network: str) -> tuple[Any, ...]:
        """In bulk.ASSET_COLUMNS' order."""
        mine = self.mine or {}
        return (
            self.id, network, self.mac, self.ip, self.ips, self.macs, self.hostname, self.klass,
            self.group, self.first_seen, self.last_seen, dumps(self.raw or {}),
            self.totals[0] + mine.get("packets", 0), self.totals[1] + mine.get("bytes_in", 0),
            self.totals[2] + mine.get("bytes_out", 0), *self.predicted,
        )  # fmt: skip


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


def identifying_mac(a: Reported, shared: set[str]) -> str | None:
    """The MAC that finds this asset: none where it is a router's (`shared`) and the asset
    is a host behind it, not the router's own entry."""
    mac = (a.get("mac") or "").lower() or None
    if mac in shared and (a.get("behind_router") or (a.get("id") or "").lower() != f"mac:{mac}"):
        return None
    return mac


def valid_addresses(a: Reported) -> list[str]:
    """The asset's addresses (report.asset_addresses): its main one, then each other one
    that is a valid IP address."""
    main = a.get("ip")
    out = [main] if main else []
    for text in asset_addresses(a):
        if text == main:
            continue
        try:
            ipaddress.ip_address(text)
        except ValueError:
            continue
        out.append(text)
    return out


class Merge:
    """One report's assets, matched and written; `run` returns the addresses the
    assets are known at (for the flows)."""

    def __init__(self, conn: Connection, network: str, sensor_id: int, excluded: Iterable[str]) -> None:
        self.bulk = Bulk(conn)
        self.network = network
        self.sensor_id = sensor_id
        self.excluded = {h.lower() for h in excluded}
        self.by_mac: dict[str, Known] = {}
        self.by_name: dict[str, Known] = {}
        self.by_ip: dict[str, Known] = {}
        self.touched: dict[int, Known] = {}  # id(Known) -> Known, in first-touched order

    def run(self, assets: list[Reported]) -> dict[str, int]:
        mine = [a for a in assets if (a.get("ip") or a.get("mac")) and a.get("class") in CLASSES_WITH_ADDRESS]
        shared = router_macs(mine)
        # A MAC-only entry is kept where its MAC finds it: a router known by its MAC alone
        # is an asset, a host behind it without an address is nothing to tell apart.
        mine = [a for a in mine if a.get("ip") or identifying_mac(a, shared)]
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
        sensors' counts and this sensor's sighting: a query per chunk of keys."""
        macs = sorted({m for a in mine if (m := identifying_mac(a, shared))})
        ips = sorted({ip for a in mine if (ip := a.get("ip"))})
        names = sorted({h for a in mine if (h := hostname(a)) and h not in self.excluded})
        known: dict[int, Known] = {}
        for i in range(0, max(len(macs), len(ips), len(names)), IN_CHUNK):
            keys = {"mac": macs[i : i + IN_CHUNK], "ip": ips[i : i + IN_CHUNK], "hostname": names[i : i + IN_CHUNK]}
            for r in self.bulk.assets_matching(self.network, keys):
                if r[0] not in known:
                    known[r[0]] = Known(r[0], r[1], r[2], r[3] or "[]", r[4] or "[]", r[5] or "",
                                        r[6] or "", r[7] or "", r[8] or "", r[9] or "",
                                        predicted=tuple(r[10:]), stored=(r[1], r[2], r[5] or ""))  # fmt: skip
        self.counts(known)
        for x in known.values():
            if x.mac:
                self.by_mac[x.mac] = x
            if x.hostname and x.hostname not in self.excluded:
                self.by_name.setdefault(x.hostname, x)
            if x.ip:
                self.by_ip.setdefault(x.ip, x)

    def counts(self, known: dict[int, Known]) -> None:
        for chunk in chunks(sorted(known)):
            for asset_id, sensor_id, first, last, packets, bytes_in, bytes_out in self.bulk.sightings_of(chunk):
                x = known[asset_id]
                if sensor_id == self.sensor_id:
                    x.mine = {"first_seen": first, "last_seen": last, "packets": packets, "bytes_in": bytes_in,
                              "bytes_out": bytes_out}  # fmt: skip
                else:
                    x.totals = [x.totals[0] + packets, x.totals[1] + bytes_in, x.totals[2] + bytes_out]

    # --- matching ----------------------------------------------------------------------

    def match(self, a: Reported, shared: set[str]) -> tuple[Known, list[str]]:
        mac = identifying_mac(a, shared)  # None behind a router: the IP tells those hosts apart
        ip, name = a.get("ip") or "", hostname(a)
        found = self.by_mac.get(mac) if mac else None
        if found is None and name and name not in self.excluded:
            found = self.by_name.get(name)
        if found is None and ip:
            candidate = self.by_ip.get(ip)
            # The same IP with another MAC is another device (the address moved).
            if candidate is not None and not (mac and candidate.mac and candidate.mac != mac):
                found = candidate
        if found is None:
            found = Known(None, mac, ip or None, "[]", "[]", "", "", "", a.get("first_seen") or "", "")
        addresses = valid_addresses(a) or ([ip] if ip else [])
        update_known(found, a, mac, addresses, name)
        seen(found, a)
        if mac:
            self.by_mac[mac] = found
        if name:
            self.by_name.setdefault(name, found)
        if ip:
            self.by_ip[ip] = found
        self.touched.setdefault(id(found), found)
        return found, addresses

    # --- writing -----------------------------------------------------------------------

    def write(self) -> None:
        fresh = [x for x in self.touched.values() if x.id is None]
        old = [x for x in self.touched.values() if x.id is not None]
        for x, new_id in zip(fresh, self.bulk.new_ids(len(fresh)), strict=True):
            x.id = new_id
        self.bulk.insert_assets([x.row(self.network) for x in fresh])
        self.bulk.update_assets([x.row(self.network) for x in old], [x.moved() for x in old])
        self.bulk.insert_sightings([self.sighting(x) for x in fresh])
        self.bulk.upsert_sightings([self.sighting(x) for x in old])

    def sighting(self, x: Known) -> tuple[Any, ...]:
        """This sensor's sighting of x, in bulk.SIGHTING_COLUMNS' order."""
        m = x.mine or {}
        return (x.id, self.sensor_id, m.get("first_seen") or "", m.get("last_seen") or "",
                m.get("packets", 0), m.get("bytes_in", 0), m.get("bytes_out", 0))  # fmt: skip


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
    if addresses:  # a device known by its MAC only keeps the address it had
        x.ip = addresses[0]
    new = [i for i in addresses if f'"{i}"' not in x.ips]  # an address holds no quote
    if new:
        x.ips = dumps([*loads(x.ips), *new])
    more = [m.lower() for m in ([mac] if mac else []) + list(a.get("macs") or ())]
    if any(f'"{m}"' not in x.macs for m in more):
        x.macs = dumps(sorted({*loads(x.macs), *more}))
    if name and not x.hostname:
        x.hostname = name[:255]
    x.klass = a.get("class") or x.klass
    x.group = a.get("group") or x.group
    first, last = a.get("first_seen") or "", a.get("last_seen") or ""
    if first and (not x.first_seen or first < x.first_seen):
        x.first_seen = first
    x.last_seen = max(x.last_seen, last)
    x.raw = a
    said = predictions(a)
    if x.predicted == NO_PREDICTION:
        x.predicted = said
    elif said != NO_PREDICTION:
        x.predicted = tuple(new if new not in ("", 0.0) else old for new, old in zip(said, x.predicted, strict=True))


def loads(stored: str) -> list[Any]:
    """A stored JSON list; a new asset's empty one without parsing it (a fifth of the
    merge's time for new assets went to json.loads("[]"))."""
    return [] if stored == "[]" else list(json.loads(stored))


def predictions(a: Reported) -> tuple[Any, ...]:
    """What discovery says the asset is, in bulk.PREDICTION_COLUMNS' order: the vendor
    (the MAC's registrant, else the device's maker), the OS (name with its version,
    family, confidence) and the device (type, model, confidence)."""
    os: dict[str, Any] = a.get("os") or {}
    device: dict[str, Any] = a.get("device") or {}
    if not (os or device or a.get("vendor")):
        return NO_PREDICTION
    name, version = text(os.get("name"), 200), text(os.get("version"), 40)
    if version and version not in name:
        name = f"{name} {version}".strip()
    return (
        text(a.get("vendor") or device.get("vendor"), 255),
        name[:255],
        text(os.get("family"), 64),
        confidence(os.get("confidence")) if name or os.get("family") else 0.0,
        text(device.get("type"), 64),
        text(device.get("model"), 255),
        confidence(device.get("confidence")) if device.get("type") or device.get("model") else 0.0,
    )


def text(value: Any, size: int) -> str:
    """A reported free-form value as a column's text (the report's schema checked it
    has no control characters)."""
    return value[:size] if isinstance(value, str) else ""


def confidence(value: Any) -> float:
    return min(1.0, max(0.0, float(value))) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def delete_unseen(conn: Connection, ids: list[int]) -> int:
    """Assets among `ids` that no sensor has seen any more go; the others' totals are
    summed again. Returns how many went."""
    s, c = SIGHTINGS.c, ASSETS.c
    gone = 0
    for chunk in chunks(sorted(ids)):
        still = set(conn.scalars(select(s.asset_id).where(s.asset_id.in_(chunk))))
        orphans = [i for i in chunk if i not in still]
        if orphans:
            f = FLOWS.c
            conn.execute(update(FLOWS).where(f.client_asset.in_(orphans)).values(client_asset=None))
            conn.execute(update(FLOWS).where(f.server_asset.in_(orphans)).values(server_asset=None))
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
