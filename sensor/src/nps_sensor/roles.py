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

# What a packet says of its sender (PacketRows.role): from payload_role.
SENDER_IS_SERVER, SENDER_IS_CLIENT, NO_ROLE = 0, 1, -1

# ICMP requests whose sender is the client, and the replies whose receiver is.
ICMP_REQUEST = np.zeros(256, dtype=bool)
ICMP_REQUEST[[8, 13, 15, 17]] = True
ICMP_REPLY = np.zeros(256, dtype=bool)
ICMP_REPLY[[0, 14, 16, 18]] = True
ICMPV6_REQUEST = np.zeros(256, dtype=bool)
ICMPV6_REQUEST[[128]] = True
ICMPV6_REPLY = np.zeros(256, dtype=bool)
ICMPV6_REPLY[[129]] = True


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

DNS_LIKE = (53, 137, 5353)  # the response bit is bit 7 of the third byte
BOOTP, DHCPV6, NTP, SIP = 67, 547, 123, 5060
SAME_PORT_ROLES = np.zeros(65536, dtype=bool)
SAME_PORT_ROLES[[*DNS_LIKE, BOOTP, DHCPV6, NTP, SIP]] = True

# DHCPv6 message types (RFC 8415) by direction: server and relay-reply messages.
DHCPV6_FROM_SERVER = np.zeros(256, dtype=bool)
DHCPV6_FROM_SERVER[[2, 7, 10, 13]] = True  # advertise, reply, reconfigure, relay-reply
DHCPV6_FROM_CLIENT = np.zeros(256, dtype=bool)
DHCPV6_FROM_CLIENT[[1, 3, 4, 5, 6, 8, 9, 11, 12]] = True  # ... information-request, relay-forward
# NTP modes: 1 symmetric active, 2 symmetric passive, 3 client, 4 server, 5 broadcast.
NTP_MODE_ROLE = np.array([NO_ROLE, 1, 0, 1, 0, 0, NO_ROLE, NO_ROLE], dtype=np.int8)
SIP_RESPONSE = U64(int.from_bytes(b"SIP/", "big"))


def payload_role(
    proto: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    words: tuple[np.ndarray, np.ndarray],
    frames: np.ndarray | slice,
) -> np.ndarray:
    """Rule 5 for every packet: SENDER_IS_CLIENT, SENDER_IS_SERVER, or NO_ROLE.

    `words` are the decoder's t0 and t1 columns, the first 16 bytes after the IP
    header of every frame (for UDP: ports, length, then 8 payload bytes); `frames`
    says which frames the packets are. Only UDP packets between two equal ports of
    `SAME_PORT_ROLES` are read, so the cost on other traffic is a table lookup.
    """
    role = np.full(len(proto), NO_ROLE, dtype=np.int8)
    cand = SAME_PORT_ROLES[sport]  # ports are 0..65535 (0 without ports)
    if not cand.any():
        return role
    cand &= (sport == dport) & (proto == UDP)
    if not cand.any():
        return role
    at = np.flatnonzero(cand)
    where = at if isinstance(frames, slice) else frames[at]
    port = sport[at]
    size = ((words[0][where] >> U64(16)) & U64(0xFFFF)).astype(np.int64) - 8  # UDP payload bytes
    word = words[1][where]
    b0 = ((word >> U64(56)) & U64(0xFF)).astype(np.int64)
    b1 = ((word >> U64(48)) & U64(0xFF)).astype(np.int64)
    b2 = ((word >> U64(40)) & U64(0xFF)).astype(np.int64)
    out = np.full(len(at), NO_ROLE, dtype=np.int8)
    dns = np.isin(port, DNS_LIKE) & (size >= 12)
    out[dns] = np.where(b2[dns] & 0x80, SENDER_IS_SERVER, SENDER_IS_CLIENT)
    bootp = (port == BOOTP) & (size >= 236) & ((b0 == 1) | (b0 == 2))
    out[bootp] = np.where(b0[bootp] == 2, SENDER_IS_SERVER, SENDER_IS_CLIENT)
    dhcpv6 = (port == DHCPV6) & (size >= 4)
    out[dhcpv6 & DHCPV6_FROM_SERVER[b0]] = SENDER_IS_SERVER
    out[dhcpv6 & DHCPV6_FROM_CLIENT[b0]] = SENDER_IS_CLIENT
    ntp = (port == NTP) & (size >= 8)
    mode = b0 & 7
    out[ntp] = NTP_MODE_ROLE[mode[ntp]]
    control = ntp & (mode == 6)  # the response bit: top bit of the second byte
    out[control] = np.where(b1[control] & 0x80, SENDER_IS_SERVER, SENDER_IS_CLIENT)
    private = ntp & (mode == 7)  # ... of the first byte
    out[private] = np.where(b0[private] & 0x80, SENDER_IS_SERVER, SENDER_IS_CLIENT)
    sip = (port == SIP) & (size >= 4)
    out[sip] = np.where((word[sip] >> U64(32)) == SIP_RESPONSE, SENDER_IS_SERVER, SENDER_IS_CLIENT)
    role[at] = out
    return role


# --- the rules ------------------------------------------------------------------------


def pair_role(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """Rule 3: SENDER_IS_CLIENT / SENDER_IS_SERVER where the ports are a known pair."""
    role = np.full(len(sport), NO_ROLE, dtype=np.int8)
    for p in PAIRS:
        from_client = (dport == p.server) & (sport >= p.client.start) & (sport < p.client.stop)
        from_server = (sport == p.server) & (dport >= p.client.start) & (dport < p.client.stop)
        role[from_client] = SENDER_IS_CLIENT
        role[from_server] = SENDER_IS_SERVER
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
    role: np.ndarray,
) -> np.ndarray:
    """The rules of the module docstring, for packets each taken as its flow's first."""
    syn, syn_client = handshake(proto, tcpflags)
    icmp = icmptype.clip(0, 255)
    v4icmp = proto == ICMP
    v6icmp = proto == ICMPV6
    request = (v4icmp & ICMP_REQUEST[icmp]) | (v6icmp & ICMPV6_REQUEST[icmp])
    reply = (v4icmp & ICMP_REPLY[icmp]) | (v6icmp & ICMPV6_REPLY[icmp])
    pair = np.where(has_ports, pair_role(sport, dport), NO_ROLE)
    group = is_group_address(dst_hi, dst_lo)
    wk_s, wk_d = WELL_KNOWN[sport & 0xFFFF], WELL_KNOWN[dport & 0xFFFF]
    by_port = np.where(has_ports, np.where(wk_d != wk_s, wk_d, dport <= sport), True)
    decided: np.ndarray = np.select(
        [syn, request, reply, pair >= 0, group, role >= 0],
        [syn_client, True, False, pair == SENDER_IS_CLIENT, True, role == SENDER_IS_CLIENT],
        by_port,
    )
    return decided
