"""Fingerprint databases and matchers: p0f.fp, IEEE OUI lists and manuf, FingerBank, Satori, the rule tables.

The databases are not in the repository (GPL, LGPL, ODbL): tests that need the real
ones read `$NPS_FINGERPRINTS`, else `<repo>/../shared/fingerprints`, and skip with the
reason when it is absent. The others write small databases of their own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nps_sensor.discovery.fingerprints import Databases, fingerbank, oui, p0f, rules, satori

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shared(shared_fingerprints: Path) -> Databases:
    return Databases(shared_fingerprints, system=False)


# --- p0f ------------------------------------------------------------------------

P0F_FP = """\
; a small p0f.fp
classes = win,unix,other

[mtu]
label = Ethernet or modem
sig   = 1500

[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0
label = g:unix:Linux:2.2.x-3.x
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0
label = s:win:Windows:7 or 8
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
label = s:unix:Solaris:10
sig   = 4:64-:0:*:%8192,*:nop,ws:df:0

[tcp:response]
label = s:unix:Linux:3.x
sig   = *:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df:0

[http:request]
label = s:!:Firefox:2.x
sig   = *:Host,User-Agent:Accept-Charset:Firefox/
"""


@pytest.fixture
def p0f_db(tmp_path: Path) -> p0f.Database:
    path = tmp_path / "p0f.fp"
    path.write_text(P0F_FP)
    return p0f.load(path)


def test_p0f_exact_specific_signature(p0f_db: p0f.Database) -> None:
    m = p0f_db.match("4:64+3:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0")
    assert m is not None
    assert str(m.label) == "s:unix:Linux:3.11 and newer"
    assert (m.fuzzy, m.distance) == (False, 3)


def test_p0f_generic_signature_when_no_specific_one(p0f_db: p0f.Database) -> None:
    m = p0f_db.match("4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0")
    assert m is not None and m.label.generic and m.label.flavor == "2.2.x-3.x" and not m.fuzzy


def test_p0f_quirk_and_ttl_fuzziness(p0f_db: p0f.Database) -> None:
    # id+ missing: p0f allows a fuzzy match
    m = p0f_db.match("4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df:0")
    assert m is not None and m.fuzzy and m.label.name == "Linux"
    # an extra quirk p0f does not forgive: no match
    assert p0f_db.match("4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,uptr+:0") is None
    # TTL above the signature's initial TTL: fuzzy
    m = p0f_db.match("4:128+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0")
    assert m is not None and m.fuzzy


def test_p0f_window_forms_and_bad_ttl(p0f_db: p0f.Database) -> None:
    m = p0f_db.match("4:128+10:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0")
    assert m is not None and str(m.label) == "s:win:Windows:7 or 8"
    assert p0f_db.match("4:128+0:0:1460:8193,8:mss,nop,ws,nop,nop,sok:df,id+:0") is None
    m = p0f_db.match("4:64+0:0:*:16384,0:nop,ws:df:0")  # %8192 and a 64- TTL
    assert m is not None and m.label.name == "Solaris" and not m.fuzzy
    assert p0f_db.match("4:64+0:0:*:16385,0:nop,ws:df:0") is None


def test_p0f_synack_uses_the_response_section(p0f_db: p0f.Database) -> None:
    sig = "4:64+0:0:1460:mss*10,7:mss,sok,ts,nop,ws:df:0"
    request = p0f_db.match(sig, synack=False)
    assert request is not None and request.fuzzy and request.label.flavor == "2.2.x-3.x"
    m = p0f_db.match(sig, synack=True)
    assert m is not None and m.label.flavor == "3.x" and not m.fuzzy


def test_p0f_unparseable_observation_is_no_match(p0f_db: p0f.Database) -> None:
    assert p0f_db.match("not a signature") is None
    assert p0f_db.match("4:x:0:1460:mss*20,7:mss:df:0") is None


def test_corrupt_p0f_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "p0f.fp").write_bytes(b"\x00\xff garbage\n[tcp:request]\nlabel = nonsense\nsig = 1:2\n")
    db = Databases(tmp_path, system=False)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert db.get("p0f", p0f.load, p0f.EMPTY) is p0f.EMPTY
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(tmp_path / "p0f.fp") in warnings[0].getMessage()


def test_p0f_with_some_bad_lines_keeps_the_good_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "p0f.fp"
    path.write_text(
        P0F_FP.replace("sig   = 1500", "sig   = 1500\n") + "[tcp:request]\nlabel = s:unix:X:1\nsig = 1:2:3\n"
    )
    with caplog.at_level(logging.WARNING):
        db = p0f.load(path)
    assert len(db) == 6
    assert len(caplog.records) == 1 and "1 lines not understood" in caplog.records[0].getMessage()


def test_real_p0f_windows_and_linux(shared: Databases) -> None:
    db = shared.get("p0f", p0f.load, p0f.EMPTY)
    assert len(db) > 100
    m = db.match("4:128+1:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0")
    assert m is not None and str(m.label) == "s:win:Windows:7 or 8"
    # Windows 10's usual SYN (64240 = 44 x 1460, scale 8): p0f 3 calls it an NT kernel
    m = db.match("4:128+2:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0")
    assert m is not None and m.label.cls == "win" and m.label.generic
    m = db.match("4:64+1:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0")
    assert m is not None and str(m.label) == "s:unix:Linux:3.11 and newer"


# --- OUI and manuf ------------------------------------------------------------


def test_ieee_and_manuf_prefix_lengths(tmp_path: Path) -> None:
    (tmp_path / "oui.csv").write_text(
        "Registry,Assignment,Organization Name,Organization Address\n"
        'MA-L,000C29,"VMware, Inc.",3401 Hillview Avenue Palo Alto CA US 94304\n'
        "MA-L,70B3D5,IEEE Registration Authority,\n"
        'MA-L,001B1B,"Siemens AG,",Karlsruhe DE\n'
        "MA-L,ACDE48,Private,\n"
    )
    (tmp_path / "mam.csv").write_text(
        "Registry,Assignment,Organization Name,Organization Address\nMA-M,70B3D5E,Twenty Eight Bits Ltd,\n"
    )
    (tmp_path / "manuf").write_text(
        "# comment\n70:B3:D5:F2:F0:00/36\tTelepl\tTeleplatforms\n00:00:0C\tCisco\tCisco Systems, Inc\n"
        "01:00:0C:CC:CC:CC\tCDP/VTP/DTP/PAgP/UDLD\n"
    )
    db = Databases(tmp_path, system=False)
    tables = [db.get(n, oui.load_ieee, oui.EMPTY) for n in ("oui36", "mam", "oui")]
    manuf = db.get("manuf", oui.load_manuf, oui.EMPTY)

    def look(text: str) -> str | None:
        return oui.lookup([*tables, manuf], oui.mac_int(text))

    assert look("00:0c:29:aa:bb:cc") == "VMware, Inc."
    assert look("00:1b:1b:00:00:01") == "Siemens AG"
    assert look("70:b3:d5:e1:23:45") == "Twenty Eight Bits Ltd"
    assert look("70:b3:d5:f2:f1:23") == "Teleplatforms"  # the /36 of manuf beats the 24-bit registry block
    assert look("70:b3:d5:00:00:01") == "IEEE Registration Authority"
    assert look("00:00:0c:01:02:03") == "Cisco Systems, Inc"
    assert look("ac:de:48:00:11:22") is None  # "Private"
    assert look("02:0c:29:aa:bb:cc") is None  # locally administered
    assert look("01:00:0c:cc:cc:cc") is None  # group address
    assert oui.is_local(oui.mac_int("da:a1:19:00:00:01"))


def test_missing_oui_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Databases(tmp_path, system=False)
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert db.get("oui", oui.load_ieee, oui.EMPTY) is oui.EMPTY
            assert db.get("mam", oui.load_ieee, oui.EMPTY) is oui.EMPTY
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"fingerprint database {tmp_path / 'oui.csv'} not found: predictions go on without it"]


def test_corrupt_oui_csv_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "oui.csv").write_bytes(b"PK\x03\x04 this is a zip file\xff\xfe")
    db = Databases(tmp_path, system=False)
    with caplog.at_level(logging.WARNING):
        assert db.get("oui", oui.load_ieee, oui.EMPTY) is oui.EMPTY
    assert len(caplog.records) == 1 and "oui.csv" in caplog.records[0].getMessage()


def test_data_dir_layouts(tmp_path: Path) -> None:
    """The image's flat names, the shared tree's folders, and extra/ for the optional ones."""
    (tmp_path / "oui").mkdir()
    (tmp_path / "oui" / "ieee-oui.csv").write_text("x")
    (tmp_path / "extra" / "satori").mkdir(parents=True)
    (tmp_path / "extra" / "satori" / "dhcp.xml").write_text("x")
    (tmp_path / "extra" / "fingerbank").mkdir()
    (tmp_path / "extra" / "fingerbank" / "dhcp_fingerprints.conf").write_text("x")
    (tmp_path / "p0f.fp").write_text("x")
    db = Databases(tmp_path, system=False)
    assert db.path("oui") == tmp_path / "oui" / "ieee-oui.csv"
    assert db.path("satori-dhcp") == tmp_path / "extra" / "satori" / "dhcp.xml"
    assert db.path("fingerbank") == tmp_path / "extra" / "fingerbank" / "dhcp_fingerprints.conf"
    assert db.path("p0f") == tmp_path / "p0f.fp"
    assert db.path("manuf") is None


def test_real_oui_vmware_and_manuf(shared: Databases) -> None:
    tables = [shared.get(n, oui.load_ieee, oui.EMPTY) for n in ("oui36", "iab", "mam", "oui")]
    assert oui.lookup(tables, oui.mac_int("00:0c:29:12:34:56")) == "VMware, Inc."
    assert oui.lookup(tables, oui.mac_int("b8:27:eb:00:00:01")) == "Raspberry Pi Foundation"
    manuf = shared.get("manuf", oui.load_manuf, oui.EMPTY)
    assert isinstance(manuf, oui.Manuf)  # indexed, parsed a block at a time
    whole = manuf.table()
    assert len(whole.by_bits[28]) > 1000 and len(whole.by_bits[36]) > 1000
    assert oui.lookup([manuf], oui.mac_int("00:55:da:10:00:01")) == "KoolPOS Inc."


# --- DHCP: FingerBank and Satori --------------------------------------------------

FINGERBANK = """\
[class 1]
description=Windows
members=100-199

[class 8]
description=Printers
members=800-899

[os 107]
description=Microsoft Windows Vista/7 or Server 2008 (Version 6.0)
vendor_id=<<EOT
MSFT 5.0
EOT
fingerprints=<<EOT
1,15,3,6,44,46,47,31,33,121,249,43
EOT

[os 801]
description=HP Printer
fingerprints=<<EOT
1,3,44,6,81,7,12,15,18,23,26,69,78,79,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100
EOT
"""


def test_fingerbank_format(tmp_path: Path) -> None:
    path = tmp_path / "dhcp_fingerprints.conf"
    path.write_text(FINGERBANK)
    db = fingerbank.load(path)
    (win,) = db.by_prl["1,15,3,6,44,46,47,31,33,121,249,43"]
    assert win.os is not None and win.os.family == "Windows" and win.os.name == "Windows Vista/7 or Server 2008"
    (printer,) = next(v for k, v in db.by_prl.items() if k.startswith("1,3,44"))
    assert printer.device is not None and printer.device.type == "printer"
    assert db.by_vendor["MSFT 5.0"] == [win]


def test_real_fingerbank_and_satori_windows_dhcp(shared: Databases) -> None:
    fb = shared.get("fingerbank", fingerbank.load, fingerbank.EMPTY)
    claims = fb.by_prl["1,15,3,6,44,46,47,31,33,121,249,43"]
    assert claims and all(c.os is not None and c.os.family == "Windows" for c in claims)
    idx = shared.get("satori-dhcp", lambda p: satori.load(p, "dhcp_tests"), satori.EMPTY)
    best = satori.best(idx.match("dhcpoption55", "1,3,6,15,31,33,43,44,46,47,119,121,249,252"))
    assert best is not None and best.os is not None
    assert best.os.family == "Windows" and best.os.name == "Windows 10"
    msft = satori.best(idx.match("dhcpvendorcode", "MSFT 5.0"))
    assert msft is not None and msft.os is not None and msft.os.family == "Windows"


def test_corrupt_satori_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "satori").mkdir()
    (tmp_path / "satori" / "ssh.xml").write_text("<SSH><fingerprints><fingerprint name='x'>")
    db = Databases(tmp_path, system=False)
    with caplog.at_level(logging.WARNING):
        assert db.get("satori-ssh", lambda p: satori.load(p, "ssh_tests"), satori.EMPTY) is satori.EMPTY
    assert len(caplog.records) == 1 and "ssh.xml" in caplog.records[0].getMessage()


# --- Rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "family", "name", "version", "kind"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "Windows",
            "Windows 10/11",
            "10.0",
            "workstation",
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
            "Windows",
            "Windows 7 / Server 2008 R2",
            "6.1",
            "workstation",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15",
            "macOS",
            "macOS",
            "10.15.7",
            "workstation",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "iOS",
            "iOS",
            "17.1.2",
            "phone",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 Version/16.6 Mobile/15E148",
            "iPadOS",
            "iPadOS",
            "16.6",
            "tablet",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 Chrome/112.0 Mobile Safari/537.36",
            "Android",
            "Android",
            "13",
            "phone",
        ),
        ("Dalvik/2.1.0 (Linux; U; Android 11; Pixel 4a Build/RQ3A.211001.001)", "Android", "Android", "11", "tablet"),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "ChromeOS",
            "ChromeOS",
            "14541.0.0",
            "workstation",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
            "Linux",
            "Ubuntu",
            None,
            "workstation",  # a desktop's browser (X11)
        ),
        ("Debian APT-HTTP/1.3 (2.6.1)", "Linux", "Debian family", None, None),
        ("Microsoft-CryptoAPI/10.0", "Windows", "Windows", None, None),
        (
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 SamsungBrowser/2.2 TV Safari/538.1",
            "Linux",
            "Tizen",
            "6.0",
            "TV",
        ),
    ],
)
def test_user_agents(ua: str, family: str, name: str, version: str | None, kind: str | None) -> None:
    c = rules.user_agent(ua)
    assert c is not None and c.os is not None
    assert (c.os.family, c.os.name, c.os.version) == (family, name, version)
    assert (c.device.type if c.device else None) == kind


def test_android_model_and_vendor() -> None:
    c = rules.user_agent("Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 Mobile Safari/537.36")
    assert c is not None and c.device is not None
    assert (c.device.vendor, c.device.model) == ("Samsung", "SM-S901B")


@pytest.mark.parametrize(
    "ua", ["curl/8.4.0", "Wget/1.21.3", "python-requests/2.31.0", "Go-http-client/1.1", "okhttp/4.9.2", "Java/17.0.2"]
)
def test_tools_are_not_os_evidence(ua: str) -> None:
    assert rules.user_agent(ua) is None


@pytest.mark.parametrize(
    ("banner", "family", "name", "version", "kind"),
    [
        ("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", "Linux", "Ubuntu", "22.04", None),
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2", "Linux", "Debian", "12", None),
        ("SSH-2.0-OpenSSH_7.9p1 Raspbian-10+deb10u2", "Linux", "Raspberry Pi OS", None, None),
        ("SSH-2.0-OpenSSH_7.8 FreeBSD-20180909", "FreeBSD", "FreeBSD", None, None),
        ("SSH-2.0-OpenSSH_for_Windows_8.1", "Windows", "Windows", None, None),
        ("SSH-2.0-dropbear_2019.78", "Linux", "embedded Linux", None, None),
        ("SSH-2.0-ROSSSH", "RouterOS", "RouterOS", None, "router"),
        ("SSH-1.99-Cisco-1.25", "Cisco IOS", "Cisco IOS", None, "network device"),
    ],
)
def test_ssh_banners(banner: str, family: str, name: str, version: str | None, kind: str | None) -> None:
    c = rules.ssh_banner(banner)
    assert c is not None and c.os is not None
    assert (c.os.family, c.os.name, c.os.version) == (family, name, version)
    assert (c.device.type if c.device else None) == kind


def test_plain_openssh_says_nothing() -> None:
    assert rules.ssh_banner("SSH-2.0-OpenSSH_9.6") is None


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("10.0.19045", "Windows 10", "10.0.19045 (22H2)"),
        ("10.0 (build 22631)", "Windows 11", "10.0.22631 (23H2)"),
        ("10.0.22635", "Windows 11", "10.0.22635"),
        ("10.0.20348", "Windows Server 2022", "10.0.20348 (21H2)"),
        ("10.0.17763", "Windows 10 / Server 2019", "10.0.17763 (1809)"),
        ("6.1.7601", "Windows 7 / Server 2008 R2", "6.1.7601"),
        ("5.1.2600", "Windows XP", "5.1.2600"),
    ],
)
def test_ntlm_versions(text: str, name: str, version: str) -> None:
    c = rules.ntlm_version(text)
    assert c is not None and c.os is not None and c.weight >= 0.9
    assert (c.os.family, c.os.name, c.os.version) == ("Windows", name, version)


def test_ntlm_server_build_is_a_server() -> None:
    c = rules.ntlm_version("10.0.20348")
    assert c is not None and c.device is not None and c.device.type == "server"
    assert rules.ntlm_version("garbage") is None


@pytest.mark.parametrize(
    ("text", "family", "name"),
    [
        ("Windows 7 Professional 7601 Service Pack 1", "Windows", "Windows 7"),
        ("Windows Server 2003 3790 Service Pack 2", "Windows", "Windows Server 2003"),
        ("Windows 5.1", "Windows", "Windows XP"),
        ("Unix", "Unix", "Unix (Samba)"),
        ("Samba 4.17.12-Debian", "Unix", "Unix (Samba)"),
    ],
)
def test_smb_native_os(text: str, family: str, name: str) -> None:
    c = rules.smb_native_os(text)
    assert c is not None and c.os is not None
    assert (c.os.family, c.os.name) == (family, name)


@pytest.mark.parametrize(
    ("text", "kind", "vendor", "model", "os_family"),
    [
        ("cisco WS-C2950-12", "switch", "Cisco", "WS-C2950-12", None),
        ("Cisco ISR4331/K9", "router", "Cisco", "ISR4331/K9", None),
        ("cisco AIR-CAP3702I-E-K9", "access point", "Cisco", "AIR-CAP3702I-E-K9", None),
        (
            "Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)",
            "switch",
            "Cisco",
            None,
            "Cisco IOS",
        ),
        ("Cisco Nexus Operating System (NX-OS) Software", "switch", "Cisco", None, "Cisco NX-OS"),
        (
            "Juniper Networks, Inc. ex2200-24t-4g Ethernet Switch, kernel JUNOS 12.3R6.6",
            "switch",
            "Juniper",
            "ex2200-24t-4g",
            "Junos",
        ),
        ("RouterOS CCR1009-7G-1C-1S+", "router", "MikroTik", None, "RouterOS"),
        (
            "HP J9773A 2530-24G-PoEP Switch, revision YA.16.02.0012, ROM YA.15.20",
            "switch",
            "HPE",
            "J9773A 2530-24G-PoEP",
            None,
        ),
        ("HP LaserJet Pro M404dn", "printer", "HP", "LaserJet Pro M404dn", None),
        ("SIEMENS, SIMATIC NET, SCALANCE X204-2, 6GK5 204-2BB10-2AA3", "switch", "Siemens", "SCALANCE X204-2", None),
    ],
)
def test_descriptions(text: str, kind: str, vendor: str, model: str | None, os_family: str | None) -> None:
    c = rules.description(text)
    assert c is not None and c.device is not None
    assert (c.device.type, c.device.vendor, c.device.model) == (kind, vendor, model)
    assert (c.os.family if c.os else None) == os_family


def test_snmp_sysdescr_of_windows_and_linux() -> None:
    c = rules.description(
        "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - "
        "Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)"
    )
    assert c is not None and c.os is not None and c.os.family == "Windows"
    c = rules.description("Linux gw01 5.15.0-91-generic #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 x86_64")
    assert c is not None and c.os is not None and (c.os.family, c.os.version) == ("Linux", "5.15.0-91-generic")


def test_s7_module_is_a_siemens_plc() -> None:
    c = rules.s7_module("6ES7 315-2EH14-0AB0")
    assert c.device is not None
    assert (c.device.type, c.device.vendor, c.device.model) == ("PLC", "Siemens", "S7-300 (6ES7 315-2EH14-0AB0)")
    c = rules.s7_module("6ES7 214-1AG40-0XB0")
    assert c.device is not None and c.device.model is not None and c.device.model.startswith("S7-1200")


def test_ics_products() -> None:
    c = rules.ics_product("1756-L71/B LOGIX5571", "Rockwell Automation", 0.85)
    assert c.device is not None and c.device.type == "PLC"
    c = rules.ics_product("PowerFlex 525", "Rockwell Automation", 0.85)
    assert c.device is not None and c.device.type == "ICS device"
    assert rules.ics_vendor("Rockwell Automation/Allen-Bradley") == "Rockwell Automation"


def test_dhcp_vendor_classes() -> None:
    c = rules.dhcp_vendor_class("MSFT 5.0")
    assert c is not None and c.os is not None and c.os.family == "Windows"
    c = rules.dhcp_vendor_class("android-dhcp-13")
    assert c is not None and c.os is not None and (c.os.family, c.os.version) == ("Android", "13")
    c = rules.dhcp_vendor_class("dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:Raspberry Pi 4 Model B Rev 1.4")
    assert c is not None and c.os is not None and c.os.version == "6.1.21-v8+"
    c = rules.dhcp_vendor_class("Cisco Systems, Inc. IP Phone CP-7960G")
    assert c is not None and c.device is not None and (c.device.type, c.device.model) == ("VoIP phone", "CP-7960G")


def test_mdns_models() -> None:
    c = rules.mdns_model("MacBookPro18,3")
    assert c is not None and c.os is not None and c.device is not None
    assert (c.os.family, c.device.type, c.device.vendor) == ("macOS", "workstation", "Apple")
    c = rules.mdns_model("HP LaserJet MFP M426fdn")
    assert c is not None and c.device is not None and c.device.type == "printer"
    assert rules.mdns_service("_ipp._tcp") is not None
