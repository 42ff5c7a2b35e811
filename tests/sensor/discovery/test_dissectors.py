"""The discovery dissectors on packets built here: LLDP, CDP, NDP, DHCPv6, SSDP, NTP,
SNMP, SMB/NTLMSSP, the industrial protocols (Modbus, S7comm, EtherNet/IP, BACnet,
DNP3) and the core ones (DHCP, DNS, mDNS, LLMNR, NetBIOS name and datagram services,
HTTP, TLS, SSH, TCP SYN fingerprints).

Every frame goes through the engine (`Collector.process`), so the tests cover the
vector selection that picks the packet as well as the dissector, and read the facts
the collector harvests. The layouts follow the protocols' specifications; the same
fields are checked against tshark on real captures in test_dissectors_pcaps.py.

The second half fuzzes every dissector with mutations of its valid packet (random
byte flips, truncations, length fields set to extremes): no exception may escape the
dispatcher (a bad packet is a `malformed-NAME` count), and the facts a packet gave
before the damaged bytes must survive it.

Reference values come from outside: JA4 from the example of FoxIO's specification
(technical_details/JA4.md), from the expected output of FoxIO's sigalg-grease capture
and from browserleaks.com's print of Chrome 143 (each hello rebuilt from its printed
lists, long enough to need two segments), HASSH from Salesforce's README (the Cyberduck client),
and JA3, JA3S, HASSH and HASSHServer from tshark, p0f signatures from p0f itself, on
the same packets written to a capture (skipped where tshark or p0f is missing).
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config, address_int
from nps_sensor.discovery.collect import DISSECTORS
from nps_sensor.discovery.dissectors import tls
from nps_sensor.discovery.facts import NO_IP, NO_MAC, Key, Seen, Value
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from nps_sensor.synth.quic import client_initials

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


# --- the core dissectors' payloads: DHCP, DNS, mDNS, LLMNR, NetBIOS, HTTP, TLS, SSH, TCP --

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


def dns_answer(name: str, qtype: int, answers: list[P.RR], ident: int = 0x1234) -> bytes:
    return P.dns_response(ident, name, qtype, answers)


def mdns_printer() -> bytes:
    return P.mdns_announcement(
        "printer-3",
        A4,
        service="_ipp._tcp",
        instance="Office Printer",
        port=631,
        txt=("txtvers=1", "ty=HP LaserJet Pro M404", "usb_MFG=HP", "usb_MDL=LaserJet Pro M404dn", "note=2nd floor"),
    )


def llmnr_answer(name: str = "WS-0042", address: str = A4) -> bytes:
    return P.dns_message(0x4242, 0x8000, [(name, P.DNS_A)], [P.RR(name, P.DNS_A, address, 30)])


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


UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
HTTP_REQUEST = (
    b"GET /index.html HTTP/1.1\r\nHost: intranet.corp.example\r\nUser-Agent: "
    + UA.encode()
    + b"\r\nAccept: text/html\r\nX-Forwarded-Host: proxy.example\r\n\r\n"
)
HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n"
)


# TLS: the ClientHello of FoxIO's JA4 example (technical_details/JA4.md: its ciphers,
# extensions and signature algorithms in their original order), with GREASE values
# added where Chrome puts them: JA4 and JA3 must leave those out.
JA4_CIPHERS: tuple[int, ...] = struct.unpack(
    ">15H", bytes.fromhex("1301 1302 1303 c02b c02f c02c c030 cca9 cca8 c013 c014 009c 009d 002f 0035")
)
JA4_SIG_ALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
JA4_OF_THE_EXAMPLE = "t13d1516h2_8daaf6152771_e5627efa2ab1"  # as JA4.md gives it
SNI_NAME = "www.example.com"


def tls_ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def u16s(values: tuple[int, ...] | list[int]) -> bytes:
    return struct.pack(f">{len(values)}H", *values)


def tls_record(*messages: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes([kind]) + len(m).to_bytes(3, "big") + m for kind, m in messages)
    return b"\x16\x03\x01" + struct.pack(">H", len(body)) + body


def client_hello_extensions(sni: str = SNI_NAME) -> list[bytes]:
    host = sni.encode()
    alpn = b"\x02h2\x08http/1.1"
    return [
        tls_ext(0x0A0A, b""),  # GREASE
        tls_ext(0x001B, b"\x02\x00\x02"),  # compress_certificate: brotli
        tls_ext(0x0000, struct.pack(">HBH", len(host) + 3, 0, len(host)) + host),
        tls_ext(0x0033, struct.pack(">H", 5 + 36) + b"\x2a\x2a\x00\x01\x00" + b"\x00\x1d\x00\x20" + bytes(range(32))),
        tls_ext(0x0010, struct.pack(">H", len(alpn)) + alpn),
        tls_ext(0x4469, b"\x00\x03\x02h2"),  # application_settings
        tls_ext(0x0017, b""),
        tls_ext(0x002D, b"\x01\x01"),
        tls_ext(0x000D, struct.pack(">H", 2 * len(JA4_SIG_ALGS)) + u16s(JA4_SIG_ALGS)),
        tls_ext(0x0005, b"\x01\x00\x00\x00\x00"),
        tls_ext(0x0023, b""),
        tls_ext(0x0012, b""),
        tls_ext(0x002B, b"\x06" + u16s((0x4A4A, 0x0304, 0x0303))),
        tls_ext(0xFF01, b"\x00"),
        tls_ext(0x000B, b"\x01\x00"),
        tls_ext(0x000A, b"\x00\x08" + u16s((0x3A3A, 0x001D, 0x0017, 0x0018))),
        tls_ext(0x1A1A, b"\x00"),  # GREASE
        tls_ext(0x0015, bytes(64)),  # padding
    ]


def client_hello(extensions: list[bytes] | None = None) -> bytes:
    exts = b"".join(client_hello_extensions() if extensions is None else extensions)
    suites = u16s((0x2A2A, *JA4_CIPHERS))
    body = (
        b"\x03\x03"
        + bytes(range(32))  # random
        + b"\x20"
        + bytes(range(32, 64))  # session id
        + struct.pack(">H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    return tls_record((1, body))


def x509_name(*parts: tuple[str, int, str]) -> bytes:
    return ber(0x30, b"".join(ber(0x31, ber(0x30, ber_oid(oid) + ber(tag, v.encode()))) for oid, tag, v in parts))


CERT_SUBJECT = "C=US, O=Example Corp, CN=intranet.corp.example"


def certificate_der() -> bytes:
    """An X.509 v3 certificate (P-256 key, ECDSA signature), built field by field."""
    subject = x509_name(
        ("2.5.4.6", 0x13, "US"), ("2.5.4.10", 0x0C, "Example Corp"), ("2.5.4.3", 0x0C, "intranet.corp.example")
    )
    issuer = x509_name(("2.5.4.3", 0x0C, "Example Issuing CA"))
    ecdsa_sha256 = ber(0x30, ber_oid("1.2.840.10045.4.3.2"))
    key = ber(
        0x30,
        ber(0x30, ber_oid("1.2.840.10045.2.1") + ber_oid("1.2.840.10045.3.1.7")) + ber(0x03, b"\x00\x04" + bytes(64)),
    )
    tbs = ber(
        0x30,
        ber(0xA0, ber_int(2))
        + ber_int(0x1234567)
        + ecdsa_sha256
        + issuer
        + ber(0x30, ber(0x17, b"250101000000Z") + ber(0x17, b"270101000000Z"))
        + subject
        + key,
    )
    signature = ber(0x03, b"\x00" + ber(0x30, ber_int(1 << 200) + ber_int(1 << 190)))
    return ber(0x30, tbs + ecdsa_sha256 + signature)


def server_flight() -> bytes:
    """ServerHello (TLS 1.2), Certificate and ServerHelloDone in one record."""
    exts = tls_ext(0xFF01, b"\x00") + tls_ext(0x000B, b"\x01\x00") + tls_ext(0x0023, b"") + tls_ext(0x0017, b"")
    hello = (
        b"\x03\x03"
        + bytes(range(100, 132))
        + b"\x20"
        + bytes(32)
        + b"\xc0\x2f\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    cert = certificate_der()
    chain = len(cert).to_bytes(3, "big") + cert
    return tls_record((2, hello), (11, len(chain).to_bytes(3, "big") + chain), (14, b""))


JA3S_TEXT = "771,49199,65281-11-35-23"

# SSH: the Cyberduck client of Salesforce's HASSH README (its lists and its hassh),
# and a server whose two directions differ, so that the direction HASSH reads shows.
CYBERDUCK_KEX = (
    "curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,"
    "diffie-hellman-group14-sha256,diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,"
    "diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,"
    "diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,"
    "diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,"
    "diffie-hellman-group18-sha512@ssh.com"
)
CYBERDUCK_ENC = (
    "aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,cast128-cbc,"
    "cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,serpent256-cbc,"
    "serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,"
    "twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256"
)
CYBERDUCK_MAC = "hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512"
CYBERDUCK_HASSH = "8a8ae540028bf433cd68356c1b9e8d5b"  # as the README gives it


def ssh_packet(message: bytes) -> bytes:
    """RFC 4253 binary packet, before encryption: length, padding length, payload, padding."""
    pad = 8 - (len(message) + 5) % 8
    pad += 8 if pad < 4 else 0
    return struct.pack(">IB", len(message) + pad + 1, pad) + message + bytes(pad)


def kexinit(kex: str, host_keys: str, enc: tuple[str, str], mac: tuple[str, str], comp: tuple[str, str]) -> bytes:
    lists = (kex, host_keys, *enc, *mac, *comp, "", "")
    body = b"".join(struct.pack(">I", len(x)) + x.encode() for x in lists)
    return ssh_packet(b"\x14" + bytes(range(16)) + body + b"\x00" + bytes(4))


def cyberduck_kexinit() -> bytes:
    comp = "zlib@openssh.com,zlib,none"
    return kexinit(CYBERDUCK_KEX, "ssh-rsa", (CYBERDUCK_ENC, CYBERDUCK_ENC), (CYBERDUCK_MAC,) * 2, (comp, comp))


def server_kexinit() -> bytes:
    return kexinit(
        "curve25519-sha256,ecdh-sha2-nistp256",
        "ssh-ed25519,rsa-sha2-512",
        ("aes256-gcm@openssh.com,aes128-ctr", "chacha20-poly1305@openssh.com,aes256-ctr"),
        ("hmac-sha2-256", "hmac-sha2-512-etm@openssh.com"),
        ("none", "none,zlib@openssh.com"),
    )


SERVER_HASSH_TEXT = (  # the server-to-client lists: what the server offers to send
    "curve25519-sha256,ecdh-sha2-nistp256;chacha20-poly1305@openssh.com,aes256-ctr;"
    "hmac-sha2-512-etm@openssh.com;none,zlib@openssh.com"
)
SSH_SERVER_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
SSH_CLIENT_BANNER = b"SSH-2.0-Cyberduck/6.7.1.28683 (Mac OS X/10.13.6) (x86_64)\r\n"

# TCP SYNs as Linux (5.x: window 64240, MSS 1460, SACK, timestamps, window scale 7,
# DF with a non-zero IP ID) and Windows 10 send them; the signatures are p0f's, whose
# own raw_sig for these packets is checked in test_tcp_signatures_against_p0f.
LINUX_SYN_OPTIONS = P.tcp_options(mss=1460, sack_permitted=True, timestamps=(2_953_741, 0), wscale=7)
WINDOWS_SYN_OPTIONS = struct.pack(">BBH", 2, 4, 1460) + b"\x01\x03\x03\x08\x01\x01\x04\x02"
LINUX_SYN_SIG = "4:64+3:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"
WINDOWS_SYN_SIG = "4:128+0:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0"


def syn_frame(
    options: bytes,
    *,
    src: str = A4,
    dst: str = B4,
    sport: int = 40000,
    dport: int = 443,
    ttl: int = 61,
    window: int = 64240,
    flags: str = "S",
    ack: int = 0,
    ident: int = 0x3C1F,
) -> bytes:
    seg = P.tcp(src, dst, sport, dport, b"", flags=flags, seq=0x1F2E3D4C, ack=ack, window=window, options=options)
    return P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg, ttl=ttl, df=True, ident=ident))


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


def _core_cases() -> list[Case]:
    discover = dhcp_discover()
    after_hostname = discover.index(DHCP_HOSTNAME) + len(DHCP_HOSTNAME)
    dns = dns_answer("www.example.com", P.DNS_A, [P.RR("www.example.com", P.DNS_A, "10.93.216.34")])
    mdns = mdns_printer()
    registration = nbns_registration("WS-0042", 0x00, A4)
    status = nbns_node_status()
    host = browser_announcement(1, "WS-0042", "Finance laptop", 0x00001003 | 0x400, (10, 0))
    hello = client_hello()
    server = server_flight()
    server_kex = SSH_SERVER_BANNER + server_kexinit()
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
        Case(
            "dns",
            udp4(53, 50000),
            dns,
            {("dns", "name", "www.example.com")},
            sender_ip="10.93.216.34",
            lengths=[(len(dns) - 6, 2)],
        ),
        Case(
            "mdns",
            udp4(5353, 5353, dst="224.0.0.251"),
            mdns,
            {
                ("mdns", "service", "office printer._ipp._tcp.local"),
                ("mdns", "srv", ("_ipp._tcp", 631, "printer-3")),
                ("mdns", "model", "HP LaserJet Pro M404"),
                ("mdns", "model", "LaserJet Pro M404dn"),
                ("mdns", "manufacturer", "HP"),
                ("mdns", "hostname", "printer-3"),
            },
            sender_mac=MA,
            early_end=mdns.index(b"\x00\x10\x80\x01"),  # the TXT record's type: PTR and SRV before it
            early={
                ("mdns", "service", "office printer._ipp._tcp.local"),
                ("mdns", "srv", ("_ipp._tcp", 631, "printer-3")),
            },
        ),
        Case("llmnr", udp4(5355, 50000), llmnr_answer(), {("llmnr", "hostname", "ws-0042")}, sender_mac=MA),
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
        Case(
            "http",
            tcp4(50000, 80),
            HTTP_REQUEST,
            {("http", "user_agent", UA), ("http", "host", "intranet.corp.example")},
            early_end=HTTP_REQUEST.index(b"\r\nAccept") + 2,
            early={("http", "user_agent", UA), ("http", "host", "intranet.corp.example")},
        ),
        Case(
            "http",
            tcp4(80, 50000),
            HTTP_RESPONSE,
            {("http", "server", "nginx/1.22.1"), ("http", "service", ("tcp", 80, "nginx/1.22.1"))},
        ),
        Case(
            "tls",
            tcp4(50000, 443),
            hello,
            {("tls", "sni", SNI_NAME), ("tls", "ja4", JA4_OF_THE_EXAMPLE)},
            lengths=[(3, 2), (6, 3), (hello.index(b"\x00\x00\x00\x14") + 2, 2)],
        ),
        Case(
            "tls",
            tcp4(443, 50000),
            server,
            {
                ("tls", "ja3s", hashlib.md5(JA3S_TEXT.encode()).hexdigest()),
                ("tls", "service", ("tcp", 443, "tls")),
                ("tls", "cert_subject", CERT_SUBJECT),
            },
            lengths=[(3, 2), (server.index(b"\x0b\x00") + 1, 3)],
        ),
        Case(
            "ssh",
            tcp4(22, 50000),
            server_kex,
            {
                ("ssh", "server_banner", SSH_SERVER_BANNER.decode().strip()),
                ("ssh", "service", ("tcp", 22, "OpenSSH_9.2p1")),
                ("ssh", "hassh_server", hashlib.md5(SERVER_HASSH_TEXT.encode()).hexdigest()),
            },
            early_end=len(SSH_SERVER_BANNER),
            early={("ssh", "server_banner", SSH_SERVER_BANNER.decode().strip())},
            lengths=[(len(SSH_SERVER_BANNER), 4), (len(SSH_SERVER_BANNER) + 22, 4)],
        ),
        Case(
            "ssh",
            tcp4(50000, 22),
            SSH_CLIENT_BANNER + cyberduck_kexinit(),
            {("ssh", "client_banner", SSH_CLIENT_BANNER.decode().strip()), ("ssh", "hassh", CYBERDUCK_HASSH)},
        ),
        Case(
            "tcp-fingerprint",
            syn_frame,
            LINUX_SYN_OPTIONS,
            {("tcp", "syn", LINUX_SYN_SIG)},
        ),
        Case(
            "tcp-fingerprint",
            lambda options: syn_frame(options, src=B4, dst=A4, sport=50000, dport=445, ttl=128),
            WINDOWS_SYN_OPTIONS,
            {("tcp", "syn", WINDOWS_SYN_SIG)},
            sender_ip=B4,
        ),
        Case(
            "quic",
            udp4(51000, 443, dst="142.250.74.110"),
            client_initials(client_hello()[5:], bytes.fromhex("8394c8f03e515708"), b"\xc0\xff\xee\x00")[0],
            {("tls", "sni", SNI_NAME), ("tls", "ja4", "q" + JA4_OF_THE_EXAMPLE[1:])},
        ),
    ]


CASES = _cases() + _core_cases()


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
    names = {case.name for case in CASES}
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
    """Every dissector the engine dispatches to has a case, so the fuzzing reaches it."""
    covered = {c.name for c in CASES}
    assert covered >= {d.name for d in DISSECTORS[1:]}
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


# --- the core dissectors: DHCP, DNS, mDNS, LLMNR, NetBIOS, HTTP, TLS, SSH, TCP -------


def test_dhcp_discover_speaks_for_the_client_mac() -> None:
    """A DISCOVER comes from 0.0.0.0: its facts are about chaddr, with no address."""
    facts, _ = collect([udp4(68, 67, src="0.0.0.0", dst="255.255.255.255")(dhcp_discover())])
    assert not about(facts, "0.0.0.0")
    assert ("dhcp", "prl", "1,3,6,15,31,33,43,44,46,47,119,121,249,252") in about(facts, None, DHCP_CLIENT)
    assert not any(s == "dhcp" and k == "mac" for s, k, _ in triples(facts))  # no address to bind yet


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


def test_dns_answers_name_their_addresses() -> None:
    answers = [
        P.RR("www.example.com", P.DNS_CNAME, "edge.example.net"),
        P.RR("edge.example.net", P.DNS_A, "10.93.216.34"),
        P.RR("edge.example.net", P.DNS_AAAA, "fd00:2800:220:1::248"),
    ]
    facts, _ = collect([udp4(53, 50000)(dns_answer("www.example.com", P.DNS_A, answers))])
    assert about(facts, "10.93.216.34") == {("dns", "name", "edge.example.net")}
    assert about(facts, "fd00:2800:220:1::248") == {("dns", "name", "edge.example.net")}
    assert not about(facts, A4) and not about(facts, B4)  # neither the resolver nor the client


def test_dns_ptr_names_the_reversed_address() -> None:
    v4 = P.RR("30.1.1.10.in-addr.arpa", P.DNS_PTR, "fs01.corp.example")
    v6_name = ".".join(reversed(ipaddress.ip_address("fd00:db8::7").exploded.replace(":", ""))) + ".ip6.arpa"
    v6 = P.RR(v6_name, P.DNS_PTR, "ws-7.corp.example")
    facts, _ = collect(
        [
            udp4(53, 50000)(dns_answer("30.1.1.10.in-addr.arpa", P.DNS_PTR, [v4])),
            udp4(53, 50001)(dns_answer(v6_name, P.DNS_PTR, [v6], ident=7)),
        ]
    )
    assert about(facts, "10.1.1.30") == {("dns", "name", "fs01.corp.example")}
    assert about(facts, "fd00:db8::7") == {("dns", "name", "ws-7.corp.example")}


def test_dns_queries_tell_nothing() -> None:
    facts, _ = collect([udp4(50000, 53)(P.dns_query(1, "www.example.com"))])
    assert not facts


def test_dns_repeated_answer_is_dissected_once_per_harvest() -> None:
    """A resolver answering the same question again (a new ID, a TTL counted down) is
    not parsed again until the next harvest; another question is."""
    rr = [P.RR("www.example.com", P.DNS_A, "10.93.216.34", ttl=300)]
    again = [P.RR("www.example.com", P.DNS_A, "10.93.216.34", ttl=287)]
    other = [P.RR("mail.example.com", P.DNS_A, "10.93.216.35")]
    frames = [
        udp4(53, 50000)(dns_answer("www.example.com", P.DNS_A, rr, ident=1)),
        udp4(53, 50001)(dns_answer("www.example.com", P.DNS_A, again, ident=2)),
        udp4(53, 50002)(dns_answer("mail.example.com", P.DNS_A, other, ident=3)),
    ]
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1.0, 2.0, 3.0]))
    assert c.stats_dict()["discovery"]["packets"] == 3  # all selected; one not dissected
    facts = c.harvest().facts
    name = (ip_key("10.93.216.34"), NO_MAC, "dns", "name", "www.example.com")
    assert facts[name].count == 1 and facts[name].last == 1.0
    assert (ip_key("10.93.216.35"), NO_MAC, "dns", "name", "mail.example.com") in facts
    c.process(batch_from_frames(frames[1:2], ts=[4.0]))  # the next window: dissected again
    assert c.harvest(final=True).facts[name].first == 4.0


def test_mdns_names_are_bound_to_the_responder_mac() -> None:
    """Every address a responder announces is its own, IPv6 ones included."""
    message = P.dns_message(
        0,
        0x8400,
        answers=[
            P.RR("macbook-9.local", P.DNS_A, A4, cache_flush=True),
            P.RR("macbook-9.local", P.DNS_AAAA, "fe80::1c2b:3a4d:5e6f:7081", cache_flush=True),
        ],
    )
    facts, _ = collect([udp4(5353, 5353, dst="224.0.0.251")(message)])
    assert ("mdns", "hostname", "macbook-9") in about(facts, A4, MA)
    assert ("mdns", "hostname", "macbook-9") in about(facts, "fe80::1c2b:3a4d:5e6f:7081", MA)


def test_mdns_device_info_and_queries() -> None:
    info = P.RR("Living Room._device-info._tcp.local", P.DNS_TXT, ["model=AppleTV11,1", "osxvers=21"])
    facts, _ = collect(
        [
            udp4(5353, 5353, dst="224.0.0.251")(P.dns_message(0, 0x8400, answers=[info])),
            udp4(5353, 5353, src=B4, dst="224.0.0.251")(P.dns_message(0, 0, [("_airplay._tcp.local", P.DNS_PTR)])),
        ]
    )
    assert {("mdns", "model", "AppleTV11,1"), ("mdns", "os_version", "21")} <= about(facts, A4, MA)
    assert not about(facts, B4)  # a query says nothing


def test_llmnr_answer_for_another_address_is_not_the_sender() -> None:
    facts, _ = collect([udp4(5355, 50000)(llmnr_answer("FS01", "10.1.1.30"))])
    assert about(facts, "10.1.1.30", None) == {("llmnr", "hostname", "fs01")}
    assert not about(facts, "10.1.1.30", MA)
    assert not about(facts, A4)


def test_llmnr_query_tells_nothing() -> None:
    query = P.dns_message(0x4242, 0, [("WS-0042", P.DNS_A)])
    facts, _ = collect([udp4(50000, 5355, dst="224.0.0.252")(query)])
    assert not facts


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


def test_http_request_tells_about_both_ends() -> None:
    facts, _ = collect([tcp4(50000, 8080)(HTTP_REQUEST.replace(b"GET", b"POST"))])
    assert about(facts, A4) == {("http", "user_agent", UA), ("http", "host", "intranet.corp.example")}
    assert about(facts, B4) == {("http", "service", ("tcp", 8080, "http"))}


def test_http_response_without_server_is_still_a_service() -> None:
    facts, _ = collect([tcp4(8000, 50000)(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nServer: no")])
    assert about(facts, A4) == {("http", "service", ("tcp", 8000, "http"))}


def test_http_bare_line_feeds() -> None:
    """Some embedded clients end their lines with LF alone."""
    request = b"GET / HTTP/1.0\nUser-Agent: Wget/1.12 (linux-gnu)\nHost: 10.1.1.20\n\nuser-agent: body"
    facts, _ = collect([tcp4(50000, 80)(request)])
    assert about(facts, A4) == {("http", "user_agent", "Wget/1.12 (linux-gnu)"), ("http", "host", "10.1.1.20")}


def test_http_body_is_not_headers() -> None:
    request = b"POST /x HTTP/1.1\r\nHost: a.example\r\n\r\nuser-agent: not-a-header\r\n"
    facts, _ = collect([tcp4(50000, 80)(request)])
    assert about(facts, A4) == {("http", "host", "a.example")}


JA3_TEXT = (
    "771,"
    + "-".join(map(str, JA4_CIPHERS))
    + ",27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"  # GREASE left out
)


def test_tls_client_hello_ja4_and_ja3() -> None:
    facts, _ = collect([tcp4(50000, 443)(client_hello())])
    ja3 = hashlib.md5(JA3_TEXT.encode()).hexdigest()
    assert about(facts, A4) == {("tls", "sni", SNI_NAME), ("tls", "ja4", JA4_OF_THE_EXAMPLE), ("tls", "ja3", ja3)}
    assert about(facts, B4) == {("tls", "service", ("tcp", 443, "tls"))}


def test_tls_ja4_without_sni_or_alpn() -> None:
    """To an IP address: 'i', no ALPN: '00', one extension fewer in each count."""
    exts = [e for e in client_hello_extensions() if e[:2] not in (b"\x00\x00", b"\x00\x10")]
    facts, _ = collect([tcp4(50000, 443)(client_hello(exts))])
    ja4 = next(v for s, k, v in about(facts, A4) if k == "ja4")
    assert ja4 == "t13i151400_8daaf6152771_e5627efa2ab1"  # b and c leave SNI and ALPN out anyway
    assert not any(k == "sni" for _, k, _ in about(facts, A4))


def test_tls_client_hello_split_over_two_segments() -> None:
    """A ClientHello longer than a segment (post-quantum key shares make Chrome's about
    1,800 bytes) is completed from the next segment: the facts of the whole hello, the
    SNI from the first segment counted once."""
    exts = client_hello_extensions()
    exts.insert(3, tls_ext(0xFE0D, bytes(1500)))  # a large extension after the SNI
    hello = client_hello(exts)
    whole, _ = collect(conversation(443, [(True, hello)]))
    facts, errors = collect(conversation(443, [(True, hello[:1400]), (True, hello[1400:])]))
    assert about(facts, A4) == about(whole, A4)
    assert {k for _, k, _ in about(facts, A4)} == {"sni", "ja3", "ja4"}
    assert facts[(ip_key(A4), mac_key(MA), "tls", "sni", SNI_NAME)].count == 1
    assert not errors


# --- ClientHellos over several segments, and JA4 of published clients ---------------
#
# Two published ClientHellos, rebuilt from the values their sources print in original
# order (JA4_ro, JA3 text): extension contents are ours, the lists JA3/JA4 read are
# theirs. GREASE goes where Chrome puts it (first cipher, first and last extension,
# first group, version and key share): both fingerprints must leave it out.
#
# FoxIO's `pcap/sigalg-grease.pcapng` (Chrome; its expected output
# `python/test/testdata/sigalg-grease.pcapng.json`, quoted by Crank-Git/ja4plus-go):
# a 2,039-byte hello over two segments, with a GREASE value among its signature
# algorithms, which FoxIO's tools leave out since "fix(rust): ignore grease in sigalgs".
SIGALG_GREASE_JA4 = "t13d1517h2_8daaf6152771_cb7bf5808d99"
SIGALG_GREASE_EXTS: tuple[int, ...] = (0xFE0D, 0x0010, 0x0017, 0x0033, 0x44CD, 0xFF01, 0x000A, 0x000D, 0x0023)
SIGALG_GREASE_EXTS += (0x002B, 0x000B, 0xCA34, 0x002D, 0x0000, 0x0005, 0x001B, 0x0012)
SIGALG_GREASE_SIGS = (0x0A0A, 0x0904, 0x0905, 0x0906, *JA4_SIG_ALGS)
# Chrome 143 as browserleaks.com prints it (ja4, ja4_ro, ja3_text, ja3_hash): ML-KEM
# key share (X25519MLKEM768, group 4588) and ECH, 16 extensions.
CHROME143_JA4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
CHROME143_JA3 = "98487aa16281980e7d1120d399efb6a4"
CHROME143_EXTS: tuple[int, ...] = (0x002D, 0x0033, 0x0010, 0xFE0D, 0x0017, 0x44CD, 0x0000, 0x000B, 0x000A, 0x002B)
CHROME143_EXTS += (0xFF01, 0x0023, 0x0012, 0x0005, 0x000D, 0x001B)
X25519MLKEM768 = 0x11EC


def browser_extension(kind: int, sni: str, sig_algs: tuple[int, ...]) -> bytes:
    """Plausible contents for each extension a browser sends (sizes as Chrome's)."""
    host = sni.encode()
    alpn = b"\x02h2\x08http/1.1"
    shares = b"\x2a\x2a\x00\x01\x00" + struct.pack(">HH", X25519MLKEM768, 1216) + bytes(1216)
    shares += b"\x00\x1d\x00\x20" + bytes(range(32))
    groups = (0x2A2A, X25519MLKEM768, 0x001D, 0x0017, 0x0018)
    data = {
        0x0000: struct.pack(">HBH", len(host) + 3, 0, len(host)) + host,
        0x0005: b"\x01\x00\x00\x00\x00",
        0x000A: struct.pack(">H", 2 * len(groups)) + u16s(groups),
        0x000B: b"\x01\x00",
        0x000D: struct.pack(">H", 2 * len(sig_algs)) + u16s(sig_algs),
        0x0010: struct.pack(">H", len(alpn)) + alpn,
        0x001B: b"\x02\x00\x02",
        0x002B: b"\x06" + u16s((0x4A4A, 0x0304, 0x0303)),
        0x002D: b"\x01\x01",
        0x0033: struct.pack(">H", len(shares)) + shares,
        0x44CD: b"\x00\x03\x02h2",
        0xFE0D: b"\x00\x00\x01\x00\x01\x7b\x00\x20" + bytes(32) + b"\x00\x90" + bytes(144),
        0xFF01: b"\x00",
    }.get(kind, b"")
    return tls_ext(kind, data)


def browser_hello(
    order: tuple[int, ...], sig_algs: tuple[int, ...] = JA4_SIG_ALGS, sni: str = "optimizationguide-pa.googleapis.com"
) -> bytes:
    exts = [tls_ext(0x0A0A, b""), *(browser_extension(k, sni, sig_algs) for k in order), tls_ext(0x1A1A, b"\x00")]
    return client_hello(exts)


def segments(data: bytes, *cuts: int) -> list[bytes]:
    """The client's segments of `data`, cut at the offsets `cuts`, in stream order."""
    bounds = [0, *cuts, len(data)]
    return conversation(443, [(True, data[a:b]) for a, b in itertools.pairwise(bounds)])


def collect_apart(frames: list[bytes], ts: list[float] | None = None) -> tuple[dict[Key, Seen], Collector]:
    """Each frame in a batch of its own: a hello's segments in different batches."""
    c = Collector(Config())
    for i, frame in enumerate(frames):
        c.process(batch_from_frames([frame], ts=[ts[i] if ts else 1_700_000_000.0 + i]))
    return c.harvest(final=True).facts, c


def client_fingerprints(facts: dict[Key, Seen]) -> dict[str, set[Value]]:
    out: dict[str, set[Value]] = {}
    for _, key, value in about(facts, A4):
        out.setdefault(key, set()).add(value)
    return out


def test_ja4_of_foxios_sigalg_grease_hello_over_two_segments() -> None:
    hello = browser_hello(SIGALG_GREASE_EXTS, SIGALG_GREASE_SIGS)
    assert len(hello) > 1400  # two segments, as FoxIO's 2,039 bytes are
    facts, errors = collect(segments(hello, 1400))
    assert client_fingerprints(facts)["ja4"] == {SIGALG_GREASE_JA4}
    assert ("tls", "sni", "optimizationguide-pa.googleapis.com") in about(facts, A4)
    assert not errors


def test_ja4_and_ja3_of_chrome_143_over_two_segments() -> None:
    hello = browser_hello(CHROME143_EXTS, sni="tls.browserleaks.com")
    assert len(hello) > 1460  # more than a segment of an Ethernet path
    for frames in (segments(hello, 1448), segments(hello, 1000, 1448)):
        got = client_fingerprints(collect(frames)[0])
        assert got["ja4"] == {CHROME143_JA4}
        assert got["ja3"] == {CHROME143_JA3}
        assert got["sni"] == {"tls.browserleaks.com"}


def test_ja4_derived_step_by_step() -> None:
    """A TLS 1.2 hello without supported_versions, built here, its JA4 worked out by hand."""
    host = b"printer.corp.example"
    alpn = b"\x08http/1.1\x02h2"
    exts = [
        tls_ext(0x0000, struct.pack(">HBH", len(host) + 3, 0, len(host)) + host),
        tls_ext(0x3A3A, b""),  # GREASE: neither counted nor hashed
        tls_ext(0x0010, struct.pack(">H", len(alpn)) + alpn),
        tls_ext(0x000D, b"\x00\x06" + u16s((0x0A0A, 0x0401, 0x0201))),  # GREASE first
        tls_ext(0x000B, b"\x01\x00"),
        tls_ext(0x000A, b"\x00\x04" + u16s((0x0017, 0x0018))),
        tls_ext(0x0017, b""),
    ]
    suites = u16s((0x2A2A, 0xC02F, 0x009C, 0x00FF))
    body = b"\x03\x03" + bytes(32) + b"\x00" + struct.pack(">H", len(suites)) + suites + b"\x01\x00"
    ext_bytes = b"".join(exts)
    hello = tls_record((1, body + struct.pack(">H", len(ext_bytes)) + ext_bytes))
    # a: TCP, version 1.2 (no supported_versions: the hello's own), SNI to a domain,
    # 3 ciphers and 6 extensions without GREASE, ALPN "http/1.1": first and last "h1".
    a = "t12d0306h1"
    # b: the ciphers sorted, as 4 hex digits (the renegotiation SCSV 00ff counts).
    b = hashlib.sha256(b"009c,00ff,c02f").hexdigest()[:12]
    # c: the extensions sorted without SNI and ALPN, then the signature algorithms in
    # their order, GREASE left out.
    c = hashlib.sha256(b"000a,000b,000d,0017_0401,0201").hexdigest()[:12]
    facts, _ = collect([tcp4(50000, 443)(hello)])
    assert client_fingerprints(facts)["ja4"] == {f"{a}_{b}_{c}"}
    ja3 = hashlib.md5(b"771,49199-156-255,0-16-13-11-10-23,23-24,0").hexdigest()
    assert client_fingerprints(facts)["ja3"] == {ja3}


@pytest.mark.parametrize(
    ("alpn", "chars"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"x", "xx"),
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"0\xab", "3b"),
        (b"0\xab\xcd1", "01"),
        (b"", "00"),
    ],
)
def test_ja4_alpn_characters(alpn: bytes, chars: str) -> None:
    """JA4.md's examples: alphanumeric ends as they are, otherwise hex digits."""
    assert tls._alpn_chars(alpn) == chars


