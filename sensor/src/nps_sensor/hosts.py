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

from dataclasses import dataclass, fields

import numpy as np

from nps_sensor import packetcore

U64 = np.uint64
NO_MAC = U64(0xFFFFFFFFFFFFFFFF)

RECORD = np.dtype(
    [
        ("ip_hi", "<u8"),
        ("ip_lo", "<u8"),
        ("mac", "<u8"),  # NO_MAC where the link has none
        ("packets", "<i8"),
        ("first", "<f8"),
        ("last", "<f8"),
        ("vlan", "<i8"),
        ("tunnel", "<i8"),
    ]
)
assert RECORD.itemsize == packetcore.HOST_RECORD_SIZE


@dataclass(slots=True)
class HostDeltas:
    """Pairs that sent packets since the last drain; packets counts only those."""

    ip_hi: np.ndarray
    ip_lo: np.ndarray
    mac: np.ndarray
    packets: np.ndarray
    first: np.ndarray
    last: np.ndarray
    vlan: np.ndarray
    tunnel: np.ndarray

    def __len__(self) -> int:
        return len(self.packets)

    @staticmethod
    def from_records(blob: bytes) -> HostDeltas:
        records = np.frombuffer(blob, dtype=RECORD)
        return HostDeltas(*(records[f.name] for f in fields(HostDeltas)))

    @staticmethod
    def concat(parts: list[HostDeltas]) -> HostDeltas:
        return HostDeltas(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(HostDeltas)))
