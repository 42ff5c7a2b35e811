"""The discovery dissectors on packets built here: LLDP, CDP, NDP, DHCPv6, SSDP, NTP,
SNMP, SMB/NTLMSSP and the industrial protocols (Modbus, S7comm, EtherNet/IP, BACnet,
DNP3).

Every frame goes through the engine (`Collector.process`), so the tests cover the
vector selection that picks the packet as well as the dissector, and read the facts
the collector harvests. The layouts follow the protocols' specifications; the same
fields are checked against tshark on real captures in test_dissectors_pcaps.py.

The second half fuzzes every dissector with mutations of its valid packet (random
byte flips, truncations, length fields set to extremes): no exception may escape the
dispatcher (a bad packet is a `malformed-NAME` count), and the facts a packet gave
before the damaged bytes must survive it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config, address_int
from nps_sensor.discovery.facts import NO_IP, NO_MAC, Key, Seen, Value
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P

Triple = tuple[str, str, Value]

# --- running frames through the engine ---------------------------------------------


def ip_key(addr: str) -> int:
    return address_int(ipaddress.ip_address(addr))


def mac_key(addr: str) -> int:
    return int.from_bytes(P.mac(addr), "big")


def collect(frames: list[bytes]) -> tuple[dict[Key, Seen], dict[str, int]]:
    """The facts and decode-error counters of one collector fed `frames`."""
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1_700_000_000.0 + i for i in range(len(frames))]))
    errors = dict(c.stats_dict()["decode_errors"])
    return c.harvest(final=True).facts, errors


def about(facts: dict[Key, Seen], ip: str | None = None, mac: str | None = None) -> set[Triple]:
    """(source, key, value) of the facts about the device `ip` (and/or `mac`)."""
    want_ip = ip_key(ip) if ip is not None else None
    want_mac = mac_key(mac) if mac is not None else None
    out = set()
    for f_ip, f_mac, source, key, value in facts:
        if want_ip is not None and f_ip != want_ip:
            continue
        if want_ip is None and f_ip != NO_IP:
            continue
        if want_mac is not None and f_mac != want_mac:
            continue
        out.add((source, key, value))
    return out


def triples(facts: dict[Key, Seen]) -> set[Triple]:
    return {(s, k, v) for _, _, s, k, v in facts}


# --- frame builders ----------------------------------------------------------------

MA, MB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
A4, B4 = "10.1.1.10", "10.1.1.20"
LLDP_MULTICAST, CDP_MULTICAST = "01:80:c2:00:00:0e", "01:00:0c:cc:cc:cc"
CDP_LLC = bytes.fromhex("aaaa0300000c2000")


def udp4(sport: int, dport: int, src: str = A4, dst: str = B4) -> Callable[[bytes], bytes]:
    return lambda payload: P.eth_ipv4_udp(MA, MB, src, dst, sport, dport, payload)


def tcp4(sport: int, dport: int, src: str = A4, dst: str = B4) -> Callable[[bytes], bytes]:
    def make(payload: bytes) -> bytes:
        seg = P.tcp(src, dst, sport, dport, payload, flags="PA", seq=1000, ack=2000)
        return P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg))

    return make


def udp6(src: str, dst: str, sport: int, dport: int, dmac: str = "33:33:00:01:00:02") -> Callable[[bytes], bytes]:
    def make(payload: bytes) -> bytes:
        return P.ethernet(dmac, MA, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_UDP, P.udp(src, dst, sport, dport, payload)))

    return make


def icmp6(src: str, dst: str, dmac: str = "33:33:00:00:00:01") -> Callable[[bytes], bytes]:
    return lambda message: P.ethernet(dmac, MA, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_ICMPV6, message))


def lldp_frame(payload: bytes) -> bytes:
    return P.ethernet(LLDP_MULTICAST, MA, 0x88CC, payload)


def cdp_frame(payload: bytes) -> bytes:
    body = CDP_LLC + payload
    return P.ethernet(CDP_MULTICAST, MA, len(body), body)


# --- protocol payloads -------------------------------------------------------------


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


V6_ROUTER, V6_HOST = "fe80::1", "fe80::a:b:c:d"
ROUTER_MAC = "02:00:00:00:00:0a"  # MA: frames are sent from it


def ra_message() -> bytes:
    prefix = struct.pack(">BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + P.ip("2001:db8:5::")
    return struct.pack(">BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + b"\x01\x01" + P.mac(MA) + prefix


def na_message() -> bytes:
    return (
        struct.pack(">BBHI", 136, 0, 0, 0x60000000) + P.ip("2001:db8:5::77") + b"\x02\x01" + P.mac("02:00:00:00:77:77")
    )


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


SSDP_NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
    b"SERVER: Linux/3.14 UPnP/1.0 Sonos/57.3-77280\r\n"
    b"USN: uuid:RINCON_000E58A0B1C201400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    b"NT: urn:schemas-upnp-org:device:ZonePlayer:1\r\nNTS: ssdp:alive\r\n"
    b"LOCATION: http://10.1.1.10:1400/xml/device_description.xml\r\n\r\n"
)
SSDP_SEARCH = (
    b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
    b"ST: ssdp:all\r\nUSER-AGENT: Microsoft-Windows/10.0 UPnP/1.0\r\n\r\n"
)
SSDP_ANSWER = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    b"USN: uuid:4d696e69-444c-164e-9d41-b0c5ca000001::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    b"EXT:\r\nSERVER: OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1\r\nLOCATION: http://10.1.1.10:5000/rootDesc.xml\r\n\r\n"
)


def ntp(mode: int, stratum: int = 0, refid: bytes = b"\0\0\0\0") -> bytes:
    return bytes([4 << 3 | mode, stratum, 6, 0xEC]) + bytes(8) + refid + bytes(32)


def ntp_control() -> bytes:
    data = b'version="ntpd 4.2.8p15@1.3728-o", processor="x86_64", system="Linux/5.10.0-21-amd64", leap=00'
    return bytes([2 << 3 | 6, 0x82]) + struct.pack(">HHHHH", 1, 0x0615, 0, 0, len(data)) + data


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


def nbss(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def smb1_header(command: int, reply: bool) -> bytes:
    flags = 0x98 if reply else 0x18
    return b"\xffSMB" + bytes([command]) + bytes(4) + bytes([flags]) + struct.pack("<H", 0xC807) + bytes(20)


def utf16z(s: str) -> bytes:
    return s.encode("utf-16-le") + b"\0\0"


def smb1_session_setup_response() -> bytes:
    head = smb1_header(0x73, True) + bytes([3]) + b"\xff\x00\x00\x00\x00\x00"
    strings = utf16z("Windows Server 2003 3790 Service Pack 2") + utf16z("Windows Server 2003 5.2") + utf16z("CORP")
    data = b"\x00" + strings  # one pad byte: unicode strings start 2-aligned from the header
    return nbss(head + struct.pack("<H", len(data)) + data)


def smb2_header(command: int, response: bool) -> bytes:
    return (
        b"\xfeSMB"
        + struct.pack("<HHIHHII", 64, 0, 0, command, 1, 1 if response else 0, 0)
        + bytes(8)
        + bytes(4)
        + bytes(4)
        + bytes(8)
        + bytes(16)
    )


def smb2_negotiate_response() -> bytes:
    body = struct.pack("<HHH", 65, 1, 0x0311) + bytes(58)
    return nbss(smb2_header(0, True) + body)


def ntlm_challenge() -> bytes:
    target = "CORP".encode("utf-16-le")
    pairs = b"".join(
        struct.pack("<HH", av, len(v.encode("utf-16-le"))) + v.encode("utf-16-le")
        for av, v in ((2, "CORP"), (1, "FS01"), (4, "corp.example"), (3, "fs01.corp.example"), (5, "corp.example"))
    ) + struct.pack("<HH", 0, 0)
    flags = 0x00000001 | 0x02000000 | 0x00800000
    head_len = 56
    version = bytes([10, 0]) + struct.pack("<H", 20348) + b"\x00\x00\x00\x0f"
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), head_len)
        + struct.pack("<I", flags)
        + b"\x11" * 8
        + bytes(8)
        + struct.pack("<HHI", len(pairs), len(pairs), head_len + len(target))
        + version
        + target
        + pairs
    )


def ntlm_authenticate() -> bytes:
    domain, user, host = (s.encode("utf-16-le") for s in ("CORP", "alice", "WS-0042"))
    flags = 0x00000001 | 0x02000000
    at = 88  # after the header, version and MIC
    fields, payload = [], b""
    for value in (b"\x00" * 24, b"\x01" * 24, domain, user, host, b"\x02" * 16):
        fields.append(struct.pack("<HHI", len(value), len(value), at + len(payload)))
        payload += value
    version = bytes([10, 0]) + struct.pack("<H", 19045) + b"\x00\x00\x00\x0f"
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 3)
        + b"".join(fields)
        + struct.pack("<I", flags)
        + version
        + bytes(16)
        + payload
    )


def smb2_session_setup(response: bool, blob: bytes) -> bytes:
    if response:
        body = struct.pack("<HHHH", 9, 0, 72, len(blob))
    else:
        body = struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 88, len(blob), 0)
    return nbss(smb2_header(1, response) + body + blob)


def netbios_encoded(name: str, suffix: int) -> bytes:
    raw = name.upper().ljust(15).encode()[:15] + bytes([suffix])
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\x00"


def session_request() -> bytes:
    body = netbios_encoded("FILESRV", 0x20) + netbios_encoded("LAPTOP-7", 0x00)
    return b"\x81\x00" + len(body).to_bytes(2, "big") + body


def modbus_device_id() -> bytes:
    objects = b"".join(
        bytes([oid, len(v)]) + v for oid, v in ((0, b"Schneider Electric"), (1, b"BMX P34 2020"), (2, b"v2.8"))
    )
    pdu = b"\x2b\x0e\x01\x01\x00\x00" + bytes([3]) + objects
    return struct.pack(">HHHB", 1, 0, len(pdu) + 1, 1) + pdu


def s7_szl(szl: int, size: int, records: list[bytes]) -> bytes:
    data_body = struct.pack(">HHHH", szl, 0, size, len(records)) + b"".join(records)
    data = b"\xff\x09" + struct.pack(">H", len(data_body)) + data_body
    param = b"\x00\x01\x12\x08\x12\x84\x01\x00\x00\x00\x00\x00"
    s7 = b"\x32\x07\x00\x00" + struct.pack(">HHH", 0x0100, len(param), len(data)) + param + data
    cotp = b"\x02\xf0\x80"
    return b"\x03\x00" + struct.pack(">H", 4 + len(cotp) + len(s7)) + cotp + s7


def s7_module_id() -> bytes:
    records = [
        struct.pack(">H", 1) + b"6ES7 516-3AN01-0AB0 " + struct.pack(">HHH", 0xC0, 2, 6),
        struct.pack(">H", 7) + b" " * 20 + struct.pack(">H", 0xC0) + b"V\x02\x08\x03",
    ]
    return s7_szl(0x0011, 28, records)


def s7_component_id() -> bytes:
    def rec(index: int, value: bytes) -> bytes:
        return struct.pack(">H", index) + value.ljust(32, b"\0")

    return s7_szl(
        0x001C,
        34,
        [rec(1, b"PLC-LINE-3"), rec(2, b"CPU 1516-3 PN/DP"), rec(3, b"Bottling"), rec(5, b"S V-J1234567")],
    )


def enip_list_identity() -> bytes:
    name = b"1756-L61/B LOGIX5561"
    socket = struct.pack(">HH", 2, 44818) + P.ip(A4) + bytes(8)
    item = (
        struct.pack("<H", 1)
        + socket
        + struct.pack("<HHHBBHI", 1, 0x0E, 0x36, 20, 11, 0x3060, 0x00C0FFEE)
        + bytes([len(name)])
        + name
        + b"\x03"
    )
    data = struct.pack("<HHH", 1, 0x0C, len(item)) + item
    return struct.pack("<HHII", 0x63, len(data), 0, 0) + bytes(8) + struct.pack("<I", 0) + data


def bacnet_i_am() -> bytes:
    apdu = b"\x10\x00" + b"\xc4" + struct.pack(">I", 8 << 22 | 2401) + b"\x22\x05\xc4" + b"\x91\x00" + b"\x21\x05"
    npdu = b"\x01\x00" + apdu
    return b"\x81\x0b" + struct.pack(">H", 4 + len(npdu)) + npdu


def bacnet_read_property_ack(prop: int, value: bytes) -> bytes:
    string = b"\x00" + value
    apdu = (
        b"\x30\x05\x0c"
        + b"\x0c"
        + struct.pack(">I", 8 << 22 | 2401)
        + b"\x19"
        + bytes([prop])
        + b"\x3e"
        + b"\x75"
        + bytes([len(string)])
        + string
        + b"\x3f"
    )
    npdu = b"\x01\x00" + apdu
    return b"\x81\x0a" + struct.pack(">H", 4 + len(npdu)) + npdu


def bacnet_string(value: bytes) -> bytes:
    string = b"\x00" + value
    return b"\x75" + bytes([len(string)]) + string


def bacnet_read_property_multiple_ack() -> bytes:
    device = b"\x0c" + struct.pack(">I", 8 << 22 | 2401)
    sensor = b"\x0c" + struct.pack(">I", 0 << 22 | 7)
    results = (
        device
        + b"\x1e"
        + b"\x29\x4d\x4e"
        + bacnet_string(b"AHU-3 Controller")
        + b"\x4f"
        + b"\x29\x2c\x5e\x91\x02\x91\x20\x5f"  # firmware-revision: an error (class, code)
        + b"\x29\x70\x4e\x91\x00\x4f"  # system-status: an enumerated value
        + b"\x29\x46\x4e"
        + bacnet_string(b"FEC2611-0")
        + b"\x4f"
        + b"\x1f"
        + sensor
        + b"\x1e\x29\x4d\x4e"
        + bacnet_string(b"Supply Air Temp")
        + b"\x4f\x1f"
    )
    npdu = b"\x01\x00" + b"\x30\x06\x0e" + results
    return b"\x81\x0a" + struct.pack(">H", 4 + len(npdu)) + npdu


def dnp3(control: int, dst: int, src: int) -> bytes:
    return b"\x05\x64\x05" + bytes([control]) + struct.pack("<HH", dst, src) + b"\x00\x00"


# --- the cases: a packet, what it must tell, and what survives later damage --------


@dataclass
class Case:
    name: str  # the dissector's name (its malformed- counter)
    make: Callable[[bytes], bytes]  # payload -> frame
    payload: bytes
    expect: set[Triple]  # facts about the sender
    sender_ip: str | None = A4
    sender_mac: str | None = None
    # Facts about the sender that must survive any damage to payload[early_end:].
    early_end: int = 0
    early: set[Triple] = field(default_factory=set)
    lengths: list[tuple[int, int]] = field(default_factory=list)  # (offset, width) of length fields


def _cases() -> list[Case]:
    lldp = lldp_payload()
    cdp = cdp_payload()
    chall = smb2_session_setup(True, b"\xa1\x81\xff" + ntlm_challenge())
    auth = smb2_session_setup(False, b"\xa1\x82\x01\x00" + ntlm_authenticate())
    notify_cut = SSDP_NOTIFY.index(b"NT:")
    answer_cut = SSDP_ANSWER.index(b"EXT:")
    snmp = snmp_response()
    snmp_cut = snmp.index(b"\x30", snmp.index(b"\x06\x08\x2b\x06\x01\x02\x01\x01\x02\x00") - 2)
    modbus = modbus_device_id()
    module = s7_module_id()
    component = s7_component_id()
    enip = enip_list_identity()
    sol = solicit()
    rpm = bacnet_read_property_multiple_ack()
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
        Case(
            "ssdp",
            udp4(1900, 1900, dst="239.255.255.250"),
            SSDP_NOTIFY,
            {
                ("ssdp", "server", "Linux/3.14 UPnP/1.0 Sonos/57.3-77280"),
                ("ssdp", "service", ("udp", 1900, "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")),
                ("ssdp", "usn", "uuid:RINCON_000E58A0B1C201400::urn:schemas-upnp-org:device:ZonePlayer:1"),
                ("ssdp", "uuid", "rincon_000e58a0b1c201400"),
                ("ssdp", "nt", "urn:schemas-upnp-org:device:ZonePlayer:1"),
                ("ssdp", "location", "http://10.1.1.10:1400/xml/device_description.xml"),
                ("ssdp", "service", ("tcp", 1400, "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")),
            },
            early_end=notify_cut,
            early={("ssdp", "server", "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")},
        ),
        Case(
            "ssdp",
            udp4(1900, 50000, dst=B4),
            SSDP_ANSWER,
            {
                ("ssdp", "server", "OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1"),
                ("ssdp", "st", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"),
                ("ssdp", "uuid", "4d696e69-444c-164e-9d41-b0c5ca000001"),
                ("ssdp", "location", "http://10.1.1.10:5000/rootDesc.xml"),
                ("ssdp", "service", ("tcp", 5000, "OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1")),
            },
            early_end=answer_cut,
            early={("ssdp", "st", "urn:schemas-upnp-org:device:InternetGatewayDevice:1")},
        ),
        Case(
            "ssdp",
            udp4(50000, 1900, dst="239.255.255.250"),
            SSDP_SEARCH,
            {("ssdp", "user_agent", "Microsoft-Windows/10.0 UPnP/1.0")},
        ),
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
        Case(
            "smb",
            tcp4(445, 50000),
            smb1_session_setup_response(),
            {
                ("smb", "service", ("tcp", 445, "smb")),
                ("smb", "native_os", "Windows Server 2003 3790 Service Pack 2"),
                ("smb", "native_lanman", "Windows Server 2003 5.2"),
                ("smb", "domain", "CORP"),
            },
            early_end=4 + 32 + 7 + 2 + 1 + len(utf16z("Windows Server 2003 3790 Service Pack 2")),
            early={("smb", "native_os", "Windows Server 2003 3790 Service Pack 2")},
        ),
        Case("smb", tcp4(445, 50000), smb2_negotiate_response(), {("smb", "dialect", "3.1.1")}),
        Case(
            "smb",
            tcp4(445, 50000),
            chall,
            {
                ("ntlm", "os_version", "10.0.20348"),
                ("ntlm", "target_name", "CORP"),
                ("ntlm", "netbios_domain", "CORP"),
                ("ntlm", "netbios_computer", "FS01"),
                ("ntlm", "dns_domain", "corp.example"),
                ("ntlm", "dns_computer", "fs01.corp.example"),
                ("ntlm", "dns_tree", "corp.example"),
                ("smb", "hostname", "FS01"),
                ("smb", "hostname", "fs01.corp.example"),
            },
            early_end=chall.index(b"NTLMSSP") + 56 + 8 + 4 + 8 + 4 + 8,
            early={("ntlm", "os_version", "10.0.20348"), ("ntlm", "target_name", "CORP"), ("smb", "hostname", "FS01")},
        ),
        Case(
            "smb",
            tcp4(50000, 445),
            auth,
            {
                ("ntlm", "os_version", "10.0.19045"),
                ("ntlm", "domain", "CORP"),
                ("ntlm", "workstation", "WS-0042"),
                ("smb", "hostname", "WS-0042"),
            },
        ),
        Case("smb", tcp4(50000, 139), session_request(), {("smb", "hostname", "LAPTOP-7")}),
        Case(
            "modbus",
            tcp4(502, 50000),
            modbus,
            {
                ("modbus", "service", ("tcp", 502, "modbus")),
                ("modbus", "vendor", "Schneider Electric"),
                ("modbus", "product_code", "BMX P34 2020"),
                ("modbus", "revision", "v2.8"),
            },
            early_end=modbus.index(b"BMX") - 2,
            early={("modbus", "vendor", "Schneider Electric")},
            lengths=[(modbus.index(b"BMX") - 1, 1)],
        ),
        Case(
            "s7comm",
            tcp4(102, 50000),
            module,
            {
                ("s7comm", "service", ("tcp", 102, "s7comm")),
                ("s7comm", "order_number", "6ES7 516-3AN01-0AB0"),
                ("s7comm", "firmware", "V2.8.3"),
            },
            early_end=len(module) - 28,
            early={("s7comm", "order_number", "6ES7 516-3AN01-0AB0")},
        ),
        Case(
            "s7comm",
            tcp4(102, 50000),
            component,
            {
                ("s7comm", "service", ("tcp", 102, "s7comm")),
                ("s7comm", "system_name", "PLC-LINE-3"),
                ("s7comm", "module", "CPU 1516-3 PN/DP"),
                ("s7comm", "plant", "Bottling"),
                ("s7comm", "serial", "S V-J1234567"),
            },
            early_end=len(component) - 34 * 2,
            early={("s7comm", "system_name", "PLC-LINE-3"), ("s7comm", "module", "CPU 1516-3 PN/DP")},
        ),
        Case(
            "enip",
            udp4(44818, 50000),
            enip,
            {
                ("enip", "service", ("udp", 44818, "enip")),
                ("enip", "vendor_id", "1"),
                ("enip", "vendor", "Rockwell Automation/Allen-Bradley"),
                ("enip", "device_type", "programmable logic controller"),
                ("enip", "product_code", "54"),
                ("enip", "revision", "20.11"),
                ("enip", "serial", "0x00c0ffee"),
                ("enip", "product_name", "1756-L61/B LOGIX5561"),
            },
            early_end=enip.index(b"1756") - 1,
            early={("enip", "product_code", "54"), ("enip", "serial", "0x00c0ffee")},
            lengths=[(enip.index(b"1756") - 1, 1)],
        ),
        Case(
            "enip",
            tcp4(44818, 50000),
            enip,
            {("enip", "service", ("tcp", 44818, "enip")), ("enip", "product_name", "1756-L61/B LOGIX5561")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808, dst="10.1.1.255"),
            bacnet_i_am(),
            {
                ("bacnet", "device_instance", "2401"),
                ("bacnet", "vendor_id", "5"),
                ("bacnet", "service", ("udp", 47808, "bacnet")),
            },
            early_end=13,
            early={("bacnet", "device_instance", "2401")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            bacnet_read_property_ack(77, b"AHU-3 Controller"),
            {("bacnet", "object_name", "AHU-3 Controller")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            bacnet_read_property_ack(70, b"FEC2611-0"),
            {("bacnet", "model", "FEC2611-0")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            rpm,
            {("bacnet", "object_name", "AHU-3 Controller"), ("bacnet", "model", "FEC2611-0")},
            early_end=rpm.index(b"\x29\x46"),
            early={("bacnet", "object_name", "AHU-3 Controller")},
        ),
        Case(
            "dnp3",
            tcp4(20000, 50000),
            dnp3(0x44, 3, 10),
            {
                ("dnp3", "address", "10"),
                ("dnp3", "role", "outstation"),
                ("dnp3", "service", ("tcp", 20000, "dnp3")),
            },
        ),
    ]


CASES = _cases()


def _id(case: Case) -> str:
    return f"{case.name}-{CASES.index(case)}"


# --- unit tests --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_dissector_finds_the_facts(case: Case) -> None:
    facts, errors = collect([case.make(case.payload)])
    got = about(facts, case.sender_ip, case.sender_mac)
    assert case.expect <= got, f"missing: {case.expect - got}"
    assert not any(k.startswith("malformed-") for k in errors), errors


def test_lldp_management_address_gets_the_name() -> None:
    facts, _ = collect([lldp_frame(lldp_payload())])
    assert ("lldp", "hostname", "core-sw1.example.net") in about(facts, "10.9.9.2", MA)


def test_cdp_management_address_gets_name_and_platform() -> None:
    facts, _ = collect([cdp_frame(cdp_payload())])
    on_ip = about(facts, "10.9.9.3", MA)
    assert {("cdp", "hostname", "dist-sw2.example.net"), ("cdp", "platform", "cisco WS-C2960-24TT-L")} <= on_ip


def test_cdp_version_1_frame_from_a_router() -> None:
    payload = b"\x01\xb4\x00\x00" + cdp_tlv(1, b"R1") + cdp_tlv(6, b"cisco 1601") + cdp_tlv(4, struct.pack(">I", 1))
    facts, _ = collect([cdp_frame(payload)])
    got = about(facts, None, MA)
    assert {("cdp", "hostname", "R1"), ("cdp", "platform", "cisco 1601"), ("cdp", "capabilities", "router")} <= got


def test_ndp_neighbour_advertisement_binds_its_target() -> None:
    facts, _ = collect([icmp6("2001:db8:5::77", "ff02::1")(na_message())])
    assert ("ndp", "mac", "02:00:00:00:77:77") in about(facts, "2001:db8:5::77", "02:00:00:00:77:77")
    assert ("ndp", "role", "router") not in triples(facts)


def test_ndp_duplicate_address_detection_binds_the_tentative_address() -> None:
    ns = struct.pack(">BBHI", 135, 0, 0, 0) + P.ip("2001:db8:5::99")
    facts, _ = collect([icmp6("::", "ff02::1:ff00:99")(ns)])
    assert ("ndp", "mac", MA) in about(facts, "2001:db8:5::99", MA)
    assert not about(facts, "::")


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


def test_ssdp_search_tells_only_the_user_agent() -> None:
    facts, _ = collect([udp4(50000, 1900, dst="239.255.255.250")(SSDP_SEARCH)])
    assert triples(facts) == {("ssdp", "user_agent", "Microsoft-Windows/10.0 UPnP/1.0")}


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


def test_smb_session_request_names_both_ends() -> None:
    facts, _ = collect([tcp4(50000, 139)(session_request())])
    assert ("smb", "hostname", "FILESRV") in about(facts, B4)


def test_smb_authenticate_never_records_the_user() -> None:
    facts, _ = collect([tcp4(50000, 445)(smb2_session_setup(False, ntlm_authenticate()))])
    assert all("alice" not in str(v) for _, _, _, _, v in facts)


def test_smb_bulk_segments_are_not_selected() -> None:
    """File data on port 445 stays on the fast path: only negotiate and session setup."""
    read = nbss(smb2_header(8, True) + bytes(1000))
    frames = [tcp4(445, 50000)(read), tcp4(445, 50000)(bytes(1200)), tcp4(445, 50000)(smb2_negotiate_response())]
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    assert c.stats_dict()["discovery"]["packets"] == 1


def test_modbus_polling_is_not_selected() -> None:
    poll = struct.pack(">HHHB", 7, 0, 6, 1) + b"\x03\x00\x00\x00\x0a"
    c = Collector(Config())
    c.process(batch_from_frames([tcp4(50000, 502)(poll), tcp4(502, 50000)(modbus_device_id())]))
    assert c.stats_dict()["discovery"]["packets"] == 1


def test_dnp3_master_and_outstation() -> None:
    facts, _ = collect([tcp4(50000, 20000, src=B4, dst=A4)(dnp3(0xC4, 10, 3))])
    assert {("dnp3", "address", "3"), ("dnp3", "role", "master")} <= about(facts, B4)
    assert {("dnp3", "address", "10"), ("dnp3", "role", "outstation")} <= about(facts, A4)


def test_bacnet_read_property_multiple_names_only_the_device() -> None:
    facts, _ = collect([udp4(47808, 47808)(bacnet_read_property_multiple_ack())])
    assert ("bacnet", "object_name", "Supply Air Temp") not in triples(facts)


def test_bacnet_read_property_of_another_object_is_not_the_device_name() -> None:
    payload = bytearray(bacnet_read_property_ack(77, b"Supply Air Temp"))
    at = payload.index(b"\x0c\x02")  # the object identifier: device 2401 -> analog-input 2401
    payload[at + 1 : at + 5] = struct.pack(">I", 0 << 22 | 2401)
    facts, _ = collect([udp4(47808, 47808)(bytes(payload))])
    assert not triples(facts)


# --- fuzzing -----------------------------------------------------------------------

BATCH = 128
EXTREMES = (0, 1, 0x7F, 0x80, 0xFF)


def mutate(rng: np.random.Generator, case: Case, start: int) -> bytes:
    """A damaged copy of the case's payload; nothing before `start` changes."""
    b = bytearray(case.payload)
    n = len(b)
    if start >= n:
        return bytes(b)
    op = int(rng.integers(4))
    if op in (0, 3):  # byte flips
        for pos in rng.integers(start, n, max(1, int(rng.binomial(n - start, 0.05)))):
            b[int(pos)] = int(rng.integers(256))
    if op in (1, 3):  # a length field at an extreme
        fields = [(o, w) for o, w in case.lengths if o >= start] or [(int(rng.integers(start, n)), 1)]
        off, width = fields[int(rng.integers(len(fields)))]
        value = int(rng.choice(EXTREMES))
        b[off : off + width] = (value if value < 0x80 else (1 << (8 * width)) - (0x100 - value)).to_bytes(width, "big")[
            : max(0, n - off)
        ]
    if op in (2, 3) or not int(rng.integers(3)):  # truncation
        del b[int(rng.integers(start, n + 1)) :]
    return bytes(b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), anywhere=st.booleans())
