"""S7comm: SZL module and component identification."""

from __future__ import annotations

import struct

from tests.sensor.discovery.dissectors.frames import Case, tcp4


def s7_szl(szl: int, size: int, records: list[bytes]) -> bytes:
    data_body = struct.pack(">HHHH", szl, 0, size, len(records)) + b"".join(records)
    data = b"\xff\x09" + struct.pack(">H", len(data_body)) + data_body
    param = b"\x00\x01\x12\x08\x12\x84\x01\x00\x00\x00\x00\x00"
    s7 = b"\x32\x07\x00\x00" + struct.pack(">HHH", 0x0100, len(param), len(data)) + param + data
    cotp = b"\x02\xf0\x80"
    return b"\x03\x00" + struct.pack(">H", 4 + len(cotp) + len(s7)) + cotp + s7


def s7_module_id() -> bytes:
    records = [
        struct.pack(">H", 1) + b"6ES7 516-3AN01-0AB0 " + struct.pack(">HHH", 0xC0, 2, 6),
        struct.pack(">H", 7) + b" " * 20 + struct.pack(">H", 0xC0) + b"V\x02\x08\x03",
    ]
    return s7_szl(0x0011, 28, records)


def s7_component_id() -> bytes:
    def rec(index: int, value: bytes) -> bytes:
        return struct.pack(">H", index) + value.ljust(32, b"\0")

    return s7_szl(
        0x001C,
        34,
        [rec(1, b"PLC-LINE-3"), rec(2, b"CPU 1516-3 PN/DP"), rec(3, b"Bottling"), rec(5, b"S V-J1234567")],
    )


def _cases() -> list[Case]:
    module = s7_module_id()
    component = s7_component_id()
    return [
        Case(
            "s7comm",
            tcp4(102, 50000),
            module,
            {
                ("s7comm", "service", ("tcp", 102, "s7comm")),
                ("s7comm", "order_number", "6ES7 516-3AN01-0AB0"),
                ("s7comm", "firmware", "V2.8.3"),
            },
            early_end=len(module) - 28,
            early={("s7comm", "order_number", "6ES7 516-3AN01-0AB0")},
        ),
        Case(
            "s7comm",
            tcp4(102, 50000),
            component,
            {
                ("s7comm", "service", ("tcp", 102, "s7comm")),
                ("s7comm", "system_name", "PLC-LINE-3"),
                ("s7comm", "module", "CPU 1516-3 PN/DP"),
                ("s7comm", "plant", "Bottling"),
                ("s7comm", "serial", "S V-J1234567"),
            },
            early_end=len(component) - 34 * 2,
            early={("s7comm", "system_name", "PLC-LINE-3"), ("s7comm", "module", "CPU 1516-3 PN/DP")},
        ),
    ]


CASES = _cases()
