"""No control character travels from a packet into a report: every name source is cleaned.

Each case is a packet whose name (or other text) holds a NUL, an escape sequence
(`\\x1b[2J` clears a terminal) and, where the protocol carries raw bytes, invalid
UTF-8. The facts it gives must hold the printable rest, and a `removed` fact about
the same device names what went. The last tests run such packets through the whole
engine to a report: nothing in it, at any depth, holds a character Python would not
print.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.analyze import analyze
from nps_sensor.config import Config
from nps_sensor.discovery.facts import Key, Seen
from nps_sensor.discovery.printable import clean, decode
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from tests.sensor.discovery.dissectors.frames import A4, B4, cdp_frame, collect, lldp_frame, tcp4, udp4, udp6
from tests.sensor.discovery.dissectors.test_cdp import cdp_tlv
from tests.sensor.discovery.dissectors.test_dhcp import bootp, dhcp_option
from tests.sensor.discovery.dissectors.test_dhcpv6 import dhcp6_option
from tests.sensor.discovery.dissectors.test_lldp import LLDP_HEAD, lldp_tlv
from tests.sensor.discovery.dissectors.test_nbdgm import browser_announcement
from tests.sensor.discovery.dissectors.test_nbns import nbns_registration
from tests.sensor.discovery.dissectors.test_smb import nbss, smb1_header, utf16z
from tests.sensor.discovery.dissectors.test_snmp import ber, ber_int, ber_oid
from tests.sensor.discovery.dissectors.test_tls import client_hello, client_hello_extensions, tls_ext

EVIL = "ev\x00il\x1b[2J"  # the name of issue 14: NUL, then "clear the screen"
EVIL_BYTES = EVIL.encode()
ESCAPED = "ev\x1b[2Jil"  # for NUL-terminated strings (SMB, browser), which a NUL ends
POISON = (b"\xff\xfe", "invalid UTF-8")  # bytes no UTF-8 decoder reads


# --- the cleaning itself -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept", "removed"),
    [
        ("plain-name", "plain-name", ()),
        ("Lucas’s iPhone", "Lucas’s iPhone", ()),  # UTF-8 is text, not an attack
        (EVIL, "evil", ("NUL", "escape sequence")),
        ("a\x1b[1;31mred\x1b[0m", "ared", ("escape sequence",)),
        ("x\x1b]0;owned\x07y", "xy", ("escape sequence",)),  # OSC: sets a terminal's title
        ("x\x1b]8;;http://a\x1b\\link", "xlink", ("escape sequence",)),  # OSC ended by ST
        ("\x9b2Jname", "name", ("escape sequence",)),  # C1 CSI
        ("\x1bcreset", "reset", ("escape sequence",)),  # RIS: ESC and its final byte
        ("tab\there", "tab here", ("control",)),
        ("bell\x07\x7f", "bell", ("control",)),
        ("c1\x8dx", "c1x", ("C1",)),
        ("next\x85line", "next line", ("C1",)),
        (decode(b"ab\xffcd"), "abcd", ("invalid UTF-8",)),
        ("ab\ufffdcd", "abcd", ("invalid UTF-8",)),
        ("evil\u202etxt.exe", "eviltxt.exe", ("unprintable",)),  # right-to-left override
        ("no\u00a0break", "no break", ()),
        ("\x00\x1b[2J", "", ("NUL", "escape sequence")),
        ("Summit300-48\x00", "Summit300-48", ()),  # a C string's terminator: no mark
        ("Summit\x00300\x00\x00", "Summit300", ("NUL",)),
    ],
)
def test_clean(raw: str, kept: str, removed: tuple[str, ...]) -> None:
    assert clean(raw) == (kept, removed)


def test_decode_keeps_invalid_bytes_for_the_cleaning_to_name() -> None:
    assert clean(decode(b"ok\xc3")) == ("ok", ("invalid UTF-8",))
    assert decode(b"caf\xc3\xa9") == "café"
    assert len(decode(b"x" * 1000, 64)) == 64


# --- each name source --------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    frames: Callable[[], list[bytes]]
    fact: tuple[str, str]  # (source, key) of the cleaned fact
    kept: str  # its printable value (or a part of a tuple value)
    removed: tuple[str, ...] = ("NUL", "escape sequence")


def _dns() -> list[bytes]:
    name = f"{EVIL}.corp.example"
    return [udp4(53, 40000, src=B4, dst=A4)(P.dns_response(7, name, P.DNS_A, [P.RR(name, P.DNS_A, "10.1.1.99")]))]


def _llmnr() -> list[bytes]:
    return [udp4(5355, 40001)(P.dns_message(0x4242, 0x8000, [(EVIL, P.DNS_A)], [P.RR(EVIL, P.DNS_A, A4, 30)]))]


def _mdns_host() -> list[bytes]:
    return [udp4(5353, 5353, dst="224.0.0.251")(P.mdns_announcement(EVIL, A4))]


def _mdns_txt() -> list[bytes]:
    txt = ("txtvers=1", f"md={EVIL}")
    return [udp4(5353, 5353, dst="224.0.0.251")(P.mdns_announcement("cam", A4, txt=txt))]


def _nbns() -> list[bytes]:
    return [udp4(137, 137, dst="10.1.1.255")(nbns_registration("EV\x00IL\x1b[2J", 0x00, A4))]


def _browser() -> list[bytes]:
    return [udp4(138, 138, dst="10.1.1.255")(browser_announcement(1, "WS-0042", f"desk {ESCAPED}", 0x1003, (10, 0)))]


def _dhcp(code: int, value: bytes) -> Callable[[], list[bytes]]:
    def frames() -> list[bytes]:
        return [udp4(68, 67, src="0.0.0.0", dst="255.255.255.255")(bootp(P.DHCP_DISCOVER, dhcp_option(code, value)))]

    return frames


def _dhcpv6() -> list[bytes]:
    fqdn = b"\x01" + bytes([len(EVIL_BYTES)]) + EVIL_BYTES + b"\x04corp\x00"
    message = b"\x01\x12\x34\x56" + dhcp6_option(39, fqdn)
    return [udp6("fe80::a", "ff02::1:2", 546, 547)(message)]


def _smb() -> list[bytes]:
    head = smb1_header(0x73, True) + bytes([3]) + b"\xff\x00\x00\x00\x00\x00"
    data = b"\x00" + utf16z(f"Windows {ESCAPED}") + utf16z("Windows 5.2") + utf16z("CORP")
    return [tcp4(445, 50000)(nbss(head + struct.pack("<H", len(data)) + data))]


def _ssdp() -> list[bytes]:
    notify = (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nSERVER: Linux/3.14 UPnP/1.0 " + EVIL_BYTES + b"\r\n"
        b"NT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n"
    )
    return [udp4(1900, 1900, dst="239.255.255.250")(notify)]


def _http_agent() -> list[bytes]:
    request = b"GET / HTTP/1.1\r\nHost: intranet\r\nUser-Agent: Mozilla/5.0 " + EVIL_BYTES + POISON[0] + b"\r\n\r\n"
    return [tcp4(50001, 80)(request)]


def _http_server() -> list[bytes]:
    return [tcp4(80, 50002)(b"HTTP/1.1 200 OK\r\nServer: httpd " + EVIL_BYTES + b"\r\n\r\n")]


def _tls() -> list[bytes]:
    host = f"{EVIL}.example".encode()
    exts = [e for e in client_hello_extensions() if e[:2] != b"\x00\x00"]
    exts.insert(1, tls_ext(0, struct.pack(">HBH", len(host) + 3, 0, len(host)) + host))
    return [tcp4(50003, 443)(client_hello(exts))]


def _lldp() -> list[bytes]:
    payload = LLDP_HEAD + lldp_tlv(6, b"Switch OS " + EVIL_BYTES) + lldp_tlv(0, b"")
    return [lldp_frame(payload)]


def _cdp() -> list[bytes]:
    return [cdp_frame(b"\x02\xb4\x00\x00" + cdp_tlv(1, EVIL_BYTES) + cdp_tlv(6, b"cisco WS-C2960"))]


def _snmp() -> list[bytes]:
    binds = ber(0x30, ber(0x30, ber_oid("1.3.6.1.2.1.1.5.0") + ber(0x04, EVIL_BYTES)))
    pdu = ber(0xA2, ber_int(77) + ber_int(0) + ber_int(0) + binds)
    return [udp4(161, 40002)(ber(0x30, ber_int(1) + ber(0x04, b"public") + pdu))]


SOURCES = [
    Source("dns", _dns, ("dns", "name"), "evil.corp.example"),
    Source("llmnr", _llmnr, ("llmnr", "hostname"), "evil"),
    Source("mdns-hostname", _mdns_host, ("mdns", "hostname"), "evil"),
    Source("mdns-txt", _mdns_txt, ("mdns", "model"), "evil"),
    Source("nbns", _nbns, ("nbns", "hostname"), "EVIL"),
    Source("netbios-browser", _browser, ("netbios", "comment"), "desk evil", ("escape sequence",)),
    Source("dhcp-12", _dhcp(12, EVIL_BYTES), ("dhcp", "hostname"), "evil"),
    Source("dhcp-81", _dhcp(81, b"\x00\x00\x00" + EVIL_BYTES + b".corp"), ("dhcp", "fqdn"), "evil.corp"),
    Source("dhcp-81-wire", _dhcp(81, b"\x04\x00\x00\x08ev\x00il\x1b[2J\x00"), ("dhcp", "fqdn"), "evil"),
    Source("dhcp-60", _dhcp(60, b"vendor" + POISON[0]), ("dhcp", "vendor_class"), "vendor", (POISON[1],)),
    Source("dhcpv6", _dhcpv6, ("dhcpv6", "fqdn"), "evil.corp"),
    Source("smb", _smb, ("smb", "native_os"), "Windows evil", ("escape sequence",)),
    Source("ssdp", _ssdp, ("ssdp", "server"), "Linux/3.14 UPnP/1.0 evil"),
    Source(
        "http-user-agent",
        _http_agent,
        ("http", "user_agent"),
        "Mozilla/5.0 evil",
        ("NUL", "escape sequence", POISON[1]),
    ),
    Source("http-server", _http_server, ("http", "server"), "httpd evil"),
    Source("tls-sni", _tls, ("tls", "sni"), "evil.example"),
    Source("lldp", _lldp, ("lldp", "system_description"), "Switch OS evil"),
    Source("cdp", _cdp, ("cdp", "hostname"), "evil"),
    Source("snmp", _snmp, ("snmp", "hostname"), "evil"),
]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)


def _unprintable(facts: dict[Key, Seen]) -> list[tuple[str, str, Any]]:
    return [(s, k, v) for _, _, s, k, v in facts if any(not x.isprintable() for x in _strings(v))]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_every_name_source_is_cleaned_and_says_so(source: Source) -> None:
    facts, _ = collect(source.frames())
    assert not _unprintable(facts), _unprintable(facts)
    values = [(ip, mac, v) for ip, mac, s, k, v in facts if (s, k) == source.fact]
    assert values, f"no {source.fact} fact in {sorted((s, k) for _, _, s, k, _ in facts)}"
    assert any(source.kept == v or (isinstance(v, tuple) and source.kept in v) for _, _, v in values), values
    removed = {(ip, mac, v) for ip, mac, s, k, v in facts if s == source.fact[0] and k == "removed"}
    assert any(v == (source.fact[1], *source.removed) for _, _, v in removed), removed
    # The mark is about the same device as the value it explains.
    devices = {(ip, mac) for ip, mac, _ in values}
    assert any((ip, mac) in devices for ip, mac, v in removed if v[0] == source.fact[1])


def test_a_name_of_nothing_printable_leaves_only_the_mark() -> None:
    facts, _ = collect(_dhcp(12, b"\x00\x1b[2J")())
    assert not [v for _, _, s, k, v in facts if (s, k) == ("dhcp", "hostname")]
    assert [v for _, _, s, k, v in facts if (s, k) == ("dhcp", "removed")] == [("hostname", "NUL", "escape sequence")]


def _no_unprintable(result: Any, where: str = "report") -> None:
    if isinstance(result, str):
        assert result.isprintable(), f"{where}: {result!r}"
    elif isinstance(result, list):
        for i, v in enumerate(result):
            _no_unprintable(v, f"{where}[{i}]")
    elif isinstance(result, dict):
        for k, v in result.items():
            _no_unprintable(k, where)
            _no_unprintable(v, f"{where}.{k}")


def test_report_of_poisoned_names_holds_only_printable_text(tmp_path: Path) -> None:
    """Every source above through the whole engine (`nps-sensor analyze`): the report
    names the devices with the printable rest, and its evidence says what was removed."""
    capture = tmp_path / "poison.pcap"
    with PcapWriter(str(capture)) as w:
        for i, frame in enumerate(f for s in SOURCES for f in s.frames()):
            w.write(1_700_000_000.0 + i, frame)
    result = analyze([str(capture)], Config()).result
    _no_unprintable(result)
    names = {h["name"] for a in result["assets"] for h in a.get("hostnames", [])}
    assert {"evil", "EVIL"} <= names, names
    marks = [e for a in result["assets"] for e in a.get("evidence", []) if e["key"] == "removed"]
    assert {"source": "llmnr", "key": "removed", "value": ["hostname", "NUL", "escape sequence"], "count": 1} in marks
    assert {m["source"] for m in marks} >= {"dhcp", "llmnr", "mdns", "nbns", "http", "tls"}
