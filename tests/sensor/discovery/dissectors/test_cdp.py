"""CDP on frames built here: device ID, platform, software, capabilities and management addresses."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import MA, Case, about, cdp_frame, collect


def cdp_tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">HH", kind, 4 + len(value)) + value


def cdp_payload() -> bytes:
    address = struct.pack(">I", 1) + b"\x01\x01\xcc" + struct.pack(">H", 4) + P.ip("10.9.9.3")
    return (
        b"\x02\xb4\x00\x00"
        + cdp_tlv(1, b"dist-sw2.example.net")
        + cdp_tlv(5, b"Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE5\nTechnical Support")
        + cdp_tlv(6, b"cisco WS-C2960-24TT-L")
        + cdp_tlv(2, address)
        + cdp_tlv(3, b"FastEthernet0/1")
        + cdp_tlv(4, struct.pack(">I", 0x28))
        + cdp_tlv(10, struct.pack(">H", 10))
        + cdp_tlv(9, b"CAMPUS")
    )


def _cases() -> list[Case]:
    cdp = cdp_payload()
    return [
        Case(
            "cdp",
            cdp_frame,
            cdp,
            {
                ("cdp", "hostname", "dist-sw2.example.net"),
                (
                    "cdp",
                    "software_version",
                    "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE5 Technical Support",
                ),
                ("cdp", "platform", "cisco WS-C2960-24TT-L"),
                ("cdp", "management_address", "10.9.9.3"),
                ("cdp", "port_id", "FastEthernet0/1"),
                ("cdp", "capabilities", "switch,igmp"),
                ("cdp", "native_vlan", "10"),
                ("cdp", "vtp_domain", "CAMPUS"),
            },
            sender_ip=None,
            sender_mac=MA,
            early_end=cdp.index(b"Cisco IOS") - 4,
            early={("cdp", "hostname", "dist-sw2.example.net")},
            lengths=[(cdp.index(b"Cisco IOS") - 2, 2), (cdp.index(b"cisco WS") - 2, 2)],
        ),
    ]


CASES = _cases()


def test_cdp_management_address_gets_name_and_platform() -> None:
    facts, _ = collect([cdp_frame(cdp_payload())])
    on_ip = about(facts, "10.9.9.3", MA)
    assert {("cdp", "hostname", "dist-sw2.example.net"), ("cdp", "platform", "cisco WS-C2960-24TT-L")} <= on_ip


def test_cdp_version_1_frame_from_a_router() -> None:
    payload = b"\x01\xb4\x00\x00" + cdp_tlv(1, b"R1") + cdp_tlv(6, b"cisco 1601") + cdp_tlv(4, struct.pack(">I", 1))
    facts, _ = collect([cdp_frame(payload)])
    got = about(facts, None, MA)
    assert {("cdp", "hostname", "R1"), ("cdp", "platform", "cisco 1601"), ("cdp", "capabilities", "router")} <= got
