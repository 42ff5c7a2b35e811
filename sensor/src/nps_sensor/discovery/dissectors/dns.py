"""DNS answers: names for the addresses they carry (A, AAAA) or ask about (PTR).

Only answers about inventoried addresses are kept (`Facts.wanted`): a resolver names
Internet servers by the thousand, none of them an asset. A resolver answers the same
question all day, so a repeat is found by the packet core before any per-packet work
(sensor/csrc/select.c, `answered`; `question` here for the longer questions): the
resolver and the question, not the TTLs, which count down.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.dnsrecords import (
    AAAA,
    PTR,
    RESPONSES,
    A,
    address,
    is_response,
    name_at,
    ptr_address,
    records,
)
from nps_sensor.discovery.packet import Packet
from nps_sensor.discovery.protocol import Fact, Protocol

DNS_PORT = 53


def dissect(p: Packet) -> None:
    msg = p.payload
    if not is_response(msg):
        return
    assert p.out is not None
    wanted = p.out.wanted
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size) if rtype in (A, AAAA) else None
        if addr is not None and name:
            if wanted(addr):
                p.fact("dns", "name", name, ip=addr)
        elif rtype == PTR:
            owner = ptr_address(name)
            if owner is not None and wanted(owner):
                target, _ = name_at(msg, at)
                if target:
                    p.fact("dns", "name", target, ip=owner)


def question(data: bytes, l4: int, body: int) -> bytes:
    """What identifies an answer, with its resolver: its question."""
    end = data.find(b"\0", body + 12)
    return data[body + 12 : end + 5] if end > 0 else data[body + 2 :]


PROTOCOL = Protocol(
    "dns",
    dissect,
    udp=(DNS_PORT,),
    naming=RESPONSES,
    repeat=question,
    facts=(Fact("dns", "name", ("named",), '"printer.example.org"'),),
)
