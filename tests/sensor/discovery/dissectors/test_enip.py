"""EtherNet/IP: ListIdentity responses over UDP and TCP."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, Case, tcp4, udp4


def enip_list_identity() -> bytes:
    name = b"1756-L61/B LOGIX5561"
    socket = struct.pack(">HH", 2, 44818) + P.ip(A4) + bytes(8)
    item = (
        struct.pack("<H", 1)
        + socket
        + struct.pack("<HHHBBHI", 1, 0x0E, 0x36, 20, 11, 0x3060, 0x00C0FFEE)
        + bytes([len(name)])
        + name
        + b"\x03"
    )
    data = struct.pack("<HHH", 1, 0x0C, len(item)) + item
    return struct.pack("<HHII", 0x63, len(data), 0, 0) + bytes(8) + struct.pack("<I", 0) + data


def _cases() -> list[Case]:
    enip = enip_list_identity()
    return [
        Case(
            "enip",
            udp4(44818, 50000),
            enip,
            {
                ("enip", "service", ("udp", 44818, "enip")),
                ("enip", "vendor_id", "1"),
                ("enip", "vendor", "Rockwell Automation/Allen-Bradley"),
                ("enip", "device_type", "programmable logic controller"),
                ("enip", "product_code", "54"),
                ("enip", "revision", "20.11"),
                ("enip", "serial", "0x00c0ffee"),
                ("enip", "product_name", "1756-L61/B LOGIX5561"),
            },
            early_end=enip.index(b"1756") - 1,
            early={("enip", "product_code", "54"), ("enip", "serial", "0x00c0ffee")},
            lengths=[(enip.index(b"1756") - 1, 1)],
        ),
        Case(
            "enip",
            tcp4(44818, 50000),
            enip,
            {("enip", "service", ("tcp", 44818, "enip")), ("enip", "product_name", "1756-L61/B LOGIX5561")},
        ),
    ]


CASES = _cases()
