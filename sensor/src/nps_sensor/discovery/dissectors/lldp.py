"""lldp: stub, filled in by its own change."""

from __future__ import annotations

from nps_sensor.discovery.packet import Packet


def dissect(p: Packet) -> None:
    return None
