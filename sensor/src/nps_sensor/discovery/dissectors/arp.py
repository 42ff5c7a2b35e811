"""ARP (RFC 826): an IPv4 address bound to a MAC by the device itself.

A request's sender fields are the requester's own address and MAC, and so are a
gratuitous reply's (sender and target address the same: a device announcing its own
address, as VRRP and HSRP routers do for their virtual one). Other replies are left
out: a router answering by proxy ARP (RFC 1027) gives addresses beyond it its own
MAC, which would bind the devices behind it to the router. So are probes (sender
0.0.0.0, RFC 5227) and messages whose sender MAC is not the frame's source.

The binding is what lets the report join a router's own IPv4 address to the router
it knows by its MAC (`report/identity.py`, `Identity.own`): without it, a gateway
that only ARP ties to its MAC was listed twice. A host asks for many addresses, but
its binding is one: the repeat is the operation and sender fields, read once a
window (the core drops the rest before any Python runs).
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.addresses import ip_key, mac_text, usable
from nps_sensor.discovery.packet import Malformed, Packet
from nps_sensor.discovery.protocol import Fact, Payload, Protocol

ETHERTYPE = 0x0806
ETHERNET_IPV4 = b"\x00\x01\x08\x00\x06\x04"  # hardware 1, protocol IPv4, sizes 6 and 4
REQUEST, REPLY = 1, 2
SIZE = 28


def dissect(p: Packet) -> None:
    b, at = p.data, p.body
    if at + SIZE > len(b):
        raise Malformed("short ARP message")
    if b[at : at + 6] != ETHERNET_IPV4:
        return
    op = int.from_bytes(b[at + 6 : at + 8], "big")
    sender_mac = b[at + 8 : at + 14]
    sender = ip_key(b[at + 14 : at + 18])
    gratuitous = b[at + 14 : at + 18] == b[at + 24 : at + 28]
    if (op == REQUEST or (op == REPLY and gratuitous)) and usable(sender):
        mac = int.from_bytes(sender_mac, "big")
        if mac == p.smac:
            p.fact("arp", "mac", mac_text(sender_mac), ip=sender, mac=mac)


PROTOCOL = Protocol(
    "arp",
    dissect,
    ethertype=ETHERTYPE,
    repeat=Payload(((6, 18),)),  # operation, sender MAC and address
    facts=(Fact("arp", "mac", ("sender", "named"), '"00:0c:29:aa:bb:cc"'),),
)
