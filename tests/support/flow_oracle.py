"""Flows as the sensor must orient and count them, from tshark's packets (tests.support.oracle).

The orientation rules are nps_sensor.roles's, restated here over tshark's fields
(only the table of port pairs is shared). Reports are cut every 5 minutes of packet
time (the default new-assets window), so a flow's traffic of one window is
oriented as the flow stood at the window's end.
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from nps_sensor.report import PROTO_NAMES
from nps_sensor.roles import PAIRS
from nps_sensor.services import REGISTERED_SERVICES
from tests.support.oracle import Packet, Truth

WINDOW = 300.0  # seconds: the sensor's default new-assets window, where flows are reported

WELL_KNOWN = frozenset(range(1024)) | frozenset(REGISTERED_SERVICES)
ICMP_REQUESTS = {1: {8, 13, 15, 17}, 58: {128}}
ICMP_REPLIES = {1: {0, 14, 16, 18}, 58: {129}}
SYN, ACK = 0x02, 0x10

FlowKey = tuple[str, str, int | None, str]  # client, server, server port, protocol name
Counts = tuple[int, int, int, int]  # client bytes, server bytes, client packets, server packets


def pair_says_client(sport: int, dport: int) -> bool | None:
    """A well-known client/server port pair (nps_sensor.roles.PAIRS): is the sender the client?"""
    for pair in PAIRS:
        if dport == pair.server and sport in pair.client:
            return True
        if sport == pair.server and dport in pair.client:
            return False
    return None


def sender_is_client(p: Packet) -> bool:
    """The orientation rules (nps_sensor.roles), for the first packet of a flow."""
    if p.proto == 6 and p.tcpflags & SYN:
        return not p.tcpflags & ACK
    if p.icmptype is not None and p.proto in ICMP_REQUESTS:
        if p.icmptype in ICMP_REQUESTS[p.proto]:
            return True
        if p.icmptype in ICMP_REPLIES[p.proto]:
            return False
    if p.sport is not None and p.dport is not None:
        pair = pair_says_client(p.sport, p.dport)
        if pair is not None:
            return pair
    if is_group_destination(p.dst):
        return True
    if p.says_client is not None:
        return p.says_client
    if p.sport is None or p.dport is None:
        return True
    wk_s, wk_d = p.sport in WELL_KNOWN, p.dport in WELL_KNOWN
    if wk_s != wk_d:
        return wk_d
    return p.dport <= p.sport


def is_group_destination(text: str) -> bool:
    a = ipaddress.ip_address(text)
    return a.is_multicast or text == "255.255.255.255"


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, f"ip-{proto}")


@dataclass
class _Flow:
    client: tuple[str, int | None]
    by_handshake: bool
    # window -> [bytes sent by a, by b, packets sent by a, by b] and the client at its end
    windows: dict[int, list[int]] = field(default_factory=dict)
    client_at: dict[int, tuple[str, int | None]] = field(default_factory=dict)


def oracle_flows(truth: Truth, window: float = WINDOW) -> dict[FlowKey, Counts]:
    """Bytes and packets per (client, server, server port, protocol), both directions.

    A flow is oriented by its first packet; a TCP flow not oriented by a handshake
    takes the orientation of its first SYN or SYN-ACK; each window's traffic as the
    flow stood at the window's end.
    """
    flows: dict[tuple[Any, ...], _Flow] = {}
    for p in truth.packets:
        if p.short or p.absorbed:
            continue
        a, b = (p.src, p.sport), (p.dst, p.dport)
        lo, hi = min(a, b, key=endpoint_order), max(a, b, key=endpoint_order)
        f = flows.get((lo, hi, p.proto))
        syn = p.proto == 6 and bool(p.tcpflags & SYN)
        if f is None:
            f = flows[(lo, hi, p.proto)] = _Flow(a if sender_is_client(p) else b, syn)
        elif syn and not f.by_handshake:
            f.client, f.by_handshake = (a if not p.tcpflags & ACK else b), True
        w = math.floor(p.ts / window)
        counts = f.windows.setdefault(w, [0, 0, 0, 0])
        side = 0 if a == lo else 1
        counts[side] += p.length
        counts[2 + side] += 1
        f.client_at[w] = f.client
    out: dict[FlowKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (lo, hi, proto), f in flows.items():
        for w, (by_lo, by_hi, pk_lo, pk_hi) in f.windows.items():
            client = f.client_at[w]
            server = hi if client == lo else lo
            acc = out[(client[0], server[0], server[1], proto_name(proto))]
            sent = (by_lo, pk_lo) if client == lo else (by_hi, pk_hi)
            got = (by_hi, pk_hi) if client == lo else (by_lo, pk_lo)
            acc[0] += sent[0]
            acc[1] += got[0]
            acc[2] += sent[1]
            acc[3] += got[1]
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def endpoint_order(e: tuple[str, int | None]) -> tuple[int, int]:
    """The sensor's order of a flow's endpoints: address (IPv4 as IPv4-mapped IPv6), then port."""
    a = ipaddress.ip_address(e[0])
    value = int(a) | (0xFFFF << 32) if a.version == 4 else int(a)
    return (value, -1 if e[1] is None else e[1])


def sensor_flows(result: dict[str, Any]) -> dict[FlowKey, Counts]:
    out: dict[FlowKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in result["flows"]:
        acc = out[(r["client"], r["server"], r["port"], r["proto"])]
        acc[0] += r["client_bytes"]
        acc[1] += r["server_bytes"]
        acc[2] += r["client_packets"]
        acc[3] += r["server_packets"]
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def disagreements(truth: Truth, result: dict[str, Any], exact_assets: bool = False) -> list[str]:
    """Where the sensor's result and tshark's truth differ: (a) assets, (b) flows.

    With `exact_assets`, a sender the sensor reports that tshark does not see is one
    too (for generated captures, whose every sender is known).
    """
    problems: list[str] = []
    # (a) every sender with its MAC is an asset (a device keeps its addresses in `ips`)
    assets = {x["ip"]: a for a in result["assets"] for x in a.get("ips") or [{"ip": a["ip"]}] if x["ip"] is not None}
    for (ip, mac), seen in sorted(truth.hosts.items(), key=lambda kv: kv[1][0]):
        asset = assets.get(ip)
        where = f"frames {', '.join(map(str, seen[:5]))}{'...' if len(seen) > 5 else ''}"
        if asset is None:
            problems.append(f"asset {ip} missing ({where})")
        elif mac is not None and mac not in asset.get("macs", []):
            problems.append(f"asset {ip} lacks MAC {mac} (has {asset.get('macs')}; {where})")
    if exact_assets:
        senders = {ip for ip, _ in truth.hosts}
        for ip in sorted(assets.keys() - senders):
            problems.append(f"asset {ip} is not a sender tshark sees")
        for a in result["assets"]:
            ips = {x["ip"] for x in a.get("ips") or [{"ip": a["ip"]}]}
            macs = {mac for (host, mac), _ in truth.hosts.items() if host in ips and mac is not None}
            if ips & senders and set(a.get("macs", [])) != macs:
                problems.append(f"asset {sorted(ips)} has MACs {a.get('macs')}, tshark {sorted(macs)}")
    # (b) flows, per direction
    expected, got = oracle_flows(truth), sensor_flows(result)
    for key in sorted(expected.keys() | got.keys(), key=repr):
        e, g = expected.get(key), got.get(key)
        if e != g:
            problems.append(f"flow {key}: tshark (cb, sb, cp, sp)={e}, sensor={g}")
    return problems
