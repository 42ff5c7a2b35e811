"""A deterministic synthetic LAN capture, fast enough for millions of frames.

`generate(n, seed)` simulates a mirror port on a campus LAN: a few hundred internal
hosts in four VLANs (office, servers, lab, IoT) with stable MAC addresses, IPv4, and
IPv6 link-local/ULA addresses for some; a couple of hundred servers on the Internet
with names. Hundreds of conversations run at once and interleave by time: TCP
connections (handshake, TLS-like exchanges, bulk transfers with delayed ACKs, FIN or
RST teardown; plain HTTP on port 80), QUIC-like UDP, DNS lookups (with CNAME chains,
AAAA and NXDOMAIN), DHCP DORA, mDNS announcements and browsing, ARP, ICMP and ICMPv6
echo, NTP.

Everything comes from one `random.Random(seed)` drawn in a fixed order and integer
nanosecond clocks, so one seed always gives byte-identical frames. Speed comes from
the TCP and bulk-UDP paths: each direction of a conversation keeps its constant
header bytes and the constant part of its checksums, and a segment is one
`struct.pack` plus a few integer additions (the Internet checksum is linear, and
2**16 is 1 modulo 0xFFFF, so 32-bit fields add in whole). Rare packets (DNS, DHCP,
...) go through the general builders of `packets`.

The capture is what a SPAN port on the clients' access switches delivers: frames
between a client and a host of another subnet (or the Internet) carry the router's
MAC on that side. `wrap` chooses how the mirror delivers it: plain Ethernet, every
frame 802.1Q-tagged with its client's VLAN, or every frame inside IPv4/GRE/ERSPAN
type II from the switch to the sensor.
"""

from __future__ import annotations

import heapq
import math
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Final

from nps_sensor.synth import WRAPS
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter

START_NS: Final = 1_718_000_000 * 1_000_000_000  # 2024-06-10, a Monday morning
MS: Final = 1_000_000
US: Final = 1_000
M32: Final = 0xFFFFFFFF

# Payload bytes: slices of one random blob, with prefix sums of its 16-bit words, so
# that the checksum contribution of any even-aligned slice is two lookups.
_BLOB_WORDS = 0x4400
BLOB: Final = random.Random(0x5EED).randbytes(2 * _BLOB_WORDS)
_PW: Final[list[int]] = [0, *accumulate(struct.unpack(f"!{_BLOB_WORDS}H", BLOB))]
_PO_MASK = 0x7FFE  # payload offsets stay even and leave room for a 1500-byte slice

_BYTE: Final = [bytes([i]) for i in range(256)]
_ETH4 = b"\x08\x00"
_ETH6 = b"\x86\xdd"
_T4 = struct.Struct("!14sHHHHHH12sIIHHHH")
_T4TS = struct.Struct("!14sHHHHHH12sIIHHHHIII")
_T6 = struct.Struct("!14sIHH36sIIHHHH")
_T6TS = struct.Struct("!14sIHH36sIIHHHHIII")
_U4 = struct.Struct("!14sHHHHHH12sHH")
_TS_WORDS = 0x0101 + 0x080A  # NOP, NOP, kind 8, length 10
_TS_OPT = 0x0101080A
_WIN_SYN_OPTS = struct.Struct("!BBHBBBBBBBB")  # MSS, NOP, window scale, NOP, NOP, SACK permitted


def _win_syn(mss: int, wscale: int) -> bytes:
    return _WIN_SYN_OPTS.pack(2, 4, mss, 1, 3, 3, wscale, 1, 1, 4, 2)


ACK, PSH, FIN, SYN, RST = 0x10, 0x08, 0x01, 0x02, 0x04


class _TcpDir:
    """One direction of a TCP connection: constant header bytes and checksum parts."""

    __slots__ = ("ap", "dst", "ipc", "ipid", "l2", "nhh", "src", "tcpc", "ttl", "ttlp", "v6", "w0")

    def __init__(
        self, src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, sport: int, dport: int, ttl: int, ipid: int
    ) -> None:
        self.v6 = len(src) == 16
        self.src, self.dst, self.ttl = src, dst, ttl
        self.l2 = dst_mac + src_mac + (_ETH6 if self.v6 else _ETH4)
        self.ap = src + dst + struct.pack("!HH", sport, dport)
        addr = int.from_bytes(src, "big") + int.from_bytes(dst, "big")
        self.tcpc = (addr + P.PROTO_TCP + sport + dport) % 0xFFFF
        self.ttlp = ttl << 8 | P.PROTO_TCP
        self.ipc = (0x4500 + 0x4000 + self.ttlp + addr) % 0xFFFF
        self.ipid = ipid
        self.w0 = 0x60000000 | (sport * 7919 + dport) & 0xFFFFF  # IPv6 flow label
        self.nhh = P.PROTO_TCP << 8 | ttl

    def seg(self, flags: int, seq: int, ack: int, win: int, plen: int, po: int, tsval: int, tsecr: int) -> bytes:
        """A segment with the timestamps option (32-byte header); seq/ack already masked."""
        tl = 32 + plen
        psum = _PW[(po + plen) >> 1] - _PW[po >> 1]
        if plen & 1:
            psum += BLOB[po + plen - 1] << 8
        word = 0x8000 | flags
        r = (self.tcpc + seq + ack + word + win + _TS_WORDS + tsval + tsecr + tl + psum) % 0xFFFF
        tcs = 0xFFFF - r if r else 0
        if self.v6:
            h = _T6TS.pack(self.l2, self.w0, tl, self.nhh, self.ap, seq, ack, word, win, tcs, 0, _TS_OPT, tsval, tsecr)
        else:
            ipid = self.ipid = (self.ipid + 1) & 0xFFFF
            r = (self.ipc + tl + 20 + ipid) % 0xFFFF
            h = _T4TS.pack(
                self.l2,
                0x4500,
                tl + 20,
                ipid,
                0x4000,
                self.ttlp,
                0xFFFF - r if r else 0,
                self.ap,
                seq,
                ack,
                word,
                win,
                tcs,
                0,
                _TS_OPT,
                tsval,
                tsecr,
            )
        return h + BLOB[po : po + plen] if plen else h

    def seg_plain(self, flags: int, seq: int, ack: int, win: int, plen: int, po: int, tsval: int, tsecr: int) -> bytes:
        """A segment without options (20-byte header), as Windows sends them; ts ignored."""
        tl = 20 + plen
        psum = _PW[(po + plen) >> 1] - _PW[po >> 1]
        if plen & 1:
            psum += BLOB[po + plen - 1] << 8
        word = 0x5000 | flags
        r = (self.tcpc + seq + ack + word + win + tl + psum) % 0xFFFF
        tcs = 0xFFFF - r if r else 0
        if self.v6:
            h = _T6.pack(self.l2, self.w0, tl, self.nhh, self.ap, seq, ack, word, win, tcs, 0)
        else:
            ipid = self.ipid = (self.ipid + 1) & 0xFFFF
            r = (self.ipc + tl + 20 + ipid) % 0xFFFF
            h = _T4.pack(
                self.l2,
                0x4500,
                tl + 20,
                ipid,
                0x4000,
                self.ttlp,
                0xFFFF - r if r else 0,
                self.ap,
                seq,
                ack,
                word,
                win,
                tcs,
                0,
            )
            if plen < 6:
                return h + BLOB[po : po + plen] + bytes(6 - plen)  # Ethernet minimum
        return h + BLOB[po : po + plen] if plen else h

    def special(self, flags: int, seq: int, ack: int, win: int, options: bytes, payload: bytes = b"") -> bytes:
        """A segment with other options (SYN, SYN-ACK) or its own payload: the general builders' path."""
        sport, dport = struct.unpack_from("!HH", self.ap, len(self.ap) - 4)
        seg = P.tcp(
            self.src, self.dst, sport, dport, payload, seq=seq, ack=ack, flags=flags, window=win, options=options
        )
        if self.v6:
            pkt = P.ipv6(self.src, self.dst, P.PROTO_TCP, seg, hop_limit=self.ttl, flow_label=self.w0 & 0xFFFFF)
        else:
            self.ipid = (self.ipid + 1) & 0xFFFF
            pkt = P.ipv4(self.src, self.dst, P.PROTO_TCP, seg, ident=self.ipid, ttl=self.ttl, df=True)
        return P.ethernet(self.l2[:6], self.l2[6:12], P.ETH_IPV6 if self.v6 else P.ETH_IPV4, pkt)


