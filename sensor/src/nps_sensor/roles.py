"""Who is the client of a flow: the evidence a packet carries, strongest first.

A flow is oriented by its first packet (and re-oriented once by a TCP handshake seen
later, see nps_sensor.flows). The first rule that applies decides:

1. TCP handshake: a SYN's sender is the client, a SYN-ACK's receiver;
2. ICMP: an echo/timestamp/information request's sender is the client, a reply's
   receiver;
3. a well-known client/server port pair (`PAIRS`): DHCP 68 -> 67, DHCPv6 546 -> 547,
   an SNMP trap sent from the agent's port 161 -> 162, NFS from a reserved port; the
   pair decides even when the server is the first to speak, and when it speaks to a
   broadcast address (a DHCP offer to 255.255.255.255 comes from the server);
4. a multicast or broadcast destination is the server (mDNS, SSDP, NBNS, ...);
5. protocols that use one port on both sides say in their first bytes which side
   speaks (`payload_role`): DNS, mDNS and NBNS (the response bit), BOOTP/DHCP
   between relay and server 67 <-> 67 (BOOTREQUEST or BOOTREPLY), DHCPv6 547 <-> 547
   (relay-forward or relay-reply, and every message type's direction), NTP 123 <->
   123 (client or server mode, symmetric active or passive, the control and private
   modes' response bit), SIP 5060 <-> 5060 (a status line is a response);
6. a well-known service port (services.WELL_KNOWN) on one side only marks the server;
7. else the lower port is the server; with equal ports (syslog 514 -> 514, RIP, IKE)
   the first sender is the client, which for those one-way or peer protocols is the
   device that spoke first.

This module declares the rules' tables; the packet core applies them in that order
(sensor/csrc/roles.c), each packet taken as its flow's first (`tables` hands them over).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nps_sensor.service_ports import WELL_KNOWN

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
SYN, ACK = 0x02, 0x10

# What a packet says of its sender (payload_role, pair_role).
SENDER_IS_SERVER, SENDER_IS_CLIENT, NO_ROLE = 0, 1, -1

# ICMP types by what they say of the sender: ICMP_ROLE[row][type], row 1 ICMP, 2 ICMPv6.
ICMP_ROLE = [[NO_ROLE] * 256 for _ in range(3)]
for _t in (8, 13, 15, 17):  # echo, timestamp, information, address mask request
    ICMP_ROLE[1][_t] = SENDER_IS_CLIENT
for _t in (0, 14, 16, 18):  # ... their replies
    ICMP_ROLE[1][_t] = SENDER_IS_SERVER
ICMP_ROLE[2][128] = SENDER_IS_CLIENT  # echo request
ICMP_ROLE[2][129] = SENDER_IS_SERVER  # echo reply


@dataclass(frozen=True)
class Pair:
    """A client port (range) that talks to a server port, on TCP and UDP alike."""

    client: range
    server: int
    name: str


PAIRS = (
    Pair(range(68, 69), 67, "DHCP / BOOTP"),
    Pair(range(546, 547), 547, "DHCPv6"),
    Pair(range(161, 162), 162, "SNMP trap from the agent's port"),
    Pair(range(512, 1024), 2049, "NFS from a reserved port"),
)

# --- protocols that use one port on both sides ------------------------------------------

# Each protocol reads one byte of its UDP payload (KEY_BYTE) and one bit of the second
# byte (KEY_BIT), which together index its row of ROLE: 9 bits that say who speaks.
NO_PROTOCOL, DNS_LIKE, BOOTP, DHCPV6, NTP, SIP = range(6)
SAME_PORT = {53: DNS_LIKE, 137: DNS_LIKE, 5353: DNS_LIKE}  # DNS, NBNS, unicast mDNS: the response bit
SAME_PORT.update({67: BOOTP, 547: DHCPV6, 123: NTP, 5060: SIP})
MIN_PAYLOAD = (1 << 16, 12, 236, 4, 8, 4)  # a protocol's header, else no role
KEY_BYTE = (0, 2, 0, 0, 0, 0)  # DNS's flags are its third byte
KEY_BIT = [[0] * 256 for _ in range(6)]
KEY_BIT[NTP][0x80:] = [0x100] * 0x80  # a control message's response bit (mode 6)
KEY_BIT[SIP][ord("I")] = 0x100  # "SI": "SIP/2.0 ..." is a response (SUBSCRIBE is "SU")

ROLE = [[NO_ROLE] * 512 for _ in range(6)]
ROLE[DNS_LIKE][:0x80] = [SENDER_IS_CLIENT] * 0x80  # a query
ROLE[DNS_LIKE][0x80:0x100] = [SENDER_IS_SERVER] * 0x80  # a response
ROLE[BOOTP][1], ROLE[BOOTP][2] = SENDER_IS_CLIENT, SENDER_IS_SERVER  # BOOTREQUEST, BOOTREPLY
for _kind in (1, 3, 4, 5, 6, 8, 9, 11, 12):  # solicit ... relay-forward (RFC 8415)
    ROLE[DHCPV6][_kind] = SENDER_IS_CLIENT
for _kind in (2, 7, 10, 13):  # advertise, reply, reconfigure, relay-reply
    ROLE[DHCPV6][_kind] = SENDER_IS_SERVER
for _key in range(512):
    # NTP's first byte: leap indicator, version, mode; mode 7's top bit is its response bit.
    _mode = _key & 7
    if _mode in (1, 3):  # symmetric active, client
        ROLE[NTP][_key] = SENDER_IS_CLIENT
    elif _mode in (2, 4, 5):  # symmetric passive, server, broadcast
        ROLE[NTP][_key] = SENDER_IS_SERVER
    elif _mode in (6, 7):
        response = _key & (0x100 if _mode == 6 else 0x80)
        ROLE[NTP][_key] = SENDER_IS_SERVER if response else SENDER_IS_CLIENT
for _c in range(ord("A"), ord("Z") + 1):  # a request's method
    ROLE[SIP][_c] = SENDER_IS_CLIENT
ROLE[SIP][0x100 | ord("S")] = SENDER_IS_SERVER


def _port_bits(pick: str) -> bytes:
    """Bit i of [port]: the port is pair i's client (pick "client") or server port."""
    table = bytearray(65536)
    for i, p in enumerate(PAIRS):
        for port in p.client if pick == "client" else (p.server,):
            table[port] |= 1 << i
    return bytes(table)


def _signed(rows: list[list[int]]) -> bytes:
    return struct.pack(f"{sum(len(r) for r in rows)}b", *(v for r in rows for v in r))


def tables() -> dict[str, bytes]:
    """The rules' tables as the packet core reads them (sensor/csrc/core.h, nps_roles)."""
    same_port = bytearray(65536)
    for port, kind in SAME_PORT.items():
        same_port[port] = kind
    return {
        "well_known": WELL_KNOWN,
        "pair_client": _port_bits("client"),
        "pair_server": _port_bits("server"),
        "same_port": bytes(same_port),
        "min_payload": struct.pack("=6i", *MIN_PAYLOAD),
        "key_byte": bytes(KEY_BYTE),
        "key_bit": struct.pack(f"={6 * 256}H", *(v for r in KEY_BIT for v in r)),
        "role": _signed(ROLE),
        "icmp_role": _signed(ICMP_ROLE),
    }
