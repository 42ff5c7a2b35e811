"""Frame builders: each returns the exact bytes of one header and what it carries.

Builders compose from the inside out (`ethernet(..., ipv4(..., udp(..., dns_query(...))))`)
and take addresses either as text or already packed, so tests read naturally and the
generator can pass packed constants. Every layout here was checked against Wireshark's
dissectors (tests/sensor/test_synth.py keeps checking it); checksums are always correct, since
a sensor that meets a bad checksum in a test should meet it on purpose.

Plain `struct` and integer arithmetic only: no scapy or dpkt, whose per-packet object
cost would make the synthetic captures slower to build than to analyse.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Addr = str | bytes

# EtherTypes
ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_QINQ_OLD = 0x9100
ETH_MPLS = 0x8847
ETH_MPLS_MULTICAST = 0x8848
ETH_TEB = 0x6558  # transparent Ethernet bridging (Ethernet inside GRE)
ETH_ERSPAN_I_II = 0x88BE
ETH_ERSPAN_III = 0x22EB

# IP protocol numbers
PROTO_ICMP = 1
PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41  # IPv6 inside IPv4 (6in4)
PROTO_GRE = 47
PROTO_ICMPV6 = 58
EXT_HOP_BY_HOP = 0
EXT_ROUTING = 43
EXT_FRAGMENT = 44
EXT_DEST_OPTS = 60

VXLAN_PORT = 4789
BROADCAST = b"\xff" * 6
ETH_MIN = 60  # shortest Ethernet frame without its FCS: shorter payloads are padded

TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}

_H = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIHHHH")
_UDP = struct.Struct("!HHHH")


# --- addresses and checksums ---------------------------------------------------


def mac(addr: Addr) -> bytes:
    """A MAC address as 6 bytes, from "aa:bb:cc:dd:ee:ff" (or "-" separators) or bytes."""
    if isinstance(addr, bytes):
        if len(addr) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(addr)}")
        return addr
    out = bytes.fromhex(addr.replace(":", "").replace("-", ""))
    if len(out) != 6:
        raise ValueError(f"not a MAC address: {addr!r}")
    return out


def ip(addr: Addr) -> bytes:
    """An IPv4 (4 bytes) or IPv6 (16 bytes) address, from text or already packed."""
    if isinstance(addr, bytes):
        if len(addr) not in (4, 16):
            raise ValueError(f"an IP address has 4 or 16 bytes, not {len(addr)}")
        return addr
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


def ip_text(addr: bytes) -> str:
    """A packed address as text: the form DNS answers and reports carry."""
    return socket.inet_ntop(socket.AF_INET6 if len(addr) == 16 else socket.AF_INET, addr)


def ones_sum(data: bytes) -> int:
    """The one's complement sum of `data`'s 16-bit words, modulo 0xFFFF.

    2**16 is 1 modulo 0xFFFF, so the whole buffer read as one big integer has the same
    remainder as the sum of its words: one C-level conversion instead of a word loop.
    """
    if len(data) & 1:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def fold(total: int, data_nonzero: bool = True) -> int:
    """The checksum field for a word sum `total` (any size): the one's complement of it.

    A sum that is 0 modulo 0xFFFF is 0xFFFF in one's complement arithmetic (for data
    that is not all zeros), whose complement, the canonical checksum, is 0.
    """
    r = total % 0xFFFF
    if r:
        return 0xFFFF - r
    return 0 if data_nonzero else 0xFFFF


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    return fold(ones_sum(data), any(data))


def _pseudo_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Word sum of the IPv4 or IPv6 pseudo-header that TCP, UDP and ICMPv6 checksums cover."""
    return int.from_bytes(src, "big") + int.from_bytes(dst, "big") + proto + length


# --- link layer ------------------------------------------------------------------


def vlan_tag(vid: int, pcp: int = 0, dei: bool = False, tpid: int = ETH_VLAN) -> bytes:
    """One 4-byte tag: TPID 0x8100 (802.1Q), 0x88A8 (802.1ad S-tag) or 0x9100 (old QinQ)."""
    if not 0 <= vid < 4096:
        raise ValueError(f"VLAN id {vid} out of range 0-4095")
    return struct.pack("!HH", tpid, (pcp & 7) << 13 | int(dei) << 12 | vid)


