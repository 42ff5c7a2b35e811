"""Reports as the product defines them: assets, and traffic aggregated by 4-tuple per window.

Two windows run side by side, aligned on multiples of their length since the epoch:

* every `new_assets` seconds (default 5 minutes) a **new-assets** report carries the
  assets first seen since the last report and the traffic records that involve them;
* every `updates` seconds (default 30 minutes) an **update** report carries every
  asset active in the window and all other traffic records.

A traffic record sums every connection with the same (client, server, server port,
protocol) in its window, after classification: all external servers of a client
on one port become one record with server `External`. Each connection's bytes are
reported exactly once, in the first report after they were seen, so summing every
record of every report gives the totals of the whole run.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nps_sensor.classify import (
    EXCLUDED,
    EXTERNAL,
    GROUP_ADDRESS,
    INVENTORIED,
    MONITORED,
    NON_INVENTORIED,
    Classifier,
    ip_text,
    is_group,
)
from nps_sensor.config import Config
from nps_sensor.discovery.facts import Facts, Key, Seen
from nps_sensor.discovery.predict import predict
from nps_sensor.discovery.profile import Profiles, fields
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import NO_MAC, HostDeltas
from nps_sensor.vtable import hash_columns

NEW_ASSETS = "new-assets"
UPDATE = "update"
# Classes whose first sighting makes a new-assets report (external and excluded
# addresses only ever appear merged, in updates).
ANNOUNCED = (INVENTORIED, NON_INVENTORIED, MONITORED)

PROTO_NAMES = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    33: "dccp",
    41: "ipv6",
    46: "rsvp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    88: "eigrp",
    89: "ospf",
    103: "pim",
    112: "vrrp",
    115: "l2tp",
    132: "sctp",
    136: "udplite",
}


def proto_name(p: int) -> str:
    return PROTO_NAMES.get(p, f"ip-{p}")


def iso(ts: float) -> str | None:
    """RFC 3339 UTC with microseconds (e.g. 2026-11-27T19:00:00.000123Z)."""
    if not math.isfinite(ts):
        return None
    sec = math.floor(ts)
    micro = min(round((ts - sec) * 1e6), 999_999)
    return f"{_second(sec)}.{micro:06d}Z"


@lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    t = time.gmtime(sec)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def mac_text(mac: int) -> str:
    return ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))


@dataclass(slots=True)
class Asset:
    ip: int
    macs: dict[int, int] = field(default_factory=dict)  # MAC -> packets sent with it
    first: float = math.inf
    last: float = -math.inf
    packets: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    vlans: set[int] = field(default_factory=set)
    tunnels: set[int] = field(default_factory=set)
    served: set[tuple[int, int]] = field(default_factory=set)  # (protocol, port) it answered on
    reported: bool = False  # in a report already
    active: bool = False  # traffic since the last update report
    # Only senders are devices. Traffic to an address is counted from the first packet
    # on, though, so that its totals do not depend on when it first answered.
    sender: bool = False

    def mac(self) -> int | None:
        real = {m: n for m, n in self.macs.items() if m != int(NO_MAC)}
        return max(real, key=lambda m: (real[m], -m)) if real else None


@dataclass(slots=True)
class Record:
    client: str
    server: str
    port: int | None
    proto: str
    client_bytes: int = 0
    server_bytes: int = 0
    client_packets: int = 0
    server_packets: int = 0
    first: float = math.inf
    last: float = -math.inf
    client_ip: int | None = None  # for new-asset selection; None when masked
    server_ip: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "server": self.server,
            "port": self.port,
            "proto": self.proto,
            "client_bytes": self.client_bytes,
            "server_bytes": self.server_bytes,
            "client_packets": self.client_packets,
            "server_packets": self.server_packets,
            "first_seen": iso(self.first),
            "last_seen": iso(self.last),
        }


@dataclass
class Harvest:
    """What collectors gathered since the last window closed: all of it additive, so
    that the harvests of several capture workers merge by concatenation."""

    flows: FlowDeltas
    hosts: HostDeltas
    dns: list[tuple[list[str], list[int]]] = field(default_factory=list)  # names -> addresses
    facts: dict[Key, Seen] = field(default_factory=dict)  # discovery's, deduplicated

    @staticmethod
    def merge(parts: list[Harvest]) -> Harvest:
        return Harvest(
            FlowDeltas.concat([p.flows for p in parts]),
            HostDeltas.concat([p.hosts for p in parts]),
            [answer for p in parts for answer in p.dns],
            Facts.merge([p.facts for p in parts]),
        )


@dataclass
class Report:
    kind: str
    start: float
    end: float
    assets: list[dict[str, Any]]
    flows: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "window_start": iso(self.start),
            "window_end": iso(self.end),
            "assets": self.assets,
            "flows": self.flows,
        }


class Reporter:
    def __init__(self, cfg: Config, classifier: Classifier, emit: Callable[[Report], None]) -> None:
        self.new_len = cfg.reporting.new_assets
        self.update_len = cfg.reporting.updates
        self.classifier = classifier
        self.emit = emit
        self.assets: dict[int, Asset] = {}
        self.pending: dict[tuple[str, str, int | None, str], Record] = {}
        self.profiles = Profiles()
        self.predictions: dict[DeviceKey, tuple[tuple[int, int | None, bool], dict[str, Any]]] = {}
        _fingerprints(cfg)
        # MACs that discovery heard from without an address (LLDP, a DHCP DISCOVER):
        # devices of their own unless an address turns out to be theirs.
        self.macs_new: set[int] = set()
        self.macs_active: set[int] = set()
        self.macs_reported: set[int] = set()
        self.window_start = math.nan  # start of the current new-assets window
        self.update_start = math.nan
        self.next_boundary = math.inf

    # --- time ---------------------------------------------------------------------

    def reconfigure(self, cfg: Config, classifier: Classifier) -> None:
        """A new configuration: classification at once, window lengths from the next window."""
        self.classifier = classifier
        _fingerprints(cfg)
        self.new_len = cfg.reporting.new_assets
        self.update_len = cfg.reporting.updates

    def start_at(self, ts: float) -> None:
        if math.isnan(self.window_start):
            self._align(ts)

    def _align(self, ts: float) -> None:
        self.window_start = math.floor(ts / self.new_len) * self.new_len
        self.update_start = math.floor(ts / self.update_len) * self.update_len
        self.next_boundary = self.window_start + self.new_len

    def catch_up(self, ts: float, harvest: Callable[[], Harvest]) -> None:
        """Close every window that ended by `ts`. Once nothing is left to report, the
        empty windows up to `ts` are skipped in one step: a capture with a gap of
        years between two packets costs nothing."""
        while ts >= self.next_boundary:
            self.close_window(harvest())
            if ts >= self.next_boundary and self._idle():
                self._align(ts)

    def _idle(self) -> bool:
        return not self.pending and not any(a.sender and (a.active or not a.reported) for a in self.assets.values())

    def close_window(self, harvest: Harvest) -> None:
        """Close the window ending at `next_boundary` (a new-assets or update report)."""
        end = self.next_boundary
        is_update = end >= self.update_start + self.update_len - 1e-9
        self.close_at(harvest, end, is_update)
        if is_update:
            self.update_start = math.floor(end / self.update_len) * self.update_len
        self.next_boundary = end + self.new_len

    def close_at(self, harvest: Harvest, end: float, update: bool, stepped: float = 0.0) -> None:
        """Close the open window at `end`, an update window or not. The live service
        decides when, on the monotonic clock (live/schedule.py); `stepped` is how far
        the wall clock stepped while the window was open, and the window's start moves
        as far, so that both its times are read on the same clock."""
        self.window_start += stepped
        self.update_start += stepped
        self.absorb(harvest)
        self._report(UPDATE if update else NEW_ASSETS, end)
        self.window_start = end
        if update:
            self.update_start = end

    def finish(self, harvest: Harvest, end: float) -> None:
        """The final, partial window: everything not yet reported."""
        if math.isnan(self.window_start):
            return
        self.absorb(harvest)
        self._report(UPDATE, end)

    # --- gathering ----------------------------------------------------------------

    def absorb(self, harvest: Harvest) -> None:
        """Take in a harvest: DNS answers first, so that its traffic is classified with them."""
        for names, addresses in harvest.dns:
            self.classifier.learn_dns(names, addresses)
        if harvest.facts:
            touched = self.profiles.absorb(harvest.facts, self._inventoried)
            self.macs_active |= touched
            self.macs_new |= touched - self.macs_reported
        self._add_hosts(harvest.hosts)
        self._add_traffic(harvest.flows)

    def _inventoried(self, ip: int) -> bool:
        return self.classifier.verdict(ip).cls == INVENTORIED

    def _add_hosts(self, h: HostDeltas) -> None:
        cols = zip(
            h.ip_hi.tolist(),
            h.ip_lo.tolist(),
            h.mac.tolist(),
            h.packets.tolist(),
            h.first.tolist(),
            h.last.tolist(),
            h.vlan.tolist(),
            h.tunnel.tolist(),
            strict=True,
        )
        for hi, lo, mac, packets, first, last, vlan, tunnel in cols:
            ip = (hi << 64) | lo
            a = self.assets.get(ip)
            if a is None:
                a = self.assets[ip] = Asset(ip)
            a.sender = True
            a.macs[mac] = a.macs.get(mac, 0) + packets
            a.first = min(a.first, first)
            a.last = max(a.last, last)
            a.active = True
            if vlan >= 0:
                a.vlans.add(vlan)
            if tunnel >= 0:
                a.tunnels.add(tunnel)

    def _add_traffic(self, d: FlowDeltas) -> None:
        """Flow deltas into asset counters and traffic records, with Python-level work
        per distinct address and per distinct record, not per flow."""
        n = len(d)
        if not n:
            return
        hi = np.concatenate([d.client_hi, d.server_hi])
        lo = np.concatenate([d.client_lo, d.server_lo])
        first_row, ends = _group([hi, lo])
        g = len(first_row)
        c_end, s_end = ends[:n], ends[n:]
        packets = d.client_packets + d.server_packets
        sent = np.bincount(c_end, d.client_bytes, g) + np.bincount(s_end, d.server_bytes, g)
        received = np.bincount(c_end, d.server_bytes, g) + np.bincount(s_end, d.client_bytes, g)
        moved = np.bincount(c_end, packets, g) + np.bincount(s_end, packets, g)
        last = np.full(g, -np.inf)
        np.maximum.at(last, c_end, d.last)
        np.maximum.at(last, s_end, d.last)
        names: dict[str, int] = {}
        label_of = np.empty(g, dtype=np.int64)
        ip_of: list[int] = []
        for k, (high, low, out, into, pk, seen) in enumerate(
            zip(
                hi[first_row].tolist(),
                lo[first_row].tolist(),
                sent.tolist(),
                received.tolist(),
                moved.tolist(),
                last.tolist(),
                strict=True,
            )
        ):
            ip = (high << 64) | low
            ip_of.append(ip)
            a = self.assets.get(ip)
            if a is None and not is_group(ip):
                a = self.assets[ip] = Asset(ip)
            if a is not None:
                a.packets += int(pk)
                a.bytes_out += int(out)
                a.bytes_in += int(into)
                a.active = True
                a.last = max(a.last, seen)
            text = self.classifier.label(ip, a.macs if a else ())
            label_of[k] = names.setdefault(text, len(names))
        texts = list(names)
        # Ports a server answered on: its services, seen in the traffic itself.
        answered = np.flatnonzero((d.server_packets > 0) & (d.port >= 0))
        if len(answered):
            first_served, _ = _group([s_end[answered], d.port[answered], d.proto[answered]])
            rows = answered[first_served]
            for server, port, proto in zip(
                s_end[rows].tolist(), d.port[rows].tolist(), d.proto[rows].tolist(), strict=True
            ):
                a = self.assets.get(ip_of[server])
                if a is not None and len(a.served) < MAX_SERVED:
                    a.served.add((proto, port))
        c_label, s_label = label_of[c_end], label_of[s_end]
        first_flow, rec = _group([c_label, s_label, d.port, d.proto])
        r = len(first_flow)
        sums = [
            np.bincount(rec, col, r) for col in (d.client_bytes, d.server_bytes, d.client_packets, d.server_packets)
        ]
        begin = np.full(r, np.inf)
        np.minimum.at(begin, rec, d.first)
        end = np.full(r, -np.inf)
        np.maximum.at(end, rec, d.last)
        masked = ("External", "Excluded")
        for f, cb, sb, cp, sp, t0, t1 in zip(
            first_flow.tolist(), *(x.tolist() for x in sums), begin.tolist(), end.tolist(), strict=True
        ):
            client, server = texts[c_label[f]], texts[s_label[f]]
            port = int(d.port[f])
            key = (client, server, None if port < 0 else port, proto_name(int(d.proto[f])))
            record = self.pending.get(key)
            if record is None:
                record = self.pending[key] = Record(*key)
                record.client_ip = None if client in masked else ip_of[c_end[f]]
                record.server_ip = None if server in masked else ip_of[s_end[f]]
            record.client_bytes += int(cb)
            record.server_bytes += int(sb)
            record.client_packets += int(cp)
            record.server_packets += int(sp)
            record.first = min(record.first, t0)
            record.last = max(record.last, t1)

    # --- reports ------------------------------------------------------------------

    def _report(self, kind: str, end: float) -> None:
        if kind == NEW_ASSETS:
            new = {
                ip
                for ip, a in self.assets.items()
                if a.sender and not a.reported and self.classifier.verdict(ip, a.macs).cls in ANNOUNCED
            }
            macs, self.macs_new = self.macs_new, set()
            self.macs_reported |= macs
            if not new and not macs:
                return
            records = [k for k, r in self.pending.items() if r.client_ip in new or r.server_ip in new]
            flows = [self.pending.pop(k).as_dict() for k in records]
            chosen = [self.assets[ip] for ip in new]
            for a in chosen:
                a.reported = True
            assets = self.asset_dicts(chosen, macs)
            if assets or flows:
                self.emit(Report(kind, self.window_start, end, assets, flows))
            return
        active = [a for a in self.assets.values() if a.sender and (a.active or not a.reported)]
        flows = [r.as_dict() for r in self.pending.values()]
        self.pending.clear()
        macs, self.macs_active = self.macs_active, set()
        self.macs_reported |= macs
        self.macs_new.clear()
        if not active and not flows and not macs:
            return
        for a in active:
            a.reported = True
            a.active = False
        assets = self.asset_dicts(active, macs)
        if assets or flows:
            self.emit(Report(kind, self.update_start, end, assets, flows))

    def asset_dicts(self, assets: list[Asset], macs: set[int] | None = None) -> list[dict[str, Any]]:
        """Assets as the report shows them (counts since the start of the run).

        An inventoried device is its MAC where the sensor sees one (so a laptop that
        changes address through DHCP stays one asset, with its address history),
        else its address. A MAC that carries many addresses at once, or addresses
        from outside, is a router's: it absorbs none of them. External and excluded
        addresses merge into one asset each; only inventoried ones get attributes.
        Devices known only by their MAC come from `macs` (every one if None).
        """
        out: list[dict[str, Any]] = []
        merged: dict[str, dict[str, Any]] = {}
        devices: dict[DeviceKey, None] = {}  # in order of first address
        identity = _Identity(self)
        for a in sorted(assets, key=lambda a: a.ip):
            if not a.sender:
                continue
            v = self.classifier.verdict(a.ip, a.macs)
            if v.cls == GROUP_ADDRESS:
                continue
            if v.cls in (EXTERNAL, EXCLUDED):
                m = merged.get(v.group)
                if m is None:
                    m = merged[v.group] = _asset_dict(None, v.group, v.cls, v.group, a)
                else:
                    m["packets"] += a.packets
                    m["bytes_in"] += a.bytes_in
                    m["bytes_out"] += a.bytes_out
                    m["first_seen"] = min(m["first_seen"], iso(a.first) or m["first_seen"])
                    m["last_seen"] = max(m["last_seen"], iso(a.last) or m["last_seen"])
                    m["addresses"] += 1
                continue
            if v.cls != INVENTORIED:
                out.append(_asset_dict(ip_text(a.ip), ip_text(a.ip), v.cls, v.group, a))
                continue
            devices[identity.of(a)] = None
        # A router's MAC is reported as the router it is, beside the devices behind it.
        routers = {
            ("mac", mac)
            for kind, ip in devices
            if kind == "ip" and (mac := identity.mac_of(self.assets[ip])) in identity.routers
        }
        for key in [*devices, *identity.mac_only(set(devices), macs), *sorted(routers)]:
            out.append(identity.device(key))
        out.sort(key=lambda d: (d["ip"] is None, _ip_order(d["ip"]), d.get("id", "")))
        return out + [merged[k] for k in sorted(merged)]


def _fingerprints(cfg: Config) -> None:
    """The fingerprint databases from the configured data directory (loaded on first use)."""
    from pathlib import Path

    from nps_sensor.discovery import fingerprints

    if cfg.discovery.data_dir:
        current = fingerprints.databases()
        if current.root != Path(cfg.discovery.data_dir):
            fingerprints.use(fingerprints.Databases(Path(cfg.discovery.data_dir)))


def _ip_order(text: str | None) -> tuple[int, int]:
    if text is None:
        return (2, 0)
    addr = ipaddress.ip_address(text)
    return (addr.version, int(addr))


MAX_SERVED = 256  # ports remembered per address

# A device: ("mac", MAC) where the sensor sees its MAC, else ("ip", address).
DeviceKey = tuple[str, int]

# A MAC with more IPv4 addresses active at once than this is a router's.
ROUTER_CONCURRENT_V4 = 2


class _Identity:
    """Which device each inventoried address belongs to, for one report."""

    def __init__(self, rep: Reporter) -> None:
        self.rep = rep
        self.same = rep.profiles.same_devices()  # MAC -> the MAC of the device it is an interface of
        self.by_mac: dict[int, list[Asset]] = {}
        outside: set[int] = set()
        for a in rep.assets.values():
            if not a.sender:
                continue
            v = rep.classifier.verdict(a.ip, a.macs)
            mac = self.mac_of(a)
            if mac is None:
                continue
            if v.cls in (EXTERNAL, MONITORED, NON_INVENTORIED):
                outside.add(mac)
            elif v.cls == INVENTORIED:
                self.by_mac.setdefault(mac, []).append(a)
        self.routers = outside | {
            m for m, members in self.by_mac.items() if _concurrent([a for a in members if a.ip >> 32 == 0xFFFF])
        }

    def mac_of(self, a: Asset) -> int | None:
        mac = a.mac()
        if mac is None:
            mac = self.rep.profiles.bindings.get(a.ip)
        return self.same.get(mac, mac) if mac is not None else None

    def interfaces(self, mac: int) -> list[int]:
        """The MACs of the device `mac` stands for (itself first)."""
        return [mac, *sorted(m for m, lead in self.same.items() if lead == mac)]

    def of(self, a: Asset) -> DeviceKey:
        mac = self.mac_of(a)
        if mac is not None and mac not in self.routers:
            return ("mac", mac)
        return ("ip", a.ip)

    def mac_only(self, known: set[DeviceKey], macs: set[int] | None) -> list[DeviceKey]:
        """MACs with discovery facts but no address of their own (a DHCP client that
        never got a lease, a switch that only speaks LLDP): devices all the same."""
        out = []
        for mac in sorted(self.rep.profiles.by_mac if macs is None else macs):
            key = ("mac", mac)
            if key in known or mac in self.by_mac or mac in self.routers or mac in self.same:
                continue
            if mac in self.rep.classifier.cfg.excluded_macs:
                continue
            out.append(key)
        return out

    def predicted(self, key: DeviceKey, facts: dict[Any, Any], mac: int | None, router: bool) -> dict[str, Any]:
        """`predict`, once per device and set of facts: a device reported in window
        after window without news is not predicted again."""
        cache = self.rep.predictions
        version = (len(facts), mac, router)
        hit = cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        result = predict(facts, mac, router=router)
        cache[key] = (version, result)
        return result

    def device(self, key: DeviceKey) -> dict[str, Any]:
        """One device's report entry. A router's MAC (kind "mac", in `routers`) is an
        entry of its own that absorbs none of the addresses it carries."""
        rep = self.rep
        kind, value = key
        mac: int | None
        if kind == "mac":
            mac = value
            own = [] if mac in self.routers else self.by_mac.get(mac, [])
            members = sorted(own, key=lambda a: (a.first, a.ip))
        else:
            members = [rep.assets[value]]
            mac = self.mac_of(members[0])
        name = mac_text(value) if kind == "mac" else ip_text(value)
        if members:
            v4 = [a for a in members if a.ip >> 32 == 0xFFFF]
            primary = max(v4 or members, key=lambda a: (a.last, a.ip))
            v = rep.classifier.verdict(primary.ip, primary.macs)
            d = _asset_dict(ip_text(primary.ip), ip_text(primary.ip), v.cls, v.group, primary)
        else:
            primary = Asset(0)
            d = _asset_dict(None, name, INVENTORIED, "", primary)
            d["group"] = None
        d["id"] = f"{kind}:{name}"
        d["ips"] = [{"ip": ip_text(a.ip), "first_seen": iso(a.first), "last_seen": iso(a.last)} for a in members]
        macs: set[int] = set()
        for a in members:
            if a is primary:
                continue
            d["packets"] += a.packets
            d["bytes_in"] += a.bytes_in
            d["bytes_out"] += a.bytes_out
        if members:
            d["first_seen"] = iso(min(a.first for a in members))
            d["last_seen"] = iso(max(a.last for a in members))
        for a in members:
            macs.update(m for m in a.macs if m != int(NO_MAC))
        if mac is not None:
            macs.add(mac)
        router = mac is not None and mac in self.routers  # behind it, or the router itself
        behind = router and kind == "ip"
        nics = [] if mac is None or behind else self.interfaces(mac)
        macs.update(nics)
        d["mac"] = None if mac is None else mac_text(mac)
        d["macs"] = sorted(mac_text(m) for m in macs)
        d["vlans"] = sorted({v for a in members for v in a.vlans})
        d["tunnel_ids"] = sorted({t for a in members for t in a.tunnels})
        ips = [a.ip for a in members]
        if mac is not None and not router:
            ips += sorted(set().union(*(rep.profiles.bound.get(m, set()) for m in nics)) - set(ips))
        facts = rep.profiles.facts_of(ips, nics)
        d.update(fields(facts))
        _add_served(d["services"], members)
        d.update(self.predicted(key, facts, None if behind else mac, router and kind == "mac"))
        if behind:
            d["behind_router"] = True  # the MAC is the router's, not this device's
        return d


def _add_served(services: list[dict[str, Any]], members: list[Asset]) -> None:
    """Ports the device answered on, beside those a dissector named a product for."""
    known = {(s["proto"], s["port"]) for s in services}
    for proto, port in sorted({x for a in members for x in a.served}, key=lambda x: (x[1], x[0])):
        name = proto_name(proto)
        if (name, port) not in known:
            known.add((name, port))
            services.append({"port": port, "proto": name, "product": None})
    services.sort(key=lambda s: (s["port"], s["proto"]))


def _concurrent(members: list[Asset]) -> bool:
    """More than ROUTER_CONCURRENT_V4 of these addresses active at one time?"""
    if len(members) <= ROUTER_CONCURRENT_V4:
        return False
    events = sorted([(a.first, 1) for a in members] + [(a.last, -1) for a in members], key=lambda e: (e[0], -e[1]))
    active = 0
    for _, step in events:
        active += step
        if active > ROUTER_CONCURRENT_V4:
            return True
    return False


def _asset_dict(ip: str | None, name: str, cls: str, group: str, a: Asset) -> dict[str, Any]:
    d: dict[str, Any] = {
        "ip": ip,
        "name": name,
        "mac": None,
        "class": cls,
        "group": group,
        "first_seen": iso(a.first),
        "last_seen": iso(a.last),
        "packets": a.packets,
        "bytes_in": a.bytes_in,
        "bytes_out": a.bytes_out,
    }
    if ip is None:
        d["addresses"] = 1
    return d


def _group(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of equal key columns: (first row of each group, group of each row).

    Groups by a 64-bit hash of the columns, then checks every row against its group's
    first row; should two keys ever share a hash, the exact (slower) grouping runs.
    """
    keys = [c.astype(np.uint64) for c in cols]
    _, first, inverse = np.unique(hash_columns(keys), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    rep = first[inverse]
    if all((k == k[rep]).all() for k in keys):
        return first, inverse
    _, first, inverse = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)
