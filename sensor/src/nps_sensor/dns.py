"""DNS responses: which names resolved to which addresses (A, AAAA, through CNAMEs).

`parse_response` reads one message; `answers` finds and reads the responses among a
decoded batch's packets, for the engine's monitored domains.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nps_sensor.config import V4_MAPPED

if TYPE_CHECKING:
    from nps_sensor.decode.frames import Decoded, Sel

A, CNAME, AAAA = 1, 5, 28
PORT = 53
UDP = 17
UDP_HEADER = 8
MAX_POINTERS = 32


class DNSError(ValueError):
    pass


@dataclass
class Answer:
    names: list[str] = field(default_factory=list)  # the question, then CNAME targets
    addresses: list[int] = field(default_factory=list)  # 128-bit, IPv4 mapped


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """A possibly compressed name at `pos`; returns it and the position after it."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    size = 0
    limit = len(msg)
    while True:
        if pos >= limit:
            raise DNSError("name runs past the message")
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n >= 0xC0:
            if pos + 1 >= limit:
                raise DNSError("truncated compression pointer")
            jumps += 1
            if jumps > MAX_POINTERS:
                raise DNSError("compression pointer loop")
            if end < 0:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        if n & 0xC0:
            raise DNSError("unknown label type")
        if pos + 1 + n > limit:
            raise DNSError("label runs past the message")
        labels.append(msg[pos + 1 : pos + 1 + n])
        pos += 1 + n
        size += n + 1
        if size > 255:
            raise DNSError("name longer than 255 bytes")
    # One decode per name, not per label: names are most of what a DNS parser does.
    # mDNS names are UTF-8 ("Lucas’s iPhone"); other bytes stay as lone surrogates,
    # which discovery's cleaning names (discovery.printable).
    return b".".join(labels).decode("utf-8", "surrogateescape").lower(), end if end >= 0 else pos


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


def answers(d: Decoded, ip: Sel) -> Answers:
    """The responses from UDP port 53 among the IP packets `ip` of a decoded batch.

    Whole datagrams only: an answer cut into fragments cannot be parsed from its
    first piece. Responses without an address (NXDOMAIN, MX only) bind nothing.
    """
    response = (d.sport[ip] == PORT) & (d.proto[ip] == UDP) & d.has_ports[ip] & (d.frag[ip] == 0)
    sel = np.arange(d.n)[ip][response]
    raw = d.buf.raw
    out = Answers()
    for start, end in zip((d.l4[sel] + UDP_HEADER).tolist(), d.end[sel].tolist(), strict=True):
        try:
            ans = parse_response(bytes(raw[start:end]))
        except DNSError:
            out.malformed += 1
            continue
        if ans.addresses:
            out.bindings.append((ans.names, ans.addresses))
    return out
