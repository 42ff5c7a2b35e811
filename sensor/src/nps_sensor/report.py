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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nps_sensor.classify import (
    EXCLUDED,
    EXTERNAL,
    GROUP_ADDRESS,
    INVENTORIED,
    MONITORED,
    NON_INVENTORIED,
    Classifier,
    ip_text,
)
from nps_sensor.config import Config
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import NO_MAC, HostDeltas

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
    t = time.gmtime(sec)
    micro = min(round((ts - sec) * 1e6), 999_999)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{micro:06d}Z"


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
    reported: bool = False  # in a report already
    active: bool = False  # traffic since the last update report

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

    @staticmethod
    def merge(parts: list[Harvest]) -> Harvest:
        return Harvest(
            FlowDeltas.concat([p.flows for p in parts]),
            HostDeltas.concat([p.hosts for p in parts]),
            [answer for p in parts for answer in p.dns],
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
        self.window_start = math.nan  # start of the current new-assets window
        self.update_start = math.nan
        self.next_boundary = math.inf

    # --- time ---------------------------------------------------------------------

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
        return not self.pending and not any(a.active or not a.reported for a in self.assets.values())

    def close_window(self, harvest: Harvest) -> None:
        """Close the window ending at `next_boundary` (a new-assets or update report)."""
        end = self.next_boundary
        is_update = end >= self.update_start + self.update_len - 1e-9
        self.absorb(harvest)
        self._report(UPDATE if is_update else NEW_ASSETS, end)
        self.window_start = end
        if is_update:
            self.update_start = math.floor(end / self.update_len) * self.update_len
        self.next_boundary = end + self.new_len

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
        self._add_hosts(harvest.hosts)
        self._add_traffic(harvest.flows)

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
            a.macs[mac] = a.macs.get(mac, 0) + packets
            a.first = min(a.first, first)
            a.last = max(a.last, last)
            a.active = True
            if vlan >= 0:
                a.vlans.add(vlan)
            if tunnel >= 0:
                a.tunnels.add(tunnel)

    def _add_traffic(self, d: FlowDeltas) -> None:
        if not len(d):
            return
        labels: dict[int, str] = {}
        assets = self.assets

        def label(ip: int, asset: Asset | None) -> str:
            text = labels.get(ip)
            if text is None:
                text = labels[ip] = self.classifier.label(ip, asset.macs if asset else ())
            return text

        cols = zip(
            d.client_hi.tolist(),
            d.client_lo.tolist(),
            d.server_hi.tolist(),
            d.server_lo.tolist(),
            d.port.tolist(),
            d.proto.tolist(),
            d.client_packets.tolist(),
            d.client_bytes.tolist(),
            d.server_packets.tolist(),
            d.server_bytes.tolist(),
            d.first.tolist(),
            d.last.tolist(),
            strict=True,
        )
        for chi, clo, shi, slo, port, proto, cp, cb, sp, sb, first, last in cols:
            c, s = (chi << 64) | clo, (shi << 64) | slo
            ca, sa = assets.get(c), assets.get(s)
            if ca is not None:
                ca.packets += cp + sp
                ca.bytes_out += cb
                ca.bytes_in += sb
                ca.active = True
                ca.last = max(ca.last, last)
            if sa is not None:
                sa.packets += cp + sp
                sa.bytes_out += sb
                sa.bytes_in += cb
                sa.active = True
                sa.last = max(sa.last, last)
            client, server = label(c, ca), label(s, sa)
            key = (client, server, None if port < 0 else port, proto_name(proto))
            r = self.pending.get(key)
            if r is None:
                r = self.pending[key] = Record(*key)
                r.client_ip = c if client not in {"External", "Excluded"} else None
                r.server_ip = s if server not in {"External", "Excluded"} else None
            r.client_bytes += cb
            r.server_bytes += sb
            r.client_packets += cp
            r.server_packets += sp
            r.first = min(r.first, first)
            r.last = max(r.last, last)

    # --- reports ------------------------------------------------------------------

    def _report(self, kind: str, end: float) -> None:
        if kind == NEW_ASSETS:
            new = {
                ip
                for ip, a in self.assets.items()
                if not a.reported and self.classifier.verdict(ip, a.macs).cls in ANNOUNCED
            }
            if not new:
                return
            records = [k for k, r in self.pending.items() if r.client_ip in new or r.server_ip in new]
            flows = [self.pending.pop(k).as_dict() for k in records]
            chosen = [self.assets[ip] for ip in new]
            for a in chosen:
                a.reported = True
            self.emit(Report(kind, self.window_start, end, self.asset_dicts(chosen), flows))
            return
        active = [a for a in self.assets.values() if a.active or not a.reported]
        flows = [r.as_dict() for r in self.pending.values()]
        self.pending.clear()
        if not active and not flows:
            return
        for a in active:
            a.reported = True
            a.active = False
        self.emit(Report(kind, self.update_start, end, self.asset_dicts(active), flows))

    def asset_dicts(self, assets: list[Asset]) -> list[dict[str, Any]]:
        """Assets as the report shows them (counts since the start of the run); external
        and excluded addresses merge into one asset each."""
        out: list[dict[str, Any]] = []
        merged: dict[str, dict[str, Any]] = {}
        for a in sorted(assets, key=lambda a: a.ip):
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
            d = _asset_dict(ip_text(a.ip), ip_text(a.ip), v.cls, v.group, a)
            if v.cls == INVENTORIED:
                mac = a.mac()
                d["mac"] = None if mac is None else mac_text(mac)
                d["macs"] = sorted(mac_text(m) for m in a.macs if m != int(NO_MAC))
                d["vlans"] = sorted(a.vlans)
                d["tunnel_ids"] = sorted(a.tunnels)
            out.append(d)
        return out + [merged[k] for k in sorted(merged)]


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
