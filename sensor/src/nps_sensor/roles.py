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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nps_sensor.services import WELL_KNOWN, is_group_address

U64 = np.uint64
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
SYN, ACK = 0x02, 0x10

# What a packet says of its sender (payload_role, pair_role).
SENDER_IS_SERVER, SENDER_IS_CLIENT, NO_ROLE = 0, 1, -1

# ICMP types by what they say of the sender: ICMP_ROLE[ICMP_ROW[protocol], type].
ICMP_ROW = np.zeros(256, dtype=np.int64)
ICMP_ROW[[ICMP, ICMPV6]] = [1, 2]
ICMP_ROLE = np.full((3, 256), NO_ROLE, dtype=np.int8)
ICMP_ROLE[1, [8, 13, 15, 17]] = SENDER_IS_CLIENT  # echo, timestamp, information, address mask request
ICMP_ROLE[1, [0, 14, 16, 18]] = SENDER_IS_SERVER  # ... their replies
ICMP_ROLE[2, 128] = SENDER_IS_CLIENT  # echo request
ICMP_ROLE[2, 129] = SENDER_IS_SERVER  # echo reply


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

# Each protocol reads one byte (KEY_BYTE) and one bit of the second byte (KEY_BIT),
# which together index its row of ROLE: 9 bits that say who speaks.
NO_PROTOCOL, DNS_LIKE, BOOTP, DHCPV6, NTP, SIP = range(6)
SAME_PORT = np.zeros(65536, dtype=np.int8)
SAME_PORT[[53, 137, 5353]] = DNS_LIKE  # DNS, NBNS, unicast mDNS: the response bit
SAME_PORT[67], SAME_PORT[547], SAME_PORT[123], SAME_PORT[5060] = BOOTP, DHCPV6, NTP, SIP
MIN_PAYLOAD = np.array([1 << 16, 12, 236, 4, 8, 4])  # a protocol's header, else no role
KEY_BYTE = np.array([0, 2, 0, 0, 0, 0])  # DNS's flags are its third byte
KEY_BIT = np.zeros((6, 256), dtype=np.int64)
KEY_BIT[NTP, 0x80:] = 0x100  # a control message's response bit (mode 6)
KEY_BIT[SIP, ord("I")] = 0x100  # "SI": "SIP/2.0 ..." is a response (SUBSCRIBE is "SU")

ROLE = np.full((6, 512), NO_ROLE, dtype=np.int8)
ROLE[DNS_LIKE, :0x80] = SENDER_IS_CLIENT  # a query
ROLE[DNS_LIKE, 0x80:0x100] = SENDER_IS_SERVER  # a response
ROLE[BOOTP, 1], ROLE[BOOTP, 2] = SENDER_IS_CLIENT, SENDER_IS_SERVER  # BOOTREQUEST, BOOTREPLY
ROLE[DHCPV6, [1, 3, 4, 5, 6, 8, 9, 11, 12]] = SENDER_IS_CLIENT  # solicit ... relay-forward (RFC 8415)
ROLE[DHCPV6, [2, 7, 10, 13]] = SENDER_IS_SERVER  # advertise, reply, reconfigure, relay-reply
for _key in range(512):
    # NTP's first byte: leap indicator, version, mode; mode 7's top bit is its response bit.
    _mode = _key & 7
    if _mode in (1, 3):  # symmetric active, client
        ROLE[NTP, _key] = SENDER_IS_CLIENT
    elif _mode in (2, 4, 5):  # symmetric passive, server, broadcast
        ROLE[NTP, _key] = SENDER_IS_SERVER
    elif _mode in (6, 7):
        response = _key & (0x100 if _mode == 6 else 0x80)
        ROLE[NTP, _key] = SENDER_IS_SERVER if response else SENDER_IS_CLIENT
ROLE[SIP, ord("A") : ord("Z") + 1] = SENDER_IS_CLIENT  # a request's method
ROLE[SIP, 0x100 | ord("S")] = SENDER_IS_SERVER


