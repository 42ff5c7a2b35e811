"""The discovery dissectors on the shared captures, with tshark as the oracle.

For each protocol, the fields tshark decodes from the capture (LLDP system names and
descriptions, CDP device IDs and platforms, SMB native OS strings, NTLMSSP names and
versions, SNMP system group values, NTP modes, SSDP servers, DHCPv6 names and DUID
addresses, NDP link-layer addresses, S7comm, EtherNet/IP, BACnet and DNP3 identities)
must be facts about the device that sent them: the sender's IP, or its MAC for the
link-layer protocols. The captures are read in-process by a `Collector`, the engine's
per-packet half, whose harvest holds the facts.

Skips with the reason when the shared captures (../shared/pcaps or $NPS_PCAPS) or
tshark are missing.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.capture import open_capture
from nps_sensor.config import Config, address_int
from nps_sensor.discovery.dissectors.enip import DEVICE_TYPES
from nps_sensor.discovery.facts import NO_IP, Key, Seen
from nps_sensor.pipeline import Collector

Fact = tuple[str, str, str]  # source, key, value (text values only)
Where = tuple[str, str]  # ("ip", address) or ("mac", address)

LLDP = ["lldp/lldp-mudurl.pcap", "lldp/lldp-smc-switch.pcap", "lldp/wireshark-lldp.pcap", "cdp/lldp-and-cdp-c3560.pcap"]
CDP = ["cdp/cdp-v1-router.pcap", "cdp/lldp-and-cdp-c3560.pcap"]
SMB = ["smb/smb-windows10-ntlm.pcap", "smb/smb1-osx-qnap.pcap", "smb/smbv1-win7.pcap"]
NTP = ["ntp/ntp-apple.pcap", "ntp/ntp-client-server.pcap"]
SSDP = ["ssdp/ssdp-msearch-chrome-ua.pcap", "ssdp/ssdp-notify-miniupnpd.pcap"]
DHCPV6 = ["dhcpv6/dhcpv6-mud-raspberrypi.pcap", "dhcpv6/wireshark-dhcpv6.pcap"]
NDP = ["ipv6/icmp6-nd-options-slaac.pcap", "ipv6/icmpv6-ra-mld.pcap", "ipv6/v6-http-ndp-mdns.pcap", DHCPV6[1]]
SNMP = ["snmp/snmpv1-get.pcap", "snmp/snmpv1-trap.pcap"]


def _facts(path: Path) -> dict[Where, set[Fact]]:
    c = Collector(Config())
    for batch in open_capture(str(path)).batches(4096):
        c.process(batch)
    facts: dict[Key, Seen] = c.harvest(final=True).facts
    out: dict[Where, set[Fact]] = {}
    for ip, mac, source, key, value in facts:
        if not isinstance(value, str):
            continue
        where: Where = ("ip", _ip_text(ip)) if ip != NO_IP else ("mac", _mac_text(mac))
        out.setdefault(where, set()).add((source, key, value))
    return out


def _ip_text(key: int) -> str:
    if key >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(key & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(key))


def _mac_text(mac: int) -> str:
    return ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def _ip(text: str) -> str:
    return _ip_text(address_int(ipaddress.ip_address(text)))


_cache: dict[Path, dict[Where, set[Fact]]] = {}


def facts_of(path: Path) -> dict[Where, set[Fact]]:
    if path not in _cache:
        _cache[path] = _facts(path)
    return _cache[path]


def fields(tshark: str, path: Path, display: str, *names: str) -> Iterator[list[list[str]]]:
    """Per packet matching `display`: every occurrence of each field, in order."""
    cmd = [tshark, "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    for name in names:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        yield [[v for v in col.split("\x1f") if v] for col in cols + [""] * (len(names) - len(cols))]


def words(s: str) -> str:
    """Whitespace collapsed (tshark shows a multi-line string's newlines as `\\n`)."""
    return " ".join(s.replace("\\r", " ").replace("\\n", " ").split())


def check(path: Path, expected: list[tuple[Where, Fact]]) -> None:
    """Every expected fact is a fact about its device; and there is something to check."""
    assert expected, f"{path.name}: tshark found nothing to compare"
    got = facts_of(path)
    missing = [(where, fact) for where, fact in expected if fact not in got.get(where, set())]
    assert not missing, f"{path.name}: facts tshark shows but discovery lacks: {missing[:10]}"


def _capture(pcaps_dir: Path, rel: str) -> Path:
    path = pcaps_dir / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in the shared captures at {pcaps_dir}")
    return path


@pytest.mark.parametrize("rel", LLDP)
def test_lldp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, name, desc in fields(tshark, path, "lldp", "eth.src", "lldp.tlv.system.name", "lldp.tlv.system.desc"):
        where = ("mac", src[0])
        expected += [(where, ("lldp", "hostname", n)) for n in name]
        got_desc = {v for s, k, v in facts_of(path).get(where, set()) if k == "system_description"}
        for d in desc:
            assert words(d) in {words(v) for v in got_desc}, f"{rel}: LLDP description {d!r} not in {got_desc}"
    check(path, expected)


@pytest.mark.parametrize("rel", CDP)
def test_cdp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, device, platform, version in fields(
        tshark, path, "cdp", "eth.src", "cdp.deviceid", "cdp.platform", "cdp.software_version"
    ):
        where = ("mac", src[0])
        expected += [(where, ("cdp", "hostname", d)) for d in device]
        expected += [(where, ("cdp", "platform", p)) for p in platform]
        got = {v for s, k, v in facts_of(path).get(where, set()) if k == "software_version"}
        if version:
            assert any(v.startswith(words(version[0])) for v in got), f"{rel}: CDP version {version[0]!r} not in {got}"
    check(path, expected)


@pytest.mark.parametrize("rel", SMB)
def test_smb_and_ntlmssp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, os_, lanman in fields(tshark, path, "smb.native_os", "ip.src", "smb.native_os", "smb.native_lanman"):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("smb", "native_os", v)) for v in os_]
        expected += [(where, ("smb", "native_lanman", v)) for v in lanman]
    for src, target, nb, dns, major, minor, build in fields(
        tshark,
        path,
        "ntlmssp.messagetype == 2",
        "ip.src",
        "ntlmssp.challenge.target_name",
        "ntlmssp.challenge.target_info.nb_computer_name",
        "ntlmssp.challenge.target_info.dns_computer_name",
        "ntlmssp.version.major",
        "ntlmssp.version.minor",
        "ntlmssp.version.build_number",
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("ntlm", "target_name", v)) for v in target]
        expected += [(where, ("smb", "hostname", v)) for v in nb + dns]
        if major and major[0] != "0":
            expected.append((where, ("ntlm", "os_version", f"{major[0]}.{minor[0]}.{build[0]}")))
    for src, host, domain in fields(
        tshark, path, "ntlmssp.messagetype == 3", "ip.src", "ntlmssp.auth.hostname", "ntlmssp.auth.domain"
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("ntlm", "workstation", v)) for v in host if v != "NULL"]
        expected += [(where, ("smb", "hostname", v)) for v in host if v != "NULL"]
        expected += [(where, ("ntlm", "domain", v)) for v in domain if v != "NULL"]
    check(path, expected)


