"""DHCPv6: client messages (relayed too) speak for the client, replies for the server and the address they give."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import MA, MB, V6_HOST, Case, about, collect, udp6


def dhcp6_option(code: int, value: bytes) -> bytes:
    return struct.pack(">HH", code, len(value)) + value


DUID = bytes.fromhex("000100012a2b2c2d") + P.mac("02:00:00:00:00:0a")


def dns_wire(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"


def solicit() -> bytes:
    return (
        b"\x01\x12\x34\x56"
        + dhcp6_option(1, DUID)
        + dhcp6_option(8, b"\x00\x00")
        + dhcp6_option(6, struct.pack(">HHH", 23, 24, 39))
        + dhcp6_option(16, struct.pack(">I", 311) + struct.pack(">H", 8) + b"MSFT 5.0")
        + dhcp6_option(39, b"\x01" + dns_wire("ws-17.corp.example"))
    )


def relay_forw() -> bytes:
    peer = P.ip("fe80::ff:fe00:99")
    return (
        b"\x0c\x00"
        + P.ip("2001:db8:7::1")
        + peer
        + dhcp6_option(79, b"\x00\x01" + P.mac("02:00:00:00:00:99"))
        + dhcp6_option(9, solicit())
    )


def _cases() -> list[Case]:
    sol = solicit()
    return [
        Case(
            "dhcpv6",
            udp6(V6_HOST, "ff02::1:2", 546, 547),
            sol,
            {
                ("dhcpv6", "duid", DUID.hex()),
                ("dhcpv6", "mac", MA),
                ("dhcpv6", "oro", "23,24,39"),
                ("dhcpv6", "vendor_class", "311:MSFT 5.0"),
                ("dhcpv6", "fqdn", "ws-17.corp.example"),
                ("dhcpv6", "hostname", "ws-17.corp.example"),
            },
            sender_ip=V6_HOST,
            early_end=sol.index(b"\x00\x10\x00"),
            early={("dhcpv6", "duid", DUID.hex()), ("dhcpv6", "oro", "23,24,39")},
            lengths=[(sol.index(b"\x00\x10\x00") + 2, 2), (sol.index(b"\x00\x27\x00") + 2, 2)],
        ),
    ]


CASES = _cases()


def test_dhcpv6_relayed_solicit_speaks_for_the_peer() -> None:
    frame = udp6("2001:db8:7::1", "2001:db8::547", 547, 547, dmac=MB)(relay_forw())
    facts, _ = collect([frame])
    peer = about(facts, "fe80::ff:fe00:99")
    assert {("dhcpv6", "hostname", "ws-17.corp.example"), ("dhcpv6", "vendor_class", "311:MSFT 5.0")} <= peer
    assert ("dhcpv6", "mac", "02:00:00:00:00:99") in about(facts, "fe80::ff:fe00:99", "02:00:00:00:00:99")
    assert not about(facts, "2001:db8:7::1")  # the relay is not the client


def test_dhcpv6_reply_names_the_server_and_the_assigned_address() -> None:
    iaaddr = dhcp6_option(5, P.ip("2001:db8:5::1234") + struct.pack(">II", 3600, 7200))
    reply = (
        b"\x07\x12\x34\x56"
        + dhcp6_option(1, DUID)
        + dhcp6_option(2, bytes.fromhex("0003000102000000000b"))
        + dhcp6_option(3, struct.pack(">III", 1, 1800, 2880) + iaaddr)
    )
    facts, _ = collect([udp6("fe80::5", V6_HOST, 547, 546, dmac=MB)(reply)])
    assert ("dhcpv6", "service", ("udp", 547, "dhcpv6")) in about(facts, "fe80::5")
    assert ("dhcpv6", "assigned_ip", "2001:db8:5::1234") in about(facts, V6_HOST)


def test_dhcpv6_bad_fqdn_keeps_the_options_after_it() -> None:
    bad_name = dhcp6_option(39, b"\x01\x3fab")  # a label longer than the option
    message = b"\x01\x12\x34\x56" + bad_name + dhcp6_option(16, struct.pack(">IH", 311, 8) + b"MSFT 5.0")
    facts, errors = collect([udp6(V6_HOST, "ff02::1:2", 546, 547)(message)])
    assert ("dhcpv6", "vendor_class", "311:MSFT 5.0") in about(facts, V6_HOST)
    assert errors.get("malformed-dhcpv6") == 1
