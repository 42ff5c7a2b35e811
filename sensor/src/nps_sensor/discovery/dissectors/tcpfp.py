"""TCP SYN and SYN+ACK: the p0f signature of the sender's stack.

The signature is p0f 3's `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`
(p0f's README, section 5), with ittl written as `initial+distance` (p0f's own
raw_sig writes `seen+distance`: 64+3 here is 61+3 there); `fingerprints.p0f`
matches it against p0f.fp. The window is written `mss*N` or `mtu*N` only where it
is an exact multiple (p0f also tries MSS-12, 1460 and 1500), so that the matcher
gets the exact window back. (The ports a server answers on come from the flows
themselves: see report.py.)
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Packet
from nps_sensor.discovery.protocol import Fact, Protocol

EOL, NOP, MSS, WS, SOK, SACK, TS = 0, 1, 2, 3, 4, 5, 8
OPTION_NAMES = {NOP: "nop", MSS: "mss", WS: "ws", SOK: "sok", SACK: "sack", TS: "ts"}
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def initial_ttl(ttl: int) -> int:
    """The smallest common initial TTL at or above the observed one."""
    for start in (32, 64, 128, 255):
        if ttl <= start:
            return start
    return 255


IPV4 = struct.Struct("!BBHHHB")  # version and IHL, TOS, length, ID, flags and offset, TTL
TCP_HEAD = struct.Struct("!4xIIBBHxxH")  # (ports) seq, ack, data offset, flags, window, (checksum) urgent


def signature(p: Packet) -> tuple[str, bool]:
    """(p0f signature, is SYN+ACK) of the segment."""
    d = p.data
    quirks: list[str] = []
    if d[0] >> 4 == 4:
        ver = 4
        vihl, tos, _, ipid, frag, ttl = IPV4.unpack_from(d)
        olen = (vihl & 0x0F) * 4 - 20
        if frag & 0x4000:
            quirks.append("df")
            if ipid:
                quirks.append("id+")
        elif not ipid:
            quirks.append("id-")
        if tos & 0x03:
            quirks.append("ecn")
        if frag & 0x8000:
            quirks.append("0+")
    else:
        ver, olen, ttl = 6, 0, d[7]
        if d[1] & 0x30:  # traffic class ECN bits
            quirks.append("ecn")
        if (int.from_bytes(d[1:4], "big") & 0xFFFFF) != 0:
            quirks.append("flow")
    t = p.l4
    seq, ack, off, flags, win, urg = TCP_HEAD.unpack_from(d, t)
    doff = (off >> 4) * 4
    if flags & (ECE | CWR) and "ecn" not in quirks:
        quirks.append("ecn")
    if not seq:
        quirks.append("seq-")
    if flags & ACK:
        if not ack:
            quirks.append("ack-")
    elif ack:
        quirks.append("ack+")
    if flags & URG:
        quirks.append("urgf+")
    elif urg:
        quirks.append("uptr+")
    if flags & PSH:
        quirks.append("pushf+")
    layout, mss, scale = _options(d[t + 20 : t + doff], quirks, bool(flags & ACK))
    if mss and win and win % mss == 0:
        wsize = f"mss*{win // mss}"
    elif mss and win and win % (mss + (40 if ver == 4 else 60)) == 0:
        wsize = f"mtu*{win // (mss + (40 if ver == 4 else 60))}"
    else:
        wsize = str(win)
    start = initial_ttl(ttl)
    sig = (
        f"{ver}:{start}+{start - ttl}:{olen}:{mss if mss else '*'}:{wsize},{'*' if scale is None else scale}:"
        f"{','.join(layout)}:{','.join(quirks)}:{'+' if len(d) > t + doff else '0'}"
    )
    return sig, bool(flags & ACK)


def _options(opts: bytes, quirks: list[str], synack: bool) -> tuple[list[str], int, int | None]:
    layout: list[str] = []
    mss, scale = 0, None
    at = 0
    while at < len(opts):
        kind = opts[at]
        if kind == EOL:
            rest = opts[at + 1 :]
            layout.append(f"eol+{len(rest)}")
            if any(rest):
                quirks.append("opt+")
            break
        if kind == NOP:
            layout.append("nop")
            at += 1
            continue
        if at + 1 >= len(opts) or opts[at + 1] < 2 or at + opts[at + 1] > len(opts):
            quirks.append("bad")
            break
        size = opts[at + 1]
        value = opts[at + 2 : at + size]
        layout.append(OPTION_NAMES.get(kind, f"?{kind}"))
        if kind == MSS and size == 4:
            mss = int.from_bytes(value, "big")
        elif kind == WS and size == 3:
            scale = value[0]
            if scale > 14:
                quirks.append("exws")
        elif kind == TS and size == 10:
            if not int.from_bytes(value[0:4], "big"):
                quirks.append("ts1-")
            if not synack and int.from_bytes(value[4:8], "big"):
                quirks.append("ts2+")
        at += size
    return layout, mss, scale


def dissect(p: Packet) -> None:
    sig, synack = signature(p)
    p.fact("tcp", "synack" if synack else "syn", sig)


PROTOCOL = Protocol(
    "tcp-fingerprint",
    dissect,
    handshakes=True,
    facts=(
        Fact("tcp", "syn", example='"4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"', reads=readers.syn),
        Fact("tcp", "synack", example='"4:64+0:0:1460:mss*45,7:mss,sok,ts,nop,ws:df:0"', reads=readers.synack),
    ),
)
