"""The decoder's working state: one array per header field, one element per frame.

Decoding walks every frame from its link-layer header to its innermost IP header.
Each step handles all frames whose next header is of one kind at once (every
802.1Q tag of the batch, then every IPv4 header, ...), so the cost is a handful of
vector operations per *kind of header present*, not per packet. A frame leaves the
loop when it reaches an IP header that carries no tunnel (state IP), a non-IP
payload (state L2), or something it cannot parse (state ERROR, with a reason).
"""

from __future__ import annotations

from typing import overload

import numpy as np

from nps_sensor.capture.batch import I64, WINDOW, Batch, Buffer

# What the header at `p` is. Real EtherType values where one exists, so that the
# Ethernet and tag parsers simply copy the field; pseudo types above 0xFFFF.
ETHER = 0x10000  # an Ethernet II / 802.3 header
IP_ANY = 0x10001  # an IPv4 or IPv6 header: the version nibble tells which
LLC = 0x10002  # an 802.2 LLC frame (802.3 length field): STP, CDP, ...
IPV4 = 0x0800
IPV6 = 0x86DD

# Frame states.
ACTIVE, IP, L2, ERROR = 0, 1, 2, 3

# Encapsulations, as bits of `encap`; their names are the keys of stats.encapsulation.
ENCAPS = (
    "vlan",
    "qinq",
    "mpls",
    "pppoe",
    "gre",
    "erspan_i",
    "erspan_ii",
    "erspan_iii",
    "gre_teb",
    "vxlan",
    "vxlan_gpe",
    "geneve",
    "ip_in_ip",
    "ipv6",
    "fragment",
    "sll",
    "raw_ip",
)
ENCAP_BIT = {name: 1 << i for i, name in enumerate(ENCAPS)}

# Decode errors, by reason; their names are the keys of stats.decode_errors.
REASONS = (
    "unknown-linktype",
    "truncated-link-header",
    "truncated-ethernet",
    "truncated-vlan",
    "truncated-mpls",
    "truncated-pppoe",
    "truncated-ipv4",
    "bad-ipv4-header",
    "bad-ipv4-length",
    "truncated-ipv6",
    "bad-ip-version",
    "truncated-ipv6-extension",
    "truncated-gre",
    "truncated-erspan",
    "truncated-vxlan",
    "truncated-geneve",
    "too-many-layers",
    "too-many-tunnels",
)
REASON = {name: i for i, name in enumerate(REASONS)}

# Bounds of one frame's decoding, each counted under its decode error when hit. A
# real mirror nests a few tunnels (ERSPAN over a VXLAN underlay carrying QinQ...);
# deeper nesting is crafted or broken input, and its innermost packet is not guessed.
MAX_TUNNELS = 8  # tunnels entered (GRE, ERSPAN, VXLAN, Geneve, IP-in-IP)
MAX_LAYERS = 48  # headers of any kind: tags, labels, IP headers, tunnel headers

# A selection of frames: an index array, or ALL (every frame of the batch). Parsers
# get ALL when a whole batch has the same next header, which is the common case on
# a mirror port, and then read and write whole arrays instead of scattering.
Sel = np.ndarray | slice
ALL = slice(None)


@overload
def sub(idx: np.ndarray, mask: np.ndarray) -> np.ndarray: ...
@overload
def sub(idx: Sel, mask: np.ndarray) -> Sel: ...
def sub(idx: Sel, mask: np.ndarray) -> Sel:
    """The frames of `idx` where `mask` (aligned with `idx`) is true."""
    if isinstance(idx, slice):
        return idx if mask.all() else np.flatnonzero(mask)
    chosen: np.ndarray = idx[mask]
    return chosen


def size(idx: Sel, n: int) -> int:
    return n if isinstance(idx, slice) else len(idx)


def lut(values: tuple[int, ...] | list[int], width: int = 256) -> np.ndarray:
    """A membership table: `lut(v)[x]` is true where x is one of `values` (faster than isin)."""
    table = np.zeros(width, dtype=bool)
    table[list(values)] = True
    return table