def _varbinds(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "snmp.name" in node:
            yield node
        for value in node.values():
            yield from _varbinds(value)
    elif isinstance(node, list):
        for value in node:
            yield from _varbinds(value)


SNMP_KEYS = {"1.3.6.1.2.1.1.1.0": "sys_descr", "1.3.6.1.2.1.1.5.0": "hostname", "1.3.6.1.2.1.1.6.0": "sys_location"}


@pytest.mark.parametrize("rel", SNMP)
def test_snmp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    cmd = [tshark, "-n", "-r", str(path), "-Y", "snmp.data == 2 || snmp.data == 4", "-T", "json"]
    packets = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout or "[]")
    expected: list[tuple[Where, Fact]] = []
    communities = set()
    for packet in packets:
        layers = packet["_source"]["layers"]
        where = ("ip", _ip(layers["ip"]["ip.src"]))
        snmp = layers["snmp"]
        communities.add(snmp.get("snmp.community", ""))
        if "snmp.enterprise" in json.dumps(snmp):
            enterprise = next(v for k, v in _items(snmp) if k == "snmp.enterprise")
            expected.append((where, ("snmp", "trap_enterprise", enterprise)))
        for bind in _varbinds(snmp):
            key = SNMP_KEYS.get(bind["snmp.name"])
            if key and "snmp.value.octets" in bind:
                value = bytes.fromhex(bind["snmp.value.octets"].replace(":", "")).decode("utf-8", "replace")
                expected.append((where, ("snmp", key, value)))
            elif bind["snmp.name"] == "1.3.6.1.2.1.1.2.0" and "snmp.value.oid" in bind:
                expected.append((where, ("snmp", "sys_object_id", bind["snmp.value.oid"])))
    check(path, expected)
    seen = {v for facts in facts_of(path).values() for _, _, v in facts}
    assert not {c for c in communities if c} & seen, "an SNMP community string was recorded"


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _items(v)


