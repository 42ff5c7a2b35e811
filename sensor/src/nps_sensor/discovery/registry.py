"""The protocols the dissectors declare, and the dispatcher's tables built from them.

Every module of `discovery.dissectors` that ends with a `PROTOCOL` joins, in the
order of the modules' names; its place in `PROTOCOLS` is its id, the number the
vector stage writes beside each packet it picks (0: none). The tables map what the
vector stage reads (a port, the first payload bytes, an ICMPv6 type, an EtherType) to
those ids. Two protocols that claim the same port, magic bytes or fact are an error
at import, naming both: the dispatcher never guesses between them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nps_sensor.discovery import dissectors
from nps_sensor.discovery.protocol import Accept, Fact, Message, Protocol, Repeat, Seen

NONE = Protocol("none", lambda p: None)  # id 0: a packet no protocol picked
MAX_PROTOCOLS = 255  # ids are bytes


@dataclass(frozen=True)
class Magic:
    """First payload bytes of one length, sorted, with the protocol each one names."""

    length: int  # 1 to 4
    words: np.ndarray  # uint32, the bytes as a big-endian number, sorted
    ids: np.ndarray  # uint8


@dataclass(frozen=True)
class Check:
    """What makes a packet on a protocol's ports worth reading: one of its messages, and
    its vector check. Protocols that share both (DNS, mDNS, LLMNR) share one check."""

    messages: tuple[Message, ...]
    accept: Accept | None


@dataclass(frozen=True)
class Tables:
    protocols: tuple[Protocol, ...]  # by id
    id: dict[str, int]
    udp: np.ndarray  # port -> id
    tcp: np.ndarray
    first_byte: np.ndarray  # first payload byte -> whether any magic starts with it
    magic: tuple[Magic, ...]  # longest first
    icmpv6: np.ndarray  # ICMPv6 type -> id
    ethertypes: tuple[tuple[int, int], ...]  # (EtherType, id)
    snaps: tuple[tuple[int, int], ...]  # (LLC SNAP header, id)
    handshakes: int  # the id of the protocol that reads TCP handshakes, 0: none
    checks: tuple[Check, ...]
    check_of: np.ndarray  # id -> 1 + its check's index, 0: none
    seen: tuple[tuple[int, Seen], ...]
    repeats: tuple[Repeat | None, ...]  # by id
    facts: dict[tuple[str, str], Fact]


def declared() -> list[Protocol]:
    """The PROTOCOL of every dissector module, in the order of the modules' names."""
    out = []
    for info in sorted(pkgutil.iter_modules(dissectors.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{dissectors.__name__}.{info.name}")
        protocol = getattr(module, "PROTOCOL", None)
        if isinstance(protocol, Protocol):
            out.append(protocol)
    return out


def build(protocols: Iterable[Protocol]) -> Tables:
    """The tables of `protocols`; ValueError where two of them claim the same thing."""
    by_id = (NONE, *protocols)
    if len(by_id) > MAX_PROTOCOLS + 1:
        raise ValueError(f"{len(by_id) - 1} protocols: at most {MAX_PROTOCOLS}")
    ids: dict[str, int] = {}
    for i, p in enumerate(by_id):
        _claim(ids, p.name, i, "protocol name", by_id)
    owners: dict[object, int] = {}
    udp = _ports(by_id, "udp", owners)
    tcp = _ports(by_id, "tcp", owners)
    icmpv6 = np.zeros(256, dtype=np.uint8)
    for i, p in enumerate(by_id):
        for t in p.icmpv6:
            _claim(owners, ("icmpv6", t), i, f"ICMPv6 type {t}", by_id)
            icmpv6[t] = i
    handshakes = [i for i, p in enumerate(by_id) if p.handshakes]
    if len(handshakes) > 1:
        raise ValueError(f"TCP handshakes: both {by_id[handshakes[0]].name} and {by_id[handshakes[1]].name}")
    facts: dict[tuple[str, str], Fact] = {}
    for p in by_id:
        for f in p.facts:
            if (f.source, f.key) in facts:
                raise ValueError(f"fact {f.source}.{f.key}: declared twice (the second time by {p.name})")
            facts[(f.source, f.key)] = f
    first_byte, magic = _magic(by_id, owners)
    checks: list[Check] = []
    check_of = np.zeros(256, dtype=np.int64)
    for i, p in enumerate(by_id):
        if p.naming or p.accept is not None:
            c = Check(p.naming, p.accept)
            if c not in checks:
                checks.append(c)
            check_of[i] = checks.index(c) + 1
    return Tables(
        protocols=by_id,
        id=ids,
        udp=udp,
        tcp=tcp,
        first_byte=first_byte,
        magic=magic,
        icmpv6=icmpv6,
        ethertypes=tuple((p.ethertype, i) for i, p in enumerate(by_id) if p.ethertype),
        snaps=tuple((p.snap, i) for i, p in enumerate(by_id) if p.snap),
        handshakes=handshakes[0] if handshakes else 0,
        checks=tuple(checks),
        check_of=check_of,
        seen=tuple((i, p.seen) for i, p in enumerate(by_id) if p.seen is not None),
        repeats=tuple(p.repeat for p in by_id),
        facts=facts,
    )


def _claim(owners: dict[Any, int], what: object, i: int, label: str, by_id: tuple[Protocol, ...]) -> None:
    have = owners.setdefault(what, i)
    if have != i:
        raise ValueError(f"{label}: both {by_id[have].name} and {by_id[i].name} claim it")


def _ports(by_id: tuple[Protocol, ...], transport: str, owners: dict[object, int]) -> np.ndarray:
    table = np.zeros(65536, dtype=np.uint8)
    for i, p in enumerate(by_id):
        for port in getattr(p, transport):
            _claim(owners, (transport, port), i, f"{transport.upper()} port {port}", by_id)
            table[port] = i
    return table


def _magic(by_id: tuple[Protocol, ...], owners: dict[object, int]) -> tuple[np.ndarray, tuple[Magic, ...]]:
    first = np.zeros(256, dtype=bool)
    by_length: dict[int, list[tuple[int, int]]] = {}
    for i, p in enumerate(by_id):
        for m in p.magic:
            if not 1 <= len(m) <= 4:
                raise ValueError(f"protocol {p.name}: magic {m!r} is not 1 to 4 bytes")
            _claim(owners, ("magic", m), i, f"first bytes {m!r}", by_id)
            first[m[0]] = True
            by_length.setdefault(len(m), []).append((int.from_bytes(m, "big"), i))
    tables = []
    for length in sorted(by_length, reverse=True):
        pairs = sorted(by_length[length])
        words = np.array([w for w, _ in pairs], dtype=np.uint32)
        tables.append(Magic(length, words, np.array([i for _, i in pairs], dtype=np.uint8)))
    return first, tuple(tables)


TABLES = build(declared())
PROTOCOLS = TABLES.protocols
ID = TABLES.id
FACTS = TABLES.facts


def fact(source: str, key: str) -> Fact | None:
    """The declaration of the fact `source.key`, None where no protocol records it."""
    return FACTS.get((source, key))
