"""DNP3: link-layer addresses and which end is the master."""

from __future__ import annotations

import struct

from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, tcp4


def dnp3(control: int, dst: int, src: int) -> bytes:
    return b"\x05\x64\x05" + bytes([control]) + struct.pack("<HH", dst, src) + b"\x00\x00"


def _cases() -> list[Case]:
    return [
        Case(
            "dnp3",
            tcp4(20000, 50000),
            dnp3(0x44, 3, 10),
            {
                ("dnp3", "address", "10"),
                ("dnp3", "role", "outstation"),
                ("dnp3", "service", ("tcp", 20000, "dnp3")),
            },
        ),
    ]


CASES = _cases()


def test_dnp3_master_and_outstation() -> None:
    facts, _ = collect([tcp4(50000, 20000, src=B4, dst=A4)(dnp3(0xC4, 10, 3))])
    assert {("dnp3", "address", "3"), ("dnp3", "role", "master")} <= about(facts, B4)
    assert {("dnp3", "address", "10"), ("dnp3", "role", "outstation")} <= about(facts, A4)
