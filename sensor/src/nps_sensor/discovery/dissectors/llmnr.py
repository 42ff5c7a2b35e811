"""LLMNR (RFC 4795): a Windows host answering for its own name on the link.

LLMNR uses the DNS message format; an answer names the addresses it carries, most
often its sender's own.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.dnsrecords import RESPONSES, address, is_response, records
from nps_sensor.discovery.packet import Packet
from nps_sensor.discovery.protocol import Fact, Payload, Protocol

LLMNR_PORT = 5355


def dissect(p: Packet) -> None:
    msg = p.payload
    if not is_response(msg):
        return
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size)
        if addr is not None and name:
            p.fact("llmnr", "hostname", name, ip=addr, mac=p.smac if addr == p.src else None)


PROTOCOL = Protocol(
    "llmnr",
    dissect,
    udp=(LLMNR_PORT,),
    naming=RESPONSES,
    repeat=Payload(((2, None),)),  # all but the message ID
    facts=(Fact("llmnr", "hostname", ("named",), '"DESKTOP-4U2F7"'),),
)
