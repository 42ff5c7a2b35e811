"""Nested mirror transports and fragments: the engine's hard cases, built exactly.

`encapsulate(frame, ["vxlan", "erspan2"])` wraps an Ethernet frame in VXLAN, then
carries that in ERSPAN type II, as a switch mirroring an overlay network delivers
it; any order and depth of the kinds in `KINDS`. Each level has its own transport
addresses (192.0.2.0/24 and 2001:db8:ffff::/48 by depth), so that tshark and the
sensor can tell the levels apart. Fragment builders cut IPv4 and IPv6 datagrams at
any offset, for in-order, out-of-order, overlapping and repeated fragments.
Layouts were checked against Wireshark (tests/sensor/test_synth.py).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from nps_sensor.synth import packets as P

GENEVE_PORT, VXLAN_GPE_PORT, GTPU_PORT, TEREDO_PORT = 6081, 4790, 2152, 3544
GTP_PDU_SESSION = 0x85  # the 5G user plane's PDU session container (TS 38.415)
GPE_IPV4, GPE_IPV6, GPE_ETHERNET, GPE_MPLS = 1, 2, 3, 5

# What each kind wraps: an Ethernet frame ("frame") or the IP packet inside it ("ip").
KINDS = {
    "vlan": "frame",  # an 802.1Q tag on the frame itself
    "qinq": "frame",  # an 802.1ad S-tag and an 802.1Q C-tag
    "mpls": "ip",  # a two-label stack carrying the IP packet
    "erspan1": "frame",
    "erspan2": "frame",
    "erspan3": "frame",
    "gre": "ip",  # IP directly in GRE (with a key)
    "gre-teb": "frame",  # Ethernet bridged over GRE
    "gre6-teb": "frame",  # ... over an IPv6 transport
    "vxlan": "frame",
    "geneve": "frame",  # Geneve with an option, Ethernet inside
    "geneve-ip": "ip",  # Geneve carrying IP directly
    "vxlan-gpe": "ip",
    "ipip": "ip",  # IPv4 or IPv6 in IPv4
    "gtp-u": "ip",  # a mobile network's user plane: GTP-U with a sequence number and a PDU session container
    "teredo": "ip",  # IPv6 in UDP 3544 with an origin indication (IPv6 inside only)
}


def geneve(payload: bytes, vni: int, protocol: int = P.ETH_TEB, options: bytes = b"") -> bytes:
    """A Geneve header (RFC 8926, version 0; `options` a multiple of 4 bytes), then the payload.

    Carry it in `udp(..., 6081, ...)`; `protocol` is an EtherType (0x6558: Ethernet).
    """
    if len(options) % 4 or len(options) > 252:
        raise ValueError("Geneve options are 0 to 252 bytes, a multiple of 4")
    return struct.pack("!BBHI", len(options) // 4, 0, protocol, (vni & 0xFFFFFF) << 8) + options + payload


def geneve_option(klass: int, kind: int, data: bytes) -> bytes:
    """One Geneve option TLV (class, type, data padded to 4 bytes)."""
    data += bytes(-len(data) % 4)
    return struct.pack("!HBB", klass, kind, len(data) // 4) + data


def vxlan_gpe(payload: bytes, vni: int, next_protocol: int) -> bytes:
    """A VXLAN-GPE header (I and P flags, next protocol), then the payload; carry it in UDP 4790."""
    return struct.pack("!BBBBI", 0x0C, 0, 0, next_protocol, (vni & 0xFFFFFF) << 8) + payload


def gtp_u(packet: bytes, teid: int, seq: int | None = None, extensions: Sequence[tuple[int, bytes]] = ()) -> bytes:
    """A GTPv1-U G-PDU (3GPP TS 29.281) carrying an IP packet; carry it in UDP 2152.

    `seq` sets the S flag; `extensions` are (type, content) headers chained by the E
    flag, each content 2 bytes short of a multiple of 4 (its length and next-type bytes).
    """
    flags, opt = 0x30, b""
    if seq is not None or extensions:
        flags |= (0x02 if seq is not None else 0) | (0x04 if extensions else 0)
        kinds = [kind for kind, _ in extensions] + [0]
        opt = struct.pack("!HBB", seq or 0, 0, kinds[0])
        for (_, content), following in zip(extensions, kinds[1:], strict=True):
            if (len(content) + 2) % 4:
                raise ValueError("a GTP extension header's content is 4n - 2 bytes")
            opt += bytes([(len(content) + 2) // 4]) + content + bytes([following])
    return struct.pack("!BBHI", flags, 0xFF, len(opt) + len(packet), teid & 0xFFFFFFFF) + opt + packet


def teredo(packet: bytes, origin: tuple[int, str] | None = None) -> bytes:
    """An IPv6 packet as Teredo carries it (RFC 4380), with an origin indication (the
    client's mapped port and IPv4 address, obfuscated) when given; carry it in UDP 3544."""
    if packet[0] >> 4 != 6:
        raise ValueError("Teredo carries IPv6 only")
    head = b""
    if origin is not None:
        port, address = origin
        head = struct.pack("!HH", 0, port ^ 0xFFFF) + bytes(b ^ 0xFF for b in P.ip(address))
    return head + packet


# --- fragments ------------------------------------------------------------------------


def ipv4_piece(datagram: bytes, offset: int, length: int, more: bool | None = None) -> bytes:
    """The fragment of an IPv4 datagram holding payload bytes offset..offset+length.

    `more` defaults to whether the piece ends before the payload does; pieces may
    overlap, repeat or leave holes, as hostile or broken senders make them.
    """
    ihl = (datagram[0] & 0x0F) * 4
    payload = datagram[ihl:]
    if offset % 8:
        raise ValueError(f"fragment offset {offset} is not a multiple of 8")
    chunk = payload[offset : offset + length]
    last = offset + len(chunk) >= len(payload)
    ident = struct.unpack_from("!H", datagram, 4)[0]
    return P.ipv4(
        datagram[12:16],
        datagram[16:20],
        datagram[9],
        chunk,
        ident=ident,
        ttl=datagram[8],
        tos=datagram[1],
        mf=not last if more is None else more,
        frag_offset=offset,
    )


def ipv6_piece(packet: bytes, offset: int, length: int, ident: int, more: bool | None = None) -> bytes:
    """The fragment of an IPv6 packet (no extension headers) holding payload bytes offset..+length."""
    nh, hop = packet[6], packet[7]
    first = struct.unpack_from("!I", packet, 0)[0]
    payload = packet[40:]
    chunk = payload[offset : offset + length]
    last = offset + len(chunk) >= len(payload)
    frag = P.ext_fragment(offset, not last if more is None else more, ident)
    return P.ipv6(
        packet[8:24],
        packet[24:40],
        nh,
        chunk,
        hop_limit=hop,
        traffic_class=first >> 20 & 0xFF,
        flow_label=first & 0xFFFFF,
        extensions=[frag],
    )


def fragment_ipv6(packet: bytes, mtu: int, ident: int) -> list[bytes]:
    """Split an IPv6 packet (no extension headers) into fragments of at most `mtu` bytes."""
    room = (mtu - 40 - 8) // 8 * 8
    if room <= 0:
        raise ValueError(f"MTU {mtu} too small to carry any fragment data")
    size = len(packet) - 40
    if size <= mtu - 40:
        return [packet]
    return [ipv6_piece(packet, at, room, ident) for at in range(0, size, room)]


# --- nesting --------------------------------------------------------------------------


def _ip_of(frame: bytes) -> tuple[int, bytes]:
    """(EtherType, packet) of an Ethernet frame, past its VLAN tags."""
    at = 12
    while struct.unpack_from("!H", frame, at)[0] in (P.ETH_VLAN, P.ETH_QINQ, P.ETH_QINQ_OLD):
        at += 4
    ethertype = struct.unpack_from("!H", frame, at)[0]
    if ethertype not in (P.ETH_IPV4, P.ETH_IPV6):
        raise ValueError(f"frame carries EtherType {ethertype:#06x}, not IP")
    packet = frame[at + 2 :]
    # Ethernet padding is not part of the packet.
    if ethertype == P.ETH_IPV4:
        packet = packet[: struct.unpack_from("!H", packet, 2)[0]]
    else:
        packet = packet[: 40 + struct.unpack_from("!H", packet, 4)[0]]
    return ethertype, packet


def _transport(depth: int, proto: int, payload: bytes, v6: bool = False) -> bytes:
    """The Ethernet frame from the tunnel endpoints of one nesting level to the next."""
    mac_src, mac_dst = f"02:aa:00:00:{depth:02x}:01", f"02:aa:00:00:{depth:02x}:02"
    if v6:
        src, dst = f"2001:db8:ffff:{depth:x}::1", f"2001:db8:ffff:{depth:x}::2"
        return P.ethernet(mac_dst, mac_src, P.ETH_IPV6, P.ipv6(src, dst, proto, payload))
    src, dst = f"192.0.2.{2 * depth + 1}", f"192.0.2.{2 * depth + 2}"
    return P.ethernet(mac_dst, mac_src, P.ETH_IPV4, P.ipv4(src, dst, proto, payload, ident=0x100 + depth))


def _udp(depth: int, port: int, payload: bytes) -> bytes:
    src, dst = f"192.0.2.{2 * depth + 1}", f"192.0.2.{2 * depth + 2}"
    return _transport(depth, P.PROTO_UDP, P.udp(src, dst, 49152 + depth, port, payload))


def wrap(frame: bytes, kind: str, depth: int = 1, seq: int = 1) -> bytes:
    """`frame` carried by one layer of `kind` (see KINDS): a new Ethernet frame."""
    vni = 1000 + depth
    if kind == "vlan":
        return frame[:12] + P.vlan_tag(100 + depth) + frame[12:]
    if kind == "qinq":
        return frame[:12] + b"".join(P.qinq_tags(200 + depth, 300 + depth)) + frame[12:]
    frame_kinds = {
        "erspan1": lambda: _transport(depth, P.PROTO_GRE, P.erspan_i(frame)),
        "erspan2": lambda: _transport(depth, P.PROTO_GRE, P.erspan_ii(frame, 10 + depth, seq)),
        "erspan3": lambda: _transport(depth, P.PROTO_GRE, P.erspan_iii(frame, 20 + depth, seq)),
        "gre-teb": lambda: _transport(depth, P.PROTO_GRE, P.gre_teb(frame, key=depth)),
        "gre6-teb": lambda: _transport(depth, P.PROTO_GRE, P.gre_teb(frame), v6=True),
        "vxlan": lambda: _udp(depth, P.VXLAN_PORT, P.vxlan(frame, vni)),
        "geneve": lambda: _udp(depth, GENEVE_PORT, geneve(frame, vni, options=geneve_option(0x0103, 1, b"ab"))),
    }
    if kind in frame_kinds:
        return frame_kinds[kind]()
    ethertype, packet = _ip_of(frame)
    v4 = ethertype == P.ETH_IPV4
    if kind == "mpls":
        return P.ethernet("02:aa:00:00:00:fe", "02:aa:00:00:00:fd", P.ETH_MPLS, P.mpls([600 + depth, 700], packet))
    if kind == "gre":
        return _transport(depth, P.PROTO_GRE, P.gre(ethertype, packet, key=depth))
    if kind == "geneve-ip":
        return _udp(depth, GENEVE_PORT, geneve(packet, vni, protocol=ethertype))
    if kind == "vxlan-gpe":
        return _udp(depth, VXLAN_GPE_PORT, vxlan_gpe(packet, vni, GPE_IPV4 if v4 else GPE_IPV6))
    if kind == "ipip":
        return _transport(depth, P.PROTO_IPIP if v4 else P.PROTO_IPV6, packet)
    if kind == "gtp-u":
        return _udp(depth, GTPU_PORT, gtp_u(packet, 0x1000 + depth, seq, [(GTP_PDU_SESSION, b"\x00\x09")]))
    if kind == "teredo":
        return _udp(depth, TEREDO_PORT, teredo(packet, (40000 + depth, "198.51.100.7")))
    raise ValueError(f"unknown encapsulation {kind!r} (known: {', '.join(KINDS)})")


def encapsulate(frame: bytes, kinds: Sequence[str], seq: int = 1) -> bytes:
    """`frame` wrapped in `kinds`, innermost first: ["vxlan", "erspan2"] is VXLAN inside ERSPAN II."""
    for depth, kind in enumerate(kinds, 1):
        frame = wrap(frame, kind, depth, seq)
    return frame
