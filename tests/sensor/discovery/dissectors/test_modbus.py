"""Modbus/TCP: Read Device Identification responses, and polling left alone."""

from __future__ import annotations

import struct

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector
from tests.sensor.discovery.dissectors.frames import Case, tcp4


def modbus_device_id() -> bytes:
    objects = b"".join(
        bytes([oid, len(v)]) + v for oid, v in ((0, b"Schneider Electric"), (1, b"BMX P34 2020"), (2, b"v2.8"))
    )
    pdu = b"\x2b\x0e\x01\x01\x00\x00" + bytes([3]) + objects
    return struct.pack(">HHHB", 1, 0, len(pdu) + 1, 1) + pdu


def _cases() -> list[Case]:
    modbus = modbus_device_id()
    return [
        Case(
            "modbus",
            tcp4(502, 50000),
            modbus,
            {
                ("modbus", "service", ("tcp", 502, "modbus")),
                ("modbus", "vendor", "Schneider Electric"),
                ("modbus", "product_code", "BMX P34 2020"),
                ("modbus", "revision", "v2.8"),
            },
            early_end=modbus.index(b"BMX") - 2,
            early={("modbus", "vendor", "Schneider Electric")},
            lengths=[(modbus.index(b"BMX") - 1, 1)],
        ),
    ]


CASES = _cases()


def test_modbus_polling_is_not_selected() -> None:
    poll = struct.pack(">HHHB", 7, 0, 6, 1) + b"\x03\x00\x00\x00\x0a"
    c = Collector(Config())
    c.process(batch_from_frames([tcp4(50000, 502)(poll), tcp4(502, 50000)(modbus_device_id())]))
    assert c.stats_dict()["discovery"]["packets"] == 1