def qinq_tags(outer: int, inner: int, tpid: int = ETH_QINQ) -> list[bytes]:
    """An S-tag (`tpid`) over a C-tag (802.1Q): the service provider's stacked VLANs."""
    return [vlan_tag(outer, tpid=tpid), vlan_tag(inner)]


def ethernet(
    dst: Addr,
    src: Addr,
    ethertype: int,
    payload: bytes | bytearray,
    tags: Sequence[bytes] = (),
    pad: bool = True,
) -> bytes:
    """An Ethernet II frame (without FCS), tags outermost first.

    Padding goes to 60 bytes *before* the tags, as a switch that tags a padded frame
    leaves it: that is what a mirror port delivers.
    """
    body = bytes(payload)
    if pad and len(body) < ETH_MIN - 14:
        body += bytes(ETH_MIN - 14 - len(body))
    return mac(dst) + mac(src) + b"".join(tags) + _H.pack(ethertype) + body


def mpls(labels: Sequence[int], payload: bytes, tc: int = 0, ttl: int = 64) -> bytes:
    """An MPLS label stack (outermost first), the bottom-of-stack bit on the last label."""
    if not labels:
        raise ValueError("an MPLS stack needs at least one label")
    out = bytearray()
    for i, label in enumerate(labels):
        bottom = 1 if i == len(labels) - 1 else 0
        out += struct.pack("!I", (label & 0xFFFFF) << 12 | (tc & 7) << 9 | bottom << 8 | (ttl & 0xFF))
    return bytes(out) + payload


def sll(
    protocol: int,
    payload: bytes,
    src: Addr = b"\0" * 6,
    pkttype: int = 0,
    hatype: int = 1,
) -> bytes:
    """A Linux cooked-capture (LINKTYPE_SLL) header; pkttype 0 = to us, 4 = sent by us."""
    addr = mac(src) if isinstance(src, str) else src
    return struct.pack("!HHH8sH", pkttype, hatype, len(addr), addr, protocol) + payload


def sll2(
    protocol: int,
    payload: bytes,
    src: Addr = b"\0" * 6,
    ifindex: int = 1,
    pkttype: int = 0,
    hatype: int = 1,
) -> bytes:
    """A Linux cooked-capture v2 (LINKTYPE_SLL2) header, which adds the interface index."""
    addr = mac(src) if isinstance(src, str) else src
    return struct.pack("!HHIHBB8s", protocol, 0, ifindex, hatype, pkttype, len(addr), addr) + payload


def arp(
    op: int,
    sender_mac: Addr,
    sender_ip: Addr,
    target_mac: Addr,
    target_ip: Addr,
) -> bytes:
    """An ARP packet for Ethernet/IPv4: op 1 = request (target MAC zero), 2 = reply."""
    return struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        ETH_IPV4,
        6,
        4,
        op,
        mac(sender_mac),
        ip(sender_ip),
        mac(target_mac),
        ip(target_ip),
    )


# --- IP --------------------------------------------------------------------------


def ipv4(
    src: Addr,
    dst: Addr,
    proto: int,
    payload: bytes,
    *,
    ident: int = 0,
    ttl: int = 64,
    tos: int = 0,
    df: bool = False,
    mf: bool = False,
    frag_offset: int = 0,
    options: bytes = b"",
    total_length: int | None = None,
) -> bytes:
    """An IPv4 header (checksum computed) and payload; `frag_offset` is in bytes (multiple of 8).

    `total_length` overrides the length field, for frames cut short by a snap length
    or for segmentation-offload captures (0).
    """
    if frag_offset % 8:
        raise ValueError(f"fragment offset {frag_offset} is not a multiple of 8")
    if len(options) % 4:
        options += bytes(4 - len(options) % 4)  # end-of-options list padding
    ihl = 5 + len(options) // 4
    if ihl > 15:
        raise ValueError("IPv4 options longer than 40 bytes")
    length = ihl * 4 + len(payload) if total_length is None else total_length
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag_offset >> 3
    head = _IPV4.pack(0x40 | ihl, tos, length, ident & 0xFFFF, flags, ttl, proto, 0, ip(src), ip(dst)) + options
    return head[:10] + _H.pack(checksum(head)) + head[12:] + payload


@dataclass(frozen=True, slots=True)
class Ext:
    """An IPv6 extension header: its protocol number and its bytes after the next-header byte."""

    kind: int
    body: bytes


