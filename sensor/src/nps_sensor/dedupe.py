"""Copies of one packet delivered twice by a TAP or SPAN session, counted once.

A SPAN session that mirrors both the ingress and the egress port of a switched path,
a routed path mirrored on both of its VLANs, or two ERSPAN sessions covering the same
link hand the sensor the same packet twice, microseconds apart. A copy is a packet
whose IP header (all of it but TTL/hop limit and checksum, with the IPv6 fragment
header), and first 16 bytes after it (ports, TCP sequence and acknowledgment numbers,
UDP length and checksum; a later fragment's first data bytes) equal those of a packet
seen at most `window` seconds before. The transport checksum covers the payload, so
different packets of a flow do not match, and neither do the fragments of one
datagram (their offsets differ) nor two datagrams (their identifications differ).

What the check cannot know is whether a byte-identical packet was sent twice: a host
answering two segments with two identical RSTs, an IPv6 host (no IP ID) repeating a
pure ACK. So each copy is counted under what proves it a copy:

* `hop-limit`: its TTL or hop limit differs from the original's: the same packet seen
  on both sides of a router, which a sender cannot produce;
* `other-path`: same TTL, but it came another way: another VLAN, ERSPAN session,
  VXLAN/Geneve VNI, tunnel source or source MAC;
* `ip-id`: the same way, but it carries an identification its sender gives each
  datagram anew (IPv4's IP ID when not 0, an IPv6 fragment header's): one datagram
  seen twice, as a sender resending data numbers it anew;
* `identical`: nothing tells it from a packet sent twice (IPv6, or an IPv4 ID of 0 as
  many stacks send with DF): a session mirroring both ports of one switch (the copies
  microseconds apart, a frame's time through the switch), or a sender that repeated
  itself (two RSTs answering two segments, under a millisecond apart). Such a copy must
  come within the much shorter `identical_window`; this count is what the check may
  take from genuine traffic (docs/engine.md says how to choose the windows).

The check sorts each batch's packet hashes together with those of the previous
batches' last `window` seconds: equal neighbours in the sorted order are copies.
The IP header and transport words come from the decoder, which read them anyway;
the path of a packet is looked at only for the copies found (and for the packets kept
for the next batch), so traffic without copies pays nothing for the reasons.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.config import Duplicates
from nps_sensor.decode.frames import Decoded
from nps_sensor.vtable import hash_columns, mix64

U64 = np.uint64
MAX_TAIL = 1 << 15  # packets kept from the previous batch, whatever the window
POSITION = U64(0xFFFF)  # positions (tail + batch) fit 16 bits: batches hold at most 32768
PREFIX = ~POSITION
REASONS = ("hop-limit", "other-path", "ip-id", "identical")
HOP_LIMIT, OTHER_PATH, IP_ID, IDENTICAL = range(4)


class Deduplicator:
    def __init__(self, settings: Duplicates) -> None:
        self.settings = settings
        self.tail_h = np.zeros(0, dtype=U64)
        self.tail_ts = np.zeros(0)
        self.tail_ttl = np.zeros(0, dtype=np.uint8)
        self.tail_path = np.zeros(0, dtype=U64)
        self.reasons = np.zeros(len(REASONS), dtype=np.int64)

    @property
    def dropped(self) -> int:
        return int(self.reasons.sum())

    def as_dict(self) -> dict[str, object]:
        return {"dropped": self.dropped, "reasons": dict(zip(REASONS, self.reasons.tolist(), strict=True))}

    def copies(self, d: Decoded, idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Mask over `idx` (IP frames of `d`, in order) of the packets that are copies."""
        n = len(idx)
        window = self.settings.window
        if window <= 0 or not n:
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
            gap = np.abs(all_ts[later] - all_ts[earlier])
            # Repeats among the previous batches' packets were counted with them.
            same = (all_h[later] == all_h[earlier]) & (gap <= window) & (later >= t)
            if same.any():
                later, earlier, gap = later[same], earlier[same], gap[same]
                copy[later[self._count(d, idx, t, later, earlier, gap)]] = True
        recent = all_ts >= all_ts[-1] - window
        recent[: max(0, t + n - MAX_TAIL)] = False
        self._keep(d, idx, t, all_h, all_ts, recent)
        return copy[t:]

    def _paths(self, d: Decoded, idx: np.ndarray, t: int, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TTL and path of positions `at` (tail first, then the batch's frames `idx`)."""
        ttl = np.empty(len(at), dtype=np.uint8)
        path = np.empty(len(at), dtype=U64)
        old = at < t
        if old.any():
            ttl[old], path[old] = self.tail_ttl[at[old]], self.tail_path[at[old]]
        if not old.all():
            ttl[~old], path[~old] = _path(d, idx[at[~old] - t])
        return ttl, path

    def _count(
        self, d: Decoded, idx: np.ndarray, t: int, later: np.ndarray, earlier: np.ndarray, gap: np.ndarray
    ) -> np.ndarray:
        """Which of the repeats (`later` of `earlier`, `gap` seconds on) are copies, counted by reason."""
        ttl_c, path_c = self._paths(d, idx, t, later)
        ttl_o, path_o = self._paths(d, idx, t, earlier)
        numbered = _numbered(d, idx[later - t])
        reason = np.where(
            ttl_c != ttl_o,
            HOP_LIMIT,
            np.where(path_c != path_o, OTHER_PATH, np.where(numbered, IP_ID, IDENTICAL)),
        )
        near = min(self.settings.identical_window, self.settings.window)
        copy: np.ndarray = (reason != IDENTICAL) | (gap <= near)
        self.reasons += np.bincount(reason[copy], minlength=len(REASONS))
        return copy

    def _keep(
        self, d: Decoded, idx: np.ndarray, t: int, all_h: np.ndarray, all_ts: np.ndarray, keep: np.ndarray
    ) -> None:
        """The packets of the last `window` seconds (`keep`, a mask over the tail and the
        batch), for the next batch's check: their hashes, times, TTLs and ways."""
        ttl, path = _path(d, idx[keep[t:]])
        if t:
            ttl = np.concatenate([self.tail_ttl[keep[:t]], ttl])
            path = np.concatenate([self.tail_path[keep[:t]], path])
        self.tail_ttl, self.tail_path = ttl, path
        self.tail_h, self.tail_ts = all_h[keep], all_ts[keep]


def _hash(d: Decoded, idx: np.ndarray) -> np.ndarray:
    # Both IPv4 addresses fit one column exactly; IPv6 ones are folded into it.
    src_lo, dst_lo = d.src_lo[idx], d.dst_lo[idx]
    addrs = (src_lo << U64(32)) ^ dst_lo
    v6 = d.ipver[idx] == 6
    if v6.any():
        addrs = np.where(v6, mix64(src_lo ^ d.src_hi[idx]) ^ mix64(d.dst_hi[idx]) ^ dst_lo, addrs)
    h = hash_columns([d.head[idx], addrs, d.t0[idx], d.t1[idx]])
    # IPv6 fragments: the fragment header's offset, M flag and identification. Mixed
    # in only where there is one, so a packet hashes the same whatever its batch holds.
    if d.any_fraghdr:
        fraghdr = d.fraghdr[idx]
        h = np.where(fraghdr != 0, hash_columns([h, fraghdr]), h)
    return h


def _numbered(d: Decoded, frames: np.ndarray) -> np.ndarray:
    """Frames whose IP header carries a per-datagram identification: IPv4 with an IP
    ID other than 0, IPv6 with a fragment header."""
    v4_id = (d.head[frames] >> U64(16)) & U64(0xFFFF)
    numbered: np.ndarray = np.where(d.ipver[frames] == 4, v4_id != 0, d.fraghdr[frames] != 0)
    return numbered


def _path(d: Decoded, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The TTL (hop limit) of frames, and a key of the way they came: their source MAC
    in the low 48 bits, VLANs, tunnel id and tunnel sources folded in above and over
    it. Two keys differ where the ways differ, but in a crafted case; no hash is
    needed, as keys are only compared, and this runs for every packet kept for the
    next batch."""
    ttl = d.u8(frames, d.l3[frames] + 7 + (d.ipver[frames] == 4))
    vlans = (d.vlan_outer[frames].astype(np.int64) & 0xFFF) << 12 | (d.vlan_inner[frames].astype(np.int64) & 0xFFF)
    way = (vlans << 40 ^ d.tunnel_id[frames] << 20).view(U64) ^ d.path[frames]
    return ttl.astype(np.uint8), way ^ (d.src_mac(frames) & 0xFFFFFFFFFFFF).view(U64)