NTP_MODES = {"1": "symmetric-active", "2": "symmetric-passive", "3": "client", "4": "server", "5": "broadcast"}


@pytest.mark.parametrize("rel", NTP)
def test_ntp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, sport, vn, mode, stratum in fields(
        tshark, path, "ntp", "ip.src", "udp.srcport", "ntp.flags.vn", "ntp.flags.mode", "ntp.stratum"
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("ntp", "version", vn[0])), (where, ("ntp", "mode", NTP_MODES[mode[0]]))]
        if mode[0] == "4" and sport[0] == "123" and 1 <= int(stratum[0]) <= 15:
            expected.append((where, ("ntp", "stratum", stratum[0])))
    check(path, expected)


@pytest.mark.parametrize("rel", SSDP)
def test_ssdp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, server, agent, location in fields(
        tshark, path, "ssdp", "ip.src", "http.server", "http.user_agent", "http.location"
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("ssdp", "server", v)) for v in server]
        expected += [(where, ("ssdp", "user_agent", v)) for v in agent]
        expected += [(where, ("ssdp", "location", v)) for v in location]
    check(path, expected)


@pytest.mark.parametrize("rel", DHCPV6)
def test_dhcpv6_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    client_types = {"1", "3", "4", "5", "6", "8", "9", "11"}
    for src, kinds, peer, name, ll, vendor in fields(
        tshark,
        path,
        "dhcpv6",
        "ipv6.src",
        "dhcpv6.msgtype",
        "dhcpv6.peeraddr",
        "dhcpv6.client_domain",
        "dhcpv6.duidllt.link_layer_addr",
        "dhcpv6.vendorclass.data",
    ):
        if not set(kinds) & client_types:
            continue
        where = ("ip", _ip(peer[-1] if peer else src[0]))
        expected += [(where, ("dhcpv6", "hostname", v.rstrip("."))) for v in name]
        expected += [(where, ("dhcpv6", "mac", ll[0]))] if ll else []
        got = {v for s, k, v in facts_of(path).get(where, set()) if k == "vendor_class"}
        for v in vendor:
            assert any(g.endswith(":" + v) for g in got), f"{rel}: vendor class {v!r} not in {got}"
    check(path, expected)


@pytest.mark.parametrize("rel", NDP)
def test_ndp_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, eth, kind, source_ll, target_ll, na_target, ns_target in fields(
        tshark,
        path,
        "icmpv6.type >= 133 && icmpv6.type <= 136",
        "ipv6.src",
        "eth.src",
        "icmpv6.type",
        "icmpv6.opt.src_linkaddr",
        "icmpv6.opt.target_linkaddr",
        "icmpv6.nd.na.target_address",
        "icmpv6.nd.ns.target_address",
    ):
        sender = ("ip", _ip(src[0]))
        if src[0] != "::":
            expected += [(sender, ("ndp", "mac", v)) for v in source_ll]
        elif ns_target:  # duplicate address detection
            expected.append((("ip", _ip(ns_target[0])), ("ndp", "mac", eth[0])))
        if na_target:
            expected += [(("ip", _ip(na_target[0])), ("ndp", "mac", v)) for v in target_ll]
        if kind[0] == "134":
            expected.append((sender, ("ndp", "role", "router")))
    check(path, expected)


def test_s7comm_against_tshark(pcaps_dir: Path, tshark: str) -> None:
    path = _capture(pcaps_dir, "ics/s7comm-szl-ident.pcap")
    expected: list[tuple[Where, Fact]] = []
    for src, mlfb, index, plc, module, serial in fields(
        tshark,
        path,
        "s7comm",
        "ip.src",
        "s7comm.szl.xy11.0001.anz",
        "s7comm.szl.xy11.0001.index",
        "s7comm.szl.001c.0001.name",
        "s7comm.szl.001c.0002.name",
        "s7comm.szl.001c.0005.serialn",
    ):
        where = ("ip", _ip(src[0]))
        for i, order in zip(index, mlfb, strict=False):
            if i in ("0x0001", "1") and order.strip():
                expected.append((where, ("s7comm", "order_number", order.strip())))
        expected += [(where, ("s7comm", "system_name", v)) for v in plc]
        expected += [(where, ("s7comm", "module", v)) for v in module]
        expected += [(where, ("s7comm", "serial", v)) for v in serial]
    check(path, expected)


