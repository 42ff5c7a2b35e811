"""NetBIOS datagram service: browser announcements."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, MA, Case, about, collect, udp4
from tests.sensor.discovery.dissectors.test_nbns import netbios_encoded
from tests.sensor.discovery.dissectors.test_smb import smb1_header


def browser_announcement(opcode: int, server: str, comment: str, kinds: int, version: tuple[int, int]) -> bytes:
    """A NetBIOS datagram (direct group, to WORKGROUP<1d>) carrying an SMB mailslot
    write to \\MAILSLOT\\BROWSE: a host (1), local master (15) or domain (12) announcement."""
    body = (
        bytes([opcode, 3])
        + struct.pack("<I", 720_000)
        + server.encode().ljust(16, b"\0")[:16]
        + bytes(version)
        + struct.pack("<I", kinds)
        + b"\x0f\x01\x55\xaa"
        + comment.encode()
        + b"\0"
    )
    slot = b"\\MAILSLOT\\BROWSE\x00"
    smb = smb1_header(0x25, False) + bytes([17]) + bytes(34) + struct.pack("<H", len(slot) + len(body)) + slot + body
    names = netbios_encoded("WS-0042", 0x00) + netbios_encoded("CORP", 0x1D)
    return b"\x11\x02\x81\x7c" + P.ip(A4) + struct.pack(">HHH", 138, len(names) + len(smb), 0) + names + smb


def _cases() -> list[Case]:
    host = browser_announcement(1, "WS-0042", "Finance laptop", 0x00001003 | 0x400, (10, 0))
    return [
        Case(
            "netbios-dgm",
            udp4(138, 138, dst="10.1.1.255"),
            host,
            {
                ("netbios", "hostname", "WS-0042"),
                ("netbios", "os_version", "10.0"),
                ("netbios", "role", "print server"),
                ("netbios", "comment", "Finance laptop"),
            },
            sender_mac=MA,
            early_end=14 + 34,  # the source name
            early={("netbios", "hostname", "WS-0042")},
        ),
    ]


CASES = _cases()


def test_browser_announcements() -> None:
    """A host announcement gives the host's name, Windows version and roles; a domain
    announcement from the master browser gives the workgroup."""
    domain = browser_announcement(12, "CORP", "WS-0042", 0x80001000, (6, 1))
    facts, _ = collect(
        [
            udp4(138, 138, dst="10.1.1.255")(browser_announcement(1, "WS-0042", "", 0x00001003, (6, 1))),
            udp4(138, 138, dst="10.1.1.255")(domain),
        ]
    )
    got = about(facts, A4, MA)
    assert {("netbios", "hostname", "WS-0042"), ("netbios", "os_version", "6.1")} <= got
    assert ("netbios", "workgroup", "CORP") in got
    assert ("netbios", "role", "unix") in got
    assert not any(k == "comment" for _, k, _ in got)
