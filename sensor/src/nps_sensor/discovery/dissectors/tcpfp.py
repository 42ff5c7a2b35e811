"""TCP SYN and SYN+ACK: the p0f signature of the sender's stack, and open ports.

The signature is p0f 3's `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`
(p0f's README, section 5), with ittl written as `initial+distance` the way p0f
logs observed packets; `fingerprints.p0f` matches it against p0f.fp. A SYN+ACK
also proves its sender listens on the port it answers from.
"""

from __future__ import annotations

from nps_sensor.discovery.packet import Packet

EOL, NOP, MSS, WS, SOK, SACK, TS = 0, 1, 2, 3, 4, 5, 8
OPTION_NAMES = {NOP: "nop", MSS: "mss", WS: "ws", SOK: "sok", SACK: "sack", TS: "ts"}
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def initial_ttl(ttl: int) -> int:
    """The smallest common initial TTL at or above the observed one."""
    for start in (32, 64, 128, 255):
        if ttl <= start:
            return start
    return 255


def signature(p: Packet) -> tuple[str, bool]:
    """(p0f signature, is SYN+ACK) of the segment."""
    d = p.data
    ver = d[0] >> 4
    quirks: list[str] = []
    if ver == 4:
        ihl = (d[0] & 0x0F) * 4
        olen = ihl - 20
        ttl = d[8]
        ipid = int.from_bytes(d[4:6], "big")
        df = bool(d[6] & 0x40)
        if df:
            quirks.append("df")
            if ipid:
                quirks.append("id+")
        elif not ipid:
            quirks.append("id-")
        if d[1] & 0x03:
            quirks.append("ecn")
        if d[6] & 0x80:
            quirks.append("0+")
    else:
        olen = 0
        ttl = d[7]
        if d[1] & 0x30:  # traffic class ECN bits
            quirks.append("ecn")
        if (int.from_bytes(d[1:4], "big") & 0xFFFFF) != 0:
            quirks.append("flow")
    t = p.l4
    seq = int.from_bytes(d[t + 4 : t + 8], "big")
    ack = int.from_bytes(d[t + 8 : t + 12], "big")
    doff = (d[t + 12] >> 4) * 4
    flags = d[t + 13]
    win = int.from_bytes(d[t + 14 : t + 16], "big")
    urg = int.from_bytes(d[t + 18 : t + 20], "big")
    if flags & (ECE | CWR) and "ecn" not in quirks:
        quirks.append("ecn")
    if not seq:
        quirks.append("seq-")
    if flags & ACK and not ack:
        quirks.append("ack-")
    if not flags & ACK and ack:
        quirks.append("ack+")
    if not flags & URG and urg:
        quirks.append("uptr+")
    if flags & URG:
        quirks.append("urgf+")
    if flags & PSH:
        quirks.append("pushf+")
    layout, mss, scale = _options(d[t + 20 : t + doff], quirks, bool(flags & ACK))
    mtu = (mss + 40) if ver == 4 else (mss + 60)
    if mss and win and win % mss == 0:
        wsize = f"mss*{win // mss}"
    elif mss and win and win % mtu == 0:
        wsize = f"mtu*{win // mtu}"
    else:
        wsize = str(win)
    start = initial_ttl(ttl)
    sig = ":".join(
        [
            str(ver),
            f"{start}+{start - ttl}",
            str(olen),
            str(mss) if mss else "*",
            f"{wsize},{scale if scale is not None else '*'}",
            ",".join(layout),
            ",".join(quirks),
            "+" if len(d) > t + doff else "0",
        ]
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
    if synack:
        p.fact("tcp", "service", ("tcp", p.sport, ""))
