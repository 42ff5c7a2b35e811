"""NetBIOS name service: registrations, positive and negative answers, node status."""

from __future__ import annotations

import struct

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, Case, about, collect, udp4


def netbios_encoded(name: str, suffix: int) -> bytes:
    raw = name.upper().ljust(15).encode()[:15] + bytes([suffix])
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\x00"


def nbns_message(flags: int, questions: list[bytes], records: list[bytes], section: str = "an") -> bytes:
    counts = {"an": (len(records), 0, 0), "ar": (0, 0, len(records))}[section]
    return struct.pack(">HHHHHH", 0x6C01, flags, len(questions), *counts) + b"".join(questions) + b"".join(records)


def nb_record(name: bytes, rtype: int, rdata: bytes, ttl: int = 300_000) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def nbns_registration(name: str, suffix: int, address: str, group: bool = False) -> bytes:
    """A name registration request (opcode 5, broadcast): the name in the question and
    again, with its address, in the additional record."""
    encoded = netbios_encoded(name, suffix)
    rdata = struct.pack(">H", 0x8000 if group else 0) + P.ip(address)
    return nbns_message(0x2910, [encoded + b"\x00\x20\x00\x01"], [nb_record(encoded, 0x20, rdata)], "ar")


def nbns_positive_answer(name: str, suffix: int, address: str) -> bytes:
    rdata = b"\x00\x00" + P.ip(address)
    return nbns_message(0x8500, [], [nb_record(netbios_encoded(name, suffix), 0x20, rdata)])


NODE_STATUS_MAC = "00:15:5d:01:02:03"


def nbns_node_status() -> bytes:
    table = [("WS-0042", 0x00, 0x0400), ("CORP", 0x00, 0x8400), ("WS-0042", 0x20, 0x0400), ("CORP", 0x1E, 0x8400)]
    rdata = bytes([len(table)]) + b"".join(
        name.ljust(15).encode() + bytes([suffix]) + struct.pack(">H", flags) for name, suffix, flags in table
    )
    rdata += P.mac(NODE_STATUS_MAC) + bytes(40)  # unit ID, then the statistics
    return nbns_message(0x8400, [], [nb_record(netbios_encoded("*", 0x00), 0x21, rdata, ttl=0)])


def _cases() -> list[Case]:
    registration = nbns_registration("WS-0042", 0x00, A4)
    status = nbns_node_status()
    return [
        Case(
            "nbns",
            udp4(137, 137, dst="10.1.1.255"),
            registration,
            {("nbns", "hostname", "WS-0042")},
            sender_mac=MA,
            lengths=[(len(registration) - 8, 2)],
        ),
        Case(
            "nbns",
            udp4(137, 50000),
            status,
            {
                ("nbns", "hostname", "WS-0042"),
                ("nbns", "workgroup", "CORP"),
                ("nbns", "mac", NODE_STATUS_MAC),
            },
            sender_mac=MA,
            early_end=status.index(b"CORP") + 18,  # after the first two names of the table
            early={("nbns", "hostname", "WS-0042"), ("nbns", "workgroup", "CORP")},
        ),
    ]


CASES = _cases()


def test_nbns_group_registration_is_the_workgroup() -> None:
    frames = [
        udp4(137, 137, dst="10.1.1.255")(nbns_registration("CORP", 0x00, A4, group=True)),
        udp4(137, 137, dst="10.1.1.255")(nbns_registration("CORP", 0x1C, A4, group=True)),
        udp4(137, 137, dst="10.1.1.255")(nbns_registration("WS-0042", 0x03, A4)),  # messenger: not a host name
    ]
    facts, _ = collect(frames)
    assert about(facts, A4, MA) == {("nbns", "workgroup", "CORP"), ("nbns", "domain_controller_for", "CORP")}


def test_nbns_positive_answer_names_the_address_it_gives() -> None:
    facts, _ = collect(
        [
            udp4(137, 50000, src=B4, dst=A4)(nbns_positive_answer("FILESRV", 0x20, B4)),
            udp4(137, 50000, src="10.1.1.2", dst=A4)(nbns_positive_answer("PRINTSRV", 0x20, "10.1.1.40")),  # WINS
        ]
    )
    assert about(facts, B4, MA) == {("nbns", "hostname", "FILESRV")}
    assert about(facts, "10.1.1.40", None) == {("nbns", "hostname", "PRINTSRV")}
    assert not about(facts, "10.1.1.2")


def test_nbns_negative_answer_tells_nothing() -> None:
    negative = bytearray(nbns_positive_answer("FILESRV", 0x20, B4))
    negative[3] |= 3  # rcode: name error
    facts, _ = collect([udp4(137, 50000, src=B4, dst=A4)(bytes(negative))])
    assert not facts
