"""The report model: assets and traffic records as a window gathers them, what a
collector hands over (`Harvest`), and a report as it leaves the sensor (`Report`).

The contract with the other modules of this package: `traffic` adds a harvest's
hosts and flows into `Asset`s and `Record`s; `identity` turns the assets into the
report's device entries (`asset_dict` is an entry's common part); `reporter` decides
when a window closes and which assets and records its report carries. Times are
epoch seconds (floats) here and RFC 3339 text (`iso`) in a report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from nps_sensor.discovery.facts import Facts, Key, Seen
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import NO_MAC, HostDeltas

NEW_ASSETS = "new-assets"
UPDATE = "update"

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
    def merge(parts: list[Harvest], sampled: frozenset[tuple[str, str]] = frozenset()) -> Harvest:
        """`sampled`: the fact kinds each worker takes once per sender and window
        (discovery.registry.sampled), of which the merge keeps the earliest."""
        return Harvest(
            FlowDeltas.concat([p.flows for p in parts]),
            HostDeltas.concat([p.hosts for p in parts]),
            [answer for p in parts for answer in p.dns],
            Facts.merge([p.facts for p in parts], sampled),
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


def asset_dict(ip: str | None, name: str, cls: str, group: str, a: Asset) -> dict[str, Any]:
    """The part of a report entry every kind of asset has: class, times, counters."""
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
