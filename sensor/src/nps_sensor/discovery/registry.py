"""The protocols the dissectors declare, and the packet core's selection built from them.

Every module of `discovery.dissectors` that ends with a `PROTOCOL` joins, in the
order of the modules' names; its place in `PROTOCOLS` is its id, the number the
packet core writes beside each packet it picks (0: none). `selection` turns the
declarations into the tables the core reads (sensor/csrc/select.c): ports to ids,
the signatures of the messages worth reading, the first payload bytes of TCP
protocols on any port. This is the one place those tables are made. Two protocols
that claim the same port, first bytes or fact are an error at import, naming both:
the core never guesses between them.

Some recognition the core does by constants of its own: ICMPv6 neighbour discovery
(types 133 to 136), LLDP's EtherType, CDP's SNAP header, TCP handshakes, a TLS
ClientHello cut by its segment, a resolver's repeated answer, an HTTP message repeated
(`http.repeat`). A UDP protocol whose repeat is a `Payload` has it found by the core
too, so the repeat is never handed to Python. The protocols that
declare those are checked against the constants here, so a declaration the core would
not honour fails at import rather than silently.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from nps_sensor.discovery import dissectors
from nps_sensor.discovery.protocol import Fact, Payload, Protocol, Repeat
from nps_sensor.discovery.signature import Alternative, Signature, Test, eq

NONE = Protocol("none", lambda p: None)  # id 0: a packet no protocol picked
MAX_PROTOCOLS = 63  # the core's MAX_DISSECTORS (sensor/csrc/select.h), id 0 aside
MAX_MAGIC = 8  # protocols recognised by their first bytes (the core's MAX_MAGIC)
# What the core recognises by constants of its own (sensor/csrc/select.c), by the
# name it knows the protocol's id under.
BUILT_IN = {"ndp": ("icmpv6", (133, 134, 135, 136)), "lldp": ("ethertype", 0x88CC), "cdp": ("snap", 0xAAAA0300000C2000)}
BY_NAME = ("tls", "dns", "http")  # the core's cut ClientHellos, repeated answers and requests


@dataclass(frozen=True)
class Tables:
    protocols: tuple[Protocol, ...]  # by id
    id: dict[str, int]
    udp: bytes  # port -> id
    tcp: bytes
    magic: tuple[tuple[int, Signature], ...]  # (id, the first bytes it is known by)
    ids: dict[str, int]  # the ids the core treats apart
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
    """The tables of `protocols`; ValueError where two of them claim the same thing, or
    where one declares what the core cannot do."""
    by_id = (NONE, *protocols)
    if len(by_id) > MAX_PROTOCOLS + 1:
        raise ValueError(f"{len(by_id) - 1} protocols: at most {MAX_PROTOCOLS}")
    ids: dict[str, int] = {}
    for i, p in enumerate(by_id):
        _claim(ids, p.name, i, "protocol name", by_id)
    owners: dict[object, int] = {}
    facts: dict[tuple[str, str], Fact] = {}
    for p in by_id:
        for f in p.facts:
            if (f.source, f.key) in facts:
                raise ValueError(f"fact {f.source}.{f.key}: declared twice (the second time by {p.name})")
            facts[(f.source, f.key)] = f
    return Tables(
        protocols=by_id,
        id=ids,
        udp=_ports(by_id, "udp", owners),
        tcp=_ports(by_id, "tcp", owners),
        magic=_magic(by_id, owners),
        ids=_special(by_id, ids),
        repeats=tuple(p.repeat for p in by_id),
        facts=facts,
    )


def _claim(owners: dict[Any, int], what: object, i: int, label: str, by_id: tuple[Protocol, ...]) -> None:
    have = owners.setdefault(what, i)
    if have != i:
        raise ValueError(f"{label}: both {by_id[have].name} and {by_id[i].name} claim it")


def _ports(by_id: tuple[Protocol, ...], transport: str, owners: dict[object, int]) -> bytes:
    table = bytearray(65536)
    for i, p in enumerate(by_id):
        for port in getattr(p, transport):
            _claim(owners, (transport, port), i, f"{transport.upper()} port {port}", by_id)
            table[port] = i
    return bytes(table)


def first_bytes(magic: bytes) -> Alternative:
    """A payload that starts with `magic` (1 to 4 bytes), in the tests the core makes:
    fields of 1, 2 or 4 bytes. The core looks at TCP payloads of 4 bytes or more."""
    if not 1 <= len(magic) <= 4:
        raise ValueError(f"magic {magic!r} is not 1 to 4 bytes")
    tests: list[Test] = []
    at = 0
    for width in (4, 2, 1):
        if len(magic) - at >= width:
            tests.append(eq(at, width, int.from_bytes(magic[at : at + width], "big")))
            at += width
    return Alternative(4, tuple(tests))


def _magic(by_id: tuple[Protocol, ...], owners: dict[object, int]) -> tuple[tuple[int, Signature], ...]:
    """Each protocol's first bytes as one signature. The core takes the first that holds,
    so first bytes that start another protocol's would hide them: an error too."""
    seen: dict[bytes, int] = {}
    found = []
    for i, p in enumerate(by_id):
        for m in p.magic:
            _claim(owners, ("magic", m), i, f"first bytes {m!r}", by_id)
            for other, j in seen.items():
                if j != i and (m.startswith(other) or other.startswith(m)):
                    raise ValueError(f"first bytes {m!r} of {p.name} and {other!r} of {by_id[j].name} overlap")
            seen[m] = i
        if p.magic:
            found.append((i, Signature(tuple(first_bytes(m) for m in p.magic))))
    if len(found) > MAX_MAGIC:
        raise ValueError(f"{len(found)} protocols by their first bytes: the core takes {MAX_MAGIC}")
    return tuple(found)


