"""Who sent what: the (source IP, source MAC, VLAN, tunnel) rows with news since the
last harvest, as the packet core hands them over (its table is sensor/csrc/hosts.c).

A pair seen on several VLANs or tunnels (routed traffic mirrored on both sides of its
router) has a row for each, so that the report names every VLAN it was on, however the
live service's workers share them. Assets are built from these pairs: an address that
never sent a packet (a scan's target, a multicast group) is a flow endpoint, not a
device. The MAC of an address behind a router is the router's; the report keeps every
MAC seen with an address.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from nps_sensor import packetcore

NO_MAC = 0xFFFF_FFFF_FFFF_FFFF

# The core's host_record (sensor/csrc/module.c), field for field: address (high and low
# 64 bits), MAC (NO_MAC where the link has none), packets, first, last, VLAN, tunnel,
# and 1 where the MAC claimed the address itself (an ARP request's sender).
RECORD = struct.Struct("<QQQqddqqq")
assert RECORD.size == packetcore.HOST_RECORD_SIZE

Row = tuple[int, int, int, int, float, float, int, int, int]


@dataclass(slots=True)
class HostDeltas:
    """Pairs that sent packets since the last drain (packets counts only those): packed
    records, a few hundred per window, read row by row."""

    records: bytes = b""

    def __len__(self) -> int:
        return len(self.records) // RECORD.size

    def rows(self) -> Iterator[Row]:
        return RECORD.iter_unpack(self.records)

    @staticmethod
    def from_records(blob: bytes) -> HostDeltas:
        return HostDeltas(blob)

    @staticmethod
    def concat(parts: list[HostDeltas]) -> HostDeltas:
        return HostDeltas(b"".join(p.records for p in parts))
