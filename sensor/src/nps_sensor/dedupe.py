"""Copies of one packet delivered twice by a TAP or SPAN session, counted once.

A SPAN session that mirrors both the ingress and the egress port of a switched path,
or overlapping sessions, hand the sensor the same packet twice within microseconds.
A copy is a packet whose IP header (all of it but TTL/hop limit and checksum) and
first 16 transport bytes (ports, TCP sequence and acknowledgment numbers, UDP length
and checksum) equal those of a packet seen less than `window` seconds before. The
transport checksum covers the payload, so different packets of a flow do not match;
a retransmission gets a new IP ID and arrives after a retransmission timeout, far
outside the window.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.decode.frames import Decoded
from nps_sensor.vtable import VecTable

U64 = np.uint64
# IPv4 first 8 bytes without TTL/protocol/checksum are bytes 0-7; for IPv6 the
# first 8 bytes end with the hop limit, masked out.
V6_NO_HOPLIMIT = U64(0xFFFFFFFFFFFFFF00)


class Deduplicator:
    def __init__(self, window: float) -> None:
        self.window = window
        self.current = VecTable(1, 1 << 14)
        self.previous = VecTable(1, 1 << 14)
        self.cur_ts = np.zeros(1 << 14)
        self.prev_ts = np.zeros(1 << 14)
        self.started = -np.inf
        self.dropped = 0

    def copies(self, d: Decoded, idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Mask over `idx` (IP frames of `d`, in order) of the packets that are copies."""
        n = len(idx)
        if self.window <= 0 or not n:
            return np.zeros(n, dtype=bool)
        if ts[0] - self.started > self.window:
            self.current, self.previous = self.previous, self.current
            self.cur_ts, self.prev_ts = self.prev_ts, self.cur_ts
            self.current.clear()
            self.started = float(ts[0])
        h = self._hash(d, idx)
        need = self.current.room(n)
        if need:
            self.current.grow(need)
            grown = np.zeros(need)
            grown[: len(self.cur_ts)] = self.cur_ts
            self.cur_ts = grown
        keys = h.reshape(-1, 1)
        row, new = self.current.lookup(keys, h)
        copy = np.zeros(n, dtype=bool)
        fresh = np.flatnonzero(new)
        self.cur_ts[row[fresh]] = ts[fresh]
        seen = np.flatnonzero(~new)
        if len(seen):
            copy[seen] = ts[seen] - self.cur_ts[row[seen]] <= self.window
        if self.previous.rows and len(fresh):
            old, _ = self.previous.lookup(keys[fresh], h[fresh], insert=False)
            hit = old >= 0
            if hit.any():
                f = fresh[hit]
                copy[f] = ts[f] - self.prev_ts[old[hit]] <= self.window
        # The same packet again after the window is an original again, whose own
        # copies count from its time.
        again = seen[~copy[seen]]
        self.cur_ts[row[again]] = ts[again]
        self.dropped += int(copy.sum())
        return copy

    @staticmethod
    def _hash(d: Decoded, idx: np.ndarray) -> np.ndarray:
        buf = d.buf
        l3 = d.l3[idx]
        l4 = d.l4[idx]
        room = d.end[idx] - l4
        head = buf.be64[l3]
        v6 = d.ipver[idx] == 6
        if v6.any():
            head = np.where(v6, head & V6_NO_HOPLIMIT, head)
        # Transport bytes 0-15 where captured (clamped reads are masked to zero).
        t0 = np.where(room >= 8, buf.be64[np.where(room >= 8, l4, l3)], U64(0))
        t1 = np.where(room >= 16, buf.be64[np.where(room >= 16, l4, l3) + 8], U64(0))
        with np.errstate(over="ignore"):
            h: np.ndarray = head * U64(0x9E3779B97F4A7C15) + d.src_lo[idx] * U64(0xC2B2AE3D27D4EB4F)
            h += d.dst_lo[idx] * U64(0x165667B19E3779F9) + (d.src_hi[idx] ^ d.dst_hi[idx]) * U64(0x27D4EB2F165667C5)
            h += t0 * U64(0x85EBCA77C2B2AE63) + t1 * U64(0xFF51AFD7ED558CCD)
            h ^= h >> U64(31)
            h *= U64(0xC4CEB9FE1A85EC53)
            h ^= h >> U64(29)
        return h
