"""DHCPv6 (RFC 8415): the client's DUID, name, vendor class and requested options.

A client's messages speak for the client: its link-local source address or, when a
relay forwards them, the relay's peer address. The DUID (link-layer, with or
without time) holds a MAC, which binds the client's address as ARP would (a DUID
is made once, so on a multi-homed host it may name another of its interfaces).
A server's replies speak about the client they address (its assigned addresses,
the name the server settled) and, as a service, about the server.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.addresses import ip_text, mac_text, usable
from nps_sensor.discovery.facts import NO_MAC
from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol

CLIENT_MESSAGES = frozenset((1, 3, 4, 5, 6, 8, 9, 11))  # SOLICIT .. INFORMATION-REQUEST
SERVER_MESSAGES = frozenset((2, 7, 10))  # ADVERTISE, REPLY, RECONFIGURE
REPLY = 7
RELAY_FORW, RELAY_REPL = 12, 13
CLIENT_ID, IA_NA, IA_TA, IAADDR, ORO, VENDOR_CLASS, RELAY_MSG, FQDN = 1, 3, 4, 5, 6, 16, 9, 39
CLIENT_LINKLAYER, MUD_URL = 79, 112
ETHERNET = 1
MAX_RELAYS = 8


def options(msg: bytes, at: int, cut: bool = False) -> list[tuple[int, bytes]]:
    """(code, value) from `at`; an option running past the message ends the list there
    (included, cut, if `cut`: a relayed message cut short still has options to read)."""
    out = []
    n = len(msg)
    while at + 4 <= n:
        code = int.from_bytes(msg[at : at + 2], "big")
        size = int.from_bytes(msg[at + 2 : at + 4], "big")
        if at + 4 + size > n:
            if cut:
                out.append((code, msg[at + 4 :]))
            break
        out.append((code, msg[at + 4 : at + 4 + size]))
        at += 4 + size
    return out


def duid_mac(duid: bytes) -> int:
    """The Ethernet address in a DUID-LLT (type 1) or DUID-LL (type 3); -1 if none."""
    if len(duid) == 14 and duid[0:4] == b"\x00\x01\x00\x01":
        return int.from_bytes(duid[8:14], "big")
    if len(duid) == 10 and duid[0:4] == b"\x00\x03\x00\x01":
        return int.from_bytes(duid[4:10], "big")
    return -1


def domain_name(raw: bytes) -> str:
    """A DNS wire-format name, possibly partial (no root label)."""
    labels, at = [], 0
    while at < len(raw) and raw[at]:
        size = raw[at]
        label = raw[at + 1 : at + 1 + size]
        if len(label) != size or size > 63:
            raise Malformed("FQDN label runs past the option")
        labels.append(text(label, 63))
        at += 1 + size
    return ".".join(labels)


def dissect(p: Packet) -> None:
    msg = p.payload
    client, mac = (p.src, p.smac) if p.sport != 547 else (p.dst, p.dmac)
    relayed = False
    for _ in range(MAX_RELAYS):
        if not msg:
            raise Malformed("empty DHCPv6 message")
        kind = msg[0]
        if kind not in (RELAY_FORW, RELAY_REPL):
            break
        if len(msg) < 34:
            raise Malformed("short relay message")
        client, mac, relayed = int.from_bytes(msg[18:34], "big"), NO_MAC, True
        inner = b""
        for code, value in options(msg, 34, cut=True):
            if code == RELAY_MSG:
                inner = value
            elif code == CLIENT_LINKLAYER and len(value) == 8 and value[0:2] == b"\x00\x01":
                mac = int.from_bytes(value[2:8], "big")
                if usable(client):
                    p.fact("dhcpv6", "mac", mac_text(value[2:8]), ip=client, mac=mac)
        msg = inner
    else:
        raise Malformed("relay messages nested too deep")
    if kind in SERVER_MESSAGES:
        p.fact("dhcpv6", "service", ("udp", 547, "dhcpv6"))
    elif kind not in CLIENT_MESSAGES:
        return
    if not usable(client):
        return
    about = {"ip": client, "mac": mac if mac != NO_MAC else None}
    from_client = kind in CLIENT_MESSAGES
    bad: Malformed | None = None  # raised after the options that follow it
    for code, value in options(msg, 4):
        if code == CLIENT_ID and value:
            p.fact("dhcpv6", "duid", value.hex(), **about)
            ll = duid_mac(value)
            if ll >= 0 and (relayed or mac in (NO_MAC, ll)):
                p.fact("dhcpv6", "mac", mac_text(ll.to_bytes(6, "big")), ip=client, mac=ll)
        elif code == FQDN and len(value) >= 2:
            try:
                name = domain_name(value[1:]).rstrip(".")
            except Malformed as e:
                bad, name = e, ""
            if name:
                p.fact("dhcpv6", "fqdn", name, **about)
                p.fact("dhcpv6", "hostname", name, **about)
        elif code in (IA_NA, IA_TA) and kind == REPLY:
            for sub, addr in options(value, 12 if code == IA_NA else 4):
                if sub == IAADDR and len(addr) >= 16:
                    p.fact("dhcpv6", "assigned_ip", ip_text(int.from_bytes(addr[0:16], "big")), **about)
        elif not from_client:
            continue
        elif code == VENDOR_CLASS and len(value) >= 6:
            p.fact("dhcpv6", "vendor_class", _vendor_class(value), **about)
        elif code == ORO:
            codes = [str(int.from_bytes(value[k : k + 2], "big")) for k in range(0, len(value) - 1, 2)]
            p.fact("dhcpv6", "oro", ",".join(codes), **about)
        elif code == MUD_URL and value:
            p.fact("dhcpv6", "mud_url", text(value, 512), **about)
    if bad is not None:
        raise bad


def _vendor_class(value: bytes) -> str:
    """`ENTERPRISE:data data`: the enterprise number and every class string."""
    parts, at = [], 4
    while at + 2 <= len(value):
        size = int.from_bytes(value[at : at + 2], "big")
        parts.append(text(value[at + 2 : at + 2 + size]))
        at += 2 + size
    return f"{int.from_bytes(value[0:4], 'big')}:{' '.join(x for x in parts if x)}"


PROTOCOL = Protocol(
    "dhcpv6",
    dissect,
    udp=(546, 547),
    facts=(
        Fact("dhcpv6", "service", example='("udp", 547, "dhcpv6")', kind=tuple),
        Fact("dhcpv6", "mac", ("named",), '"00:0c:29:aa:bb:cc"'),
        Fact("dhcpv6", "duid", ("named",), '"000100012a...": hex'),
        Fact("dhcpv6", "fqdn", ("named",), '"lucas-laptop.example.org"'),
        Fact("dhcpv6", "hostname", ("named",), '"lucas-laptop"'),
        Fact("dhcpv6", "assigned_ip", ("named",), '"2001:db8::23"'),
        Fact("dhcpv6", "vendor_class", ("named",), '"311:MSFT 5.0"', reads=readers.dhcpv6_vendor),
        Fact("dhcpv6", "oro", ("named",), '"17,23,24,39"'),
        Fact("dhcpv6", "mud_url", ("named",), '"https://example.com/mud/model"'),
    ),
)
