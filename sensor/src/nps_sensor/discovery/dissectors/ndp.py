"""IPv6 neighbour discovery (RFC 4861): IP-to-MAC bindings and routers.

Router and neighbour solicitations and advertisements carry the sender's link-layer
address (option 1); a neighbour advertisement carries its target's (option 2).
Either binds an IPv6 address to a MAC, as ARP does for IPv4. A router advertisement,
or a neighbour advertisement with the router flag, says the sender is a router; an
advertisement's prefixes say which networks it serves. A solicitation from `::`
(duplicate address detection) names the address the sender is about to take.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.addresses import ip_text, mac_text
from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet
from nps_sensor.discovery.protocol import Fact, Protocol

RS, RA, NS, NA = 133, 134, 135, 136
OPTIONS_AT = {RS: 8, RA: 16, NS: 24, NA: 24}
SOURCE_LL, TARGET_LL, PREFIX = 1, 2, 3
ROUTER_FLAG = 0x80


def dissect(p: Packet) -> None:
    b = p.data
    at = p.l4
    if at + 8 > len(b):
        raise Malformed("short neighbour discovery message")
    kind = b[at]
    start = OPTIONS_AT.get(kind)
    if start is None:
        return
    target = int.from_bytes(b[at + 8 : at + 24], "big") if kind in (NS, NA) and at + 24 <= len(b) else -1
    src = p.src
    if kind == RA or (kind == NA and b[at + 4] & ROUTER_FLAG):
        p.fact("ndp", "role", "router")
    if kind == NS and src == 0 and target > 0:  # duplicate address detection
        p.fact("ndp", "mac", mac_text(p.smac.to_bytes(6, "big")), ip=target, mac=p.smac)
    at += start
    while at + 2 <= len(b):
        code, size = b[at], b[at + 1] * 8
        if size == 0:
            raise Malformed("neighbour discovery option of length 0")
        value = b[at + 2 : at + size]
        at += size
        if len(value) != size - 2:
            raise Malformed("neighbour discovery option runs past the packet")
        if code == SOURCE_LL and size == 8 and src != 0:
            p.fact("ndp", "mac", mac_text(value), ip=src, mac=int.from_bytes(value, "big"))
        elif code == TARGET_LL and size == 8 and kind == NA and target > 0:
            p.fact("ndp", "mac", mac_text(value), ip=target, mac=int.from_bytes(value, "big"))
        elif code == PREFIX and size == 32 and kind == RA:
            length = value[0]
            prefix = int.from_bytes(value[14:30], "big")
            if length <= 128:
                p.fact("ndp", "prefix", f"{ip_text(prefix)}/{length}")


PROTOCOL = Protocol(
    "ndp",
    dissect,
    icmpv6=(RS, RA, NS, NA),
    facts=(
        Fact("ndp", "role", example='"router"', reads=readers.ROUTER),
        Fact("ndp", "mac", ("sender", "named"), '"00:0c:29:aa:bb:cc"'),
        Fact("ndp", "prefix", example='"2001:db8::/64"'),
    ),
)