class Decoded:
    """Per-frame header fields of one batch (see the module docstring)."""

    def __init__(self, batch: Batch) -> None:
        n = len(batch)
        self.batch = batch
        self.buf = batch.buf
        self.n = n
        self.p = batch.off.copy()
        self.end = batch.off + batch.caplen
        self._window(batch)
        self.et = np.full(n, ETHER, dtype=I64)
        self.state = np.zeros(n, dtype=np.int8)
        self.err = np.full(n, -1, dtype=np.int16)
        self.mac_at = np.full(n, -1, dtype=I64)  # innermost source MAC address (6 bytes)
        self.vlan_outer = np.full(n, -1, dtype=np.int32)
        self.vlan_inner = np.full(n, -1, dtype=np.int32)
        self.tags = np.zeros(n, dtype=np.int8)  # 802.1Q tags since the last Ethernet header
        self.tunnel_id = np.full(n, -1, dtype=I64)  # ERSPAN session or VXLAN/Geneve VNI
        self.depth = np.zeros(n, dtype=np.int8)  # tunnels entered
        # The tunnels a frame came through (their sources and ids, mixed): tells two
        # copies of one packet mirrored by different sessions apart, for the dedupe.
        self.path = np.zeros(n, dtype=np.uint64)
        self.encap = np.zeros(n, dtype=np.int32)
        # Filled for frames that end in state IP:
        self.l3 = np.zeros(n, dtype=I64)
        self.ipver = np.zeros(n, dtype=np.int8)
        self.src_hi = np.zeros(n, dtype=np.uint64)
        self.src_lo = np.zeros(n, dtype=np.uint64)
        self.dst_hi = np.zeros(n, dtype=np.uint64)
        self.dst_lo = np.zeros(n, dtype=np.uint64)
        self.proto = np.zeros(n, dtype=I64)
        self.iplen = np.zeros(n, dtype=I64)
        self.l4 = np.zeros(n, dtype=I64)
        self.frag = np.zeros(n, dtype=np.int8)  # 0: whole datagram, 1: first fragment, 2: later one
        self.ipid = np.zeros(n, dtype=I64)
        # First 8 bytes of the IP header (less TTL / hop limit), the IPv6 fragment
        # header and the first 16 bytes after the IP header (the transport header, or
        # a later fragment's data): what tells two packets apart, for the dedupe.
        self.head = np.zeros(n, dtype=np.uint64)
        self.fraghdr = np.zeros(n, dtype=np.uint64)
        self.any_fraghdr = False  # whether any frame has an IPv6 fragment header
        self.t0 = np.zeros(n, dtype=np.uint64)
        self.t1 = np.zeros(n, dtype=np.uint64)
        self.sport = np.zeros(n, dtype=I64)
        self.dport = np.zeros(n, dtype=I64)
        self.tcpflags = np.zeros(n, dtype=I64)
        self.icmptype = np.full(n, -1, dtype=I64)
        self.has_ports = np.zeros(n, dtype=bool)
        self.short_l4 = np.zeros(n, dtype=bool)  # a port protocol cut before its ports
        # Outer datagrams whose first fragment carried a tunnel: ((src, dst, proto, id), ts).
        self.tunnel_fragments: list[tuple[tuple[int, int, int, int, int, int], float]] = []

    def _window(self, batch: Batch) -> None:
        """Copy the first WINDOW bytes of every frame into one small array, in one read.

        Header fields are then read from that copy, which stays in the CPU cache,
        instead of from the capture buffer, where every frame's headers are a cache
        miss of their own: one read per frame instead of one per field. Fields past
        the window (deep tunnels) are read from the buffer.
        """
        size = self.buf.size
        self.wbuf: Buffer | None = None
        if size < WINDOW or not self.n:
            return
        # A frame near the end of the buffer: its window starts earlier, still inside.
        self.wbase = np.minimum(batch.off, size - WINDOW)
        self.wbuf = Buffer(np.ascontiguousarray(self.buf.window[self.wbase]))
        self.wshift = np.arange(self.n, dtype=I64) * WINDOW - self.wbase  # buffer -> window offset

    def _read(self, view: str, width: int, idx: Sel, at: np.ndarray) -> np.ndarray:
        wbuf = self.wbuf
        if wbuf is None:
            big: np.ndarray = getattr(self.buf, view)[at]
            return big
        inside = at - self.wbase[idx] <= WINDOW - width
        pos = self.wshift[idx] + at
        small = getattr(wbuf, view)
        if inside.all():
            got: np.ndarray = small[pos]
            return got
        out = np.empty(len(at), dtype=small.dtype)
        out[inside] = small[pos[inside]]
        out[~inside] = getattr(self.buf, view)[at[~inside]]
        return out

    def u8(self, idx: Sel, at: np.ndarray) -> np.ndarray:
        """The byte at buffer offsets `at` of frames `idx` (and so on for the wider reads)."""
        return self._read("u8", 1, idx, at)

    def be16(self, idx: Sel, at: np.ndarray) -> np.ndarray:
        return self._read("be16", 2, idx, at)

    def be32(self, idx: Sel, at: np.ndarray) -> np.ndarray:
        return self._read("be32", 4, idx, at)

    def be64(self, idx: Sel, at: np.ndarray) -> np.ndarray:
        return self._read("be64", 8, idx, at)

    def fail(self, idx: Sel, reason: str) -> None:
        if size(idx, self.n):
            self.state[idx] = ERROR
            self.err[idx] = REASON[reason]

    @overload
    def need(self, idx: np.ndarray, nbytes: int | np.ndarray, reason: str) -> np.ndarray: ...
    @overload
    def need(self, idx: Sel, nbytes: int | np.ndarray, reason: str) -> Sel: ...
    def need(self, idx: Sel, nbytes: int | np.ndarray, reason: str) -> Sel:
        """The frames of `idx` that hold `nbytes` at `p`; the others fail with `reason`."""
        ok = self.p[idx] + nbytes <= self.end[idx]
        if ok.all():
            return idx
        self.fail(sub(idx, ~ok), reason)
        return sub(idx, ok)

    def mark(self, idx: Sel, encap: str) -> None:
        if size(idx, self.n):
            self.encap[idx] |= ENCAP_BIT[encap]

    def src_mac(self, idx: Sel) -> np.ndarray:
        """Innermost source MAC address of frames `idx` as an integer, -1 where none."""
        at = self.mac_at[idx]
        if (at >= 0).all():
            macs: np.ndarray = (self.be64(idx, at - 2) & 0xFFFFFFFFFFFF).astype(I64)
            return macs
        mac = np.full(len(at), -1, dtype=I64)
        has = at >= 0
        rows = np.arange(self.n)[idx][has]
        mac[has] = (self.be64(rows, at[has] - 2) & 0xFFFFFFFFFFFF).astype(I64)
        return mac