class _UdpDir:
    """One direction of a UDP conversation over IPv4: template for bulk datagrams."""

    __slots__ = ("ap", "ipc", "ipid", "l2", "ttlp", "udpc")

    def __init__(
        self, src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, sport: int, dport: int, ttl: int, ipid: int
    ) -> None:
        self.l2 = dst_mac + src_mac + _ETH4
        self.ap = src + dst + struct.pack("!HH", sport, dport)
        addr = int.from_bytes(src, "big") + int.from_bytes(dst, "big")
        self.udpc = (addr + P.PROTO_UDP + sport + dport) % 0xFFFF
        self.ttlp = ttl << 8 | P.PROTO_UDP
        self.ipc = (0x4500 + 0x4000 + self.ttlp + addr) % 0xFFFF
        self.ipid = ipid

    def dgram(self, plen: int, po: int) -> bytes:
        """A datagram of `plen` (> 0) bytes whose first byte reads as a QUIC short header.

        (0x40-0x7F: QUIC's fixed bit, and no RTP/RTCP version 2 for Wireshark's heuristics.)
        """
        ul = 8 + plen
        lead = BLOB[po]
        first = 0x40 | (lead & 0x3F)
        psum = _PW[(po + plen) >> 1] - _PW[po >> 1] + ((first - lead) << 8)
        if plen & 1:
            psum += BLOB[po + plen - 1] << 8
        r = (self.udpc + ul + ul + psum) % 0xFFFF
        ipid = self.ipid = (self.ipid + 1) & 0xFFFF
        r4 = (self.ipc + ul + 20 + ipid) % 0xFFFF
        h = _U4.pack(
            self.l2, 0x4500, ul + 20, ipid, 0x4000, self.ttlp, 0xFFFF - r4 if r4 else 0, self.ap, ul, 0xFFFF - r
        )
        f = h + _BYTE[first] + BLOB[po + 1 : po + plen]
        return f + bytes(60 - len(f)) if len(f) < 60 else f


# --- the simulated network ---------------------------------------------------------

ROUTER_MAC: Final = bytes.fromhex("00000c9ff00a")  # one SVI MAC on every VLAN, as an L3 switch has
SWITCH_MAC: Final = bytes.fromhex("f87b200a0101")
SENSOR_MAC: Final = bytes.fromhex("0219b9000010")
SWITCH_IP: Final = bytes([10, 255, 0, 2])
SENSOR_IP: Final = bytes([10, 255, 0, 10])
ERSPAN_SESSION: Final = 42

_OUIS: Final = {
    "windows": ("f8bc12", "3c5282", "54e1ad", "00215c", "8cec4b", "b0227a"),
    "mac": ("f01898", "8c8590", "a483e7", "3c22fb", "14987d"),
    "linux": ("001b21", "b827eb", "dca632", "005056", "3cecef", "a0369f"),
    "iot": ("240ac4", "ecfabc", "4419b6", "b0be76", "18b430", "001788", "000e58", "008077"),
}
_EPHEMERAL: Final = {"windows": (49152, 65535), "mac": (49152, 65535), "linux": (32768, 60999), "iot": (49152, 65535)}


@dataclass(slots=True, eq=False)
class _Host:
    """An address holder, inside (subnet >= 0) or outside the LAN (subnet -1)."""

    name: str
    ip4: bytes
    mac: bytes  # for hosts outside, the router's
    subnet: int
    vlan: int
    os: str
    ttl: int  # initial TTL; for hosts outside, as it arrives at the tap
    ts: bool  # sends TCP timestamps
    rtt: int  # ns, from the tap to this host and back
    rate: float  # bulk throughput, bytes per ns
    port: int = 0  # next ephemeral port
    lo: int = 49152
    hi: int = 65535
    ll6: bytes | None = None
    ula: bytes | None = None
    ip6: bytes | None = None  # global IPv6 for AAAA answers (servers outside)
    cname: str | None = None
    services: tuple[int, ...] = (443,)
    mdns: tuple[str, str, int] | None = None  # service type, instance name, port
    dns: _Host | None = None  # resolver
    mdns_quiet: int = 0  # ns: when this host may multicast mDNS answers again (RFC 6762 rate limit)
    gateway: bytes = b""

    def eport(self) -> int:
        p = self.port
        self.port = p + 1 if p < self.hi else self.lo
        return p


@dataclass(frozen=True, slots=True)
class _Subnet:
    prefix: tuple[int, ...]
    vlan: int
    hosts: int
    role: str
    os_mix: tuple[tuple[str, float], ...]


