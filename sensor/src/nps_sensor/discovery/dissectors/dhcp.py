"""DHCPv4 (RFC 2131/2132): the client's MAC, names, vendor class and option 55.

Client messages speak for the client (chaddr), whatever its source address: a
DISCOVER comes from 0.0.0.0, and one a relay agent forwards (RFC 1542: giaddr set)
comes from the relay, whose address is not the client's. Server messages speak about
the client they address (yiaddr, chaddr) and, as a service, about the server that sent
them.
"""

from __future__ import annotations

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.facts import NO_IP
from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol
from nps_sensor.packetcore import dhcp_options

MAGIC = b"\x63\x82\x53\x63"
HOSTNAME, REQUESTED_IP, MSG_TYPE, PRL, VENDOR_CLASS, FQDN = 12, 50, 53, 55, 60, 81
ACK = 5


def options(raw: bytes, at: int) -> tuple[list[tuple[int, bytes]], bool]:
    """The options from `at` until END, and whether they end there: a cut or overlong
    option ends the list, keeping the options before it. Walked in C
    (sensor/csrc/dhcpopts.c): in Python the walk was a fifth of the dissector's work
    (discovery's cost, issue 18)."""
    return dhcp_options(raw, at)


def fqdn_name(value: bytes) -> str:
    """Option 81's name: ASCII, or DNS wire format when the E flag is set."""
    if len(value) < 3:
        raise Malformed("short client FQDN option")
    name = value[3:]
    if value[0] & 0x04:
        labels, at = [], 0
        while at < len(name) and name[at]:
            labels.append(text(name[at + 1 : at + 1 + name[at]], 63))
            at += 1 + name[at]
        return ".".join(labels)
    return text(name)


def dissect(p: Packet) -> None:
    b = p.payload
    if len(b) < 240 or b[236:240] != MAGIC:
        raise Malformed("not a DHCP message")
    op, htype, hlen = b[0], b[1], b[2]
    mac = int.from_bytes(b[28:34], "big") if htype == 1 and hlen == 6 else -1
    ciaddr = int.from_bytes(b[12:16], "big")
    yiaddr = int.from_bytes(b[16:20], "big")
    opts, whole = options(b, 240)
    kind = 0  # the message type: a loop, not next() over a generator (discovery's cost)
    for c, v in opts:
        if c == MSG_TYPE and v:
            kind = v[0]
            break
    if op == 1:
        relayed = b[24:28] != b"\0\0\0\0"  # giaddr: the source is the relay agent
        ip = V4_MAPPED | ciaddr if ciaddr else (p.src if p.src != V4_MAPPED and not relayed else NO_IP)
    else:
        ip = V4_MAPPED | yiaddr if yiaddr else (V4_MAPPED | ciaddr if ciaddr else NO_IP)
        p.fact("dhcp", "service", ("udp", 67, "dhcp"))
    if mac >= 0 and ip != NO_IP and (op == 1 or kind == ACK):
        p.fact("dhcp", "mac", _mac(mac), ip=ip, mac=mac)
    if op == 2 and kind == ACK and yiaddr:
        p.fact("dhcp", "assigned_ip", _ip(yiaddr), ip=ip, mac=mac)
    for code, value in opts:
        if code == HOSTNAME and value:
            p.fact("dhcp", "hostname", text(value.rstrip(b"\0")), ip=ip, mac=mac)
        elif code == FQDN and len(value) >= 3:
            name = fqdn_name(value)
            if name:
                p.fact("dhcp", "fqdn", name, ip=ip, mac=mac)
        elif op != 1:
            continue
        elif code == VENDOR_CLASS and value:
            p.fact("dhcp", "vendor_class", text(value), ip=ip, mac=mac)
        elif code == PRL and value:
            p.fact("dhcp", "prl", ",".join(map(str, value)), ip=ip, mac=mac)
        elif code == REQUESTED_IP and len(value) == 4:
            p.fact("dhcp", "requested_ip", _ip(int.from_bytes(value, "big")), ip=ip, mac=mac)
    if not whole:  # counted, after the facts of the options before the damage
        raise Malformed("DHCP option runs past the message, or no END option")


def _mac(mac: int) -> str:
    return mac.to_bytes(6, "big").hex(":")


def _ip(v4: int) -> str:
    b = v4.to_bytes(4, "big")  # one format, not a join over a generator (discovery's cost)
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


# Op, assigned address, client MAC and options: not the transaction ID or the seconds a
# client has waited, which change on every retransmission.
REPEAT = Payload(((0, 1), (16, 20), (28, 34), (236, None)))


PROTOCOL = Protocol(
    "dhcp",
    dissect,
    udp=(67, 68),
    repeat=REPEAT,
    facts=(
        Fact("dhcp", "service", example='("udp", 67, "dhcp")', kind=tuple),
        Fact("dhcp", "mac", ("named",), '"00:0c:29:aa:bb:cc"'),
        Fact("dhcp", "hostname", ("named",), '"Lucas-iPhone"'),
        Fact("dhcp", "fqdn", ("named",), '"lucas-laptop.example.org"'),
        Fact("dhcp", "vendor_class", ("named",), '"MSFT 5.0"', reads=readers.dhcp_vendor),
        Fact("dhcp", "prl", ("named",), '"1,3,6,15,31,33,43,44,46,47,119,121,249,252"', reads=readers.dhcp_prl),
        Fact("dhcp", "requested_ip", ("named",), '"10.0.0.23"'),
        Fact("dhcp", "assigned_ip", ("named",), '"10.0.0.23"'),
    ),
)
