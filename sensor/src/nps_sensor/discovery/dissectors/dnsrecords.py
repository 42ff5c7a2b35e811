"""The DNS message format that DNS, mDNS and LLMNR share: resource records, addresses in
them, reverse-lookup names. Malformed messages raise `Malformed`, as dissectors do."""

from __future__ import annotations

from collections.abc import Iterator

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.packet import Malformed
from nps_sensor.discovery.signature import Alternative, Signature, eq
from nps_sensor.dns import DNSError, read_name
from nps_sensor.packetcore import dns_records

A, PTR, HINFO, TXT, AAAA, SRV = 1, 12, 13, 16, 28, 33
# Queries teach nothing that answers do not: only responses (the QR bit) are read.
RESPONSES = Signature((Alternative(3, (eq(2, 1, 0x80, mask=0x80),)),))  # the QR bit


def records(msg: bytes) -> Iterator[tuple[str, int, int, int]]:
    """(owner name, type, rdata offset, rdata length) of every answer, authority and
    additional record, in order; stops at the first malformed one.

    The walk is made in C (sensor/csrc/dnsnames.c, as `read_name`), every owner name
    read there; the records before a malformed one still come out first, then
    Malformed, as from the walk in Python it replaces (discovery's cost, issue 18)."""
    found, damage = dns_records(msg)
    yield from found
    if damage is not None:
        raise Malformed(damage)


def address(msg: bytes, rtype: int, at: int, size: int) -> int | None:
    if rtype == A and size == 4:
        return V4_MAPPED | int.from_bytes(msg[at : at + 4], "big")
    if rtype == AAAA and size == 16:
        return int.from_bytes(msg[at : at + 16], "big")
    return None


def ptr_address(name: str) -> int | None:
    """The address a reverse-lookup name stands for (in-addr.arpa, ip6.arpa)."""
    if name.endswith(".in-addr.arpa"):
        parts = name[: -len(".in-addr.arpa")].split(".")
        if len(parts) == 4 and all(x.isdigit() and int(x) < 256 for x in parts):
            return V4_MAPPED | int.from_bytes(bytes(int(x) for x in reversed(parts)), "big")
    elif name.endswith(".ip6.arpa"):
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(x) == 1 and x in "0123456789abcdef" for x in nibbles):
            return int("".join(reversed(nibbles)), 16)
    return None


def is_response(msg: bytes) -> bool:
    return len(msg) >= 12 and bool(msg[2] & 0x80)


def name_at(msg: bytes, at: int) -> tuple[str, int]:
    try:
        return read_name(msg, at)
    except DNSError as e:
        raise Malformed(str(e)) from None
