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
The IP header and transport words come from the decoder, which read them anyway.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.decode.frames import Decoded
from nps_sensor.vtable import hash_columns, mix64

U64 = np.uint64
MAX_TAIL = 1 << 15  # packets kept from the previous batch, whatever the window
POSITION = U64(0xFFFF)  # positions (tail + batch) fit 16 bits: batches hold at most 32768
PREFIX = ~POSITION


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
        if n > MAX_TAIL:  # positions must fit 16 bits: big batches go in parts
            half = n // 2
            return np.concatenate([self.copies(d, idx[:half], ts[:half]), self.copies(d, idx[half:], ts[half:])])
        h = _hash(d, idx)
        t = len(self.tail_h)
        all_h = np.concatenate([self.tail_h, h]) if t else h
        all_ts = np.concatenate([self.tail_ts, ts]) if t else ts
        # Sort values, not indices (several times faster): the high 48 bits of the hash
        # with the position below them, so that equal hashes sort in arrival order.
        # Equal 48-bit prefixes are only candidates; the full hashes decide.
        pos = np.arange(t + n, dtype=U64)
        keys = np.sort((all_h & PREFIX) | pos)
        tied = np.flatnonzero((keys[1:] & PREFIX) == (keys[:-1] & PREFIX))
        copy = np.zeros(t + n, dtype=bool)
        if len(tied):
            later = (keys[tied + 1] & POSITION).astype(np.int64)
            earlier = (keys[tied] & POSITION).astype(np.int64)
            same = (all_h[later] == all_h[earlier]) & (np.abs(all_ts[later] - all_ts[earlier]) <= self.window)
            copy[later[same]] = True
        recent = all_ts >= all_ts[-1] - self.window
        recent[: max(0, t + n - MAX_TAIL)] = False
        self.tail_h, self.tail_ts = all_h[recent], all_ts[recent]
        mine = copy[t:]
        self.dropped += int(mine.sum())
        return mine


def _hash(d: Decoded, idx: np.ndarray) -> np.ndarray:
    # Both IPv4 addresses fit one column exactly; IPv6 ones are folded into it.
    src_lo, dst_lo = d.src_lo[idx], d.dst_lo[idx]
    addrs = (src_lo << U64(32)) ^ dst_lo
    v6 = d.ipver[idx] == 6
    if v6.any():
        addrs = np.where(v6, mix64(src_lo ^ d.src_hi[idx]) ^ mix64(d.dst_hi[idx]) ^ dst_lo, addrs)
    return hash_columns([d.head[idx], addrs, d.t0[idx], d.t1[idx]])
