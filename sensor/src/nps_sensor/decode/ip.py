"""IPv4 and IPv6 headers (with IPv6 extension headers), and the transport fields flows need.

Addresses are kept as two 64-bit halves of the IPv6 form; an IPv4 address sits in
the IPv4-mapped range ::ffff:0:0/96, so one set of columns serves both versions.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.capture.batch import I64
from nps_sensor.decode.frames import ERROR, IP, IPV4, IPV6, Decoded, Sel, lut, size, sub

U64 = np.uint64
V4_MAPPED = U64(0xFFFF00000000)
LOW32 = U64(0xFFFFFFFF)
NO_HOP_LIMIT = U64(0xFFFFFFFFFFFFFF00)

HOPOPT, ROUTING, FRAGMENT, AH, DSTOPTS, MOBILITY, HIP, SHIM6 = 0, 43, 44, 51, 60, 135, 139, 140
IS_EXTENSION = lut((HOPOPT, ROUTING, FRAGMENT, AH, DSTOPTS, MOBILITY, HIP, SHIM6))

TCP, UDP, DCCP, SCTP, UDPLITE = 6, 17, 33, 132, 136
ICMP, ICMPV6 = 1, 58
HAS_PORTS = lut((TCP, UDP, DCCP, SCTP, UDPLITE))


def ip_any(d: Decoded, idx: Sel) -> None:
    """IP of unknown version (raw link types, below MPLS): the first nibble decides."""
    idx = d.need(idx, 1, "truncated-ipv4")
    version = d.u8(idx, d.p[idx]) >> 4
    d.et[idx] = np.where(version == 4, IPV4, IPV6)
    d.fail(sub(idx, (version != 4) & (version != 6)), "bad-ip-version")


def ipv4(d: Decoded, idx: Sel) -> Sel:
    idx = d.need(idx, 20, "truncated-ipv4")
    at = d.p[idx]
    w0 = d.be64(idx, at)  # version, IHL, TOS, total length, id, flags, fragment offset
    ihl = ((w0 >> U64(56)) & U64(0xF)).astype(I64) * 4
    good = ((w0 >> U64(60)) == 4) & (ihl >= 20) & (at + ihl <= d.end[idx])
    if not good.all():
        bad = ~good
        short = bad & ((w0 >> U64(60)) == 4) & (ihl >= 20)
        d.fail(sub(idx, short), "truncated-ipv4")
        d.fail(sub(idx, bad & ~short), "bad-ipv4-header")
        idx, at, w0, ihl = sub(idx, good), at[good], w0[good], ihl[good]
    total = ((w0 >> U64(32)) & U64(0xFFFF)).astype(I64)
    tso = total == 0
    if tso.any():
        # Segmentation offload leaves a zero total length in captures taken on the
        # sending host: the frame length stands in for it, as in Wireshark.
        b = d.batch
        total = np.where(tso, b.wirelen[idx] - (at - b.off[idx]), total)
    short = total < ihl
    if short.any():
        d.fail(sub(idx, short), "bad-ipv4-length")
        keep = ~short
        idx, at, w0, ihl, total = sub(idx, keep), at[keep], w0[keep], ihl[keep], total[keep]
    w1 = d.be64(idx, at + 8)  # TTL, protocol, checksum, source
    fragment = (w0 & U64(0x3FFF)).astype(I64)  # MF flag and offset
    d.l3[idx] = at
    d.head[idx] = w0
    d.ipver[idx] = 4
    d.src_hi[idx] = 0
    d.src_lo[idx] = (w1 & LOW32) | V4_MAPPED
    d.dst_hi[idx] = 0
    d.dst_lo[idx] = d.be32(idx, at + 16).astype(U64) | V4_MAPPED
    d.proto[idx] = (w1 >> U64(48)) & U64(0xFF)
    d.iplen[idx] = total
    d.l4[idx] = at + ihl
    d.p[idx] = at + ihl
    d.state[idx] = IP
    if fragment.any():
        d.ipid[idx] = ((w0 >> U64(16)) & U64(0xFFFF)).astype(I64)
        d.frag[idx] = np.where(fragment == 0, 0, np.where((fragment & 0x1FFF) == 0, 1, 2))
        d.mark(sub(idx, fragment != 0), "fragment")
    return idx


def ipv6(d: Decoded, idx: Sel) -> Sel:
    idx = d.need(idx, 40, "truncated-ipv6")
    at = d.p[idx]
    w0 = d.be64(idx, at)  # version, traffic class, flow label, payload length, next header, hop limit
    good = (w0 >> U64(60)) == 6
    if not good.all():
        d.fail(sub(idx, ~good), "bad-ip-version")
        idx, at, w0 = sub(idx, good), at[good], w0[good]
    d.mark(idx, "ipv6")
    payload = ((w0 >> U64(16)) & U64(0xFFFF)).astype(I64)
    zero = payload == 0
    if zero.any():
        # A jumbogram or segmentation offload: the frame tells the length.
        b = d.batch
        payload = np.where(zero, np.maximum(b.wirelen[idx] - (at - b.off[idx]) - 40, 0), payload)
    d.l3[idx] = at
    d.head[idx] = w0 & NO_HOP_LIMIT  # the hop limit changes on the way; the packet does not
    d.ipver[idx] = 6
    d.src_hi[idx] = d.be64(idx, at + 8)
    d.src_lo[idx] = d.be64(idx, at + 16)
    d.dst_hi[idx] = d.be64(idx, at + 24)
    d.dst_lo[idx] = d.be64(idx, at + 32)
    d.iplen[idx] = payload + 40
    nh = ((w0 >> U64(8)) & U64(0xFF)).astype(I64)
    pos = at + 40
    if IS_EXTENSION[nh].any():
        _extensions(d, idx, nh, pos)
        ok = d.state[idx] != ERROR
        idx, nh, pos = sub(idx, ok), nh[ok], pos[ok]
    d.proto[idx] = nh
    d.l4[idx] = pos
    d.p[idx] = pos
    d.state[idx] = IP
    return idx


def _extensions(d: Decoded, idx: Sel, nh: np.ndarray, pos: np.ndarray) -> None:
    """Walk IPv6 extension headers, updating `nh` and `pos` in place (aligned with idx)."""
    frames = np.arange(d.n)[idx]
    walking = np.flatnonzero(IS_EXTENSION[nh])
    while len(walking):
        wi, wp = frames[walking], pos[walking]
        fits = wp + 8 <= d.end[wi]
        if not fits.all():
            d.fail(wi[~fits], "truncated-ipv6-extension")
            walking, wi, wp = walking[fits], wi[fits], wp[fits]
        kind = nh[walking]
        following = d.u8(wi, wp).astype(I64)
        hlen = d.u8(wi, wp + 1).astype(I64)
        step = np.where(kind == AH, (hlen + 2) * 4, np.where(kind == FRAGMENT, 8, (hlen + 1) * 8))
        frag = np.flatnonzero(kind == FRAGMENT)
        if len(frag):
            fi, fp = wi[frag], wp[frag]
            whole = d.be64(fi, fp)  # next header, reserved, offset and M flag, identification
            field = ((whole >> U64(32)) & U64(0xFFFF)).astype(I64)
            d.frag[fi] = np.where(field & 0xFFF8, 2, np.where(field & 1, 1, 0))
            d.ipid[fi] = (whole & LOW32).astype(I64)
            d.fraghdr[fi] = whole
            d.any_fraghdr = True
            d.mark(fi[d.frag[fi] > 0], "fragment")
        nh[walking] = following
        pos[walking] = wp + step
        # A later fragment's payload is not a header: the walk stops there.
        walking = walking[IS_EXTENSION[following] & (d.frag[wi] != 2)]


def transport(d: Decoded, idx: Sel) -> None:
    """Ports, TCP flags and ICMP type of the IP frames `idx` (none for later fragments).

    Two 8-byte reads take the first 16 transport bytes (ports, TCP sequence and
    acknowledgment, data offset and flags), which the duplicate check reuses; of a
    later fragment, which has no transport header, they take its first data bytes,
    so that the fragments of one datagram differ in the check.
    """
    if not size(idx, d.n):
        return
    l4 = d.l4[idx]
    room = d.end[idx] - l4
    proto = d.proto[idx]
    full = room >= 16
    if full.all():
        t0 = d.be64(idx, l4)
        t1 = d.be64(idx, l4 + 8)
    else:
        t0 = np.zeros(len(l4), dtype=U64)
        t1 = np.zeros(len(l4), dtype=U64)
        # Frames cut short (snap length, malformed): read what is there, high bytes first.
        for low, high, read, shift in ((8, None, d.be64, 0), (4, 8, d.be32, 32), (1, 4, d.u8, 56)):
            fits = (room >= low) if high is None else (room >= low) & (room < high)
            if fits.any():
                t0[fits] = read(sub(idx, fits), l4[fits]).astype(U64) << U64(shift)
        if full.any():
            t1[full] = d.be64(sub(idx, full), l4[full] + 8)
    d.t0[idx] = t0
    d.t1[idx] = t1
    ported = HAS_PORTS[proto]
    frag = d.frag[idx]
    if frag.any():
        later = frag == 2  # no transport fields: its data follows the IP header
        room = np.where(later, -1, room)
        ported = ported & ~later
    has = ported & (room >= 4)
    ports = (t0 >> U64(32)).astype(I64)
    d.sport[idx] = np.where(has, ports >> 16, 0)
    d.dport[idx] = np.where(has, ports & 0xFFFF, 0)
    d.has_ports[idx] = has
    short = ported & (room < 4)
    if short.any():
        d.short_l4[sub(idx, short)] = True
    tcp = (proto == TCP) & (room >= 14)
    if tcp.any():
        d.tcpflags[idx] = np.where(tcp, ((t1 >> U64(16)) & U64(0xFF)).astype(I64), 0)
    icmp = ((proto == ICMP) | (proto == ICMPV6)) & (room >= 1)
    if icmp.any():
        d.icmptype[idx] = np.where(icmp, (t0 >> U64(56)).astype(I64), -1)
