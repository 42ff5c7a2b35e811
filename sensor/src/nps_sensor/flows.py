"""Flows' news as the packet core hands them over: one record per flow, oriented client
-> server, with the traffic since the last report.

The flow table itself is the core's (sensor/csrc/flows.c): bidirectional flows keyed
by the normalised 5-tuple, the client decided by the rules of nps_sensor.roles on the
flow's first packet (and once more by a TCP handshake seen later), IP-layer bytes per
direction as NetFlow and IPFIX count them, an idle timeout and a memory bound whose
evictions keep their unreported counts for the next report. Harvests from several
capture workers merge by concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from nps_sensor import packetcore

# The core's nps_delta (sensor/csrc/tables.h), field for field.
RECORD = np.dtype(
    [
        ("client_hi", "<u8"),
        ("client_lo", "<u8"),
        ("server_hi", "<u8"),
        ("server_lo", "<u8"),
        ("port", "<i4"),  # the server's port, -1 for port-less protocols
        ("proto", "<i4"),
        ("client_packets", "<i8"),
        ("client_bytes", "<i8"),
        ("server_packets", "<i8"),
        ("server_bytes", "<i8"),
        ("first", "<f8"),
        ("last", "<f8"),
        ("vlan", "<i8"),
        ("tunnel", "<i8"),
    ]
)
assert RECORD.itemsize == packetcore.FLOW_RECORD_SIZE


@dataclass(slots=True)
class FlowDeltas:
    """Traffic of flows since the last report, oriented client -> server: columns."""

    client_hi: np.ndarray
    client_lo: np.ndarray
    server_hi: np.ndarray
    server_lo: np.ndarray
    port: np.ndarray
    proto: np.ndarray
    client_packets: np.ndarray
    client_bytes: np.ndarray
    server_packets: np.ndarray
    server_bytes: np.ndarray
    first: np.ndarray
    last: np.ndarray
    vlan: np.ndarray
    tunnel: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    @staticmethod
    def from_records(blob: bytes) -> FlowDeltas:
        records = np.frombuffer(blob, dtype=RECORD)
        return FlowDeltas(*(records[f.name] for f in fields(FlowDeltas)))

    @staticmethod
    def concat(parts: list[FlowDeltas]) -> FlowDeltas:
        return FlowDeltas(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(FlowDeltas)))

    @staticmethod
    def empty() -> FlowDeltas:
        return FlowDeltas.from_records(b"")