def test_no_exception_escapes_the_dispatcher(seed: int, anywhere: bool) -> None:
    """Mutations of every case's packet in one batch: the engine counts, never raises."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(BATCH):
        case = CASES[int(rng.integers(len(CASES)))]
        start = 0 if anywhere else case.early_end
        frames.append(case.make(mutate(rng, case, start)))
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    facts = c.harvest(final=True).facts
    stats = c.stats_dict()
    assert stats["packets"] == len(frames)
    names = {case.name for case in CASES} | {"dns", "mdns", "http", "tls", "ssh", "tcp-fingerprint"}
    for key in stats["decode_errors"]:
        if key.startswith("malformed-"):
            assert key.removeprefix("malformed-") in names
    for _, _, source, key, value in facts:
        assert isinstance(source, str) and isinstance(key, str)
        assert isinstance(value, str | tuple)
        hash(value)
        assert COMMUNITY.decode() not in str(value)


SURVIVOR_CASES = [c for c in CASES if c.early]


@pytest.mark.parametrize("case", SURVIVOR_CASES, ids=_id)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_facts_before_the_damage_survive(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [case.make(mutate(rng, case, case.early_end)) for _ in range(4)]
    for frame in frames:
        facts, _ = collect([frame])
        got = about(facts, case.sender_ip, case.sender_mac)
        assert case.early <= got, f"lost {case.early - got} in {frame.hex()}"


def test_every_new_dissector_is_covered() -> None:
    covered = {c.name for c in CASES}
    assert covered >= {"lldp", "cdp", "ndp", "dhcpv6", "ssdp", "ntp", "snmp", "smb"}
    assert covered >= {"modbus", "s7comm", "enip", "bacnet", "dnp3"}
    assert NO_MAC == -1  # facts without a MAC carry -1, as `about` expects


# --- a damaged record is skipped where the format allows, and counted ----------------


def test_dhcpv6_bad_fqdn_keeps_the_options_after_it() -> None:
    bad_name = dhcp6_option(39, b"\x01\x3fab")  # a label longer than the option
    message = b"\x01\x12\x34\x56" + bad_name + dhcp6_option(16, struct.pack(">IH", 311, 8) + b"MSFT 5.0")
    facts, errors = collect([udp6(V6_HOST, "ff02::1:2", 546, 547)(message)])
    assert ("dhcpv6", "vendor_class", "311:MSFT 5.0") in about(facts, V6_HOST)
    assert errors.get("malformed-dhcpv6") == 1


def test_snmp_bad_binding_keeps_the_bindings_after_it() -> None:
    binds = ber(0x30, ber(0x04, b"not an OID") + ber(0x04, b"x")) + ber(
        0x30, ber_oid("1.3.6.1.2.1.1.5.0") + ber(0x04, b"edge02")
    )
    pdu = ber(0xA2, ber_int(1) + ber_int(0) + ber_int(0) + ber(0x30, binds))
    facts, errors = collect([udp4(161, 50000)(ber(0x30, ber_int(1) + ber(0x04, COMMUNITY) + pdu))])
    assert ("snmp", "hostname", "edge02") in about(facts, A4)
    assert errors.get("malformed-snmp") == 1


def test_ntlm_bad_domain_keeps_the_workstation() -> None:
    auth = bytearray(ntlm_authenticate())
    auth[28 + 4 : 28 + 8] = struct.pack("<I", 0xFFFF)  # the domain's offset past the message
    facts, errors = collect([tcp4(50000, 445)(smb2_session_setup(False, bytes(auth)))])
    assert ("ntlm", "workstation", "WS-0042") in about(facts, A4)
    assert ("ntlm", "domain", "CORP") not in about(facts, A4)
    assert errors.get("malformed-smb") == 1


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
