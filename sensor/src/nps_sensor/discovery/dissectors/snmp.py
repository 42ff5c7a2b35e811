"""SNMP (v1, v2c, v3 without privacy): what an agent says about itself in responses.

A GetResponse (or a trap, or an inform) carries variable bindings; the system
group's sysDescr (the OS or firmware and often the model), sysObjectID (the
vendor's product OID), sysName (a hostname) and sysLocation describe the agent.
An SNMPv3 agent's engine ID names its vendor (an IANA enterprise number).
Community strings and v3 user names are secrets or close to them: they are skipped,
never recorded. A small BER reader is enough: SNMP uses definite lengths only.
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol, one

SEQUENCE, INTEGER, OCTETS, OID = 0x30, 0x02, 0x04, 0x06
GET_RESPONSE, TRAP_V1, INFORM, TRAP_V2, REPORT = 0xA2, 0xA4, 0xA6, 0xA7, 0xA8
FROM_AGENT = frozenset((GET_RESPONSE, TRAP_V1, INFORM, TRAP_V2, REPORT))
SNMP_PORT = 161
SYSTEM = b"\x2b\x06\x01\x02\x01\x01"  # 1.3.6.1.2.1.1
SYSTEM_KEYS = {1: "sys_descr", 2: "sys_object_id", 5: "hostname", 6: "sys_location"}
VERSIONS = {0: "1", 1: "2c", 3: "3"}


def tlv(b: bytes, at: int, clamp: bool = False) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the BER element at `at`; with `clamp`, a
    container cut by the packet's end ends there (the elements inside it that are
    whole still count)."""
    if at + 2 > len(b):
        raise Malformed("BER element runs past the message")
    tag, size = b[at], b[at + 1]
    at += 2
    if size & 0x80:
        n = size & 0x7F
        if n == 0 or n > 4 or at + n > len(b):
            raise Malformed("BER length")
        size = int.from_bytes(b[at : at + n], "big")
        at += n
    if at + size > len(b):
        if not clamp:
            raise Malformed("BER element runs past the message")
        size = len(b) - at
    return tag, at, at + size


def oid_text(raw: bytes) -> str:
    """BER object identifier contents as dotted decimal."""
    if not raw:
        raise Malformed("empty object identifier")
    parts: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(x) for x in head + parts[1:])


def _integer(b: bytes, at: int) -> tuple[int, int]:
    tag, start, end = tlv(b, at)
    if tag != INTEGER or end - start > 8:
        raise Malformed("expected a BER integer")
    return int.from_bytes(b[start:end], "big", signed=True), end


def dissect(p: Packet) -> None:
    b = p.payload
    tag, start, end = tlv(b, 0, clamp=True)
    if tag != SEQUENCE:
        raise Malformed("SNMP message is not a sequence")
    version, at = _integer(b, start)
    if version in (0, 1):
        tag, _, at = tlv(b, at)  # the community: skipped, never recorded
        if tag != OCTETS:
            raise Malformed("SNMP community is not an octet string")
        _pdu(p, b, at, end, VERSIONS[version])
    elif version == 3:
        _v3(p, b, at, end)
    else:
        raise Malformed("unknown SNMP version")


def _pdu(p: Packet, b: bytes, at: int, end: int, version: str) -> None:
    kind, start, stop = tlv(b, at, clamp=True)
    if kind not in FROM_AGENT or stop > end:
        return  # requests speak for the manager, and name nothing about it
    p.fact("snmp", "version", version)
    if kind == GET_RESPONSE and p.sport == SNMP_PORT:
        p.fact("snmp", "service", ("udp", SNMP_PORT, "snmp"))
    at = start
    if kind == TRAP_V1:
        tag, o_start, at = tlv(b, at)
        if tag == OID:
            p.fact("snmp", "trap_enterprise", oid_text(b[o_start:at]))
        for _ in range(4):  # agent address, generic and specific trap, time stamp
            _, _, at = tlv(b, at)
    else:
        for _ in range(3):  # request id, error status, error index
            _, at = _integer(b, at)
    tag, at, stop = tlv(b, at, clamp=True)
    if tag != SEQUENCE:
        raise Malformed("variable bindings are not a sequence")
    bad: Malformed | None = None  # a damaged binding is skipped; raised after the rest
    while at < stop:
        _, bind, at = tlv(b, at)
        try:
            _binding(p, b[:at], bind)
        except Malformed as e:
            bad = e
    if bad is not None:
        raise bad


def _binding(p: Packet, b: bytes, at: int) -> None:
    """One variable binding (OID, value) from `at`; `b` ends where the binding does."""
    tag, o_start, o_end = tlv(b, at)
    if tag != OID:
        raise Malformed("variable binding without an object identifier")
    oid = b[o_start:o_end]
    if len(oid) == 8 and oid[:6] == SYSTEM and oid[7] == 0:
        key = SYSTEM_KEYS.get(oid[6])
        if key:
            v_tag, v_start, v_end = tlv(b, o_end)
            value = b[v_start:v_end]
            if key == "sys_object_id":
                if v_tag == OID and value:
                    p.fact("snmp", key, oid_text(value))
            elif v_tag == OCTETS:
                v = text(value.replace(b"\r\n", b" ").replace(b"\n", b" "), 512)
                if v:
                    p.fact("snmp", key, v)


def _v3(p: Packet, b: bytes, at: int, end: int) -> None:
    _, _, at = tlv(b, at)  # global data: message id, size, flags, security model
    tag, s_start, at = tlv(b, at)  # security parameters, a USM sequence inside an octet string
    if tag != OCTETS:
        raise Malformed("SNMPv3 security parameters are not an octet string")
    tag, u_start, _ = tlv(b, s_start)
    if tag != SEQUENCE:
        raise Malformed("USM parameters are not a sequence")
    tag, e_start, e_end = tlv(b, u_start)
    engine = b[e_start:e_end] if tag == OCTETS else b""
    tag, scoped, scoped_end = tlv(b, at, clamp=True)
    if tag != SEQUENCE:
        return  # encrypted scoped PDU
    _, _, at = tlv(b, scoped)  # context engine id
    _, _, at = tlv(b, at)  # context name
    kind = b[at] if at < len(b) else 0
    if kind in FROM_AGENT and len(engine) >= 5:
        p.fact("snmp", "engine_id", engine.hex())
        p.fact("snmp", "engine_enterprise", str(int.from_bytes(engine[0:4], "big") & 0x7FFFFFFF))
    _pdu(p, b, at, scoped_end, "3")


PROTOCOL = Protocol(
    "snmp",
    dissect,
    udp=(SNMP_PORT, 162),
    facts=(
        Fact("snmp", "service", example='("udp", 161, "snmp")', kind=tuple),
        Fact("snmp", "version", example='"2c"'),
        Fact("snmp", "sys_descr", example='"Cisco IOS Software, ..."', reads=one(rules.description)),
        Fact("snmp", "sys_object_id", example='"1.3.6.1.4.1.9.1.1"', reads=one(rules.snmp_enterprise)),
        Fact("snmp", "hostname", example='"core-sw1"'),
        Fact("snmp", "sys_location"),
        Fact("snmp", "trap_enterprise", example='"1.3.6.1.4.1.9"', reads=one(rules.snmp_enterprise)),
        Fact("snmp", "engine_id", example='"80000009030000..."'),
        Fact("snmp", "engine_enterprise", example='"9"', reads=one(rules.snmp_enterprise)),
    ),
)
