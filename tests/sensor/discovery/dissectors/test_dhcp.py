"""DHCPv4: client messages speak for the client's MAC, an ACK binds the address it gives."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, triples, udp4
from tests.sensor.discovery.dissectors.test_dhcpv6 import dns_wire

DHCP_CLIENT = "02:00:00:00:00:42"


WINDOWS_PRL = (1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252)


def dhcp_option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def bootp(msg_type: int, options: bytes, *, ciaddr: str = "0.0.0.0", yiaddr: str = "0.0.0.0") -> bytes:
    """A DHCP message from or to DHCP_CLIENT with `options` (after option 53) in the
    order given: the fixed header from `synth`, then the options, END and BOOTP's padding."""
    head = P.dhcp(msg_type, 0x5EED, DHCP_CLIENT, ciaddr=ciaddr, yiaddr=yiaddr)[:240]
    message = head + dhcp_option(53, bytes([msg_type])) + options + b"\xff"
    return message + bytes(max(0, P.BOOTP_MIN - len(message)))


DHCP_HOSTNAME = dhcp_option(12, b"LAPTOP-42")


def dhcp_discover() -> bytes:
    return bootp(
        P.DHCP_DISCOVER,
        dhcp_option(61, b"\x01" + P.mac(DHCP_CLIENT))
        + DHCP_HOSTNAME
        + dhcp_option(81, b"\x00\x00\x00laptop-42.corp.example")  # ASCII name (no E flag)
        + dhcp_option(60, b"MSFT 5.0")
        + dhcp_option(55, bytes(WINDOWS_PRL))
        + dhcp_option(50, P.ip("10.1.1.77")),
    )


def dhcp_ack() -> bytes:
    return bootp(
        P.DHCP_ACK,
        dhcp_option(54, P.ip(A4)) + dhcp_option(51, struct.pack(">I", 86400)) + dhcp_option(1, P.ip("255.255.255.0")),
        yiaddr="10.1.1.77",
    )


def _cases() -> list[Case]:
    discover = dhcp_discover()
    after_hostname = discover.index(DHCP_HOSTNAME) + len(DHCP_HOSTNAME)
    return [
        Case(
            "dhcp",
            udp4(68, 67, src="0.0.0.0", dst="255.255.255.255"),
            discover,
            {
                ("dhcp", "hostname", "LAPTOP-42"),
                ("dhcp", "fqdn", "laptop-42.corp.example"),
                ("dhcp", "vendor_class", "MSFT 5.0"),
                ("dhcp", "prl", ",".join(map(str, WINDOWS_PRL))),
                ("dhcp", "requested_ip", "10.1.1.77"),
            },
            sender_ip=None,
            sender_mac=DHCP_CLIENT,
            early_end=after_hostname,
            early={("dhcp", "hostname", "LAPTOP-42")},
            lengths=[
                (after_hostname + 1, 1),
                (discover.index(b"\x3c\x08MSFT") + 1, 1),
                (discover.index(b"\x37\x0e") + 1, 1),
            ],
        ),
        Case(
            "dhcp",
            udp4(67, 68, dst="255.255.255.255"),
            dhcp_ack(),
            {("dhcp", "service", ("udp", 67, "dhcp"))},
        ),
    ]


CASES = _cases()


def test_dhcp_discover_speaks_for_the_client_mac() -> None:
    """A DISCOVER comes from 0.0.0.0: its facts are about chaddr, with no address."""
    facts, _ = collect([udp4(68, 67, src="0.0.0.0", dst="255.255.255.255")(dhcp_discover())])
    assert not about(facts, "0.0.0.0")
    assert ("dhcp", "prl", "1,3,6,15,31,33,43,44,46,47,119,121,249,252") in about(facts, None, DHCP_CLIENT)
    assert not any(s == "dhcp" and k == "mac" for s, k, _ in triples(facts))  # no address to bind yet


def test_a_relayed_request_speaks_for_the_client_and_not_for_the_relay() -> None:
    """A relay agent (RFC 1542) forwards the client's DISCOVER from its own address:
    the facts are the client's MAC's, and the relay's address is bound to no one (a
    sensor at the DHCP server sees every client of the site through one relay)."""
    relayed = P.dhcp(P.DHCP_DISCOVER, 7, DHCP_CLIENT, giaddr=A4, hostname="raspberrypi", vendor_class="dhcpcd-6.11.5")
    facts, _ = collect([udp4(67, 67, src=A4, dst=B4)(relayed)])
    assert not about(facts, A4)
    assert ("dhcp", "hostname", "raspberrypi") in about(facts, None, DHCP_CLIENT)
    assert not any(s == "dhcp" and k == "mac" for s, k, _ in triples(facts))


def test_dhcp_parameter_list_keeps_its_order() -> None:
    prl = (252, 3, 1, 15, 6, 44, 46, 47, 31, 33, 121, 249, 43)  # as an older Windows sends it
    message = bootp(P.DHCP_DISCOVER, dhcp_option(55, bytes(prl)))
    facts, _ = collect([udp4(68, 67, src="0.0.0.0", dst="255.255.255.255")(message)])
    assert ("dhcp", "prl", "252,3,1,15,6,44,46,47,31,33,121,249,43") in about(facts, None, DHCP_CLIENT)


def test_dhcp_fqdn_in_wire_format() -> None:
    """Option 81 with the E flag carries the name as DNS labels (RFC 4702)."""
    message = bootp(P.DHCP_REQUEST, dhcp_option(81, b"\x05\x00\x00" + dns_wire("ws-17.corp.example")), ciaddr=A4)
    facts, _ = collect([udp4(68, 67, dst=B4)(message)])
    got = about(facts, A4, DHCP_CLIENT)
    assert ("dhcp", "fqdn", "ws-17.corp.example") in got
    assert ("dhcp", "mac", DHCP_CLIENT) in got  # a renewal from its address binds it


def test_dhcp_ack_binds_the_assigned_address_to_the_client() -> None:
    facts, _ = collect([udp4(67, 68, dst="255.255.255.255")(dhcp_ack())])
    client = about(facts, "10.1.1.77", DHCP_CLIENT)
    assert {("dhcp", "mac", DHCP_CLIENT), ("dhcp", "assigned_ip", "10.1.1.77")} <= client
    assert about(facts, A4) == {("dhcp", "service", ("udp", 67, "dhcp"))}  # the server: nothing of the client's


def test_dhcp_offer_binds_nothing() -> None:
    """An OFFER proposes an address the client may decline: no binding yet."""
    offer = bootp(P.DHCP_OFFER, dhcp_option(54, P.ip(A4)), yiaddr="10.1.1.77")
    facts, _ = collect([udp4(67, 68, dst="255.255.255.255")(offer)])
    assert not about(facts, "10.1.1.77", DHCP_CLIENT) - {("dhcp", "service", ("udp", 67, "dhcp"))}


def test_dhcp_malformed_option_after_the_hostname_keeps_it() -> None:
    overlong = dhcp_option(60, b"MSFT 5.0")[:1] + b"\xf0" + b"MSFT 5.0"  # says 240 bytes, has 8
    message = bootp(P.DHCP_DISCOVER, DHCP_HOSTNAME + overlong)
    facts, errors = collect([udp4(68, 67, src="0.0.0.0", dst="255.255.255.255")(message)])
    got = about(facts, None, DHCP_CLIENT)
    assert ("dhcp", "hostname", "LAPTOP-42") in got
    assert not any(k == "vendor_class" for _, k, _ in got)
    assert errors.get("malformed-dhcp") == 1  # counted, not silently lost