LATE_SNI = "late.example.org"


def late_sni_hello() -> bytes:
    """A hello whose SNI is in its last 100 bytes: only reassembly finds it."""
    exts = client_hello_extensions(sni=LATE_SNI)
    exts.insert(0, tls_ext(0x0015, bytes(1500)))  # padding first, the SNI after it
    return client_hello(exts)


def test_tls_client_hello_over_three_segments() -> None:
    hello = late_sni_hello()
    whole = client_fingerprints(collect(conversation(443, [(True, hello)]))[0])
    assert client_fingerprints(collect(segments(hello, 600, 1300))[0]) == whole
    assert whole["sni"] == {LATE_SNI}
    facts, c = collect_apart(segments(hello, 600, 1300))  # one batch each
    assert client_fingerprints(facts) == whole
    assert c.discovery is not None and not c.discovery.hellos.pending


def test_tls_client_hello_header_cut_in_the_first_segment() -> None:
    """Seven bytes: the record header and the message type, then the rest."""
    hello = late_sni_hello()
    whole = client_fingerprints(collect(conversation(443, [(True, hello)]))[0])
    assert client_fingerprints(collect(segments(hello, 7))[0]) == whole
    assert client_fingerprints(collect(segments(hello, 7, 900))[0]) == whole


@pytest.mark.parametrize(
    "order", [(0, 2, 1), (0, 2), (1, 2, 0), (0, 0, 1, 2)], ids=["reordered", "gap", "later-first", "resent"]
)
def test_tls_client_hello_out_of_order_or_missing(order: tuple[int, ...]) -> None:
    """No reordering: a segment out of place drops the hello (no SNI from its later
    part, no fingerprint from a hole), without an error; a retransmitted first segment
    starts the hello again."""
    parts = segments(late_sni_hello(), 600, 1300)
    frames = [parts[i] for i in order]
    facts, errors = collect(frames)
    got = client_fingerprints(facts)
    assert not errors
    if order == (0, 0, 1, 2):
        assert got["sni"] == {LATE_SNI} and "ja4" in got
    else:
        assert not any(k in got for k in ("sni", "ja3", "ja4"))
    _, c = collect_apart(frames)
    assert c.discovery is not None and len(c.discovery.hellos.pending) <= 1


