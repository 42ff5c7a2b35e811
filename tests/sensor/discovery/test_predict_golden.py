"""Predictions and fingerprint tables stay what they were: a regression net for the fast paths.

`predict` keeps what each fact says per databases (`Databases.memo`) and the vendor
lists parse their usual lines on a fast path; neither may change a result. The fact
sets below cover every kind of fact `predict` reads. Their predictions are compared
with `predict_golden/rules.json` (no database: the rule tables alone, in full) and
`predict_golden/shared.json` (the `shared/fingerprints` databases: a digest per case,
so that no database content lands in the repository), both on a fresh `Databases`
and on one whose memo already holds every fact. The fast manuf and IEEE loaders are
compared with the plain line-by-line reading they replace, on the real lists and on
lines of every odd form.

After a deliberate change to the predictions, rewrite the expectations with
`NPS_REGOLD=1 .venv/bin/pytest tests/sensor/discovery/test_predict_golden.py` and review the diff.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.discovery.facts import Seen, Value
from nps_sensor.discovery.fingerprints import Corrupt, Databases, oui
from nps_sensor.discovery.fingerprints.oui import mac_int
from nps_sensor.discovery.predict import predict

REPO = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parent / "predict_golden"
REGOLD = os.environ.get("NPS_REGOLD") == "1"


WIN10_PRL = "1,3,6,15,31,33,43,44,46,47,119,121,249,252"
WIN_SYN = "4:128+1:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0"
WIN_SYNACK = "4:128+0:0:1460:65535,8:mss,nop,ws,nop,nop,sok:df,id+:0"
LINUX_SYN = "4:64+1:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"
LINUX_SYN_FUZZY = "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:id+:0"
MAC_SYN = "4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0"
ANDROID_UA = "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 Chrome/112.0 Mobile Safari/537.36"
WINDOWS_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
MAC_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/16.5 Safari/605.1.15"
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
IOS_SYSDESCR = (
    "Cisco IOS Software, C3560 Software (C3560-IPBASE-M), Version 12.2(25)SEB4, RELEASE SOFTWARE (fc1)\n"
    "Copyright (c) 1986-2005 by Cisco Systems, Inc."
)

F = tuple[str, str, Value]
MANY_UAS: list[F] = [("http", "user_agent", f"{WINDOWS_UA} build/{i}") for i in range(12)]

# name -> (facts, MAC or None, router)
CASES: dict[str, tuple[list[F], int | None, bool | int]] = {
    "nothing": ([], None, False),
    "windows-dhcp-tcp-vmware": (
        [
            ("dhcp", "vendor_class", "MSFT 5.0"),
            ("dhcp", "prl", WIN10_PRL),
            ("dhcp", "hostname", "DESKTOP-1"),
            ("tcp", "syn", WIN_SYN),
            ("http", "user_agent", WINDOWS_UA),
            ("http", "host", "example.com"),
        ],
        mac_int("00:0c:29:11:22:33"),
        False,
    ),
    "windows-server-ntlm-ports": (
        [
            ("ntlm", "os_version", "10.0.17763"),
            ("smb", "native_os", "Windows Server 2019 Standard 17763"),
            ("netbios", "role", "domain controller"),
            ("netbios", "os_version", "10.0"),
            ("tcp", "synack", WIN_SYNACK),
            ("tcp", "service", ("tcp", 88, "kerberos")),
            ("tcp", "service", ("tcp", 389, "ldap")),
            ("tcp", "service", ("tcp", 3389, "rdp")),
            ("udp", "service", ("udp", 53, "dns")),
        ],
        mac_int("00:15:5d:01:02:03"),
        False,
    ),
    "windows7-smb1": (
        [
            ("smb", "native_os", "Windows 7 Professional 7601 Service Pack 1"),
            ("smb", "native_lanman", "Windows 7 Professional 6.1"),
            ("ntlm", "os_version", "6.1.7601"),
        ],
        None,
        False,
    ),
    "samba-and-lanman": (
        [
            ("smb", "native_os", "Unix"),
            ("smb", "native_lanman", "Samba 4.9.5-Debian"),
            ("ntlm", "os_version", "6.1.0"),
            ("netbios", "os_version", "4.9"),
            ("netbios", "role", "unix"),
        ],
        None,
        False,
    ),
    "macos-smb-ua-mdns": (
        [
            ("smb", "native_os", "Mac OS X 10.15"),
            ("http", "user_agent", MAC_UA),
            ("mdns", "model", "MacBookPro16,1"),
            ("mdns", "hinfo", ("X86_64", "MACOSX")),
            ("tcp", "syn", MAC_SYN),
            ("tcp", "service", ("tcp", 548, "afp")),
        ],
        mac_int("3c:22:fb:00:00:01"),
        False,
    ),
    "iphone": (
        [
            ("http", "user_agent", IPHONE_UA),
            ("mdns", "model", "iPhone14,2"),
            ("tcp", "service", ("tcp", 62078, "lockdown")),
            ("dhcp", "prl", "1,121,3,6,15,119,252,95,44,46"),
        ],
        mac_int("da:a1:19:00:00:01"),
        False,
    ),
    "android-phone": (
        [
            ("dhcp", "vendor_class", "android-dhcp-13"),
            ("dhcp", "prl", "1,3,6,15,26,28,51,58,59,43,114,108"),
            ("http", "user_agent", ANDROID_UA),
            ("tcp", "syn", LINUX_SYN),
        ],
        mac_int("8c:f5:a3:00:00:01"),
        False,
    ),
    "many-user-agents": (
        [*MANY_UAS, ("http", "user_agent", "curl/8.0.1"), ("http", "user_agent", "python-requests/2.31")],
        None,
        False,
    ),
    "linux-server-ssh-http": (
        [
            ("ssh", "server_banner", "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5"),
            ("ssh", "client_banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2"),
            ("http", "server", "Apache/2.4.41 (Ubuntu)"),
            ("tcp", "synack", LINUX_SYN),
            ("tcp", "syn", LINUX_SYN_FUZZY),
            ("tcp", "service", ("tcp", 22, "ssh")),
            ("tcp", "service", ("tcp", 80, "http")),
        ],
        mac_int("b8:27:eb:00:00:01"),
        False,
    ),
    "disagreeing-windows-linux": (
        [("ntlm", "os_version", "10.0.19045"), ("tcp", "syn", LINUX_SYN), ("http", "user_agent", LINUX_UA)],
        None,
        False,
    ),
    "unknown-banners-and-servers": (
        [
            ("ssh", "server_banner", "SSH-2.0-dropbear_2020.81"),
            ("ssh", "server_banner", "SSH-2.0-OpenSSH_7.4"),
            ("http", "server", "nginx/1.18.0"),
            ("http", "server", "Microsoft-IIS/10.0"),
            ("http", "server", "RomPager/4.07 UPnP/1.0"),
            ("tcp", "syn", "garbage"),
            ("tcp", "syn", "6:64+0:0:1440:mss*10,0:mss,sok,ts,nop,ws::0"),
        ],
        None,
        False,
    ),
    "cisco-switch-cdp-lldp": (
        [
            ("cdp", "platform", "cisco WS-C3560-24PS"),
            ("cdp", "software_version", IOS_SYSDESCR),
            ("cdp", "capabilities", "switch,igmp"),
            ("lldp", "system_description", IOS_SYSDESCR),
            ("lldp", "capabilities", "bridge,router"),
            ("lldp", "capabilities_enabled", "bridge"),
            ("lldp", "hostname", "sw1.example"),
        ],
        mac_int("00:18:ba:98:68:8f"),
        False,
    ),
    "cisco-router-cdp": (
        [
            ("cdp", "platform", "Cisco 2811"),
            ("cdp", "capabilities", "router"),
            ("cdp", "software_version", "Cisco Internetwork Operating System Software IOS (tm) 2800 Version 12.4"),
        ],
        mac_int("00:e0:1e:d5:d5:15"),
        False,
    ),
    "juniper-snmp-lldp": (
        [
            ("lldp", "system_description", "Juniper Networks, Inc. ex2200-24t-4g , version 12.3R6.6 JUNOS 12.3R6.6"),
            ("snmp", "sys_object_id", "1.3.6.1.4.1.2636.1.1.1.2.43"),
            ("snmp", "sys_descr", "Juniper Networks, Inc. ex2200-24t-4g Ethernet Switch, kernel JUNOS 12.3R6.6"),
            ("ndp", "role", "router"),
        ],
        mac_int("00:26:88:00:00:01"),
        False,
    ),
    "routers-by-identity": ([("ndp", "role", "router")], mac_int("00:00:0c:07:ac:01"), 17),
    "router-many-ips": ([], mac_int("c4:ad:34:00:00:01"), True),
    "mikrotik-and-friends": (
        [
            ("ssh", "server_banner", "SSH-2.0-ROSSSH"),
            ("dhcp", "vendor_class", "MikroTik"),
            ("snmp", "engine_enterprise", "14988"),
            ("ssdp", "server", "RouterOS/6.48 UPnP/1.0 MiniUPnPd/2.1"),
        ],
        mac_int("4c:5e:0c:00:00:01"),
        False,
    ),
    "printer": (
        [
            ("snmp", "sys_descr", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI23900034"),
            ("dhcp", "vendor_class", "Hewlett-Packard JetDirect"),
            ("mdns", "service", "HP LaserJet._ipp._tcp.local"),
            ("mdns", "srv", ("_pdl-datastream._tcp", 9100, "printer.local")),
            ("mdns", "manufacturer", "HP"),
            ("tcp", "service", ("tcp", 9100, "jetdirect")),
            ("tcp", "service", ("tcp", 631, "ipp")),
        ],
        mac_int("3c:d9:2b:00:00:01"),
        False,
    ),
    "media-and-iot": (
        [
            ("mdns", "model", "Chromecast Ultra"),
            ("mdns", "service", "Living Room._googlecast._tcp.local"),
            ("ssdp", "server", "Linux/3.14 UPnP/1.0 Sonos/70.3-35220 (ZPS12)"),
            ("ssdp", "user_agent", "Roku/DVP-9.10 (519.10E04111A)"),
            ("http", "user_agent", "Roku/DVP-9.10 (519.10E04111A)"),
            ("mdns", "hinfo", ("ARM", "LINUX")),
        ],
        None,
        False,
    ),
    "ntp-time-server": (
        [
            ("ntp", "stratum", "1"),
            ("ntp", "system", "Linux/5.10.0"),
            ("ntp", "mode", "server"),
            ("udp", "service", ("udp", 123, "ntp")),
        ],
        None,
        False,
    ),
    "dhcpv6-windows": (
        [("dhcpv6", "vendor_class", "311:MSFT 5.0"), ("dhcpv6", "vendor_class", "dhcpcd-9.4.1:Linux-5.15.0:x86_64")],
        None,
        False,
    ),
    "siemens-plc": (
        [
            ("s7comm", "module", "6ES7 315-2EH14-0AB0"),
            ("s7comm", "system_name", "SIMATIC 300(1)"),
            ("s7comm", "module_type", "CPU 315-2 PN/DP"),
            ("s7comm", "vendor", "Siemens AG"),
            ("tcp", "service", ("tcp", 102, "s7comm")),
        ],
        mac_int("00:1b:1b:00:00:01"),
        False,
    ),
    "rockwell-enip": (
        [
            ("enip", "vendor", "Rockwell Automation/Allen-Bradley"),
            ("enip", "product_name", "1756-ENBT/A"),
            ("enip", "product_code", "58"),
            ("enip", "device_type", "Communications Adapter"),
            ("udp", "service", ("udp", 44818, "enip")),
        ],
        mac_int("00:00:bc:00:00:01"),
        False,
    ),
    "rockwell-plc-enip": (
        [
            ("enip", "vendor", "Rockwell Automation/Allen-Bradley"),
            ("enip", "product_name", "1769-L33ER/A LOGIX5333ER"),
            ("enip", "device_type", "Programmable Logic Controller"),
        ],
        None,
        False,
    ),
    "same-product-other-vendor": (
        [("enip", "vendor", "Schneider Electric"), ("enip", "product_name", "1756-ENBT/A")],
        None,
        False,
    ),
    "modbus-and-bacnet": (
        [
            ("modbus", "vendor", "Schneider Electric"),
            ("modbus", "product_code", "BMX P34 2020"),
            ("modbus", "model", "M340"),
            ("bacnet", "vendor", "Honeywell"),
            ("bacnet", "model", "Spyder"),
            ("bacnet", "device_instance", "1234"),
        ],
        None,
        False,
    ),
    "dnp3": ([("dnp3", "role", "outstation"), ("dnp3", "role", "master")], None, False),
    "lldp-med-phone": (
        [
            ("lldp", "manufacturer", "Polycom "),
            ("lldp", "model", "VVX 410"),
            ("lldp", "capabilities_enabled", "bridge,telephone"),
            ("dhcp", "vendor_class", "Polycom-VVX410"),
            ("udp", "service", ("udp", 5060, "sip")),
        ],
        mac_int("64:16:7f:00:00:01"),
        False,
    ),
    "esxi": (
        [
            ("tcp", "service", ("tcp", 902, "vmware-auth")),
            ("snmp", "sys_descr", "VMware ESXi 7.0.3 build-19193900 VMware, Inc. x86_64"),
            ("snmp", "trap_enterprise", "1.3.6.1.4.1.6876.4.1"),
        ],
        mac_int("00:50:56:00:00:01"),
        False,
    ),
    "synology-qnap": (
        [
            ("snmp", "sys_descr", "Linux DiskStation 4.4.59+ #25426 SMP PREEMPT x86_64"),
            ("smb", "native_os", "QTS"),
            ("ssh", "server_banner", "SSH-2.0-OpenSSH_7.4"),
        ],
        mac_int("00:11:32:00:00:01"),
        False,
    ),
    "odd-values": (
        [
            ("tcp", "service", ("tcp", "x", "odd")),
            ("tcp", "service", ("tcp", 1)),
            ("mdns", "hinfo", ("only-one",)),
            ("mdns", "srv", ("_ipp._tcp", 631)),
            ("mdns", "service", "no-service-here"),
            ("lldp", "capabilities", "other"),
            ("dhcp", "vendor_class", ""),
            ("http", "user_agent", ""),
            ("ssdp", "server", "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0"),
            ("snmp", "sys_object_id", "not an oid"),
        ],
        0,
        False,
    ),
    "group-and-local-macs": ([("dhcp", "vendor_class", "udhcp 1.30.1")], mac_int("01:00:5e:00:00:01"), False),
    "local-mac": ([("dhcp", "vendor_class", "dhcpcd-9.4.1:Linux-6.1.0:x86_64:Raspberry Pi")], 0x02AB_CDEF_0001, False),
    "unknown-vendor-mac": ([("mdns", "model", "Unknown Gadget 3000")], mac_int("fc:ff:ff:00:00:01"), False),
    "ieee-36-bit-blocks": ([], mac_int("70:b3:d5:f2:f1:23"), False),
    "ieee-28-bit-blocks": ([], mac_int("74:1a:e0:91:00:01"), False),
    "iab-block": ([], mac_int("00:50:c2:7d:50:01"), False),
}


def _facts(items: list[F]) -> dict[tuple[str, str, Value], Seen]:
    return {item: Seen(1.0, 2.0) for item in items}


def _predict_all(db: Databases) -> dict[str, Any]:
    return {name: predict(_facts(items), mac, router=router, db=db) for name, (items, mac, router) in CASES.items()}


def _digest(pred: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(pred, sort_keys=True).encode()).hexdigest()


def _compare(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
    assert sorted(got) == sorted(want), f"{what}: the cases differ from the expectations (NPS_REGOLD=1 to rewrite)"
    for name in CASES:
        assert got[name] == want[name], f"{what}: case {name} predicts {json.dumps(got[name], indent=1)}"


def test_rules_alone_predict_as_before(tmp_path: Path) -> None:
    db = Databases(tmp_path, system=False)
    first = json.loads(json.dumps(_predict_all(db)))
    if REGOLD:
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "rules.json").write_text(json.dumps(first, indent=1, sort_keys=True) + "\n")
    want = json.loads((GOLDEN / "rules.json").read_text())
    _compare(first, want, "no database, first time")
    _compare(json.loads(json.dumps(_predict_all(db))), want, "no database, remembered")


def test_shared_databases_predict_as_before(shared_fingerprints: Path) -> None:
    db = Databases(shared_fingerprints, system=False)
    first = {name: _digest(p) for name, p in _predict_all(db).items()}
    if REGOLD:
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "shared.json").write_text(json.dumps(first, indent=1, sort_keys=True) + "\n")
    want = json.loads((GOLDEN / "shared.json").read_text())
    again = _predict_all(db)
    for name, pred in again.items():
        assert first.get(name) == want.get(name), f"case {name} predicts {json.dumps(pred, indent=1)}"
        assert _digest(pred) == want[name], f"case {name}, remembered, predicts {json.dumps(pred, indent=1)}"


def test_memo_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nps_sensor.discovery import fingerprints

    monkeypatch.setattr(fingerprints, "MEMO_LIMIT", 5)
    db = Databases(tmp_path, system=False)
    for i in range(40):
        predict(_facts([("http", "user_agent", f"{WINDOWS_UA} {i}"), ("ndp", "role", "router")]), db=db)
        assert len(db.memo) <= 5
    bounded = predict(_facts(CASES["windows7-smb1"][0]), db=db)
    assert bounded == predict(_facts(CASES["windows7-smb1"][0]), db=Databases(tmp_path, system=False))


# --- the vendor lists: fast paths against the plain reading ------------------------


# Restated on purpose, not imported: Manuf and the whole reading share oui's line parser, so only this copy checks it.
def _plain_manuf(path: Path) -> dict[int, dict[int, str]]:
    """manuf read line by line, every line the general way (what the fast path must equal)."""
    table: dict[int, dict[int, str]] = {b: {} for b in oui.BITS}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line or line[0] in "#\n":
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            prefix, _, mask = parts[0].strip().partition("/")
            digits = prefix.replace(":", "").replace("-", "").replace(".", "")
            try:
                value = int(digits, 16)
                bits = int(mask) if mask else len(digits) * 4
            except ValueError:
                continue
            if bits not in table or len(digits) * 4 < bits:
                continue
            name = (parts[2] if len(parts) > 2 else parts[1]).strip()
            if name:
                table[bits][value >> (len(digits) * 4 - bits)] = name
    return table


# Restated on purpose, not oui.parse_ieee: the independent reading the cached, packed table must equal.
def _plain_ieee(path: Path) -> dict[int, dict[int, str]]:
    table: dict[int, dict[int, str]] = {b: {} for b in oui.BITS}
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            if len(row) < 3:
                continue
            assignment = row[1].strip()
            if len(assignment) * 4 not in table:
                continue
            try:
                prefix = int(assignment, 16)
            except ValueError:
                continue
            name = row[2].strip().rstrip(",;").strip()
            if name and name.lower() != "private":
                table[len(assignment) * 4][prefix] = name
    return table


ODD_MANUF = (
    "# Wireshark manuf, with every odd form a line can take\n"
    "\n"
    "00:00:01\tXerox\tXerox Corporation\n"
    "00:00:02\tXerox\n"
    "00:00:03\tShort\t\n"
    "00:00:04\tShort\tFull Name\tcomment\n"
    "00:00:01\tXerox2\tLater Line Wins\n"
    "aa:bb:cc\tlower\tLower Case Hex\n"
    "00-00-05\tDashes\tWith Dashes\n"
    "0000.06\tDots\tWith Dots\n"
    " 00:00:07\tLead\tLeading Space\n"
    "00:00:08 \tTrail\tTrailing Space\n"
    "0G:00:09\tBad\tNot Hex\n"
    "00:00:0A\n"
    "00:0 :0B\tSpace\tInner Space\n"
    "70:B3:D5:F2:F0:00/36\tTelepl\tTeleplatforms\n"
    "70:B3:D5:F2:F0:00/28\tTwenty8\tTwenty Eight\n"
    "70:B3:D5:00:00:00/24\tTwenty4\tMasked Twenty Four\n"
    "00:00:0C:00:00:00/40\tForty\tNot A Length We Keep\n"
    "01:00:0C:CC:CC:CC\tCDP/VTP/DTP/PAgP/UDLD\n"
    "01:80:C2:00:00:30/45\tOAM-Multicast-DA-Class-1\n"
    "70:B3:D5:F2:F1:00/ 36\tSpaced\tSpaced Mask\n"
    "70:B3:D5:F2:F2:00/3x\tBadMask\tBad Mask\n"
    "70:B3:D5:F2:F3:0G/36\tBadHex\tBad Hex\n"
    "0A:0B:0C\tCR\tCarriage Return\r\n"
    "0A:0B:0D\tCR2\tOld Mac Line\r"
    "0A:0B:0E\tLast\tNo Newline At The End"
)


# In manuf's own form (sorted, the two usual line forms), with what can still vary.
INDEXABLE_MANUF = (
    "# comment\n"
    "\n"
    "00:00:01\tXerox\tXerox Corporation\n"
    "00:00:01\tXerox2\tLater Line Wins\n"
    "00:00:02\tXerox\n"
    "00:00:03\tShort\t\n"
    "00:00:04\tShort\tFull Name\tcomment\n"
    "# a comment between blocks\n"
    "00:0a:05\tlower\tLower Case Hex\n"
    "00:0B:05\tUpper\tUpper Case Hex\n"
    "00:0b:05:10:00:00/28\tTwenty8\tTwenty Eight Inside\n"
    "00:0B:05:10:00:00/36\tThirty6\tThirty Six Inside\n"
    "00:0B:05:10:00:00/36\tThirty6b\tThirty Six Again\n"
    "00:0B:05:20:00:00/24\tTwenty4\tMasked Twenty Four\n"
    "00:0B:05:30:00:00/40\tForty\tNot A Length We Keep\n"
    "00:0B:05:40:00:00/2a\tHexMask\tNot A Number\n"
    "00:0B:05:50:00:00/36\tEmpty\t \n"
    "70:B3:D5:F2:F0:00/36\tTelepl\tTeleplatforms\n"
    "\n"
    "FC:FF:FF\tLast\tNo Newline At The End"
)


def _whole(v: oui.Vendors) -> dict[int, dict[int, str]]:
    return v.table().by_bits if isinstance(v, oui.Manuf) else v.by_bits  # type: ignore[attr-defined]


def _same_lookups(v: oui.Vendors, plain: dict[int, dict[int, str]]) -> None:
    """Every prefix the plain reading knows, and its neighbours, look up the same."""
    for bits, table in plain.items():
        for prefix, name in table.items():
            assert v.name(bits, prefix) == name, (bits, hex(prefix))
            for near in (prefix - 1, prefix + 1):
                assert v.name(bits, near) == table.get(near), (bits, hex(near))
    assert v.name(24, 0x123456) == plain[24].get(0x123456)


@pytest.mark.parametrize("text", [ODD_MANUF, INDEXABLE_MANUF, INDEXABLE_MANUF.replace("\n", "\r\n")])
def test_manuf_reads_as_the_plain_way(tmp_path: Path, text: str) -> None:
    path = tmp_path / "manuf"
    path.write_bytes(text.encode())
    got, plain = oui.load_manuf(path), _plain_manuf(path)
    assert isinstance(got, oui.Manuf) == (text != ODD_MANUF)
    assert _whole(got) == plain
    _same_lookups(oui.load_manuf(path), plain)


def test_unsorted_or_empty_manuf(tmp_path: Path) -> None:
    path = tmp_path / "manuf"
    path.write_text("00:00:02\tB\tSecond\n00:00:01\tA\tFirst\n")
    got = oui.load_manuf(path)
    assert not isinstance(got, oui.Manuf) and _whole(got) == _plain_manuf(path)
    path.write_text("# only\n00:00:01\t\t\n00:00:02:00:00:00/2a\tX\tY\n")
    with pytest.raises(Corrupt):
        oui.load_manuf(path)


@pytest.mark.parametrize("where", ["shared", "debian"])
def test_real_manuf_reads_as_the_plain_way(where: str, fingerprints_root: Path) -> None:
    path = fingerprints_root / "wireshark" / "manuf" if where == "shared" else Path("/usr/share/wireshark/manuf")
    if not path.is_file():
        pytest.skip(f"{path} not found")
    got, plain = oui.load_manuf(path), _plain_manuf(path)
    assert isinstance(got, oui.Manuf)
    _same_lookups(got, plain)
    assert _whole(got) == plain


ODD_IEEE = (
    "Registry,Assignment,Organization Name,Organization Address\n"
    'MA-L,000C29,"VMware, Inc.",3401 Hillview Avenue Palo Alto CA US 94304\n'
    "MA-L, 000C2A ,Spaced Assignment,\n"
    "MA-L,000C2B,Private,\n"
    "MA-L,000C2C,PRIVATE,\n"
    "MA-L,00ZZ2C,Private,\n"
    "MA-L,000C2D,\tTabbed Ltd\t,\n"
    'MA-L,000C2E,"Ends In Comma,",\n'
    "MA-L,000C2F,,\n"
    "MA-L,000C2G0,Seven But Not Hex,\n"
    "MA-L,000C29,Later Row Wins,\n"
    "MA-L,000C30,Earlier Row Stays,\n"
    "MA-L,000C30,Private,\n"
    "MA-M,70B3D5E,Twenty Eight Bits Ltd,\n"
    'MA-S,70B3D5F2F,Thirty Six,"Street 1\nTown"\n'
    "short,row\n"
    "\n"
)


@pytest.mark.parametrize("bad", ["", "MA-L,00ZZ2F,Not Hex,\n"])
def test_ieee_lists_read_as_the_plain_way(tmp_path: Path, bad: str, fingerprints_root: Path) -> None:
    path = tmp_path / "oui.csv"
    path.write_text(ODD_IEEE + bad + "MA-L,000C31,After,\n")
    assert oui.load_ieee(path).by_bits == _plain_ieee(path)
    for name in ("ieee-oui.csv", "ieee-mam.csv", "ieee-oui36.csv", "ieee-iab.csv"):
        real = fingerprints_root / "oui" / name
        if real.is_file():
            assert oui.load_ieee(real).by_bits == _plain_ieee(real)


def test_equal_values_of_other_types_are_other_facts(tmp_path: Path) -> None:
    """("tcp", 1) == ("tcp", True): the memo must not give one device's fact the evidence of another's."""
    db = Databases(tmp_path, system=False)
    devices: list[list[F]] = [
        [("tcp", "service", ("tcp", 1, "x")), ("mdns", "hinfo", ("arm", 1))],
        [("tcp", "service", ("tcp", True, "x")), ("mdns", "hinfo", ("arm", True))],
        [("tcp", "service", ("tcp", 1, "x")), ("mdns", "hinfo", ("arm", 1))],
    ]
    for items in devices:
        assert predict(_facts(items), db=db) == predict(_facts(items), db=Databases(tmp_path, system=False))
    assert len([k for k in db.memo if k[0] == ("tcp", "service", ("tcp", 1, "x"))]) == 2
