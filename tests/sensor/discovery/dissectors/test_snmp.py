"""SNMP: an agent's system group in responses and traps, v3 engine IDs; community strings never recorded."""

from __future__ import annotations

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, udp4


def ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def ber_int(v: int) -> bytes:
    return ber(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def ber_oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        rest = part >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return ber(0x06, bytes(out))


COMMUNITY = b"s3cr3t-Community!"


SYS_DESCR = b"Linux edge01 5.10.0-21-amd64 #1 SMP Debian 5.10.162-1 x86_64"


def snmp_response(version: int = 1) -> bytes:
    binds = b"".join(
        ber(0x30, ber_oid(oid) + value)
        for oid, value in (
            ("1.3.6.1.2.1.1.1.0", ber(0x04, SYS_DESCR)),
            ("1.3.6.1.2.1.1.2.0", ber_oid("1.3.6.1.4.1.8072.3.2.10")),
            ("1.3.6.1.2.1.1.3.0", ber(0x43, b"\x01\x02\x03")),
            ("1.3.6.1.2.1.1.5.0", ber(0x04, b"edge01")),
            ("1.3.6.1.2.1.1.6.0", ber(0x04, b"Rack 4, Room 101")),
        )
    )
    pdu = ber(0xA2, ber_int(77) + ber_int(0) + ber_int(0) + ber(0x30, binds))
    return ber(0x30, ber_int(version) + ber(0x04, COMMUNITY) + pdu)


def snmp_v3_report() -> bytes:
    engine = bytes.fromhex("80001f888059dc486145a26314")
    usm = ber(0x30, ber(0x04, engine) + ber_int(3) + ber_int(1000) + ber(0x04, b"") + ber(0x04, b"") + ber(0x04, b""))
    binds = ber(0x30, ber_oid("1.3.6.1.6.3.15.1.1.4.0") + ber(0x41, b"\x05"))
    pdu = ber(0xA8, ber_int(1) + ber_int(0) + ber_int(0) + ber(0x30, binds))
    scoped = ber(0x30, ber(0x04, engine) + ber(0x04, b"") + pdu)
    header = ber(0x30, ber_int(1) + ber_int(65507) + ber(0x04, b"\x00") + ber_int(3))
    return ber(0x30, ber_int(3) + header + ber(0x04, usm) + scoped)


def _cases() -> list[Case]:
    snmp = snmp_response()
    snmp_cut = snmp.index(b"\x30", snmp.index(b"\x06\x08\x2b\x06\x01\x02\x01\x01\x02\x00") - 2)
    return [
        Case(
            "snmp",
            udp4(161, 50000),
            snmp,
            {
                ("snmp", "version", "2c"),
                ("snmp", "service", ("udp", 161, "snmp")),
                ("snmp", "sys_descr", SYS_DESCR.decode()),
                ("snmp", "sys_object_id", "1.3.6.1.4.1.8072.3.2.10"),
                ("snmp", "hostname", "edge01"),
                ("snmp", "sys_location", "Rack 4, Room 101"),
            },
            early_end=snmp_cut,
            early={("snmp", "sys_descr", SYS_DESCR.decode())},
            lengths=[(snmp_cut + 1, 1)],
        ),
        Case(
            "snmp",
            udp4(161, 50000),
            snmp_v3_report(),
            {
                ("snmp", "version", "3"),
                ("snmp", "engine_id", "80001f888059dc486145a26314"),
                ("snmp", "engine_enterprise", "8072"),
            },
        ),
    ]


CASES = _cases()


def test_snmp_never_records_the_community() -> None:
    request = ber(
        0x30,
        ber_int(1)
        + ber(0x04, COMMUNITY)
        + ber(
            0xA0,
            ber_int(5) + ber_int(0) + ber_int(0) + ber(0x30, ber(0x30, ber_oid("1.3.6.1.2.1.1.1.0") + b"\x05\x00")),
        ),
    )
    facts, _ = collect([udp4(50000, 161)(request), udp4(161, 50000)(snmp_response()), udp4(162, 162)(snmp_response(0))])
    for value in (v for _, _, _, _, v in facts):
        assert COMMUNITY.decode() not in str(value)
    assert not about(facts, B4) - {("snmp", "version", "2c")}  # a request says nothing about the manager


def test_snmp_v1_trap_gives_its_enterprise() -> None:
    trap = ber(
        0xA4,
        ber_oid("1.3.6.1.4.1.9.1.516")
        + ber(0x40, P.ip(A4))
        + ber_int(6)
        + ber_int(1)
        + ber(0x43, b"\x10")
        + ber(0x30, ber(0x30, ber_oid("1.3.6.1.2.1.1.5.0") + ber(0x04, b"gw-3"))),
    )
    message = ber(0x30, ber_int(0) + ber(0x04, COMMUNITY) + trap)
    facts, _ = collect([udp4(50000, 162)(message)])
    got = about(facts, A4)
    assert {("snmp", "trap_enterprise", "1.3.6.1.4.1.9.1.516"), ("snmp", "hostname", "gw-3")} <= got
    assert ("snmp", "service", ("udp", 161, "snmp")) not in got


def test_snmp_bad_binding_keeps_the_bindings_after_it() -> None:
    binds = ber(0x30, ber(0x04, b"not an OID") + ber(0x04, b"x")) + ber(
        0x30, ber_oid("1.3.6.1.2.1.1.5.0") + ber(0x04, b"edge02")
    )
    pdu = ber(0xA2, ber_int(1) + ber_int(0) + ber_int(0) + ber(0x30, binds))
    facts, errors = collect([udp4(161, 50000)(ber(0x30, ber_int(1) + ber(0x04, COMMUNITY) + pdu))])
    assert ("snmp", "hostname", "edge02") in about(facts, A4)
    assert errors.get("malformed-snmp") == 1