def test_tls_pending_hellos_are_bounded_by_count_and_age() -> None:
    hello = late_sni_hello()
    first, second = hello[:600], hello[600:]
    frames = [
        P.ethernet(
            MB, MA, P.ETH_IPV4, P.ipv4(A4, B4, P.PROTO_TCP, P.tcp(A4, B4, 1024 + i, 443, first, flags="PA", seq=7))
        )
        for i in range(tls.PENDING_MAX + 40)
    ]
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1_700_000_000.0] * len(frames)))
    assert c.discovery is not None and len(c.discovery.hellos.pending) == tls.PENDING_MAX
    # The newest flow completes; the oldest was let go.
    newest, oldest = 1024 + tls.PENDING_MAX + 39, 1024
    rest = [
        P.ethernet(
            MB, MA, P.ETH_IPV4, P.ipv4(A4, B4, P.PROTO_TCP, P.tcp(A4, B4, port, 443, second, flags="PA", seq=607))
        )
        for port in (oldest, newest)
    ]
    c.process(batch_from_frames(rest, ts=[1_700_000_001.0] * 2))
    assert ("tls", "sni", LATE_SNI) in about(c.harvest(final=True).facts, A4)
    assert len(c.discovery.hellos.pending) == tls.PENDING_MAX - 1
    # Too late: a second segment after PENDING_AGE seconds completes nothing.
    start = 1_700_000_000.0
    facts, c = collect_apart(segments(hello, 600), ts=[start, start + tls.PENDING_AGE + 1])
    assert not any(k in ("sni", "ja4") for k in client_fingerprints(facts))
    assert c.discovery is not None and not c.discovery.hellos.pending


