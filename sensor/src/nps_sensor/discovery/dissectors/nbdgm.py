"""NetBIOS datagram service (UDP 138): browser announcements.

A host's announcements give its name, the OS version it runs (Windows NT's
major.minor) and the roles it serves; a domain announcement names a workgroup.
"""

from __future__ import annotations

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.dissectors.netbios import HOST_SUFFIXES, encoded_name
from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol, one

NBDGM_PORT = 138
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


def dissect(p: Packet) -> None:
    msg = p.payload
    if len(msg) < 14 or msg[0] not in (0x10, 0x11, 0x12):  # direct unique/group, broadcast
        return
    src = V4_MAPPED | int.from_bytes(msg[4:8], "big")
    name, suffix, at = encoded_name(msg, 14)
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


PROTOCOL = Protocol(
    "netbios-dgm",
    dissect,
    udp=(NBDGM_PORT,),
    repeat=Payload(((4, None),)),  # all but type, flags and datagram ID
    facts=(
        Fact("netbios", "hostname", ("sender", "named"), '"DESKTOP-4U2F7"'),
        Fact("netbios", "workgroup", ("sender", "named"), '"WORKGROUP"'),
        Fact("netbios", "os_version", ("sender", "named"), '"10.0"', reads=one(rules.netbios_version)),
        Fact("netbios", "role", ("sender", "named"), '"domain controller"', reads=one(readers.netbios_role)),
        Fact("netbios", "comment", ("sender", "named")),
    ),
)
