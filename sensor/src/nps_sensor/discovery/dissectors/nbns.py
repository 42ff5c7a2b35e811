"""NetBIOS name service (UDP 137): a Windows or Samba host's names, workgroup and MAC.

Registrations, positive answers and node-status answers give the host's NetBIOS
names with their suffix types, its workgroup and, in node status, its MAC.
"""

from __future__ import annotations

import struct

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.dissectors.netbios import HOST_SUFFIXES, encoded_name
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol

NBNS_PORT = 137
NB, NBSTAT = 0x20, 0x21
GROUP = 0x8000  # NB flags: a group name (workgroup, domain), not a host's own
WORKGROUP_SUFFIXES = (0x00, 0x1E)
DOMAIN_CONTROLLER = 0x1C


def dissect(p: Packet) -> None:
    msg = p.payload
    if len(msg) < 12:
        raise Malformed("shorter than an NBNS header")
    flags, qd, an, ns, ar = struct.unpack_from(">HHHHH", msg, 2)
    response, rcode = bool(flags & 0x8000), flags & 0xF
    if response and rcode:
        return
    at = 12
    for _ in range(qd):
        _, _, at = encoded_name(msg, at)
        at += 4
    for _ in range(an + ns + ar):
        name, suffix, at = encoded_name(msg, at)
        if at + 10 > len(msg):
            raise Malformed("truncated resource record")
        rtype, _, _, size = struct.unpack_from(">HHIH", msg, at)
        at += 10
        rdata = msg[at : at + size]  # read as far as it goes: a cut name table keeps its first names
        at += size
        if rtype == NB:
            for k in range(0, len(rdata) - 5, 6):
                nb_flags, addr = struct.unpack_from(">HI", rdata, k)
                if addr:
                    _named(p, name, suffix, bool(nb_flags & GROUP), V4_MAPPED | addr)
        elif rtype == NBSTAT and response and rdata:
            _node_status(p, rdata)
        if len(rdata) != size:
            raise Malformed("record data runs past the message")


def _named(p: Packet, name: str, suffix: int, group: bool, ip: int) -> None:
    if not name or name == "*":
        return
    mac = p.smac if ip == p.src else None
    if group:
        if suffix in WORKGROUP_SUFFIXES:
            p.fact("nbns", "workgroup", name, ip=ip, mac=mac)
        elif suffix == DOMAIN_CONTROLLER:
            p.fact("nbns", "domain_controller_for", name, ip=ip, mac=mac)
    elif suffix in HOST_SUFFIXES:
        p.fact("nbns", "hostname", name, ip=ip, mac=mac)


def _node_status(p: Packet, rdata: bytes) -> None:
    count = rdata[0]
    at = 1
    for _ in range(count):
        entry = rdata[at : at + 18]
        if len(entry) < 18:
            raise Malformed("node status name table runs past the record")
        name = text(entry[:15].rstrip(b" \0"))
        flags = int.from_bytes(entry[16:18], "big")
        _named(p, name, entry[15], bool(flags & GROUP), p.src)
        at += 18
    unit = rdata[at : at + 6]
    if len(unit) == 6 and any(unit):
        p.fact("nbns", "mac", ":".join(f"{b:02x}" for b in unit))


PROTOCOL = Protocol(
    "nbns",
    dissect,
    udp=(NBNS_PORT,),
    repeat=Payload(((2, None),)),  # all but the transaction ID
    facts=(
        Fact("nbns", "hostname", ("sender", "named"), '"DESKTOP-4U2F7"'),
        Fact("nbns", "workgroup", ("sender", "named"), '"WORKGROUP"'),
        Fact("nbns", "domain_controller_for", ("sender", "named"), '"CONTOSO"'),
        Fact("nbns", "mac", example='"00:0c:29:aa:bb:cc"'),
    ),
)
