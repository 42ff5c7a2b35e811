"""Frames and cases the protocol tests share: addresses, transport wrappers, and the
engine run that turns frames into the facts a collector harvests.

Every frame goes through the engine (`Collector.process`), so the tests cover the
packet core's selection that picks a packet as well as its dissector. `collect` also checks
that every fact a dissector records is declared by its protocol (`registry.FACTS`).
A protocol's test module lists its `CASES` (a packet, what it must tell, and what
survives later damage); `all_cases` gathers every module's, for `test_fuzz`.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config, address_int
from nps_sensor.discovery import registry
from nps_sensor.discovery.facts import NO_IP, Key, Seen, Value
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P

Triple = tuple[str, str, Value]


def ip_key(addr: str) -> int:
    return address_int(ipaddress.ip_address(addr))


def mac_key(addr: str) -> int:
    return int.from_bytes(P.mac(addr), "big")


def collect(frames: list[bytes]) -> tuple[dict[Key, Seen], dict[str, int]]:
    """The facts and decode-error counters of one collector fed `frames`."""
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1_700_000_000.0 + i for i in range(len(frames))]))
    errors = dict(c.stats_dict()["decode_errors"])
    return declared(c.harvest(final=True).facts), errors


def declared(facts: dict[Key, Seen]) -> dict[Key, Seen]:
    """`facts`, once checked to be declared by a protocol: the declarations are the
    vocabulary `predict` and the reports read (a cleaned value's "removed" mark aside)."""
    for _, _, source, key, _ in facts:
        assert key == "removed" or registry.fact(source, key) is not None, f"undeclared fact {source}.{key}"
    return facts


def all_cases() -> list[Case]:
    """The `CASES` of every test module in this folder, one protocol's each."""
    out: list[Case] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("test_"):
            out += getattr(importlib.import_module(f"{__package__}.{info.name}"), "CASES", [])
    return out


def about(facts: dict[Key, Seen], ip: str | None = None, mac: str | None = None) -> set[Triple]:
    """(source, key, value) of the facts about the device `ip` (and/or `mac`)."""
    want_ip = ip_key(ip) if ip is not None else None
    want_mac = mac_key(mac) if mac is not None else None
    out = set()
    for f_ip, f_mac, source, key, value in facts:
        if want_ip is not None and f_ip != want_ip:
            continue
        if want_ip is None and f_ip != NO_IP:
            continue
        if want_mac is not None and f_mac != want_mac:
            continue
        out.add((source, key, value))
    return out


def triples(facts: dict[Key, Seen]) -> set[Triple]:
    return {(s, k, v) for _, _, s, k, v in facts}


MA, MB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


A4, B4 = "10.1.1.10", "10.1.1.20"


LLDP_MULTICAST, CDP_MULTICAST = "01:80:c2:00:00:0e", "01:00:0c:cc:cc:cc"


CDP_LLC = bytes.fromhex("aaaa0300000c2000")


def udp4(sport: int, dport: int, src: str = A4, dst: str = B4) -> Callable[[bytes], bytes]:
    return lambda payload: P.eth_ipv4_udp(MA, MB, src, dst, sport, dport, payload)


def tcp4(sport: int, dport: int, src: str = A4, dst: str = B4) -> Callable[[bytes], bytes]:
    def make(payload: bytes) -> bytes:
        seg = P.tcp(src, dst, sport, dport, payload, flags="PA", seq=1000, ack=2000)
        return P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg))

    return make


def udp6(src: str, dst: str, sport: int, dport: int, dmac: str = "33:33:00:01:00:02") -> Callable[[bytes], bytes]:
    def make(payload: bytes) -> bytes:
        return P.ethernet(dmac, MA, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_UDP, P.udp(src, dst, sport, dport, payload)))

    return make


def icmp6(src: str, dst: str, dmac: str = "33:33:00:00:00:01") -> Callable[[bytes], bytes]:
    return lambda message: P.ethernet(dmac, MA, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_ICMPV6, message))


def lldp_frame(payload: bytes) -> bytes:
    return P.ethernet(LLDP_MULTICAST, MA, 0x88CC, payload)


def cdp_frame(payload: bytes) -> bytes:
    body = CDP_LLC + payload
    return P.ethernet(CDP_MULTICAST, MA, len(body), body)


V6_ROUTER, V6_HOST = "fe80::1", "fe80::a:b:c:d"


@dataclass
class Case:
    name: str  # the dissector's name (its malformed- counter)
    make: Callable[[bytes], bytes]  # payload -> frame
    payload: bytes
    expect: set[Triple]  # facts about the sender
    sender_ip: str | None = A4
    sender_mac: str | None = None
    # Facts about the sender that must survive any damage to payload[early_end:].
    early_end: int = 0
    early: set[Triple] = field(default_factory=set)
    lengths: list[tuple[int, int]] = field(default_factory=list)  # (offset, width) of length fields


def case_id(case: Case) -> str:
    """A case's name in test ids: its protocol and a digest of its packet."""
    return f"{case.name}-{hashlib.sha1(case.payload).hexdigest()[:6]}"


def collect_apart(frames: list[bytes], ts: list[float] | None = None) -> tuple[dict[Key, Seen], Collector]:
    """Each frame in a batch of its own: a hello's segments in different batches."""
    c = Collector(Config())
    for i, frame in enumerate(frames):
        c.process(batch_from_frames([frame], ts=[ts[i] if ts else 1_700_000_000.0 + i]))
    return c.harvest(final=True).facts, c
