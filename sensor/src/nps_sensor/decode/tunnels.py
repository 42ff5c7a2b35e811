"""Tunnels that carry mirrored traffic: GRE, ERSPAN I/II/III, VXLAN, VXLAN-GPE, Geneve, IP-in-IP.

A tunnelled frame goes back into the decode loop at its inner header, so a packet
nested in several layers, in any order (ERSPAN carrying VXLAN carrying QinQ, GRE in
GRE, Geneve carrying IP-in-IP...), is unwrapped down to its innermost IP header; at
most MAX_TUNNELS deep, beyond which the frame counts as `too-many-tunnels`. The
VLAN tags of the transport network are forgotten at the tunnel: the ones that matter
are those of the mirrored traffic (and, for ERSPAN, the VLAN the switch writes into
the ERSPAN header). The tunnel's id (ERSPAN session, VNI) is the innermost one's.

The UDP tunnels are recognised by their destination port, as Wireshark does for
their IANA ports: VXLAN 4789, VXLAN-GPE 4790, Geneve 6081.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.capture.batch import I64
from nps_sensor.decode.frames import (
    ACTIVE,
    ETHER,
    IP_ANY,
    IPV4,
    IPV6,
    MAX_TUNNELS,
    Decoded,
    Sel,
    lut,
    size,
    sub,
)
from nps_sensor.decode.ip import UDP

U64 = np.uint64

GRE = 47
IPIP, IPV6_IN_IP = 4, 41
VXLAN_PORT, VXLAN_GPE_PORT, GENEVE_PORT = 4789, 4790, 6081
MPLS_UNICAST = 0x8847
IP_TUNNEL = lut((GRE, IPIP, IPV6_IN_IP))
UDP_TUNNEL = lut((VXLAN_PORT, VXLAN_GPE_PORT, GENEVE_PORT), 65536)

GRE_C, GRE_R, GRE_K, GRE_S = 0x8000, 0x4000, 0x2000, 0x1000
ERSPAN_I_II = 0x88BE
ERSPAN_III = 0x22EB
TEB = 0x6558
# GRE payloads decoded further; IP and MPLS go straight back to the decode loop.
GRE_PAYLOADS = (IPV4, IPV6, 0x8847, 0x8848, TEB, ERSPAN_I_II, ERSPAN_III)


def detect(d: Decoded, idx: Sel) -> None:
    """Send the tunnels among freshly decoded IP frames `idx` back in at their payload.

    A first fragment is unwrapped too: a 1500-byte frame mirrored over GRE often does
    not fit the transport's MTU, and the inner headers are all in the first piece.
    """
    if not size(idx, d.n):
        return
    whole = sub(idx, d.frag[idx] != 2)
    proto = d.proto[whole]
    if IP_TUNNEL[proto].any():
        gre = proto == GRE
        if gre.any():
            _gre(d, sub(whole, gre))
        ipip = (proto == IPIP) | (proto == IPV6_IN_IP)
        if ipip.any():
            sel = sub(whole, ipip)
            _enter(d, sel, d.p[sel], np.where(d.proto[sel] == IPIP, IPV4, IPV6), "ip_in_ip")
    # A later fragment or a frame without ports has destination port 0.
    udp = UDP_TUNNEL[d.dport[whole]]
    if udp.any():
        sel = sub(whole, udp)
        sel = sub(sel, (d.proto[sel] == UDP) & d.has_ports[sel])
        dport = d.dport[sel]
        for port, parse in ((VXLAN_PORT, _vxlan), (GENEVE_PORT, _geneve), (VXLAN_GPE_PORT, _vxlan_gpe)):
            chosen = dport == port
            if chosen.any():
                parse(d, sub(sel, chosen))


def _enter(
    d: Decoded,
    idx: Sel,
    at: np.ndarray,
    et: np.ndarray | int,
    encap: str,
    tunnel_id: np.ndarray | None = None,
    header_vlan: np.ndarray | None = None,
) -> None:
    """Send frames `idx` back into the decode loop at `at`, a header of kind `et`.

    `tunnel_id` (ERSPAN session, VNI) and `header_vlan` (the VLAN an ERSPAN header
    names, 0 for none) are aligned with `idx`. Frames already MAX_TUNNELS deep fail.
    """
    if not size(idx, d.n):
        return
    deep = d.depth[idx] >= MAX_TUNNELS
    if deep.any():
        d.fail(sub(idx, deep), "too-many-tunnels")
        keep = ~deep
        idx, at = sub(idx, keep), at[keep]
        et = et[keep] if isinstance(et, np.ndarray) else et
        tunnel_id = None if tunnel_id is None else tunnel_id[keep]
        header_vlan = None if header_vlan is None else header_vlan[keep]
    first = d.frag[idx] == 1
    if first.any():
        _swallow_rest(d, sub(idx, first))
    d.state[idx] = ACTIVE
    d.p[idx] = at
    d.et[idx] = et
    d.depth[idx] += 1
    # The tunnel's source (the switch or VTEP that sent it) joins the frame's path.
    d.path[idx] = (d.path[idx] << U64(1)) ^ d.src_lo[idx] ^ d.src_hi[idx]
    d.vlan_outer[idx] = -1
    d.vlan_inner[idx] = -1
    d.has_ports[idx] = False
    d.mark(idx, encap)
    if tunnel_id is not None:
        d.tunnel_id[idx] = tunnel_id
    if header_vlan is not None:
        tagged = header_vlan > 0
        if tagged.any():
            d.vlan_outer[sub(idx, tagged)] = header_vlan[tagged]


def _swallow_rest(d: Decoded, idx: np.ndarray | slice) -> None:
    """The inner packet of a fragmented tunnel packet is counted whole from its first
    fragment (its IP length covers all of it): the outer datagram's later fragments
    must count nowhere, so their (source, destination, protocol, ID) is noted."""
    frames = np.arange(d.n)[idx]
    keys = zip(
        d.src_hi[frames].tolist(),
        d.src_lo[frames].tolist(),
        d.dst_hi[frames].tolist(),
        d.dst_lo[frames].tolist(),
        d.proto[frames].tolist(),
        d.ipid[frames].tolist(),
        d.batch.ts[frames].tolist(),
        strict=True,
    )
    d.tunnel_fragments.extend(((sh, sl, dh, dl, p, i), ts) for sh, sl, dh, dl, p, i, ts in keys)
    d.frag[frames] = 0


def _gre(d: Decoded, idx: Sel) -> None:
    idx = d.need(idx, 4, "truncated-gre")
    at = d.p[idx]
    flags = d.be16(idx, at).astype(I64)
    kind = d.be16(idx, at + 2).astype(I64)
    # Version 1 is PPTP's enhanced GRE (PPP inside) and source routing is obsolete:
    # such packets stay GRE flows of the outer addresses.
    known = ((flags & 7) == 0) & ((flags & GRE_R) == 0) & np.isin(kind, GRE_PAYLOADS)
    idx, at, flags, kind = sub(idx, known), at[known], flags[known], kind[known]
    optional = ((flags & GRE_C) > 0).astype(I64) + ((flags & GRE_K) > 0) + ((flags & GRE_S) > 0)
    inner = at + 4 + 4 * optional
    ok = inner <= d.end[idx]
    if not ok.all():
        d.fail(sub(idx, ~ok), "truncated-gre")
        idx, inner, flags, kind = sub(idx, ok), inner[ok], flags[ok], kind[ok]
    erspan = kind == ERSPAN_I_II
    # ERSPAN type II has a sequence number and an 8-byte header; type I has neither.
    e2 = erspan & ((flags & GRE_S) > 0)
    e3 = kind == ERSPAN_III
    teb = kind == TEB
    if e2.any():
        _erspan_ii(d, sub(idx, e2), inner[e2])
    if e3.any():
        _erspan_iii(d, sub(idx, e3), inner[e3])
    e1 = erspan & ~e2
    if e1.any():
        _enter(d, sub(idx, e1), inner[e1], ETHER, "erspan_i")
    if teb.any():
        _enter(d, sub(idx, teb), inner[teb], ETHER, "gre_teb")
    plain = ~(erspan | e3 | teb)
    if plain.any():
        _enter(d, sub(idx, plain), inner[plain], kind[plain], "gre")


def _erspan_ii(d: Decoded, idx: Sel, at: np.ndarray) -> None:
    ok = at + 8 <= d.end[idx]
    if not ok.all():
        d.fail(sub(idx, ~ok), "truncated-erspan")
        idx, at = sub(idx, ok), at[ok]
    w0 = d.be32(idx, at).astype(I64)
    _enter(d, idx, at + 8, ETHER, "erspan_ii", w0 & 0x3FF, (w0 >> 16) & 0xFFF)


def _erspan_iii(d: Decoded, idx: Sel, at: np.ndarray) -> None:
    ok = at + 12 <= d.end[idx]
    if not ok.all():
        d.fail(sub(idx, ~ok), "truncated-erspan")
        idx, at = sub(idx, ok), at[ok]
    w0 = d.be32(idx, at).astype(I64)
    w2 = d.be32(idx, at + 8).astype(I64)
    # The O flag announces an 8-byte platform-specific sub-header.
    inner = at + 12 + 8 * (w2 & 1)
    frame_type = (w2 >> 10) & 0x1F
    et = np.where(frame_type == 2, IP_ANY, ETHER)
    _enter(d, idx, inner, et, "erspan_iii", w0 & 0x3FF, (w0 >> 16) & 0xFFF)


def _udp_header(d: Decoded, idx: Sel, reason: str) -> tuple[Sel, np.ndarray, np.ndarray]:
    """The frames of `idx` holding the 8-byte header after their UDP header (the others
    fail with `reason`), where it starts, and its bytes."""
    at = d.l4[idx] + 8
    ok = at + 8 <= d.end[idx]
    if not ok.all():
        d.fail(sub(idx, ~ok), reason)
        idx, at = sub(idx, ok), at[ok]
    return idx, at, d.be64(idx, at)


def _vni(w0: np.ndarray) -> np.ndarray:
    """The 24-bit network identifier, in bytes 4-6 of VXLAN, VXLAN-GPE and Geneve headers."""
    vni: np.ndarray = ((w0 >> U64(8)) & U64(0xFFFFFF)).astype(I64)
    return vni


def _vxlan(d: Decoded, idx: Sel) -> None:
    idx, at, w0 = _udp_header(d, idx, "truncated-vxlan")
    valid = (w0 >> U64(56)) & U64(0x08) > 0  # the I flag: a VNI is present
    idx, at, w0 = sub(idx, valid), at[valid], w0[valid]
    _enter(d, idx, at + 8, ETHER, "vxlan", _vni(w0))


# VXLAN-GPE's next protocol field -> what follows its header.
GPE_NEXT = np.full(256, -1, dtype=I64)
GPE_NEXT[[1, 2, 3, 5]] = [IPV4, IPV6, ETHER, MPLS_UNICAST]


def _vxlan_gpe(d: Decoded, idx: Sel) -> None:
    """VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe): the header names its payload; NSH is not decoded."""
    idx, at, w0 = _udp_header(d, idx, "truncated-vxlan")
    nxt = GPE_NEXT[((w0 >> U64(32)) & U64(0xFF)).astype(I64)]
    known = nxt >= 0
    idx, at, w0, nxt = sub(idx, known), at[known], w0[known], nxt[known]
    _enter(d, idx, at + 8, nxt, "vxlan_gpe", _vni(w0))


GENEVE_PAYLOADS = (TEB, IPV4, IPV6)


def _geneve(d: Decoded, idx: Sel) -> None:
    """Geneve (RFC 8926): version 0, options skipped; Ethernet, IPv4 or IPv6 inside."""
    idx, at, w0 = _udp_header(d, idx, "truncated-geneve")
    kind = ((w0 >> U64(32)) & U64(0xFFFF)).astype(I64)
    known = ((w0 >> U64(62)) == 0) & np.isin(kind, GENEVE_PAYLOADS)  # version 0
    idx, at, w0, kind = sub(idx, known), at[known], w0[known], kind[known]
    inner = at + 8 + 4 * ((w0 >> U64(56)) & U64(0x3F)).astype(I64)  # options, in 4-byte words
    ok = inner <= d.end[idx]
    if not ok.all():
        d.fail(sub(idx, ~ok), "truncated-geneve")
        idx, inner, w0, kind = sub(idx, ok), inner[ok], w0[ok], kind[ok]
    _enter(d, idx, inner, np.where(kind == TEB, ETHER, kind), "geneve", _vni(w0))
