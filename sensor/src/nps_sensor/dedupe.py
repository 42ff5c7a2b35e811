"""Copies of one packet delivered twice by a TAP or SPAN session, counted once.

A SPAN session that mirrors both the ingress and the egress port of a switched path,
or overlapping sessions, hand the sensor the same packet twice within microseconds.
A copy is a packet whose IP header (all of it but TTL/hop limit and checksum) and
first 16 transport bytes (ports, TCP sequence and acknowledgment numbers, UDP length
and checksum) equal those of a packet seen at most `window` seconds before. The
transport checksum covers the payload, so different packets of a flow do not match;
a retransmission gets a new IP ID and comes after a retransmission timeout, far
outside the window.

The check sorts each batch's packet hashes together with those of the previous
batch's last `window` seconds: equal neighbours in the sorted order are copies.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.decode.frames import Decoded
from nps_sensor.vtable import hash_columns, mix64

U64 = np.uint64
V6_NO_HOPLIMIT = U64(0xFFFFFFFFFFFFFF00)  # IPv6's first 8 bytes end with the hop limit
MAX_TAIL = 1 << 16  # packets kept from the previous batch, whatever the window


class Deduplicator:
    def __init__(self, window: float) -> None:
        self.window = window
        self.tail_h = np.zeros(0, dtype=U64)
        self.tail_ts = np.zeros(0)
        self.dropped = 0

    def copies(self, d: Decoded, idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Mask over `idx` (IP frames of `d`, in order) of the packets that are copies."""
        n = len(idx)
        if self.window <= 0 or not n:
            return np.zeros(n, dtype=bool)
        h = _hash(d, idx)
        t = len(self.tail_h)
        all_h = np.concatenate([self.tail_h, h]) if t else h
        all_ts = np.concatenate([self.tail_ts, ts]) if t else ts
        order = np.argsort(all_h, kind="stable")  # equal hashes stay in arrival order
        sh = all_h[order]
        same = np.flatnonzero(sh[1:] == sh[:-1]) + 1
        copy = np.zeros(t + n, dtype=bool)
        if len(same):
            later, earlier = order[same], order[same - 1]
            copy[later] = np.abs(all_ts[later] - all_ts[earlier]) <= self.window
        recent = all_ts >= all_ts[-1] - self.window
        recent[: max(0, t + n - MAX_TAIL)] = False
        self.tail_h, self.tail_ts = all_h[recent], all_ts[recent]
        mine = copy[t:]
        self.dropped += int(mine.sum())
        return mine


def _hash(d: Decoded, idx: np.ndarray) -> np.ndarray:
    buf = d.buf
    l3 = d.l3[idx]
    l4 = d.l4[idx]
    room = d.end[idx] - l4
    head = buf.be64[l3]
    v6 = d.ipver[idx] == 6
    if v6.any():
        head = np.where(v6, head & V6_NO_HOPLIMIT, head)
    # Transport bytes 0-15 where captured; reads fall back to the IP header and are masked.
    t0 = np.where(room >= 8, buf.be64[np.where(room >= 8, l4, l3)], U64(0))
    t1 = np.where(room >= 16, buf.be64[np.where(room >= 16, l4, l3) + 8], U64(0))
    # Both IPv4 addresses fit one column exactly; IPv6 ones are folded into it.
    src_lo, dst_lo = d.src_lo[idx], d.dst_lo[idx]
    addrs = (src_lo << U64(32)) ^ dst_lo
    if v6.any():
        addrs = np.where(v6, mix64(src_lo ^ d.src_hi[idx]) ^ mix64(d.dst_hi[idx]) ^ dst_lo, addrs)
    return hash_columns([head, addrs, t0, t1])