_SUBNETS: Final = (
    _Subnet((10, 10), 10, 150, "office", (("windows", 0.6), ("mac", 0.25), ("linux", 0.15))),
    _Subnet((10, 20, 0), 20, 24, "server", (("linux", 0.85), ("windows", 0.15))),
    _Subnet((192, 168, 1), 30, 60, "lab", (("linux", 0.7), ("windows", 0.2), ("mac", 0.1))),
    _Subnet((192, 168, 50), 50, 66, "iot", (("iot", 1.0),)),
)
_SERVERS: Final = (
    ("dns1", (53,)),
    ("files", (445,)),
    ("intranet", (443, 80)),
    ("git", (22, 443)),
    ("print", (9100, 443)),
    ("backup", (22, 873)),
    ("rdp-gw", (3389,)),
    ("mail", (993, 587)),
    ("db1", (5432,)),
    ("db2", (3306,)),
    ("ci", (443, 22)),
    ("wiki", (443,)),
    ("nas", (445, 2049)),
)
_IOT_MDNS: Final = (
    ("_ipp._tcp", "Printer", 631),
    ("_googlecast._tcp", "Chromecast", 8009),
    ("_airplay._tcp", "Living Room TV", 7000),
    ("_hap._tcp", "Thermostat", 80),
    ("_sonos._tcp", "Sonos", 1443),
    ("_http._tcp", "Camera", 80),
)
_BRANDS: Final = (
    "contoso", "fabrikam", "northwind", "tailspin", "wingtip", "litware", "proseware", "woodgrove",
    "adatum", "fourthcoffee", "lucerne", "margie", "treyresearch", "wideworld", "alpineski", "blueyonder",
)  # fmt: skip
_SUBDOMAINS: Final = (
    "www",
    "api",
    "cdn",
    "static",
    "login",
    "update",
    "mail",
    "img",
    "telemetry",
    "files",
    "ws",
    "app",
)
_TLDS: Final = ("com", "net", "io", "org")
_FIRST_OCTETS: Final = (
    13, 20, 23, 31, 34, 35, 40, 52, 54, 64, 66, 69, 74, 80, 81,
    85, 91, 93, 95, 104, 140, 142, 151, 157, 162, 185, 199, 204, 208, 212,
)  # fmt: skip
_NXDOMAIN: Final = (
    "wpad.corp.example",
    "isatap.corp.example",
    "_ldap._tcp.dc.corp.example",
    "printer.local.corp.example",
)
_DNS_TTLS: Final = (60, 120, 300, 600, 3600)  # as answers arrive from caches: a few typical values
_DHCP_VENDOR: Final = {
    "windows": "MSFT 5.0",
    "linux": "dhcpcd-9.4.1:Linux-6.1.0-21-amd64:x86_64:GenuineIntel",
    "iot": "udhcp 1.36.1",
}


def _toward(c: _Host, p: _Host) -> tuple[bytes, int]:
    """On the wire next to client `c`: the MAC that stands for `p`, and the TTL `p`'s packets arrive with.

    A neighbour is reached directly; anything else through the router, one hop more.
    """
    if p.subnet == c.subnet:
        return p.mac, p.ttl
    return ROUTER_MAC, p.ttl if p.subnet < 0 else p.ttl - 1


def _eui64(prefix: bytes, mac: bytes) -> bytes:
    return prefix + bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]


Flow = Callable[[_Host], Iterator[tuple[int, bytes]]]


