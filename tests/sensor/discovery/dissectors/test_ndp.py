"""IPv6 neighbour discovery: router advertisements, neighbour advertisements and duplicate address detection."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import MA, V6_ROUTER, Case, about, collect, icmp6, triples

ROUTER_MAC = "02:00:00:00:00:0a"  # MA: frames are sent from it


def ra_message() -> bytes:
    prefix = struct.pack(">BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + P.ip("2001:db8:5::")
    return struct.pack(">BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + b"\x01\x01" + P.mac(MA) + prefix


def na_message() -> bytes:
    return (
        struct.pack(">BBHI", 136, 0, 0, 0x60000000) + P.ip("2001:db8:5::77") + b"\x02\x01" + P.mac("02:00:00:00:77:77")
    )


def _cases() -> list[Case]:
    return [
        Case(
            "ndp",
            icmp6(V6_ROUTER, "ff02::1"),
            ra_message(),
            {("ndp", "role", "router"), ("ndp", "mac", MA), ("ndp", "prefix", "2001:db8:5::/64")},
            sender_ip=V6_ROUTER,
            early_end=24,
            early={("ndp", "role", "router"), ("ndp", "mac", MA)},
            lengths=[(25, 1)],
        ),
    ]


CASES = _cases()


def test_ndp_neighbour_advertisement_binds_its_target() -> None:
    facts, _ = collect([icmp6("2001:db8:5::77", "ff02::1")(na_message())])
    assert ("ndp", "mac", "02:00:00:00:77:77") in about(facts, "2001:db8:5::77", "02:00:00:00:77:77")
    assert ("ndp", "role", "router") not in triples(facts)


def test_ndp_duplicate_address_detection_binds_the_tentative_address() -> None:
    ns = struct.pack(">BBHI", 135, 0, 0, 0) + P.ip("2001:db8:5::99")
    facts, _ = collect([icmp6("::", "ff02::1:ff00:99")(ns)])
    assert ("ndp", "mac", MA) in about(facts, "2001:db8:5::99", MA)
    assert not about(facts, "::")
