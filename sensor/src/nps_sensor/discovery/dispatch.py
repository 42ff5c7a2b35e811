"""Which packets of a batch go to which dissector: vector selection, then dispatch.

Selection reads a few header fields of every packet as arrays and keeps only those
a dissector can learn from, by what the protocols declare (`registry`):

* UDP and TCP by port, then only the messages that can name a device (`naming`:
  DNS-like answers, not queries; SMB negotiate and session setup, not file
  transfers), or those a protocol's own vector check accepts (QUIC client Initials);
* TCP by the first payload bytes, whatever the port (an HTTP method or status line,
  a TLS handshake record, an SSH banner);
* TCP SYN and SYN+ACK (the first of each sender per window) for OS fingerprints;
* the segments that continue a ClientHello cut by its first segment's end, found by
  their sequence number, only while such a hello is pending (`tls.Hellos`);
* ICMPv6 by type (router and neighbour discovery);
* link-layer frames by EtherType (LLDP) or SNAP header (CDP).

Everything else, the bulk of a network's packets, costs those few array reads. The
chosen packets then go to their dissectors one by one, a message repeated by its
sender within a harvest only once.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache

import numpy as np

from nps_sensor.config import Config
from nps_sensor.decode import Decoded
from nps_sensor.decode.frames import LLC, Sel
from nps_sensor.discovery.facts import NO_IP, NO_MAC, Facts
from nps_sensor.discovery.packet import RECENT_MAX, Malformed, Packet
from nps_sensor.discovery.protocol import Follow, Message, Stateful, Word
from nps_sensor.discovery.registry import TABLES, Tables
from nps_sensor.stats import Stats
from nps_sensor.vtable import hash_columns

TCP, UDP, ICMPV6 = 6, 17, 58
U64 = np.uint64
MAC_MASK = U64(0xFFFFFFFFFFFF)
FULL = 0xFFFFFFFF


@cache
def _narrowed(w: Word) -> Word:
    """`w` as a one-byte read where its mask covers one byte only: what was written as a
    word for clarity costs a byte's read (a wider read near a buffer's end is slower)."""
    if w.below is not None:
        return w
    for byte in range(4):
        shift = 8 * (3 - byte)
        if not w.mask & ~(0xFF << shift) & FULL:
            return Word(w.at + byte, (w.mask >> shift) & 0xFF, tuple(v >> shift for v in w.values))
    return w


def worth_reading(
    d: Decoded,
    rows: np.ndarray,
    start: np.ndarray,
    room: np.ndarray,
    messages: tuple[Message, ...],
    first: np.ndarray | None = None,
) -> np.ndarray:
    """Which of the packets `rows` (payload at `start`, `room` bytes) hold one of `messages`.
    `first` is each payload's first word where it has been read already. Each field is
    read once however many messages compare it."""
    ok = np.zeros(len(rows), dtype=bool)
    reads: dict[tuple[int, int, int], np.ndarray] = {}
    for msg in messages:
        fits = room >= msg.needs
        idx = np.flatnonzero(fits)
        if not len(idx):
            continue
        good: np.ndarray | None = None
        for word in msg.words:
            w = word if word.at == 0 and first is not None else _narrowed(word)
            key = (msg.needs, w.at, 1 if w.mask <= 0xFF else 4)
            x = reads.get(key)
            if x is None:
                if w is word and first is not None and word.at == 0:
                    x = first[idx]
                elif key[2] == 1:
                    x = d.u8(rows[idx], start[idx] + w.at)
                else:
                    x = d.be32(rows[idx], start[idx] + w.at)
                reads[key] = x
            if w.mask not in (FULL, 0xFF):
                x = x & w.mask
            for test in (
                x < w.below if w.below is not None else None,
                (x == w.values[0] if len(w.values) == 1 else np.isin(x, w.values)) if w.values else None,
            ):
                if test is not None:
                    good = test if good is None else good & test
        ok[idx if good is None else idx[good]] = True
    return ok


class Discoverer:
    """Runs the dissectors on the packets that matter; facts accumulate in `facts`.

    One per collector. The protocols that keep state across packets (TLS hellos over
    several segments, QUIC Initials over several datagrams) keep it here, and
    `facts.recent` remembers the messages read since the last harvest.
    """

    def __init__(self, stats: Stats, cfg: Config | None = None, tables: Tables = TABLES) -> None:
        self.stats = stats
        self.facts = Facts()
        self.tables = tables
        self.parsers: list[Callable[[Packet], None]] = []  # by protocol id
        self.following: list[tuple[int, Follow]] = []  # those that pick continuing segments
        self.states: dict[str, Stateful] = {}  # by protocol name
        for i, protocol in enumerate(tables.protocols):
            if protocol.state is not None:
                state = self.states[protocol.name] = protocol.state()
                self.parsers.append(state.dissect)
                follow = getattr(state, "following", None)
                if follow is not None:
                    self.following.append((i, follow))
            else:
                self.parsers.append(protocol.parser())
        self.error_names = [f"malformed-{p.name}" for p in tables.protocols]
        if cfg is not None:
            self.reconfigure(cfg)
        self.selected = 0  # packets handed to a dissector

    def reconfigure(self, cfg: Config) -> None:
        """Keep facts about others (DNS answers) only for inventoried ranges."""
        ranges = [(r.start, r.end) for g in cfg.internal if g.inventory for r in g.ranges]
        self.facts.wanted = lambda ip: any(start <= ip <= end for start, end in ranges)

    def ip(self, d: Decoded, idx: Sel, ts: np.ndarray) -> None:
        """The IP packets `idx` of `d` (copies already dropped), with their times `ts`.

        Each transport is handled on its own rows only, so that a batch pays a few
        whole-batch operations and the rest on the packets of that transport.
        """
        t = self.tables
        proto = d.proto[idx]
        ported = d.has_ports[idx] & (d.frag[idx] == 0)
        rows: list[np.ndarray] = []  # positions in `idx` of the chosen packets
        ids: list[np.ndarray] = []  # their protocols
        bodies: list[np.ndarray] = []  # where their payload starts

        udp = np.flatnonzero(ported & (proto == UDP))
        if len(udp):
            f = udp if isinstance(idx, slice) else idx[udp]
            kind = t.udp[d.dport[f]]
            kind = np.where(kind > 0, kind, t.udp[d.sport[f]])
            kind = self._worth(d, f, kind)
            keep = np.flatnonzero(kind)
            if len(keep):
                rows.append(udp[keep])
                ids.append(kind[keep])
                bodies.append(d.l4[f[keep]] + 8)

        tcp = np.flatnonzero(ported & (proto == TCP))
        if len(tcp):
            self._tcp(d, idx, tcp, rows, ids, bodies, float(ts[tcp[-1]]))

        icmp = np.flatnonzero(proto == ICMPV6)
        if len(icmp):
            f = icmp if isinstance(idx, slice) else idx[icmp]
            kind = t.icmpv6[d.icmptype[f] & 0xFF]
            keep = np.flatnonzero((kind > 0) & (d.frag[f] == 0))
            if len(keep):
                rows.append(icmp[keep])
                ids.append(kind[keep])
                bodies.append(d.l4[f[keep]])

        if rows:
            self._chosen(d, idx, ts, rows, ids, bodies)

    def _chosen(
        self,
        d: Decoded,
        idx: Sel,
        ts: np.ndarray,
        rows: list[np.ndarray],
        ids: list[np.ndarray],
        bodies: list[np.ndarray],
    ) -> None:
        """The chosen packets of every transport, in packet order, without the repeats
        the protocols' vector checks find, to their dissectors."""
        hits = np.concatenate(rows)
        chosen = np.concatenate(ids).astype(np.uint8)
        body = np.concatenate(bodies)
        if len(rows) > 1:  # in packet order
            order = np.argsort(hits, kind="stable")
            hits, chosen, body = hits[order], chosen[order], body[order]
        frames = hits if isinstance(idx, slice) else idx[hits]
        end = np.minimum(d.end[frames], d.l3[frames] + d.iplen[frames])
        for i, seen in self.tables.seen:
            mine = np.flatnonzero(chosen == i)
            if not len(mine):
                continue
            repeats = seen(d, frames[mine], body[mine], end[mine], self.facts.recent)
            if repeats.any():
                self.selected += int(repeats.sum())  # selected, then found to be repeats
                keep = np.ones(len(hits), dtype=bool)
                keep[mine[repeats]] = False
                hits, chosen, body, frames, end = hits[keep], chosen[keep], body[keep], frames[keep], end[keep]
        if len(hits):
            self._dispatch(d, frames, chosen, ts[hits], d.l3[frames], d.l4[frames], body, end)

    def _worth(
        self,
        d: Decoded,
        f: np.ndarray,
        kind: np.ndarray,
        start: np.ndarray | None = None,
        room: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> np.ndarray:
        """Of packets picked by port, those their protocol's messages or vector check accept.
        `start` and `room` locate each packet's payload (without them, UDP's), `first`
        holds its first word where read already."""
        t = self.tables
        if not t.checks:
            return kind
        group = t.check_of[kind]
        present = np.bincount(group, minlength=len(t.checks) + 1)
        for g in np.flatnonzero(present[1:]).tolist():
            sel = np.flatnonzero(group == g + 1)
            fs = f[sel]
            check = t.checks[g]
            ok = np.ones(len(sel), dtype=bool)
            if check.messages:
                at = start[sel] if start is not None else d.l4[fs] + 8
                r = room[sel] if room is not None else np.minimum(d.end[fs], d.l3[fs] + d.iplen[fs]) - at
                ok = worth_reading(d, fs, at, r, check.messages, None if first is None else first[sel])
            if check.accept is not None:
                ok &= check.accept(d, fs)
            kind[sel[~ok]] = 0
        return kind

    def _tcp(
        self,
        d: Decoded,
        idx: Sel,
        tcp: np.ndarray,
        rows: list[np.ndarray],
        ids: list[np.ndarray],
        bodies: list[np.ndarray],
        now: float,
    ) -> None:
        """TCP segments worth a dissector: SYNs to fingerprint, segments whose first
        payload bytes (or port and message) say they can name a device, and those
        that continue a message longer than its first segment."""
        t = self.tables
        f = tcp if isinstance(idx, slice) else idx[tcp]
        t1 = d.t1[f]
        start = d.l4[f] + ((t1 >> U64(28)) & U64(0xF)).astype(np.int64) * 4
        pick = np.zeros(len(f), dtype=np.uint8)
        if t.handshakes:
            flags = (t1 >> U64(16)) & U64(0x17)
            syn = np.flatnonzero((flags == U64(0x02)) | (flags == U64(0x12)))
            if len(syn):
                pick[syn[self._new_stacks(d, f[syn])]] = t.handshakes
        room = np.minimum(d.end[f], d.l3[f] + d.iplen[f]) - start
        has4 = np.flatnonzero(room >= 4)
        if len(has4):
            sub = f[has4]
            w = d.be32(sub, start[has4]).astype(np.uint32)
            kind = self._magic(w)
            by_port = t.tcp[d.dport[sub]]
            by_port = np.where(by_port > 0, by_port, t.tcp[d.sport[sub]])
            by_port = self._worth(d, sub, by_port, start[has4], room[has4], w)
            kind = np.where(kind > 0, kind, by_port)
            pick[has4] = np.where(kind > 0, kind, pick[has4])
            for i, follow in self.following:
                more = follow(d, f, start, room, has4[kind == i], now)
                if len(more):
                    pick[more] = i
        keep = np.flatnonzero(pick)
        if len(keep):
            rows.append(tcp[keep])
            ids.append(pick[keep])
            bodies.append(start[keep])

    def _magic(self, w: np.ndarray) -> np.ndarray:
        """The protocol each first payload word names by its first bytes (0: none); most
        segments fail the first byte's lookup."""
        t = self.tables
        kind = np.zeros(len(w), dtype=np.uint8)
        maybe = np.flatnonzero(t.first_byte[w >> 24])
        if not len(maybe):
            return kind
        wm = w[maybe]
        for m in t.magic:  # the longest first
            v = wm >> np.uint32(8 * (4 - m.length)) if m.length < 4 else wm
            at = np.minimum(np.searchsorted(m.words, v), len(m.words) - 1)
            hit = np.flatnonzero((m.words[at] == v) & (kind[maybe] == 0))
            kind[maybe[hit]] = m.ids[at[hit]]
        return kind

    def _new_stacks(self, d: Decoded, frames: np.ndarray) -> np.ndarray:
        """Which SYNs to fingerprint: the first SYN and the first SYN+ACK of each
        sender in each window. A host opens many connections with one TCP stack, so
        the first tells its signature; each window takes a fresh one.
        """
        flags = (d.t1[frames] >> U64(16)) & U64(0x12)  # SYN, or SYN and ACK
        key = hash_columns([d.src_hi[frames], d.src_lo[frames], flags])
        uniq, first = np.unique(key, return_index=True)
        recent = self.facts.recent
        fresh = []
        for k, at in zip(uniq.tolist(), first.tolist(), strict=True):
            if k not in recent:
                recent.add(k)
                fresh.append(at)
        return np.array(fresh, dtype=np.int64)

    def link(self, d: Decoded, frames: np.ndarray) -> None:
        """Link-layer frames (state L2) of a protocol declared by EtherType or SNAP header."""
        t = self.tables
        et = d.et[frames]
        chosen = np.zeros(len(frames), dtype=np.uint8)
        skip = np.zeros(len(frames), dtype=np.int64)  # the SNAP header before the payload
        for ethertype, i in t.ethertypes:
            chosen[et == ethertype] = i
        llc = np.flatnonzero(et == LLC) if t.snaps else et[:0]
        if len(llc):
            f = frames[llc]
            whole = d.p[f] + 8 <= d.end[f]
            header = d.buf.be64[np.minimum(d.p[f], d.buf.size - 8)]
            for snap, i in t.snaps:
                hit = llc[whole & (header == U64(snap))]
                chosen[hit] = i
                skip[hit] = 8
        hits = np.flatnonzero(chosen)
        if not len(hits):
            return
        f = frames[hits]
        start = d.p[f]
        self._dispatch(d, f, chosen[hits], d.batch.ts[f], start, start, start + skip[hits], d.end[f], link=True)

    def _dispatch(
        self,
        d: Decoded,
        frames: np.ndarray,
        ids: np.ndarray,
        ts: np.ndarray,
        start: np.ndarray,
        l4: np.ndarray,
        body: np.ndarray,
        end: np.ndarray,
        link: bool = False,
    ) -> None:
        self.selected += len(frames)
        raw = d.buf.raw
        smac = d.src_mac(frames)
        has_mac = d.mac_at[frames] >= 0
        dmac = np.full(len(frames), NO_MAC, dtype=np.int64)
        if has_mac.any():
            f = frames[has_mac]
            dmac[has_mac] = (d.buf.be64[d.mac_at[f] - 8] & MAC_MASK).astype(np.int64)
        if link:
            src = dst = [NO_IP] * len(frames)
            sport = dport = proto = [0] * len(frames)
        else:
            src = [(h << 64) | lo for h, lo in zip(d.src_hi[frames].tolist(), d.src_lo[frames].tolist(), strict=True)]
            dst = [(h << 64) | lo for h, lo in zip(d.dst_hi[frames].tolist(), d.dst_lo[frames].tolist(), strict=True)]
            sport, dport, proto = d.sport[frames].tolist(), d.dport[frames].tolist(), d.proto[frames].tolist()
        facts = self.facts
        recent = facts.recent
        errors = self.stats.decode_errors
        parsers = self.parsers
        repeats = self.tables.repeats
        names = self.error_names
        for k, (i, t, a, b4, b, e, sm, dm) in enumerate(
            zip(
                ids.tolist(),
                ts.tolist(),
                start.tolist(),
                l4.tolist(),
                body.tolist(),
                end.tolist(),
                smac.tolist(),
                dmac.tolist(),
                strict=True,
            )
        ):
            data = bytes(raw[a:e])
            content = repeats[i]
            if content is not None:
                key = (i, src[k], sm, content(data, b4 - a, b - a))
                if key in recent:
                    continue
                if len(recent) < RECENT_MAX:
                    recent.add(key)
            p = Packet(t, src[k], dst[k], sm, dm, proto[k], sport[k], dport[k], data, b4 - a, b - a)
            p.out = facts
            try:
                parsers[i](p)
            except (Malformed, IndexError, ValueError, struct.error, UnicodeError, OverflowError):
                errors[names[i]] += 1
