"""LLDP on frames built here: the sender's MAC, its name and description, capabilities, LLDP-MED inventory."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import (
    CDP_LLC,
    CDP_MULTICAST,
    LLDP_MULTICAST,
    MA,
    MB,
    Case,
    about,
    collect,
    lldp_frame,
)
from tests.sensor.discovery.dissectors.test_cdp import cdp_payload


def lldp_tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">H", kind << 9 | len(value)) + value


LLDP_HEAD = (
    lldp_tlv(1, b"\x04" + P.mac("00:1b:54:aa:bb:00"))
    + lldp_tlv(2, b"\x05Gi1/0/24")
    + lldp_tlv(3, b"\x00\x78")
    + lldp_tlv(5, b"core-sw1.example.net")
)


LLDP_NAME_END = len(LLDP_HEAD)  # where the system name TLV ends


def lldp_payload() -> bytes:
    return (
        LLDP_HEAD
        + lldp_tlv(6, b"Cisco IOS Software, C3750E Software, Version 15.0(2)SE11\nCopyright (c) 1986-2017")
        + lldp_tlv(4, b"GigabitEthernet1/0/24")
        + lldp_tlv(7, struct.pack(">HH", 0x0014, 0x0004))
        + lldp_tlv(8, bytes([5, 1]) + P.ip("10.9.9.2") + b"\x02" + struct.pack(">I", 24) + b"\x00")
        + lldp_tlv(127, b"\x00\x12\xbb\x0a" + b"WS-C3750E-24PD")
        + lldp_tlv(127, b"\x00\x12\xbb\x08" + b"FDO1234X0AB")
        + lldp_tlv(0, b"")
    )


def _cases() -> list[Case]:
    lldp = lldp_payload()
    return [
        Case(
            "lldp",
            lldp_frame,
            lldp,
            {
                ("lldp", "chassis_id", "00:1b:54:aa:bb:00"),
                ("lldp", "port_id", "Gi1/0/24"),
                ("lldp", "hostname", "core-sw1.example.net"),
                (
                    "lldp",
                    "system_description",
                    "Cisco IOS Software, C3750E Software, Version 15.0(2)SE11 Copyright (c) 1986-2017",
                ),
                ("lldp", "port_description", "GigabitEthernet1/0/24"),
                ("lldp", "capabilities", "bridge,router"),
                ("lldp", "capabilities_enabled", "bridge"),
                ("lldp", "management_address", "10.9.9.2"),
                ("lldp", "model", "WS-C3750E-24PD"),
                ("lldp", "serial", "FDO1234X0AB"),
            },
            sender_ip=None,
            sender_mac=MA,
            early_end=LLDP_NAME_END,
            early={("lldp", "chassis_id", "00:1b:54:aa:bb:00"), ("lldp", "hostname", "core-sw1.example.net")},
            lengths=[(LLDP_NAME_END, 2)],
        ),
    ]


CASES = _cases()


def test_lldp_management_address_gets_the_name() -> None:
    facts, _ = collect([lldp_frame(lldp_payload())])
    assert ("lldp", "hostname", "core-sw1.example.net") in about(facts, "10.9.9.2", MA)


def test_lldp_and_cdp_behind_a_vlan_tag() -> None:
    tag = (P.vlan_tag(42),)
    body = CDP_LLC + cdp_payload()
    frames = [
        P.ethernet(LLDP_MULTICAST, MA, 0x88CC, lldp_payload(), tags=tag),
        P.ethernet(CDP_MULTICAST, MB, len(body), body, tags=tag),
    ]
    facts, _ = collect(frames)
    assert ("lldp", "hostname", "core-sw1.example.net") in about(facts, None, MA)
    assert ("cdp", "hostname", "dist-sw2.example.net") in about(facts, None, MB)
