"""NTP: client and server modes, a stratum-1 server's reference, a control response's system variables."""

from __future__ import annotations

import struct

from tests.sensor.discovery.dissectors.frames import Case, udp4


def ntp(mode: int, stratum: int = 0, refid: bytes = b"\0\0\0\0") -> bytes:
    return bytes([4 << 3 | mode, stratum, 6, 0xEC]) + bytes(8) + refid + bytes(32)


def ntp_control() -> bytes:
    data = b'version="ntpd 4.2.8p15@1.3728-o", processor="x86_64", system="Linux/5.10.0-21-amd64", leap=00'
    return bytes([2 << 3 | 6, 0x82]) + struct.pack(">HHHHH", 1, 0x0615, 0, 0, len(data)) + data


def _cases() -> list[Case]:
    return [
        Case(
            "ntp",
            udp4(123, 40000),
            ntp(4, stratum=1, refid=b"GPS\0"),
            {
                ("ntp", "mode", "server"),
                ("ntp", "version", "4"),
                ("ntp", "stratum", "1"),
                ("ntp", "reference", "GPS"),
                ("ntp", "service", ("udp", 123, "ntp")),
            },
            early_end=1,
            early={("ntp", "mode", "server"), ("ntp", "version", "4")},
        ),
        Case("ntp", udp4(40000, 123), ntp(3), {("ntp", "mode", "client"), ("ntp", "version", "4")}),
        Case(
            "ntp",
            udp4(123, 40000),
            ntp_control(),
            {
                ("ntp", "software", "ntpd 4.2.8p15@1.3728-o"),
                ("ntp", "processor", "x86_64"),
                ("ntp", "system", "Linux/5.10.0-21-amd64"),
                ("ntp", "service", ("udp", 123, "ntp")),
            },
        ),
    ]


CASES = _cases()
