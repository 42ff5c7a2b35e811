"""Flows' news as the packet core hands them over: one record per flow, oriented client
-> server, with the traffic since the last report.

The flow table itself is the core's (sensor/csrc/flows.c): bidirectional flows keyed
by the normalised 5-tuple, the client decided by the rules of nps_sensor.roles on the
flow's first packet (and once more by a TCP handshake seen later), IP-layer bytes per
direction as NetFlow and IPFIX count them, an idle timeout and a memory bound whose
evictions keep their unreported counts for the next report. The records stay packed
(the core's nps_delta, sensor/csrc/tables.h) until the core itself sums them for a
report (nps_sensor.report.traffic), and harvests from several capture workers merge by
concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass

from nps_sensor import packetcore


@dataclass(slots=True)
class FlowDeltas:
    """Traffic of flows since the last report, oriented client -> server: packed records."""

    records: bytes = b""

    def __len__(self) -> int:
        return len(self.records) // packetcore.FLOW_RECORD_SIZE

    @staticmethod
    def from_records(blob: bytes) -> FlowDeltas:
        return FlowDeltas(blob)

    @staticmethod
    def concat(parts: list[FlowDeltas]) -> FlowDeltas:
        return FlowDeltas(b"".join(p.records for p in parts))

    @staticmethod
    def empty() -> FlowDeltas:
        return FlowDeltas()