class _Lan:
    """The hosts, and a factory of conversations between them (generators of frames)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rand: Callable[[], float] = self.rng.random
        self._macs: set[bytes] = set()
        self.subnets: list[list[_Host]] = []
        self._build_lan()
        self.servers = self.subnets[1]
        self.outside = self._build_outside()
        self.ntp = self.outside[:3]
        self.clients = [h for i in (0, 2, 3) for h in self.subnets[i]]
        self.announcers = [h for h in self.clients if h.mdns is not None]
        self.now = START_NS
        self._dns_cache: dict[tuple[str, int, int], bytes] = {}
        self._kinds, self._weights = self._mix()

    # --- hosts ------------------------------------------------------------------

    def _mac(self, os: str) -> bytes:
        ouis = _OUIS[os]
        while True:
            m = bytes.fromhex(ouis[int(self.rand() * len(ouis))]) + self.rng.randbytes(3)
            if m not in self._macs:
                self._macs.add(m)
                return m

    def _pick_os(self, mix: tuple[tuple[str, float], ...]) -> str:
        r = self.rand()
        for os, share in mix:
            if r < share:
                return os
            r -= share
        return mix[-1][0]

    def _build_lan(self) -> None:
        r = self.rand
        resolver: _Host | None = None
        for si, sn in enumerate(_SUBNETS):
            hosts: list[_Host] = []
            gw = bytes([*sn.prefix, 0, 1]) if len(sn.prefix) == 2 else bytes([*sn.prefix, 1])
            for n in range(sn.hosts):
                if len(sn.prefix) == 2:  # a /22: 10.10.0.10 - 10.10.3.x
                    addr = bytes([*sn.prefix, (n + 10) // 250, (n + 10) % 250 + 2])
                else:
                    addr = bytes([*sn.prefix, n + 10])
                os = self._pick_os(sn.os_mix)
                mac = self._mac(os)
                lo, hi = _EPHEMERAL[os]
                h = _Host(
                    name=f"{sn.role}-{n:03d}",
                    ip4=addr,
                    mac=mac,
                    subnet=si,
                    vlan=sn.vlan,
                    os=os,
                    ttl=128 if os == "windows" else (255 if os == "iot" and r() < 0.3 else 64),
                    ts=os != "windows" and not (os == "iot" and r() < 0.5),
                    rtt=int((100 + 400 * r()) * US),
                    rate=(100 + 800 * r()) * 1e6 / 8 / 1e9,
                    lo=lo,
                    hi=hi,
                    gateway=gw,
                )
                h.port = lo + int(r() * (hi - lo))
                if os != "iot" or r() < 0.4:
                    h.ll6 = _eui64(b"\xfe\x80" + bytes(6), mac)
                if sn.role != "iot" and r() < 0.5:
                    h.ula = _eui64(bytes.fromhex("fd42133700") + bytes([0, sn.vlan >> 8, sn.vlan & 0xFF]), mac)
                if sn.role == "server":
                    if n < len(_SERVERS):
                        h.name, h.services = _SERVERS[n]
                    else:
                        h.name = f"srv-{n:02d}"
                    if h.name == "dns1":
                        addr = h.ip4 = bytes([10, 20, 0, 53])
                        resolver = h
                elif sn.role == "iot":
                    kind = _IOT_MDNS[n % len(_IOT_MDNS)]
                    h.name = f"{kind[1].lower().replace(' ', '-')}-{n:02d}"
                    h.mdns = (kind[0], f"{kind[1]} {n:02d}", kind[2])
                elif os == "mac" or r() < 0.1:
                    h.mdns = (
                        ("_workstation._tcp", h.name, 9) if os != "mac" else ("_companion-link._tcp", h.name, 49152)
                    )
                hosts.append(h)
            self.subnets.append(hosts)
        assert resolver is not None
        for si, hosts in enumerate(self.subnets):
            sn = _SUBNETS[si]
            # Office and servers ask the DNS server; the lab and IoT networks, their router.
            dns = resolver
            if sn.role in ("lab", "iot"):
                dns = _Host("gateway", hosts[0].gateway, ROUTER_MAC, si, sn.vlan, "linux", 64, True, 200 * US, 0.01)
            for h in hosts:
                h.dns = dns

    def _build_outside(self) -> list[_Host]:
        r = self.rand
        out: list[_Host] = []
        seen: set[bytes] = set()
        names: set[str] = set()
        while len(out) < 200:
            brand = _BRANDS[int(r() * len(_BRANDS))]
            name = f"{_SUBDOMAINS[int(r() * len(_SUBDOMAINS))]}.{brand}.{_TLDS[int(r() * len(_TLDS))]}"
            addr = bytes([_FIRST_OCTETS[int(r() * len(_FIRST_OCTETS))], *self.rng.randbytes(2), 1 + int(r() * 253)])
            if name in names or addr in seen:
                continue
            names.add(name)
            seen.add(addr)
            base = 64 if r() < 0.8 else (128 if r() < 0.5 else 255)
            h = _Host(
                name=name,
                ip4=addr,
                mac=ROUTER_MAC,
                subnet=-1,
                vlan=0,
                os="server",
                ttl=base - 6 - int(r() * 14),
                ts=r() < 0.9,
                # log-uniform 3-90 ms and 5-300 Mbit/s
                rtt=int(3 * MS * math.exp(r() * math.log(30))),
                rate=5e6 * math.exp(r() * math.log(60)) / 8 / 1e9,
                services=(443, 80) if r() < 0.2 else (443,),
            )
            if r() < 0.3:
                h.cname = f"{brand}-{len(out)}.edge.{_BRANDS[int(r() * len(_BRANDS))]}-cdn.net"
            if r() < 0.4:
                h.ip6 = bytes.fromhex("2a05d0") + self.rng.randbytes(13)
            out.append(h)
        for i, h in enumerate(out[:3]):
            h.name = f"ntp{i + 1}.{h.name.split('.', 1)[1]}"
            h.services = (123,)
        return out

    # --- the conversation mix ---------------------------------------------------------

    def _mix(self) -> tuple[list[tuple[Flow, bool]], list[float]]:
        # (conversation, whether its client must announce an mDNS service), share of new ones
        table: list[tuple[Flow, bool, float]] = [
            (self._web, False, 0.30),
            (self._internal, False, 0.10),
            (self._upload, False, 0.02),
            (self._interactive, False, 0.03),
            (self._quic, False, 0.05),
            (self._dns_only, False, 0.18),
            (self._reject, False, 0.03),
            (self._arp, False, 0.10),
            (self._mdns, True, 0.04),
            (self._ping, False, 0.03),
            (self._ping6, False, 0.02),
            (self._ntp, False, 0.02),
            (self._dhcp, False, 0.01),
        ]
        total = sum(w for *_, w in table)
        return [(k, m) for k, m, _ in table], list(accumulate(w / total for *_, w in table))

    def new_flow(self, now: int) -> tuple[Iterator[tuple[int, bytes]], int]:
        """A new conversation starting at `now`, as (gap ns, frame) pairs, and the VLAN it
        is seen on (its client's).

        A frame may be empty: a pause with nothing on the wire.
        """
        self.now = now
        r = self.rand()
        kind, announcer = self._kinds[-1]
        for k, edge in zip(self._kinds, self._weights, strict=True):
            if r < edge:
                kind, announcer = k
                break
        pool = self.announcers if announcer else self.clients
        c = pool[int(self.rand() * len(pool))]
        return kind(c), c.vlan

    def _peer_outside(self) -> _Host:
        # Popular servers get more traffic: a skewed pick (the first three are NTP servers).
        return self.outside[3 + int(self.rand() ** 2.5 * (len(self.outside) - 3))]

    def _server(self) -> _Host:
        return self.servers[int(self.rand() * len(self.servers))]

    def _heavy(self, xm: float, alpha: float, cap: int) -> int:
        """A Pareto-distributed size: many small, a few huge (web objects, files)."""
        return min(cap, int(xm / (1.0 - self.rand()) ** (1.0 / alpha)))

    def _jitter(self, mean: int) -> int:
        return int(mean * (0.3 + 1.4 * self.rand()))

    # --- TCP --------------------------------------------------------------------

    def _tcp(
        self,
        c: _Host,
        s: _Host,
        dport: int,
        rounds: list[tuple[int, int]],
        v6: bool = False,
        think: int = 500 * US,
    ) -> Iterator[tuple[int, bytes]]:
        """A TCP connection seen next to the client: handshake, request/response rounds
        (bytes each way), teardown. Port 80 carries real HTTP/1.1 heads.

        The hot loop: one template call per segment, clocks and sequence numbers in locals.
        """
        rand = self.rand
        jit = self._jitter
        sport = c.eport()
        smac, s_ttl = _toward(c, s)
        if v6:
            assert c.ula is not None and s.ula is not None
            ca, sa = c.ula, s.ula
        else:
            ca, sa = c.ip4, s.ip4
        cd = _TcpDir(c.mac, smac, ca, sa, sport, dport, c.ttl, int(rand() * 65536))
        sd = _TcpDir(smac, c.mac, sa, ca, dport, sport, s_ttl, int(rand() * 65536))
        ts = c.ts and s.ts
        mss = (1440 if v6 else 1460) - (12 if ts else 0)
        cseg = cd.seg if ts else cd.seg_plain
        sseg = sd.seg if ts else sd.seg_plain
        rtt = s.rtt if s.subnet < 0 else c.rtt
        # Bulk pacing: the slower end's throughput, as a gap per full-size segment.
        seg_gap = max(2 * US, int((mss + 66) / min(c.rate, s.rate)))
        cseq, sseq = int(rand() * M32), int(rand() * M32)
        cclock, sclock = int(rand() * M32), int(rand() * M32)  # TSval bases, 1 ms ticks
        cwin = 64240 if c.os == "windows" else 502 + int(rand() * 1500)
        swin = 501 + int(rand() * 3000)
        cpo, spo = int(rand() * _PO_MASK) & _PO_MASK, int(rand() * _PO_MASK) & _PO_MASK
        http = dport == 80
        now = 0

        adv = mss + (12 if ts else 0)
        syn_opts = P.tcp_options(adv, True, (cclock, 0), 7) if ts else _win_syn(adv, 8)
        yield 0, cd.special(SYN, cseq, 0, 64240 if c.os == "windows" else 65535, syn_opts)
        now += rtt
        sts = (sclock + (now >> 20)) & M32
        syn_opts = P.tcp_options(adv, True, (sts, cclock), 7) if ts else _win_syn(adv, 8)
        yield rtt, sd.special(SYN | ACK, sseq, (cseq + 1) & M32, 65160, syn_opts)
        cseq = (cseq + 1) & M32
        sseq = (sseq + 1) & M32
        g = jit(40 * US)
        now += g
        cts = (cclock + (now >> 20)) & M32
        yield g, cseg(ACK, cseq, sseq, cwin, 0, 0, cts, sts)

        for req, answer in rounds:
            g = jit(think)
            resp = answer
            if http:
                # An HTTP request (one segment), and the head that opens the response body.
                head = _http_request(s.name, c.os, rand)
                now += g
                cts = (cclock + (now >> 20)) & M32
                yield g, cd.special(PSH | ACK, cseq, sseq, cwin, _ts_opt(ts, cts, sts), head)
                cseq = (cseq + len(head)) & M32
                left = 0
                head = _http_response(resp)
                resp = len(head) + max(0, resp - len(head))
            else:
                head = b""
                left = req
            first = True
            while left > 0:
                plen = mss if left > mss else left
                left -= plen
                now += g
                cts = (cclock + (now >> 20)) & M32
                yield g, cseg(ACK | (PSH if left == 0 else 0), cseq, sseq, cwin, plen, cpo, cts, sts)
                cseq = (cseq + plen) & M32
                cpo = (cpo + plen + 2) & _PO_MASK
                g = jit(seg_gap // 2) if first else jit(seg_gap)
                first = False
            # The server's answer after a round trip and its own think time.
            g = rtt + jit(300 * US)
            if resp <= 0:
                now += g
                sts = (sclock + (now >> 20)) & M32
                yield g, sseg(ACK, sseq, cseq, swin, 0, 0, sts, cts)
                continue
            n = 0
            left = resp
            while left > 0:
                plen = mss if left > mss else left
                left -= plen
                now += g
                sts = (sclock + (now >> 20)) & M32
                flags = ACK | (PSH if left == 0 else 0)
                if head:
                    body = head + BLOB[spo : spo + plen - len(head)]
                    yield g, sd.special(flags, sseq, cseq, swin, _ts_opt(ts, sts, cts), body)
                    head = b""
                else:
                    yield g, sseg(flags, sseq, cseq, swin, plen, spo, sts, cts)
                sseq = (sseq + plen) & M32
                spo = (spo + plen + 2) & _PO_MASK
                n += 1
                if n == 2 or left == 0:
                    # Delayed ACK: every second full segment, and at the end of the data.
                    n = 0
                    g = int(8 * US + 30 * US * rand())
                    now += g
                    cts = (cclock + (now >> 20)) & M32
                    yield g, cseg(ACK, cseq, sseq, cwin, 0, 0, cts, sts)
                g = int(seg_gap * (0.1 + 1.8 * rand()))

        # Teardown: the client closes, the server closes, or the client resets.
        r = rand()
        g = jit(think)
        now += g
        cts = (cclock + (now >> 20)) & M32
        if r < 0.15:
            yield g, cseg(RST | ACK, cseq, sseq, 0, 0, 0, cts, sts)
            return
        if r < 0.3:
            sts = (sclock + (now >> 20)) & M32
            yield g, sseg(FIN | ACK, sseq, cseq, swin, 0, 0, sts, cts)
            g = jit(60 * US)
            now += g
            cts = (cclock + (now >> 20)) & M32
            yield g, cseg(FIN | ACK, cseq, (sseq + 1) & M32, cwin, 0, 0, cts, sts)
            now += rtt
            sts = (sclock + (now >> 20)) & M32
            yield rtt, sseg(ACK, (sseq + 1) & M32, (cseq + 1) & M32, swin, 0, 0, sts, cts)
            return
        yield g, cseg(FIN | ACK, cseq, sseq, cwin, 0, 0, cts, sts)
        now += rtt
        sts = (sclock + (now >> 20)) & M32
        yield rtt, sseg(FIN | ACK, sseq, (cseq + 1) & M32, swin, 0, 0, sts, cts)
        g = jit(40 * US)
        now += g
        cts = (cclock + (now >> 20)) & M32
        yield g, cseg(ACK, (cseq + 1) & M32, (sseq + 1) & M32, cwin, 0, 0, cts, sts)

    def _web(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """To a server on the Internet, often after a DNS lookup: TLS-like handshake and
        objects on 443, plain HTTP requests on 80."""
        rand = self.rand
        s = self._peer_outside()
        port = s.services[int(rand() * len(s.services))]
        rounds: list[tuple[int, int]] = []
        if port == 443:
            hello = 1700 + int(rand() * 200) if rand() < 0.35 else 250 + int(rand() * 350)
            rounds += [(hello, 2500 + int(rand() * 3500)), (64 + int(rand() * 64), 0)]
        for _ in range(1 + int(rand() * 4)):
            rounds.append((80 + int(rand() * 900), self._heavy(900, 1.05, 40_000_000)))
        tcp = self._tcp(c, s, port, rounds)
        return chain(self._lookup(c, s), tcp) if rand() < 0.4 else tcp

    def _upload(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        rand = self.rand
        rounds = [(300 + int(rand() * 300), 3000 + int(rand() * 2000)), (self._heavy(20_000, 1.1, 20_000_000), 200)]
        return self._tcp(c, self._peer_outside(), 443, rounds)

    def _internal(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """To an internal server (file shares, intranet, git, ...), over IPv6 ULA when both have one."""
        rand = self.rand
        s = self._server()
        port = s.services[int(rand() * len(s.services))]
        if port == 53:
            return self._lookup(c, self.outside[3 + int(rand() * 100)], s)
        v6 = c.ula is not None and s.ula is not None and rand() < 0.6
        rounds = [(100 + int(rand() * 400), self._heavy(4000, 1.1, 80_000_000)) for _ in range(1 + int(rand() * 6))]
        return self._tcp(c, s, port, rounds, v6=v6, think=200 * US)

    def _interactive(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """SSH or RDP: many small exchanges with human think times between them."""
        rand = self.rand
        s = self._server()
        port = 22 if rand() < 0.6 else 3389
        rounds = [(36 + int(rand() * 80), 36 + int(rand() * 400)) for _ in range(3 + int(rand() * 40))]
        v6 = c.ula is not None and s.ula is not None
        return self._tcp(c, s, port, rounds, v6=v6, think=30 * MS)

    def _reject(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """A connection attempt to a closed port of a neighbour: SYN, then RST-ACK."""
        peers = self.subnets[c.subnet]
        s = peers[int(self.rand() * len(peers))]
        if s is c:
            return
        port = (23, 8080, 5900, 139, 8443, 1883)[int(self.rand() * 6)]
        sport = c.eport()
        cd = _TcpDir(c.mac, s.mac, c.ip4, s.ip4, sport, port, c.ttl, int(self.rand() * 65536))
        sd = _TcpDir(s.mac, c.mac, s.ip4, c.ip4, port, sport, s.ttl, int(self.rand() * 65536))
        seq = int(self.rand() * M32)
        yield 0, cd.special(SYN, seq, 0, 64240, P.tcp_options(1460, True, None, 8))
        yield s.rtt, sd.special(RST | ACK, 0, (seq + 1) & M32, 0, b"")

    # --- UDP ----------------------------------------------------------------------

    def _lookup(self, c: _Host, target: _Host, resolver: _Host | None = None) -> Iterator[tuple[int, bytes]]:
        """A DNS lookup of `target`'s name: A (and often AAAA), answers with any CNAME,
        then the application's pause before it connects."""
        rand = self.rand
        dns = resolver or c.dns
        assert dns is not None
        dmac, dttl = _toward(c, dns)
        qtypes = [P.DNS_A, P.DNS_AAAA] if rand() < 0.5 else [P.DNS_A]
        sport = c.eport()
        name = target.name
        ids = [int(rand() * 65536) for _ in qtypes]
        for i, (qt, ident) in enumerate(zip(qtypes, ids, strict=True)):
            q = self._dns_message(ident, name, qt, None, 0)
            frame = P.eth_ipv4_udp(c.mac, dmac, c.ip4, dns.ip4, sport, 53, q, ttl=c.ttl, ident=int(rand() * 65536))
            yield (0 if i == 0 else int(50 * US * rand())), frame
        delay = int((0.3 + 2 * rand()) * MS) if rand() < 0.7 else int((10 + 60 * rand()) * MS)
        for i, (qt, ident) in enumerate(zip(qtypes, ids, strict=True)):
            msg = self._dns_message(ident, name, qt, target, _DNS_TTLS[int(rand() * len(_DNS_TTLS))])
            frame = P.eth_ipv4_udp(dmac, c.mac, dns.ip4, c.ip4, 53, sport, msg, ttl=dttl, ident=int(rand() * 65536))
            yield (delay if i == 0 else int(30 * US * rand())), frame
        yield int(100 * US + 300 * US * rand()), b""

    def _dns_message(self, ident: int, name: str, qtype: int, target: _Host | None, ttl: int) -> bytes:
        """A query (ttl 0), NXDOMAIN (ttl -1) or the answer about `target` with that TTL.

        Messages differ only in their ID once built, so they are built once: name
        compression is the slowest part of a DNS packet.
        """
        key = (name, qtype, ttl)
        msg = self._dns_cache.get(key)
        if msg is None:
            if ttl == 0:
                msg = P.dns_query(0, name, qtype)
            elif target is None:
                msg = P.dns_response(0, name, qtype, rcode=3)
            else:
                answers: list[P.RR] = []
                owner = name
                if target.cname is not None:
                    answers.append(P.RR(name, P.DNS_CNAME, target.cname, ttl))
                    owner = target.cname
                if qtype == P.DNS_A:
                    answers.append(P.RR(owner, P.DNS_A, P.ip_text(target.ip4), ttl))
                elif target.ip6 is not None:
                    answers.append(P.RR(owner, P.DNS_AAAA, P.ip_text(target.ip6), ttl))
                msg = P.dns_response(0, name, qtype, answers)
            self._dns_cache[key] = msg
        return ident.to_bytes(2, "big") + msg[2:]

    def _dns_only(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """Lookups that lead nowhere visible (cached connections, prefetch), and some NXDOMAINs."""
        if self.rand() >= 0.12:
            return self._lookup(c, self._peer_outside())
        return self._nxdomain(c)

    def _nxdomain(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        dns = c.dns
        assert dns is not None
        dmac, dttl = _toward(c, dns)
        name = _NXDOMAIN[int(self.rand() * len(_NXDOMAIN))]
        ident, sport = int(self.rand() * 65536), c.eport()
        query = self._dns_message(ident, name, P.DNS_A, None, 0)
        yield 0, P.eth_ipv4_udp(c.mac, dmac, c.ip4, dns.ip4, sport, 53, query, ttl=c.ttl)
        msg = self._dns_message(ident, name, P.DNS_A, None, -1)
        yield int((1 + 20 * self.rand()) * MS), P.eth_ipv4_udp(dmac, c.mac, dns.ip4, c.ip4, 53, sport, msg, ttl=dttl)

    def _quic(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """QUIC-like UDP/443: a padded client Initial, a burst down, short acknowledgements up."""
        rand = self.rand
        s = self._peer_outside()
        sport = c.eport()
        cu = _UdpDir(c.mac, ROUTER_MAC, c.ip4, s.ip4, sport, 443, c.ttl, int(rand() * 65536))
        su = _UdpDir(ROUTER_MAC, c.mac, s.ip4, c.ip4, 443, sport, s.ttl, int(rand() * 65536))
        po = int(rand() * _PO_MASK) & _PO_MASK
        yield 0, cu.dgram(1250 + int(rand() * 100), po)
        size = 1200 + int(rand() * 150)
        n = 1 + self._heavy(8, 1.1, 30_000)
        gap = max(3 * US, int(size / s.rate))
        g = s.rtt
        for i in range(n):
            po = (po + 1402) & _PO_MASK
            yield g, su.dgram(size if i < n - 1 else 40 + int(rand() * 1000), po)
            g = int(gap * (0.1 + 1.8 * rand()))
            if i % 3 == 2 or i == n - 1:
                yield int(10 * US + 40 * US * rand()), cu.dgram(30 + int(rand() * 30), po)

    def _ntp(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """An SNTP client request (version 4, mode 3) and the server's answer (mode 4, stratum 2)."""
        s = self.ntp[int(self.rand() * len(self.ntp))]
        sport = 123 if c.os in ("linux", "iot") else c.eport()
        req = bytes([0x23]) + bytes(39) + self.rng.randbytes(8)
        ident = int(self.rand() * 65536)
        yield 0, P.eth_ipv4_udp(c.mac, ROUTER_MAC, c.ip4, s.ip4, sport, 123, req, ttl=c.ttl, ident=ident)
        resp = bytes([0x24, 2, 0, 0xE9]) + self.rng.randbytes(20) + req[40:48] + self.rng.randbytes(16)
        ident = int(self.rand() * 65536)
        yield s.rtt, P.eth_ipv4_udp(ROUTER_MAC, c.mac, s.ip4, c.ip4, 123, sport, resp, ttl=s.ttl, ident=ident)

    def _mdns(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """mDNS: a device announces its service (over IPv4, and IPv6 from its link-local
        address), repeated after a second; once announced, it browses for a service type
        and the devices offering it answer. Nobody multicasts answers twice a second."""
        rand = self.rand
        now = self.now
        if c.mdns_quiet <= now:
            c.mdns_quiet = now + 2200 * MS
            frames = self._mdns_answers(c, v6=True)
            for rep in range(2):
                for i, f in enumerate(frames):
                    yield (int(200 * US * rand()) if i else 1000 * MS if rep else 0), f
            return
        service = self.announcers[int(rand() * len(self.announcers))].mdns
        assert service is not None
        question = P.dns_message(0, 0, [(f"{service[0]}.local", P.DNS_PTR)])
        group = "224.0.0.251"
        ident = int(rand() * 65536)
        yield 0, P.eth_ipv4_udp(c.mac, P.multicast_mac(group), c.ip4, group, 5353, 5353, question, ttl=255, ident=ident)
        offering = [h for h in self.announcers if h.mdns is not None and h.mdns[0] == service[0]]
        for h in offering[:4]:
            if h.mdns_quiet <= now and h is not c:
                h.mdns_quiet = now + 1000 * MS
                yield int((20 + 100 * rand()) * MS), self._mdns_answers(h, v6=False)[0]

    def _mdns_answers(self, h: _Host, v6: bool) -> list[bytes]:
        assert h.mdns is not None
        service, instance, port = h.mdns
        txt = ["txtvers=1", f"model={h.os}", f"id={h.mac.hex()}"]
        group4, group6 = "224.0.0.251", "ff02::fb"
        msg = P.mdns_announcement(h.name, P.ip_text(h.ip4), service, instance, port, txt)
        mac4 = P.multicast_mac(group4)
        ident = int(self.rand() * 65536)
        frames = [P.eth_ipv4_udp(h.mac, mac4, h.ip4, group4, 5353, 5353, msg, ttl=255, ident=ident)]
        if v6 and h.ll6 is not None:
            msg = P.mdns_announcement(h.name, P.ip_text(h.ll6), service, instance, port, txt)
            pkt = P.ipv6(h.ll6, group6, P.PROTO_UDP, P.udp(h.ll6, group6, 5353, 5353, msg), hop_limit=255)
            frames.append(P.ethernet(P.multicast_mac(group6), h.mac, P.ETH_IPV6, pkt))
        return frames

    def _dhcp(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """DISCOVER, OFFER, REQUEST, ACK, all broadcast; the router relays for the DHCP server."""
        rand = self.rand
        xid = int(rand() * M32)
        gw = c.gateway
        vendor = _DHCP_VENDOR.get(c.os)
        params = P.DHCP_DEFAULT_PARAMS if c.os == "windows" else (1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59, 119)
        mask = "255.255.252.0" if c.subnet == 0 else "255.255.255.0"
        dns = c.dns.ip4 if c.dns is not None else gw
        bcast = c.os == "windows"
        secs = 0
        for mt in (P.DHCP_DISCOVER, P.DHCP_OFFER, P.DHCP_REQUEST, P.DHCP_ACK):
            if mt in (P.DHCP_DISCOVER, P.DHCP_REQUEST):
                msg = P.dhcp(
                    mt,
                    xid,
                    c.mac,
                    secs=secs,
                    broadcast=bcast,
                    requested_ip=c.ip4,
                    server_id=gw if mt == P.DHCP_REQUEST else None,
                    hostname=c.name,
                    vendor_class=vendor,
                    params=params,
                )
                frame = P.eth_ipv4_udp(c.mac, P.BROADCAST, "0.0.0.0", "255.255.255.255", 68, 67, msg, ttl=c.ttl)
                gap = 0 if mt == P.DHCP_DISCOVER else int((0.2 + rand()) * MS)
            else:
                msg = P.dhcp(
                    mt,
                    xid,
                    c.mac,
                    yiaddr=c.ip4,
                    siaddr=gw,
                    broadcast=bcast,
                    server_id=gw,
                    lease_time=86400,
                    subnet_mask=mask,
                    router=gw,
                    dns_servers=[dns],
                )
                frame = P.eth_ipv4_udp(ROUTER_MAC, P.BROADCAST, gw, "255.255.255.255", 67, 68, msg, ttl=64)
                gap = int((2 + 20 * rand()) * MS)
            secs = 1
            yield gap, frame

    # --- ARP and ICMP -------------------------------------------------------------

    def _arp(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """Who has the gateway (or a neighbour)? The answer comes straight back."""
        peers = self.subnets[c.subnet]
        if self.rand() < 0.5:
            t_ip, t_mac = c.gateway, ROUTER_MAC
        else:
            p = peers[int(self.rand() * len(peers))]
            t_ip, t_mac = p.ip4, p.mac
        yield 0, P.ethernet(P.BROADCAST, c.mac, P.ETH_ARP, P.arp(1, c.mac, c.ip4, bytes(6), t_ip))
        if t_ip != c.ip4:
            reply = P.arp(2, t_mac, t_ip, c.mac, c.ip4)
            yield int((50 + 500 * self.rand()) * US), P.ethernet(c.mac, t_mac, P.ETH_ARP, reply)

    def _ping(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """Four echo requests one second apart; the payload tells Windows (32 bytes) from Linux (56)."""
        rand = self.rand
        outside = rand() < 0.6
        s = self._peer_outside() if outside else self._server()
        smac, s_ttl = _toward(c, s)
        rtt = s.rtt if outside else c.rtt
        ident = int(rand() * 65536)
        if c.os == "windows":
            payload = b"abcdefghijklmnopqrstuvwabcdefghi"
        else:
            payload = self.rng.randbytes(8) + bytes(range(0x10, 0x38))
        base = int(rand() * 60000)
        df = c.os != "windows"
        for i in range(4):
            seq = base + i + 1
            echo = P.icmp_echo(ident, seq, payload)
            req = P.ipv4(c.ip4, s.ip4, P.PROTO_ICMP, echo, ident=int(rand() * 65536), ttl=c.ttl, df=df)
            yield (0 if i == 0 else 1000 * MS), P.ethernet(smac, c.mac, P.ETH_IPV4, req)
            echo = P.icmp_echo(ident, seq, payload, reply=True)
            rep = P.ipv4(s.ip4, c.ip4, P.PROTO_ICMP, echo, ident=int(rand() * 65536), ttl=s_ttl)
            yield rtt, P.ethernet(c.mac, smac, P.ETH_IPV4, rep)

    def _ping6(self, c: _Host) -> Iterator[tuple[int, bytes]]:
        """ICMPv6 echo between neighbours' link-local addresses, or to a server's ULA."""
        if c.ll6 is None:
            return
        s = self._server()
        if c.ula is not None and s.ula is not None and self.rand() < 0.5:
            src, dst, smac = c.ula, s.ula, ROUTER_MAC
        else:
            peers = self.subnets[c.subnet]
            s = peers[int(self.rand() * len(peers))]
            if s.ll6 is None or s is c:
                return
            src, dst, smac = c.ll6, s.ll6, s.mac
        ident = int(self.rand() * 65536)
        payload = self.rng.randbytes(8) + bytes(range(0x10, 0x38))
        for i in range(3):
            req = P.ipv6(src, dst, P.PROTO_ICMPV6, P.icmpv6_echo(src, dst, ident, i + 1, payload))
            yield (0 if i == 0 else 1000 * MS), P.ethernet(smac, c.mac, P.ETH_IPV6, req)
            rep = P.ipv6(dst, src, P.PROTO_ICMPV6, P.icmpv6_echo(dst, src, ident, i + 1, payload, reply=True))
            yield c.rtt, P.ethernet(c.mac, smac, P.ETH_IPV6, rep)


_USER_AGENTS: Final = {
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0",
    "mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "linux": "curl/7.88.1",
    "iot": "okhttp/4.9.3",
}
_PATHS: Final = ("/", "/index.html", "/api/v1/status", "/update/manifest.xml", "/static/app.js", "/downloads/pkg.bin")


def _http_request(host: str, os: str, rand: Callable[[], float]) -> bytes:
    path = _PATHS[int(rand() * len(_PATHS))]
    ua = _USER_AGENTS.get(os, _USER_AGENTS["linux"])
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n"
        "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
    ).encode()


def _http_response(total: int) -> bytes:
    """A response head whose Content-Length makes head and body `total` bytes (at least the head)."""
    head = b""
    for _ in range(3):
        body = max(0, total - len(head))
        head = (
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {body}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
    return head


def _ts_opt(on: bool, tsval: int, tsecr: int) -> bytes:
    return struct.pack("!III", _TS_OPT, tsval, tsecr) if on else b""


# --- scheduling and delivery ---------------------------------------------------------

INITIAL_FLOWS: Final = 300  # conversations already under way when the capture starts
SPAWN_GAP_NS: Final = 120 * US  # mean time between new conversations


Deliver = Callable[[bytes, int], bytes]  # (frame, its VLAN) -> what the mirror port delivers


def _schedule(lan: _Lan, packets: int, deliver: Deliver | None) -> Iterator[tuple[int, bytes]]:
    """Interleave conversations by time: `packets` (timestamp ns, frame) pairs.

    A heap holds each running conversation's next frame; new conversations arrive as
    a Poisson process, so slow ones (pings) do not crowd out busy ones.
    """
    rand = lan.rand
    # (time of the next frame, tie-break, frame, the conversation's __next__, VLAN)
    heap: list[tuple[int, int, bytes | None, Callable[[], tuple[int, bytes]] | None, int]] = []
    push, replace, pop = heapq.heappush, heapq.heapreplace, heapq.heappop
    order = 0

    def start(t: int) -> None:
        nonlocal order
        gen, vlan = lan.new_flow(t)
        for gap, frame in gen:
            # A conversation may begin with a pause (no frame): skip to its first frame.
            t += gap
            if frame:
                order += 1
                push(heap, (t, order, frame, gen.__next__, vlan))
                return

    for _ in range(INITIAL_FLOWS):
        start(START_NS + int(rand() * 2 * MS))
    push(heap, (START_NS, 0, None, None, 0))
    n = 0
    while n < packets:
        t, _, frame, advance, vlan = heap[0]
        if advance is None:
            pop(heap)
            start(t)
            order += 1
            push(heap, (t + int(-SPAWN_GAP_NS * math.log(1.0 - rand())), order, None, None, 0))
            continue
        if frame:
            yield t, frame if deliver is None else deliver(frame, vlan)
            n += 1
        try:
            gap, frame = advance()
        except StopIteration:
            pop(heap)
            continue
        order += 1
        replace(heap, (t + gap, order, frame, advance, vlan))


def _vlan_tagger() -> Deliver:
    """Every frame 802.1Q-tagged with its VLAN, as a trunk port mirrors it."""
    tags = {sn.vlan: P.vlan_tag(sn.vlan) for sn in _SUBNETS}

    def tag(frame: bytes, vlan: int) -> bytes:
        return frame[:12] + tags[vlan] + frame[12:]

    return tag


_ERSPAN2 = struct.Struct("!14sHHHHHH8sHHIII")


def _erspan2_tunnel() -> Deliver:
    """Every frame in IPv4/GRE (sequence numbered)/ERSPAN II from the switch to the sensor,
    its VLAN in the ERSPAN header: a remote SPAN session."""
    l2 = SENSOR_MAC + SWITCH_MAC + _ETH4
    addrs = SWITCH_IP + SENSOR_IP
    ttlp = 64 << 8 | P.PROTO_GRE
    ipc = (0x4500 + ttlp + int.from_bytes(addrs, "big")) % 0xFFFF
    w0 = 1 << 28 | ERSPAN_SESSION
    index = 3  # the mirrored port
    seq = 0
    ipid = 0x1000
    pack = _ERSPAN2.pack

    def tunnel(frame: bytes, vlan: int) -> bytes:
        nonlocal seq, ipid
        total = 36 + len(frame)
        ipid = (ipid + 1) & 0xFFFF
        r = (ipc + total + ipid) % 0xFFFF
        ics = 0xFFFF - r if r else 0
        head = pack(
            l2, 0x4500, total, ipid, 0, ttlp, ics, addrs, 0x1000, P.ETH_ERSPAN_I_II, seq, w0 | vlan << 16, index
        )
        seq = (seq + 1) & M32
        return head + frame

    return tunnel


def _frames(packets: int, seed: int, wrap: str) -> Iterator[tuple[int, bytes]]:
    if wrap not in WRAPS:
        raise ValueError(f"unknown wrap {wrap!r}: choose one of {', '.join(WRAPS)}")
    if packets < 0:
        raise ValueError("the number of packets cannot be negative")
    deliver = {"plain": None, "vlan": _vlan_tagger, "erspan2": _erspan2_tunnel}[wrap]
    return _schedule(_Lan(seed), packets, None if deliver is None else deliver())


def generate(packets: int, seed: int = 1, wrap: str = "plain") -> Iterator[tuple[float, bytes]]:
    """`packets` frames of a busy LAN as (seconds since the epoch, frame); same seed, same bytes."""
    for t, frame in _frames(packets, seed, wrap):
        yield t / 1e9, frame


def write_capture(path: str, packets: int, seed: int = 1, wrap: str = "plain", nanosecond: bool = False) -> int:
    """Write `generate(packets, seed, wrap)` to a pcap file (Ethernet); returns the packet count."""
    stream = _frames(packets, seed, wrap)
    with PcapWriter(path, nanosecond=nanosecond) as w:
        return w.write_all_ns(stream)
