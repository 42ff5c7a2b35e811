"""DNP3: each frame's link-layer addresses, and which end is the master.

The link-layer header carries the source and destination addresses, and its
direction bit tells whether the frame comes from the master or from an outstation.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq

DNP3_PORT = 20000
DNP3_START = b"\x05\x64"
FROM_MASTER = 0x80
BROADCASTS = range(0xFFFD, 0x10000)


def dissect(p: Packet) -> None:
    b = p.payload
    if len(b) < 10 or b[0:2] != DNP3_START or b[2] < 5:
        raise Malformed("not a DNP3 link-layer frame")
    control = b[3]
    dst, src = struct.unpack_from("<HH", b, 4)
    master = bool(control & FROM_MASTER)
    p.fact("dnp3", "address", str(src))
    p.fact("dnp3", "role", "master" if master else "outstation")
    if dst not in BROADCASTS:
        p.fact_dst("dnp3", "address", str(dst))
        p.fact_dst("dnp3", "role", "outstation" if master else "master")
    if not master and p.sport == DNP3_PORT:
        p.fact("dnp3", "service", ("udp" if p.proto == 17 else "tcp", DNP3_PORT, "dnp3"))


PROTOCOL = Protocol(
    "dnp3",
    dissect,
    udp=(DNP3_PORT,),
    tcp=(DNP3_PORT,),
    naming=Signature((Alternative(4, (eq(0, 2, 0x0564),)),)),  # the link layer's start bytes
    facts=(
        Fact("dnp3", "service", example='("tcp", 20000, "dnp3")', kind=tuple),
        Fact("dnp3", "address", ("sender", "receiver"), example='"1"'),
        Fact("dnp3", "role", ("sender", "receiver"), '"master" or "outstation"', reads=readers.dnp3_role),
    ),
)
