"""Who sent what: every (source IP, source MAC) pair seen, with counts and times.

A pair seen on several VLANs or tunnels (routed traffic mirrored on both sides of
its router) has a row for each, so that the report names every VLAN it was on
whichever packet came first, and however the live service's workers share them.

Assets are built from these pairs: an address that never sent a packet (a scan's
target, a multicast group) is a flow endpoint, not a device. The MAC of an address
behind a router is the router's; the report keeps every MAC seen with an address.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from nps_sensor.services import is_group_address, is_unspecified
from nps_sensor.vtable import VecTable, hash_columns

U64 = np.uint64
I64 = np.int64
NO_MAC = U64(0xFFFFFFFFFFFFFFFF)


@dataclass(slots=True)
class HostDeltas:
    """Pairs that sent packets since the last drain; packets counts only those."""

    ip_hi: np.ndarray
    ip_lo: np.ndarray
    mac: np.ndarray  # uint64, NO_MAC where the link has none
    packets: np.ndarray
    first: np.ndarray
    last: np.ndarray
    vlan: np.ndarray
    tunnel: np.ndarray

    def __len__(self) -> int:
        return len(self.packets)

    @staticmethod
    def concat(parts: list[HostDeltas]) -> HostDeltas:
        return HostDeltas(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(HostDeltas)))


class HostTable:
    def __init__(self) -> None:
        cap = 1 << 12
        self.index = VecTable(4, cap)  # ip_hi, ip_lo, mac, VLAN and tunnel
        self.packets = np.zeros(cap, dtype=I64)
        self.reported = np.zeros(cap, dtype=I64)  # packets as of the last drain
        self.first = np.full(cap, np.inf)
        self.last = np.zeros(cap)
        self.vlan = np.zeros(cap, dtype=I64)
        self.tunnel = np.zeros(cap, dtype=I64)

    def observe(
        self,
        ts: np.ndarray,
        ip_hi: np.ndarray,
        ip_lo: np.ndarray,
        mac: np.ndarray,
        vlan: np.ndarray,
        tunnel: np.ndarray,
    ) -> None:
        """Count packets sent by (ip, mac); mac is -1 where the link carries none."""
        real = ~(is_unspecified(ip_hi, ip_lo) | is_group_address(ip_hi, ip_lo))
        if not real.all():
            ts, ip_hi, ip_lo, mac, vlan, tunnel = (a[real] for a in (ts, ip_hi, ip_lo, mac, vlan, tunnel))
        if not len(ts):
            return
        umac = mac.astype(U64)  # -1 becomes NO_MAC
        need = self.index.room(len(ts))
        if need:
            self.index.grow(need)
            columns = (("packets", 0), ("reported", 0), ("first", np.inf), ("last", 0), ("vlan", 0), ("tunnel", 0))
            for name, fill in columns:
                old = getattr(self, name)
                new = np.full(need, fill, dtype=old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
        where = (((vlan.astype(I64) + 1) << 32) | ((tunnel.astype(I64) + 1) & 0xFFFFFFFF)).astype(U64)
        keys = [ip_hi, ip_lo, umac, where]
        hashes = hash_columns([ip_lo, umac, where])
        v6 = ip_hi != 0
        if v6.any():  # mixed in only where non-zero: a key hashes the same in any batch
            hashes = np.where(v6, hash_columns([hashes, ip_hi]), hashes)
        row, fresh = self.index.lookup(keys, hashes)
        if fresh.any():
            f = np.flatnonzero(fresh)
            self.vlan[row[f]] = vlan[f]
            self.tunnel[row[f]] = tunnel[f]
        np.add.at(self.packets, row, 1)
        # The earliest packet, whatever the order the batch was observed in (its IP
        # packets come before its ARP ones): a capture file's large batches and the
        # ring's small ones give a pair the same first time.
        np.minimum.at(self.first, row, ts)
        np.maximum.at(self.last, row, ts)

    def drain(self) -> HostDeltas:
        """Pairs active since the last drain, with the packets they sent since then."""
        n = self.index.rows
        rows = np.flatnonzero(self.packets[:n] > self.reported[:n])
        delta = self.packets[rows] - self.reported[rows]
        self.reported[rows] = self.packets[rows]
        ip_hi, ip_lo, mac = (col[rows] for col in self.index.keys[:3])
        return HostDeltas(
            ip_hi, ip_lo, mac, delta, self.first[rows], self.last[rows], self.vlan[rows], self.tunnel[rows]
        )