def test_tls_reassembly_picks_only_the_segments_of_the_hello() -> None:
    """Other segments beside a pending hello, even of its own connection, stay on the
    fast path: only the one that continues the hello joins the selection."""
    hello = late_sni_hello()
    parts = segments(hello, 600)
    bulk = conversation(8080, [(True, bytes(1400)), (False, bytes(1400)), (False, bytes(1400))])
    reply = conversation(443, [(False, bytes(300))])  # the server's side of that connection
    c = Collector(Config())
    c.process(batch_from_frames([parts[0], *bulk, *reply, parts[1]]))
    assert c.stats_dict()["discovery"]["packets"] == 2
    assert ("tls", "sni", LATE_SNI) in about(c.harvest(final=True).facts, A4)


def test_ja3_of_split_hellos_against_tshark(tshark: str, tmp_path: Path) -> None:
    """tshark reassembles the segments too: its JA3 of each hello must be ours (and for
    Chrome 143, the published one)."""
    cases = {
        "chrome143": segments(browser_hello(CHROME143_EXTS, sni="tls.browserleaks.com"), 1448),
        "three": segments(late_sni_hello(), 600, 1300),
    }
    for name, frames in cases.items():
        path = tmp_path / f"{name}.pcap"
        with PcapWriter(str(path)) as w:
            for i, frame in enumerate(frames):
                w.write(1_700_000_000.0 + i, frame)
        cmd = [tshark, "-n", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields"]
        cmd += ["-e", "tls.handshake.ja3", "-e", "tls.handshake.extensions_server_name"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split()
        assert len(out) == 2, out
        got = client_fingerprints(collect(frames)[0])
        assert got["ja3"] == {out[0]}
        assert got["sni"] == {out[1]}
        if name == "chrome143":
            assert out[0] == CHROME143_JA3


def test_tls_server_flight_ja3s_and_certificate() -> None:
    facts, _ = collect([tcp4(443, 50000)(server_flight())])
    assert ("tls", "cert_subject", CERT_SUBJECT) in about(facts, A4)
    assert not about(facts, B4)


def test_tls_certificate_chain_longer_than_the_segment() -> None:
    """The subject of the first certificate is read from the part of the chain there is."""
    flight = server_flight()
    cut = flight[: flight.index(b"Example Corp") + 200]  # inside the key, after the subject
    facts, errors = collect([tcp4(443, 50000)(cut)])
    assert ("tls", "cert_subject", CERT_SUBJECT) in about(facts, A4)
    assert not errors.get("malformed-tls")
    facts, errors = collect([tcp4(443, 50000)(flight[: flight.index(b"Example Corp") - 20])])  # before the subject
    assert not any(k == "cert_subject" for _, k, _ in about(facts, A4))
    assert not errors.get("malformed-tls")


def test_tls_bad_extension_keeps_the_sni_and_is_counted() -> None:
    exts = client_hello_extensions()
    exts.insert(3, b"\x00\x2d\xff\xff")  # says 65535 bytes in a whole hello
    facts, errors = collect([tcp4(50000, 443)(client_hello(exts))])
    assert about(facts, A4) == {("tls", "sni", SNI_NAME)}
    assert errors.get("malformed-tls") == 1


def test_ssh_banners_by_port() -> None:
    """The side on port 22 is the server; elsewhere the side on the lower port."""
    facts, _ = collect(
        [
            tcp4(22, 50000)(SSH_SERVER_BANNER),
            tcp4(50000, 22, src=B4, dst=A4)(SSH_CLIENT_BANNER),
            tcp4(2222, 50001, src="10.1.1.30", dst=B4)(b"SSH-2.0-dropbear_2022.83\r\n"),
            tcp4(50002, 830, src=B4, dst="10.1.1.40")(b"SSH-1.99-Cisco-1.25\r\n"),
        ]
    )
    assert about(facts, A4) == {
        ("ssh", "server_banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
        ("ssh", "service", ("tcp", 22, "OpenSSH_9.2p1")),
        ("ssh", "service", ("tcp", 22, "ssh")),
    }
    assert ("ssh", "client_banner", SSH_CLIENT_BANNER.decode().strip()) in about(facts, B4)
    assert ("ssh", "service", ("tcp", 2222, "dropbear_2022.83")) in about(facts, "10.1.1.30")
    assert ("ssh", "client_banner", "SSH-1.99-Cisco-1.25") in about(facts, B4)


def test_ssh_1_99_banner_names_the_software() -> None:
    facts, _ = collect([tcp4(22, 50000)(b"SSH-1.99-OpenSSH_3.9p1\r\n")])
    assert ("ssh", "service", ("tcp", 22, "OpenSSH_3.9p1")) in about(facts, A4)


def test_ssh_kexinit_in_its_own_segment() -> None:
    """OpenSSH sends its KEXINIT after the peer's banner, in a segment of its own."""
    facts, _ = collect([tcp4(50000, 22)(SSH_CLIENT_BANNER), tcp4(50000, 22)(cyberduck_kexinit())])
    assert ("ssh", "hassh", CYBERDUCK_HASSH) in about(facts, A4)


def test_ssh_encrypted_segments_are_not_selected() -> None:
    """Only KEXINIT on port 22 joins the banners: the session's bulk stays on the fast path."""
    frames = [tcp4(22, 50000)(bytes(range(256)) * 4), tcp4(50000, 22)(ssh_packet(b"\x15"))]  # data, NEWKEYS
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    assert c.stats_dict()["discovery"]["packets"] == 0


def test_tcp_syn_distance_and_synack_signature() -> None:
    """A SYN+ACK gives its sender's signature; its open port comes from the flows
    (the report's `services`), not from a fact per port."""
    synack = syn_frame(
        P.tcp_options(mss=1460, sack_permitted=True, timestamps=(99, 2_953_741), wscale=7),
        src=B4,
        dst=A4,
        sport=443,
        dport=40000,
        ttl=64,
        window=65535,
        flags="SA",
        ack=0x1F2E3D4D,
        ident=0,
    )
    facts, _ = collect([syn_frame(LINUX_SYN_OPTIONS, ttl=52), synack])
    assert ("tcp", "syn", "4:64+12:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0") in about(facts, A4)
    assert about(facts, B4) == {("tcp", "synack", "4:64+0:0:1460:65535,7:mss,sok,ts,nop,ws:df:0")}


def test_tcp_one_syn_per_stack() -> None:
    """A host's many connections from one stack are fingerprinted once per window."""
    frames = [syn_frame(LINUX_SYN_OPTIONS, sport=40000 + i) for i in range(5)]
    facts, _ = collect(frames)
    assert facts[(ip_key(A4), mac_key(MA), "tcp", "syn", LINUX_SYN_SIG)].count == 1


def conversation(port: int, messages: list[tuple[bool, bytes]]) -> list[bytes]:
    """Segments between a client (A4) and a server (B4) on `port`, with sequence numbers
    that follow on, as tshark expects of a stream: (from the client?, payload) each."""
    seq = {True: 1000, False: 9000}
    frames = []
    for from_client, payload in messages:
        src, dst, sport, dport = (A4, B4, 50000, port) if from_client else (B4, A4, port, 50000)
        seg = P.tcp(src, dst, sport, dport, payload, flags="PA", seq=seq[from_client], ack=seq[not from_client])
        frames.append(P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg)))
        seq[from_client] += len(payload)
    return frames


def handshakes() -> list[bytes]:
    tls = conversation(443, [(True, client_hello()), (False, server_flight())])
    ssh = conversation(
        22,
        [(False, SSH_SERVER_BANNER), (True, SSH_CLIENT_BANNER), (False, server_kexinit()), (True, cyberduck_kexinit())],
    )
    return tls + ssh


def test_ja3_ja3s_and_hassh_against_tshark(tshark: str, tmp_path: Path) -> None:
    """tshark's own JA3, JA3S, HASSH and HASSHServer of the same packets (tshark 4.0
    has no JA4: JA4 is checked against the example of FoxIO's specification above)."""
    path = tmp_path / "handshakes.pcap"
    with PcapWriter(str(path)) as w:
        for i, frame in enumerate(handshakes()):
            w.write(1_700_000_000.0 + i, frame)
    names = ["tls.handshake.ja3", "tls.handshake.ja3s", "ssh.kex.hassh", "ssh.kex.hasshserver"]
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    cmd += [x for name in names for x in ("-e", name)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    oracle = {name: v for line in out.splitlines() for name, v in zip(names, line.split("\t"), strict=False) if v}
    assert len(oracle) == 4, out
    facts, _ = collect(handshakes())
    assert ("tls", "ja3", oracle["tls.handshake.ja3"]) in about(facts, A4)
    assert ("tls", "ja3s", oracle["tls.handshake.ja3s"]) in about(facts, B4)
    assert ("ssh", "hassh", oracle["ssh.kex.hassh"]) in about(facts, A4)
    assert ("ssh", "hassh_server", oracle["ssh.kex.hasshserver"]) in about(facts, B4)
    assert oracle["ssh.kex.hassh"] == CYBERDUCK_HASSH


P0F_FP = "/etc/p0f/p0f.fp"  # Debian's p0f package


def test_tcp_signatures_against_p0f(tmp_path: Path) -> None:
    """p0f's own raw_sig of the same SYNs. p0f writes the TTL as `seen+distance`; the
    dissector writes `initial+distance` (the form `fingerprints.p0f` matches on)."""
    p0f = shutil.which("p0f")
    if p0f is None or not Path(P0F_FP).is_file():
        pytest.skip("p0f is not installed (Debian: apt-get install p0f); it is the signature oracle here")
    frames = [syn_frame(LINUX_SYN_OPTIONS), syn_frame(WINDOWS_SYN_OPTIONS, src=B4, sport=50000, ttl=128)]
    path = tmp_path / "syn.pcap"
    with PcapWriter(str(path)) as w:
        for i, frame in enumerate(frames):
            w.write(1_700_000_000.0 + i, frame)
    out = subprocess.run(
        [p0f, "-r", str(path), "-f", P0F_FP], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    raw = [line.split("=", 1)[1].strip() for line in out.splitlines() if "raw_sig" in line]
    assert len(raw) == 2, out
    for p0f_sig, ours in zip(raw, (LINUX_SYN_SIG, WINDOWS_SYN_SIG), strict=True):
        seen, _, distance = p0f_sig.split(":")[1].partition("+")
        start, _, our_distance = ours.split(":")[1].partition("+")
        assert (int(seen) + int(distance), distance) == (int(start), our_distance)
        assert p0f_sig.split(":")[2:] == ours.split(":")[2:]
