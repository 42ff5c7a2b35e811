"""NetBIOS: the name service (UDP 137) and the datagram service (UDP 138).

NBNS registrations, positive answers and node-status answers give a Windows (or
Samba) host's NetBIOS names with their suffix types, its workgroup and, in node
status, its MAC. Browser announcements on the datagram service give the host name,
the OS version it runs and the roles it serves.
"""

from __future__ import annotations

import struct

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.packet import Malformed, Packet, text

NB, NBSTAT = 0x20, 0x21
GROUP = 0x8000  # NB flags: a group name (workgroup, domain), not a host's own
# Suffixes of a host's own name: workstation (0x00) and file server (0x20).
HOST_SUFFIXES = (0x00, 0x20)
WORKGROUP_SUFFIXES = (0x00, 0x1E)
DOMAIN_CONTROLLER = 0x1C
BROWSE = b"\\MAILSLOT\\BROWSE\x00"
HOST_ANNOUNCEMENT, LOCAL_MASTER_ANNOUNCEMENT, DOMAIN_ANNOUNCEMENT = 1, 15, 12
# Server type bits of a browser announcement worth telling.
SERVER_TYPES = {
    0x00000008: "domain controller",
    0x00000010: "backup domain controller",
    0x00000400: "print server",
    0x00001000: "unix",
    0x00008000: "sql server",
    0x00200000: "dfs",
    0x00400000: "windows 95+",
    0x00800000: "vms",
}


def decode_name(encoded: bytes) -> tuple[str, int]:
    """First-level decoding (RFC 1001 14.1): 32 letters to 16 bytes; (name, suffix)."""
    if len(encoded) != 32:
        raise Malformed("NetBIOS name is not 32 characters")
    raw = bytes(((encoded[i] - 0x41) << 4 | (encoded[i + 1] - 0x41)) & 0xFF for i in range(0, 32, 2))
    return text(raw[:15].rstrip(b" \0")), raw[15]


def _name(msg: bytes, at: int) -> tuple[str, int, int]:
    """A (possibly compressed) encoded name: (name, suffix, position after it)."""
    if at >= len(msg):
        raise Malformed("name runs past the message")
    if msg[at] & 0xC0 == 0xC0:
        target = ((msg[at] & 0x3F) << 8) | msg[at + 1]
        if target >= at:
            raise Malformed("forward compression pointer")
        name, suffix, _ = _name(msg, target)
        return name, suffix, at + 2
    if msg[at] != 32:
        raise Malformed("NetBIOS name label is not 32 bytes")
    name, suffix = decode_name(msg[at + 1 : at + 33])
    at += 33
    while at < len(msg) and msg[at]:  # scope labels
        at += 1 + msg[at]
    return name, suffix, at + 1


def dissect_ns(p: Packet) -> None:
    msg = p.payload
    if len(msg) < 12:
        raise Malformed("shorter than an NBNS header")
    flags, qd, an, ns, ar = struct.unpack_from(">HHHHH", msg, 2)
    response, rcode = bool(flags & 0x8000), flags & 0xF
    if response and rcode:
        return
    at = 12
    for _ in range(qd):
        _, _, at = _name(msg, at)
        at += 4
    for _ in range(an + ns + ar):
        name, suffix, at = _name(msg, at)
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


def dissect_dgm(p: Packet) -> None:
    msg = p.payload
    if len(msg) < 14 or msg[0] not in (0x10, 0x11, 0x12):  # direct unique/group, broadcast
        return
    src = V4_MAPPED | int.from_bytes(msg[4:8], "big")
    name, suffix, at = _name(msg, 14)
    mac = p.smac if src == p.src else None
    if suffix in HOST_SUFFIXES and name:
        p.fact("netbios", "hostname", name, ip=src, mac=mac)
    slot = msg.find(BROWSE, at)
    if slot < 0:
        return
    body = msg[slot + len(BROWSE) :]
    if not body or body[0] not in (HOST_ANNOUNCEMENT, LOCAL_MASTER_ANNOUNCEMENT, DOMAIN_ANNOUNCEMENT):
        return
    if len(body) < 32:
        raise Malformed("short browser announcement")
    server = text(body[6:22].split(b"\0")[0])
    major, minor = body[22], body[23]
    kinds = int.from_bytes(body[24:28], "little")
    comment = text(body[32:].split(b"\0")[0])
    if body[0] == DOMAIN_ANNOUNCEMENT:
        p.fact("netbios", "workgroup", server, ip=src, mac=mac)
        return
    if server:
        p.fact("netbios", "hostname", server, ip=src, mac=mac)
    p.fact("netbios", "os_version", f"{major}.{minor}", ip=src, mac=mac)
    for bit, label in SERVER_TYPES.items():
        if kinds & bit:
            p.fact("netbios", "role", label, ip=src, mac=mac)
    if comment:
        p.fact("netbios", "comment", comment, ip=src, mac=mac)