def _padded_options(options: bytes) -> bytes:
    """Options of a hop-by-hop or destination header, padded (Pad1/PadN) to 8n+6 bytes."""
    need = (-(len(options) + 2)) % 8
    if need == 1:
        options += b"\x00"
    elif need:
        options += bytes([1, need - 2]) + bytes(need - 2)
    return bytes([(len(options) + 2) // 8 - 1]) + options


def ext_hop_by_hop(options: bytes = b"") -> Ext:
    """A hop-by-hop options header (e.g. router alert: b"\\x05\\x02\\x00\\x00")."""
    return Ext(EXT_HOP_BY_HOP, _padded_options(options))


def ext_dest_options(options: bytes = b"") -> Ext:
    return Ext(EXT_DEST_OPTS, _padded_options(options))


def ext_routing(addresses: Sequence[Addr], segments_left: int | None = None, routing_type: int = 0) -> Ext:
    """A routing header carrying `addresses` (type 0 layout; type 2 for one home address)."""
    data = b"".join(ip(a) for a in addresses)
    left = len(addresses) if segments_left is None else segments_left
    return Ext(EXT_ROUTING, struct.pack("!BBB4x", len(data) // 8, routing_type, left) + data)


def ext_fragment(offset: int, more: bool, ident: int) -> Ext:
    """An IPv6 fragment header; `offset` in bytes (multiple of 8)."""
    if offset % 8:
        raise ValueError(f"fragment offset {offset} is not a multiple of 8")
    return Ext(EXT_FRAGMENT, struct.pack("!BHI", 0, offset | int(more), ident & 0xFFFFFFFF))


def ipv6(
    src: Addr,
    dst: Addr,
    next_header: int,
    payload: bytes,
    *,
    hop_limit: int = 64,
    traffic_class: int = 0,
    flow_label: int = 0,
    extensions: Sequence[Ext] = (),
) -> bytes:
    """An IPv6 header, its extension headers in order, then the payload (`next_header` follows the last)."""
    chain = b""
    following = next_header
    for e in reversed(extensions):
        chain = bytes([following]) + e.body + chain
        following = e.kind
    body = chain + payload
    first = 6 << 28 | (traffic_class & 0xFF) << 20 | (flow_label & 0xFFFFF)
    return _IPV6.pack(first, len(body), following, hop_limit, ip(src), ip(dst)) + body


def fragment_ipv4(datagram: bytes, mtu: int) -> list[bytes]:
    """Split an IPv4 datagram into fragments of at most `mtu` bytes, as a router does.

    Later fragments keep only the options whose copied bit is set; a datagram that is
    itself a fragment is split into smaller pieces of the same offsets range.
    """
    ihl = (datagram[0] & 0x0F) * 4
    total = struct.unpack_from("!H", datagram, 2)[0]
    if total <= mtu:
        return [datagram]
    flags = struct.unpack_from("!H", datagram, 6)[0]
    if flags & 0x4000:
        raise ValueError("datagram has the don't-fragment flag set")
    base_offset = (flags & 0x1FFF) * 8
    last_mf = bool(flags & 0x2000)
    header, payload = datagram[:ihl], datagram[ihl:total]
    later_options = _copied_options(header[20:])
    out: list[bytes] = []
    pos = 0
    while pos < len(payload):
        opts = header[20:] if pos == 0 else later_options
        room = (mtu - 20 - len(opts)) // 8 * 8
        if room <= 0:
            raise ValueError(f"MTU {mtu} too small to carry any fragment data")
        chunk = payload[pos : pos + room]
        more = pos + len(chunk) < len(payload) or last_mf
        ttl, proto = header[8], header[9]
        ident = struct.unpack_from("!H", header, 4)[0]
        out.append(
            ipv4(
                header[12:16],
                header[16:20],
                proto,
                chunk,
                ident=ident,
                ttl=ttl,
                tos=header[1],
                mf=more,
                frag_offset=base_offset + pos,
                options=opts,
            )
        )
        pos += len(chunk)
    return out


def _copied_options(options: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = options[i + 1] if i + 1 < len(options) else 0
        if length < 2:
            break
        if kind & 0x80:
            out += options[i : i + length]
        i += length
    return bytes(out)


# --- transport -------------------------------------------------------------------


def tcp_flags(flags: int | str) -> int:
    """Flags from letters ("SA", "PA", "FA", "R") or an integer."""
    if isinstance(flags, int):
        return flags
    return sum(TCP_FLAGS[c] for c in flags.upper())


def tcp_options(
    mss: int | None = None,
    sack_permitted: bool = False,
    timestamps: tuple[int, int] | None = None,
    wscale: int | None = None,
) -> bytes:
    """TCP options in the order Linux sends them in a SYN, padded with NOPs to 4n bytes."""
    out = b""
    if mss is not None:
        out += struct.pack("!BBH", 2, 4, mss)
    if sack_permitted and timestamps is not None:
        out += struct.pack("!BBBBII", 4, 2, 8, 10, *timestamps)
    else:
        if sack_permitted:
            out += b"\x01\x01\x04\x02"
        if timestamps is not None:
            out += struct.pack("!BBBBII", 1, 1, 8, 10, *timestamps)
    if wscale is not None:
        out += struct.pack("!BBBB", 1, 3, 3, wscale)
    return out + b"\x01" * (-len(out) % 4)


def tcp(
    src: Addr,
    dst: Addr,
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    seq: int = 0,
    ack: int = 0,
    flags: int | str = "S",
    window: int = 65535,
    options: bytes = b"",
    urgent: int = 0,
) -> bytes:
    """A TCP segment with its checksum over the IPv4 or IPv6 pseudo-header of `src` and `dst`."""
    if len(options) % 4:
        options += bytes(4 - len(options) % 4)
    head_len = 20 + len(options)
    word = (head_len // 4) << 12 | tcp_flags(flags)
    head = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, word, window, 0, urgent) + options
    s, d = ip(src), ip(dst)
    total = _pseudo_sum(s, d, PROTO_TCP, head_len + len(payload)) + ones_sum(head) + ones_sum(payload)
    return head[:16] + _H.pack(fold(total)) + head[18:] + payload


def udp(src: Addr, dst: Addr, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with its checksum (0xFFFF where the sum comes to 0: 0 means none)."""
    length = 8 + len(payload)
    s, d = ip(src), ip(dst)
    total = _pseudo_sum(s, d, PROTO_UDP, length) + sport + dport + length + ones_sum(payload)
    return _UDP.pack(sport, dport, length, fold(total, data_nonzero=False) or 0xFFFF) + payload


def icmp_echo(ident: int, seq: int, payload: bytes = b"", reply: bool = False) -> bytes:
    """An ICMP echo request (type 8) or reply (type 0)."""
    head = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq)
    total = ones_sum(head) + ones_sum(payload)
    return head[:2] + _H.pack(fold(total, any(head) or any(payload))) + head[4:] + payload


def icmpv6_echo(src: Addr, dst: Addr, ident: int, seq: int, payload: bytes = b"", reply: bool = False) -> bytes:
    """An ICMPv6 echo request (128) or reply (129); the checksum covers the pseudo-header."""
    head = struct.pack("!BBHHH", 129 if reply else 128, 0, 0, ident, seq)
    total = _pseudo_sum(ip(src), ip(dst), PROTO_ICMPV6, 8 + len(payload)) + ones_sum(head) + ones_sum(payload)
    return head[:2] + _H.pack(fold(total)) + head[4:] + payload


# --- tunnels ---------------------------------------------------------------------


def gre(
    protocol: int,
    payload: bytes,
    *,
    checksum_present: bool = False,
    key: int | None = None,
    seq: int | None = None,
) -> bytes:
    """A GRE header (RFC 2890: optional checksum, key and sequence number) and payload."""
    flags = (
        (0x8000 if checksum_present else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    )
    opt = b""
    if key is not None:
        opt += struct.pack("!I", key & 0xFFFFFFFF)
    if seq is not None:
        opt += struct.pack("!I", seq & 0xFFFFFFFF)
    if checksum_present:
        body = struct.pack("!HH", flags, protocol) + b"\0\0\0\0" + opt + payload
        return body[:4] + struct.pack("!HH", checksum(body), 0) + body[8:]
    return struct.pack("!HH", flags, protocol) + opt + payload


def gre_teb(frame: bytes, key: int | None = None, seq: int | None = None) -> bytes:
    """An Ethernet frame bridged over GRE (protocol 0x6558)."""
    return gre(ETH_TEB, frame, key=key, seq=seq)


def erspan_i(frame: bytes) -> bytes:
    """ERSPAN type I: GRE 0x88BE without a sequence number, the frame right after GRE."""
    return gre(ETH_ERSPAN_I_II, frame)


def erspan_ii_header(
    session: int,
    vlan: int = 0,
    cos: int = 0,
    encap: int = 0,
    truncated: bool = False,
    index: int = 0,
) -> bytes:
    """The 8-byte ERSPAN type II header: version 1, VLAN, COS, En, T, session (10 bits), index (20 bits)."""
    w0 = 1 << 28 | (vlan & 0xFFF) << 16 | (cos & 7) << 13 | (encap & 3) << 11 | int(truncated) << 10 | session & 0x3FF
    return struct.pack("!II", w0, index & 0xFFFFF)


def erspan_ii(
    frame: bytes,
    session: int,
    seq: int,
    *,
    vlan: int = 0,
    cos: int = 0,
    encap: int = 0,
    truncated: bool = False,
    index: int = 0,
) -> bytes:
    """ERSPAN type II: GRE 0x88BE with the sequence-number bit set, the 8-byte header, the frame."""
    return gre(ETH_ERSPAN_I_II, erspan_ii_header(session, vlan, cos, encap, truncated, index) + frame, seq=seq)


def erspan_iii_header(
    session: int,
    *,
    vlan: int = 0,
    cos: int = 0,
    bso: int = 0,
    truncated: bool = False,
    timestamp: int = 0,
    sgt: int = 0,
    p: bool = True,
    frame_type: int = 0,
    hw_id: int = 0,
    ingress: bool = True,
    granularity: int = 1,
    platform: bytes | None = None,
) -> bytes:
    """The 12-byte ERSPAN type III header, plus the 8-byte platform sub-header when given.

    P says the payload is an Ethernet PDU, frame_type 0 that it is a whole Ethernet
    frame (2 would be bare IP), as Linux and switches send them; `ingress` clears D, the direction
    bit (0 = ingress); granularity 1 means timestamps in units of 100 ns; O is set
    exactly when a `platform` sub-header follows.
    """
    w0 = 2 << 28 | (vlan & 0xFFF) << 16 | (cos & 7) << 13 | (bso & 3) << 11 | int(truncated) << 10 | session & 0x3FF
    o = platform is not None
    w2 = (
        (sgt & 0xFFFF) << 16
        | int(p) << 15
        | (frame_type & 0x1F) << 10
        | (hw_id & 0x3F) << 4
        | int(not ingress) << 3
        | (granularity & 3) << 1
        | int(o)
    )
    head = struct.pack("!III", w0, timestamp & 0xFFFFFFFF, w2)
    if platform is not None:
        if len(platform) != 8:
            raise ValueError("the ERSPAN III platform-specific sub-header has 8 bytes")
        head += platform
    return head


def erspan_iii_platform(platform_id: int, info: int) -> bytes:
    """A platform-specific sub-header: 6-bit platform id, then 58 bits of platform data."""
    return struct.pack("!Q", (platform_id & 0x3F) << 58 | info & ((1 << 58) - 1))


def erspan_iii(
    frame: bytes,
    session: int,
    seq: int | None = None,
    *,
    vlan: int = 0,
    timestamp: int = 0,
    sgt: int = 0,
    hw_id: int = 0,
    ingress: bool = True,
    platform: bytes | None = None,
) -> bytes:
    """ERSPAN type III of an Ethernet frame: GRE 0x22EB (with a sequence number, as switches send it)."""
    head = erspan_iii_header(
        session, vlan=vlan, timestamp=timestamp, sgt=sgt, hw_id=hw_id, ingress=ingress, platform=platform
    )
    return gre(ETH_ERSPAN_III, head + frame, seq=seq)


def vxlan(frame: bytes, vni: int) -> bytes:
    """The VXLAN header (I flag, 24-bit VNI) and the frame; carry it in `udp(..., 4789, ...)`."""
    return struct.pack("!II", 0x08000000, (vni & 0xFFFFFF) << 8) + frame


# --- application payloads ----------------------------------------------------------

DNS_A, DNS_NS, DNS_CNAME, DNS_PTR, DNS_TXT, DNS_AAAA, DNS_SRV = 1, 2, 5, 12, 16, 28, 33


@dataclass(frozen=True, slots=True)
class SRV:
    """The data of an SRV record: where a service runs."""

    priority: int
    weight: int
    port: int
    target: str


RRValue = str | bytes | SRV | Sequence[str]


@dataclass(frozen=True, slots=True)
class RR:
    """A resource record: value is an address (A/AAAA), a name (CNAME/PTR/NS), an SRV,
    the strings of a TXT record, or raw rdata bytes."""

    name: str
    rtype: int
    value: RRValue
    ttl: int = 300
    cache_flush: bool = False  # mDNS: this record replaces cached ones (class bit 15)


class _Message:
    """A DNS message being written, remembering where each name suffix sits for compression."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.seen: dict[str, int] = {}

    def name(self, name: str) -> None:
        labels = [x for x in name.rstrip(".").split(".") if x]
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            at = self.seen.get(suffix)
            if at is not None:
                self.out += struct.pack("!H", 0xC000 | at)
                return
            if len(self.out) < 0x3FFF:
                self.seen[suffix] = len(self.out)
            raw = labels[i].encode()
            if len(raw) > 63:
                raise ValueError(f"DNS label longer than 63 bytes in {name!r}")
            self.out += bytes([len(raw)]) + raw
        self.out += b"\0"

    def rr(self, r: RR) -> None:
        self.name(r.name)
        cls = 1 | (0x8000 if r.cache_flush else 0)
        self.out += struct.pack("!HHI", r.rtype, cls, r.ttl)
        at = len(self.out)
        self.out += b"\0\0"
        v = r.value
        if isinstance(v, bytes):
            self.out += v
        elif isinstance(v, SRV):
            self.out += struct.pack("!HHH", v.priority, v.weight, v.port)
            self.name(v.target)
        elif isinstance(v, str):
            if r.rtype in (DNS_A, DNS_AAAA):
                self.out += ip(v)
            elif r.rtype in (DNS_CNAME, DNS_PTR, DNS_NS):
                self.name(v)
            else:
                raise ValueError(f"no text encoder for type {r.rtype}; pass bytes")
        else:  # the strings of a TXT record
            for s in v:
                raw = s.encode()
                self.out += bytes([len(raw)]) + raw
        struct.pack_into("!H", self.out, at, len(self.out) - at - 2)


def dns_message(
    ident: int,
    flags: int,
    questions: Iterable[tuple[str, int]] = (),
    answers: Iterable[RR] = (),
    authority: Iterable[RR] = (),
    additional: Iterable[RR] = (),
) -> bytes:
    """A DNS message with name compression across all its sections."""
    qs, an, ns, ar = list(questions), list(answers), list(authority), list(additional)
    m = _Message()
    m.out += struct.pack("!HHHHHH", ident, flags, len(qs), len(an), len(ns), len(ar))
    for qname, qtype in qs:
        m.name(qname)
        m.out += struct.pack("!HH", qtype, 1)
    for r in (*an, *ns, *ar):
        m.rr(r)
    return bytes(m.out)


def dns_query(ident: int, name: str, qtype: int = DNS_A) -> bytes:
    """A recursive query (RD set) for one name."""
    return dns_message(ident, 0x0100, [(name, qtype)])


def dns_response(ident: int, name: str, qtype: int, answers: Iterable[RR] = (), rcode: int = 0) -> bytes:
    """The answer to `dns_query(ident, name, qtype)`: QR, RD, RA set; rcode 3 is NXDOMAIN."""
    return dns_message(ident, 0x8180 | (rcode & 0xF), [(name, qtype)], answers)


def mdns_announcement(
    hostname: str,
    address: str,
    service: str = "_http._tcp",
    instance: str | None = None,
    port: int = 80,
    txt: Sequence[str] = ("path=/",),
    ttl: int = 120,
) -> bytes:
    """An mDNS announcement (unsolicited response, id 0): PTR, SRV, TXT of a service and the host's address.

    Unique records (SRV, TXT, A/AAAA) carry the cache-flush bit, as RFC 6762 announcers send them.
    """
    host = f"{hostname}.local"
    svc = f"{service}.local"
    inst = f"{instance or hostname}.{svc}"
    rtype = DNS_AAAA if ":" in address else DNS_A
    return dns_message(
        0,
        0x8400,
        answers=[
            RR(svc, DNS_PTR, inst, 4500),
            RR(inst, DNS_SRV, SRV(0, 0, port, host), ttl, cache_flush=True),
            RR(inst, DNS_TXT, list(txt), 4500, cache_flush=True),
            RR(host, rtype, address, ttl, cache_flush=True),
        ],
    )


DHCP_DISCOVER, DHCP_OFFER, DHCP_REQUEST, DHCP_DECLINE, DHCP_ACK, DHCP_NAK, DHCP_RELEASE, DHCP_INFORM = range(1, 9)
DHCP_DEFAULT_PARAMS = (1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252)
DHCP_COOKIE = 0x63825363
BOOTP_MIN = 300  # BOOTP's fixed message size, which DHCP clients and servers still pad to


def dhcp(
    msg_type: int,
    xid: int,
    client_mac: Addr,
    *,
    ciaddr: Addr = "0.0.0.0",
    yiaddr: Addr = "0.0.0.0",
    siaddr: Addr = "0.0.0.0",
    giaddr: Addr = "0.0.0.0",
    broadcast: bool = False,
    secs: int = 0,
    requested_ip: Addr | None = None,
    server_id: Addr | None = None,
    hostname: str | None = None,
    vendor_class: str | None = None,
    params: Sequence[int] | None = None,
    lease_time: int | None = None,
    subnet_mask: Addr | None = None,
    router: Addr | None = None,
    dns_servers: Sequence[Addr] = (),
) -> bytes:
    """A DHCPv4 message (RFC 2131): BOOTREQUEST for DISCOVER/REQUEST/..., BOOTREPLY for OFFER/ACK/NAK.

    Options appear in the order clients usually send them: 53, 61 (client id), 50, 54,
    12 (hostname), 60 (vendor class), 55 (parameter list), then the server's 51, 1, 3, 6.
    """
    op = 2 if msg_type in (DHCP_OFFER, DHCP_ACK, DHCP_NAK) else 1
    hw = mac(client_mac)
    head = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128sI",
        op,
        1,
        6,
        0,
        xid & 0xFFFFFFFF,
        secs,
        0x8000 if broadcast else 0,
        ip(ciaddr),
        ip(yiaddr),
        ip(siaddr),
        ip(giaddr),
        hw,
        b"",
        b"",
        DHCP_COOKIE,
    )
    opts = bytearray([53, 1, msg_type])
    if op == 1:
        opts += bytes([61, 7, 1]) + hw
    if requested_ip is not None:
        opts += bytes([50, 4]) + ip(requested_ip)
    if server_id is not None:
        opts += bytes([54, 4]) + ip(server_id)
    if hostname is not None:
        opts += bytes([12, len(hostname)]) + hostname.encode()
    if vendor_class is not None:
        opts += bytes([60, len(vendor_class)]) + vendor_class.encode()
    if params is not None:
        opts += bytes([55, len(params), *params])
    if lease_time is not None:
        opts += struct.pack("!BBI", 51, 4, lease_time)
    if subnet_mask is not None:
        opts += bytes([1, 4]) + ip(subnet_mask)
    if router is not None:
        opts += bytes([3, 4]) + ip(router)
    if dns_servers:
        opts += bytes([6, 4 * len(dns_servers)]) + b"".join(ip(a) for a in dns_servers)
    opts.append(255)
    msg = head + bytes(opts)
    if len(msg) < BOOTP_MIN:
        msg += bytes(BOOTP_MIN - len(msg))
    return msg


# --- whole frames ------------------------------------------------------------------


def eth_ipv4_udp(
    src_mac: Addr,
    dst_mac: Addr,
    src: Addr,
    dst: Addr,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    tags: Sequence[bytes] = (),
) -> bytes:
    """The common case in one call: Ethernet, IPv4, UDP."""
    return ethernet(
        dst_mac,
        src_mac,
        ETH_IPV4,
        ipv4(src, dst, PROTO_UDP, udp(src, dst, sport, dport, payload), ident=ident, ttl=ttl),
        tags=tags,
    )


def multicast_mac(group: Addr) -> bytes:
    """The Ethernet address of an IPv4 (01:00:5e + 23 bits) or IPv6 (33:33 + 32 bits) group."""
    g = ip(group)
    if len(g) == 4:
        return b"\x01\x00\x5e" + bytes([g[1] & 0x7F]) + g[2:]
    return b"\x33\x33" + g[12:]
