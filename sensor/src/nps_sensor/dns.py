"""DNS responses: which names resolved to which addresses (A, AAAA, through CNAMEs).

`parse_response` reads one message; `answers` reads the responses the packet core
found for the engine's monitored domains (UDP from port 53, whole datagrams).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from nps_sensor.config import V4_MAPPED
from nps_sensor.packetcore import dns_name

A, CNAME, AAAA = 1, 5, 28
MAX_POINTERS = 32  # compression pointers followed in one name (the C reader's too)


class DNSError(ValueError):
    pass


@dataclass
class Answer:
    names: list[str] = field(default_factory=list)  # the question, then CNAME targets
    addresses: list[int] = field(default_factory=list)  # 128-bit, IPv4 mapped


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """A possibly compressed name at `pos`; returns it and the position after it.

    Read in C (sensor/csrc/dnsnames.c), the same checks and the same text: the labels
    joined by dots, decoded once as UTF-8 ("Lucas’s iPhone" in mDNS; other bytes stay as
    lone surrogates, which discovery's cleaning names, discovery.printable), then lower
    case. In Python a name was some 7,000 instructions (discovery's cost, issue 18)."""
    got = dns_name(msg, pos)
    if type(got) is str:
        raise DNSError(got)
    return got  # type: ignore[return-value]


def parse_response(msg: bytes) -> Answer:
    """Names and addresses of a response; DNSError for anything malformed."""
    if len(msg) < 12:
        raise DNSError("shorter than a DNS header")
    _, flags, qd, an = struct.unpack_from(">HHHH", msg, 0)
    if not flags & 0x8000:
        raise DNSError("not a response")
    out = Answer()
    pos = 12
    for _ in range(qd):
        name, pos = read_name(msg, pos)
        pos += 4
        out.names.append(name)
    for _ in range(an):
        _, pos = read_name(msg, pos)
        if pos + 10 > len(msg):
            raise DNSError("truncated resource record")
        rtype, _, _, rdlen = struct.unpack_from(">HHIH", msg, pos)
        pos += 10
        data = msg[pos : pos + rdlen]
        if len(data) != rdlen:
            raise DNSError("record data runs past the message")
        if rtype == A and rdlen == 4:
            out.addresses.append(V4_MAPPED | int.from_bytes(data, "big"))
        elif rtype == AAAA and rdlen == 16:
            out.addresses.append(int.from_bytes(data, "big"))
        elif rtype == CNAME:
            target, _ = read_name(msg, pos)
            out.names.append(target)
        pos += rdlen
    return out


@dataclass
class Answers:
    """What the DNS responses among some packets bound, and how many could not be read."""

    bindings: list[tuple[list[str], list[int]]] = field(default_factory=list)  # (names, addresses)
    malformed: int = 0


def answers(payloads: list[bytes]) -> Answers:
    """The responses among UDP payloads from port 53 (whole datagrams only: an answer cut
    into fragments cannot be parsed from its first piece). Responses without an address
    (NXDOMAIN, MX only) bind nothing."""
    out = Answers()
    for payload in payloads:
        try:
            ans = parse_response(payload)
        except DNSError:
            out.malformed += 1
            continue
        if ans.addresses:
            out.bindings.append((ans.names, ans.addresses))
    return out