def test_enip_against_tshark(pcaps_dir: Path, tshark: str) -> None:
    path = _capture(pcaps_dir, "ics/enip-cip-example.pcap")
    expected: list[tuple[Where, Fact]] = []
    for src, vendor, dtype, product, serial, name in fields(
        tshark,
        path,
        "enip.lir.name",
        "ip.src",
        "enip.lir.vendor",
        "enip.lir.devtype",
        "enip.lir.prodcode",
        "enip.lir.serial",
        "enip.lir.name",
    ):
        where = ("ip", _ip(src[0]))
        kind = int(dtype[0], 0)
        expected += [
            (where, ("enip", "vendor_id", str(int(vendor[0], 0)))),
            (where, ("enip", "device_type", DEVICE_TYPES.get(kind, str(kind)))),
            (where, ("enip", "product_code", str(int(product[0], 0)))),
            (where, ("enip", "serial", f"0x{int(serial[0], 0):08x}")),
            (where, ("enip", "product_name", name[0])),
        ]
    check(path, expected)


def test_bacnet_against_tshark(pcaps_dir: Path, tshark: str) -> None:
    path = _capture(pcaps_dir, "ics/bacnet-stack-services.pcap")
    expected: list[tuple[Where, Fact]] = []
    for src, instance, vendor in fields(
        tshark,
        path,
        "ip && bacapp.unconfirmed_service == 0",
        "ip.src",
        "bacapp.instance_number",
        "bacapp.vendor_identifier",
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("bacnet", "device_instance", instance[0]))]
        expected += [(where, ("bacnet", "vendor_id", vendor[0]))] if vendor else []
    check(path, expected)


def test_dnp3_against_tshark(pcaps_dir: Path, tshark: str) -> None:
    path = _capture(pcaps_dir, "ics/dnp3-udp-read.pcap")
    expected: list[tuple[Where, Fact]] = []
    for src, address, direction in fields(tshark, path, "dnp3", "ip.src", "dnp3.src", "dnp3.ctl.dir"):
        where = ("ip", _ip(src[0]))
        role = "master" if direction[0] in ("1", "True") else "outstation"
        expected += [(where, ("dnp3", "address", address[0])), (where, ("dnp3", "role", role))]
    check(path, expected)


TLS = ["tls/tls12-chrome34-google.pcap", "tls/tls12-safari-ntop.pcap", "tls/tls13-curl-dns.pcap"]
TLS += ["tls/tls13-ipv6-google.pcap", "mixed/many-protocols-large.pcap", "vxlan/vxlan-vlan-tls-dns.pcap"]
SSH = ["ssh/ssh-banner-windows.pcap", "ssh/ssh-single-conn.pcap"]


@pytest.mark.parametrize("rel", TLS)
def test_tls_fingerprints_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    """JA3 and SNI of each client, JA3S of each server (tshark 4.0 has no JA4)."""
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, src6, ja3, ja3s, sni in fields(
        tshark,
        path,
        "tls.handshake.type == 1 || tls.handshake.type == 2",
        "ip.src",
        "ipv6.src",
        "tls.handshake.ja3",
        "tls.handshake.ja3s",
        "tls.handshake.extensions_server_name",
    ):
        where = ("ip", _ip((src or src6)[-1]))  # the inner address of a tunnelled packet
        expected += [(where, ("tls", "ja3", v)) for v in ja3]
        expected += [(where, ("tls", "ja3s", v)) for v in ja3s]
        expected += [(where, ("tls", "sni", v.lower().rstrip("."))) for v in sni]
    check(path, expected)


@pytest.mark.parametrize("rel", SSH)
def test_ssh_hassh_against_tshark(pcaps_dir: Path, tshark: str, rel: str) -> None:
    """HASSH from a KEXINIT in its own segment, as OpenSSH sends it, and both banners."""
    path = _capture(pcaps_dir, rel)
    expected: list[tuple[Where, Fact]] = []
    for src, hassh, server in fields(
        tshark, path, "ssh.message_code == 20", "ip.src", "ssh.kex.hassh", "ssh.kex.hasshserver"
    ):
        where = ("ip", _ip(src[0]))
        expected += [(where, ("ssh", "hassh", v)) for v in hassh]
        expected += [(where, ("ssh", "hassh_server", v)) for v in server]
    for src, port, banner in fields(tshark, path, "ssh.protocol", "ip.src", "tcp.srcport", "ssh.protocol"):
        key = "server_banner" if port[0] == "22" else "client_banner"
        expected += [(("ip", _ip(src[0])), ("ssh", key, v)) for v in banner]
    check(path, expected)