def _special(by_id: tuple[Protocol, ...], ids: dict[str, int]) -> dict[str, int]:
    """The ids the core needs by role, each declared by one protocol as the core does it."""
    out = {name: ids.get(name, 0) for name in BY_NAME}
    handshakes = [i for i, p in enumerate(by_id) if p.handshakes]
    if len(handshakes) > 1:
        raise ValueError(f"TCP handshakes: both {by_id[handshakes[0]].name} and {by_id[handshakes[1]].name}")
    out["tcp-fingerprint"] = handshakes[0] if handshakes else 0
    for role, (field, value) in BUILT_IN.items():
        out[role] = 0
        for i, p in enumerate(by_id):
            declared = getattr(p, field)
            if declared and declared != value:
                raise ValueError(f"protocol {p.name}: {field} {declared!r}, but the packet core knows {value!r}")
            if declared:
                if out[role]:
                    raise ValueError(f"{field}: both {by_id[out[role]].name} and {p.name} claim it")
                out[role] = i
    return out


def selection(t: Tables) -> dict[str, Any]:
    """The tables as the packet core reads them (sensor/csrc/results.c, parse_selection)."""
    naming = {i: p.naming for i, p in enumerate(t.protocols) if p.naming is not None}
    return {
        "udp_ports": t.udp,
        "tcp_ports": t.tcp,
        "udp_sigs": {i: s.spec() for i, s in naming.items() if t.protocols[i].udp},
        "tcp_sigs": {i: s.spec() for i, s in naming.items() if t.protocols[i].tcp},
        "magic": [(i, s.spec()) for i, s in t.magic],
        "ids": t.ids,
        "repeats": {i: r.spec() for i, r in enumerate(t.repeats) if isinstance(r, Payload) and t.protocols[i].udp},
    }


TABLES = build(declared())
PROTOCOLS = TABLES.protocols
ID = TABLES.id
FACTS = TABLES.facts


@cache
def core_selection() -> dict[str, Any]:
    """The declared protocols' selection, as the packet core reads it."""
    return selection(TABLES)


@cache
def sampled() -> frozenset[tuple[str, str]]:
    """The facts the packet core samples: a sender's first TCP SYN and SYN+ACK of a
    window (the protocol declaring `handshakes`), each one per sender per window and
    per capture worker. Merging workers' harvests keeps the earliest (`Facts.merge`),
    so that the report does not depend on how many workers saw the sender."""
    return frozenset((f.source, f.key) for p in PROTOCOLS if p.handshakes for f in p.facts)


def fact(source: str, key: str) -> Fact | None:
    """The declaration of the fact `source.key`, None where no protocol records it."""
    return FACTS.get((source, key))