def payload_role(proto: np.ndarray, sport: np.ndarray, dport: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Rule 5 for packets (their flows' first): SENDER_IS_CLIENT, SENDER_IS_SERVER, or NO_ROLE.

    `t0` and `t1` are the decoder's words, the first 16 bytes after the IP header (for
    UDP: ports, length, then 8 payload bytes). Only UDP packets between two equal
    ports of `SAME_PORT` are read, with table lookups rather than a test per protocol.
    """
    role = np.full(len(proto), NO_ROLE, dtype=np.int8)
    same = sport == dport  # 0 == 0 without ports, which the table leaves out
    if not same.any():
        return role
    at = np.flatnonzero(same)
    kind = SAME_PORT[sport[at]]
    chosen = (kind > 0) & (proto[at] == UDP)
    if not chosen.any():
        return role
    at, kind = at[chosen], kind[chosen]
    size = ((t0[at] >> U64(16)) & U64(0xFFFF)).astype(np.int64) - 8  # UDP payload bytes
    payload = t1[at].byteswap().view(np.uint8).reshape(-1, 8)  # its first 8 bytes, in order
    key = payload[np.arange(len(at)), KEY_BYTE[kind]] | KEY_BIT[kind, payload[:, 1]]
    role[at] = np.where(size >= MIN_PAYLOAD[kind], ROLE[kind, key], NO_ROLE)
    return role


# --- the rules ------------------------------------------------------------------------


# Bit i of PAIR_CLIENT[port] / PAIR_SERVER[port]: the port is pair i's client / server port.
PAIR_CLIENT = np.zeros(65536, dtype=np.uint8)
PAIR_SERVER = np.zeros(65536, dtype=np.uint8)
for _i, _p in enumerate(PAIRS):
    PAIR_CLIENT[_p.client.start : _p.client.stop] |= 1 << _i
    PAIR_SERVER[_p.server] |= 1 << _i


def pair_role(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """Rule 3: SENDER_IS_CLIENT / SENDER_IS_SERVER where the ports are a known pair."""
    from_client = (PAIR_CLIENT[sport] & PAIR_SERVER[dport]) > 0
    from_server = (PAIR_SERVER[sport] & PAIR_CLIENT[dport]) > 0
    role: np.ndarray = from_client.astype(np.int8) - (~from_client & ~from_server)
    return role


def handshake(proto: np.ndarray, tcpflags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(packets of a TCP handshake, those of them whose sender is the client)."""
    syn = (proto == TCP) & ((tcpflags & SYN) > 0)
    return syn, syn & ((tcpflags & ACK) == 0)


def client_is_sender(
    proto: np.ndarray,
    tcpflags: np.ndarray,
    icmptype: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    has_ports: np.ndarray,
    words: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """The rules of the module docstring, for packets each taken as its flow's first.

    Applied from the weakest to the strongest, each over what the weaker ones said,
    and only where it applies to some packet: a batch's new flows are mostly plain
    TCP and UDP, for which the rarer rules cost a test each.
    """
    wk_s, wk_d = WELL_KNOWN[sport], WELL_KNOWN[dport]  # ports are 0 where there are none
    decided: np.ndarray = np.where(has_ports, np.where(wk_d != wk_s, wk_d, dport <= sport), True)
    role = payload_role(proto, sport, dport, *words)
    known = role >= 0
    if known.any():
        decided[known] = role[known] == SENDER_IS_CLIENT
    group = is_group_address(dst_hi, dst_lo)
    if group.any():
        decided[group] = True
    role = pair_role(sport, dport)
    known = role >= 0
    if known.any():
        decided[known] = role[known] == SENDER_IS_CLIENT
    role = ICMP_ROLE[ICMP_ROW[proto & 0xFF], icmptype.clip(0, 255)]
    known = role >= 0
    if known.any():
        decided[known] = role[known] == SENDER_IS_CLIENT
    syn, syn_client = handshake(proto, tcpflags)
    if syn.any():
        decided[syn] = syn_client[syn]
    return decided
