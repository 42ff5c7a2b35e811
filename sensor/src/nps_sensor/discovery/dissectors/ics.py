"""Industrial protocols: stub, filled in by its own change."""

from __future__ import annotations

from nps_sensor.discovery.packet import Packet


def dissect_bacnet(p: Packet) -> None:
    return None


def dissect_enip(p: Packet) -> None:
    return None


def dissect_dnp3(p: Packet) -> None:
    return None


def dissect_modbus(p: Packet) -> None:
    return None


def dissect_s7(p: Packet) -> None:
    return None
