"""OS and device predictions: weighted votes over an asset's facts, with evidence, confidence and conflicts.

Most tests use facts written here and no database (an empty data directory), so that
they run anywhere; those that need the real databases read `$NPS_FINGERPRINTS`, else
`<repo>/../shared/fingerprints`, and skip with the reason when it is absent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nps_sensor.discovery.facts import Seen, Value
from nps_sensor.discovery.fingerprints import Databases
from nps_sensor.discovery.fingerprints.oui import mac_int
from nps_sensor.discovery.predict import predict

REPO = Path(__file__).resolve().parents[3]


WIN10_PRL = "1,3,6,15,31,33,43,44,46,47,119,121,249,252"
WIN_SYN = "4:128+1:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0"
LINUX_SYN = "4:64+1:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"
ANDROID_UA = "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 Chrome/112.0 Mobile Safari/537.36"
WINDOWS_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.fixture
def empty(tmp_path: Path) -> Databases:
    """No database at all: the rule tables alone."""
    return Databases(tmp_path, system=False)


@pytest.fixture(scope="module")
def shared(shared_fingerprints: Path) -> Databases:
    return Databases(shared_fingerprints, system=False)


def facts(*items: tuple[str, str, Value]) -> dict[tuple[str, str, Value], Seen]:
    return {item: Seen(1.0, 2.0) for item in items}


def sources(pred: dict[str, Any]) -> set[str]:
    return {e["source"] for e in pred["evidence"]}


def test_no_facts_no_prediction(empty: Databases) -> None:
    assert predict({}, None, db=empty) == {"vendor": None, "os": None, "device": None}


def test_agreeing_sources_make_a_confident_windows(empty: Databases) -> None:
    out = predict(
        facts(
            ("ntlm", "os_version", "10.0.19045"),
            ("http", "user_agent", WINDOWS_UA),
            ("dhcp", "vendor_class", "MSFT 5.0"),
        ),
        None,
        db=empty,
    )
    got = out["os"]
    assert (got["family"], got["name"], got["version"]) == ("Windows", "Windows 10", "10.0.19045 (22H2)")
    assert got["confidence"] >= 0.9 and not got["conflict"]
    assert sources(got) == {"ntlm.os_version", "http.user_agent", "dhcp.vendor_class"}
    assert all(set(e) >= {"source", "value", "weight"} and 0 < e["weight"] <= 1 for e in got["evidence"])
    assert [c["family"] for c in got["candidates"]] == ["Windows"]


def test_disagreeing_sources_keep_both_candidates(empty: Databases) -> None:
    agree = predict(facts(("ntlm", "os_version", "10.0.19045")), None, db=empty)["os"]
    out = predict(
        facts(
            ("ntlm", "os_version", "10.0.19045"), ("ssh", "server_banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6")
        ),
        None,
        db=empty,
    )["os"]
    assert out["family"] == "Windows" and out["conflict"]
    assert [c["family"] for c in out["candidates"]] == ["Windows", "Linux"]
    assert out["candidates"][1]["name"] == "Ubuntu"
    assert out["confidence"] < agree["confidence"]


def test_nested_families_agree(empty: Databases) -> None:
    """A Linux kernel under an Android User-Agent is Android, not a conflict."""
    out = predict(
        facts(("http", "user_agent", ANDROID_UA), ("dhcp", "vendor_class", "dhcpcd-5.5.6")),
        None,
        db=empty,
    )
    got, device = out["os"], out["device"]
    assert (got["family"], got["version"]) == ("Android", "13") and not got["conflict"]
    assert (device["type"], device["vendor"], device["model"]) == ("phone", "Samsung", "SM-S901B")


def test_many_user_agents_count_once(empty: Databases) -> None:
    uas = [("http", "user_agent", f"Mozilla/5.0 (X11; Linux x86_64) Firefox/{v}.0") for v in range(100, 120)]
    out = predict(facts(*uas, ("ntlm", "os_version", "10.0.22631")), None, db=empty)["os"]
    assert out["name"] == "Windows 11" and out["conflict"]
    assert sum(1 for e in out["evidence"] if e["source"] == "http.user_agent") == 5  # shown; all of them voted


def test_tools_user_agents_are_no_evidence(empty: Databases) -> None:
    assert predict(facts(("http", "user_agent", "curl/8.4.0")), None, db=empty)["os"] is None


def test_cisco_switch_from_cdp(empty: Databases) -> None:
    out = predict(
        facts(
            ("cdp", "platform", "cisco WS-C2950-12"),
            (
                "cdp",
                "software_version",
                "Cisco Internetwork Operating System Software IOS (tm) C2950 Software, Version 12.1(22)EA14",
            ),
            ("cdp", "capabilities", "switch,igmp"),
        ),
        None,
        db=empty,
    )
    assert (out["os"]["family"], out["os"]["version"]) == ("Cisco IOS", "12.1(22)EA14")
    d = out["device"]
    assert (d["type"], d["vendor"], d["model"]) == ("switch", "Cisco", "WS-C2950-12")
    assert d["confidence"] >= 0.9 and not d["conflict"]
    assert "cdp.platform" in sources(d)
    assert [c["type"] for c in d["candidates"]] == ["switch"]  # "network device" adds nothing


def test_lldp_router_and_snmp(empty: Databases) -> None:
    out = predict(
        facts(
            ("lldp", "system_description", "Juniper Networks, Inc. srx300 internet router, kernel JUNOS 21.4R3"),
            ("snmp", "sys_object_id", "1.3.6.1.4.1.2636.1.1.1.2.133"),
        ),
        None,
        db=empty,
    )
    assert out["os"]["family"] == "Junos"
    assert (out["device"]["type"], out["device"]["vendor"], out["device"]["model"]) == ("firewall", "Juniper", "srx300")


def test_siemens_plc_from_s7comm(empty: Databases) -> None:
    out = predict(
        facts(
            ("s7comm", "order_number", "6ES7 315-2EH14-0AB0"),
            ("s7comm", "module_type", "CPU 315-2 PN/DP"),
            ("s7comm", "service", ("tcp", 102, "s7comm")),
        ),
        None,
        db=empty,
    )
    d = out["device"]
    assert (d["type"], d["vendor"]) == ("PLC", "Siemens") and d["model"].startswith("S7-300")
    assert d["confidence"] >= 0.95
    assert out["os"] is None


def test_rockwell_from_enip(empty: Databases) -> None:
    out = predict(
        facts(
            ("enip", "vendor", "Rockwell Automation/Allen-Bradley"),
            ("enip", "device_type", "programmable logic controller"),
            ("enip", "product_code", "54"),
            ("enip", "product_name", "1756-L61/B LOGIX5561"),
        ),
        None,
        db=empty,
    )
    d = out["device"]
    assert (d["type"], d["vendor"], d["model"]) == ("PLC", "Rockwell Automation", "1756-L61/B LOGIX5561")


def test_router_context(empty: Databases) -> None:
    out = predict(facts(("tcp", "syn", LINUX_SYN)), None, router=12, db=empty)
    d = out["device"]
    assert d["type"] == "router"
    assert {"source": "identity", "value": "MAC seen with 12 IP addresses", "weight": 0.8, "says": "router"} in d[
        "evidence"
    ]


def test_randomized_mac_has_no_vendor(empty: Databases) -> None:
    out = predict({}, mac_int("da:a1:19:12:34:56"), db=empty)
    assert out["vendor"] is None and "locally administered" in out["vendor_note"]
    assert predict({}, 0, db=empty)["vendor"] is None  # an all-zero MAC is no MAC


def test_nothing_loaded_when_no_fact_needs_a_database(empty: Databases) -> None:
    predict(facts(("http", "user_agent", WINDOWS_UA), ("ntlm", "os_version", "6.1.7601")), None, db=empty)
    assert empty._loaded == {}


def test_missing_databases_warn_once_and_predict_on(empty: Databases, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            out = predict(
                facts(("tcp", "syn", WIN_SYN), ("ntlm", "os_version", "10.0.19045")), 0x000C29000001, db=empty
            )
            assert out["os"]["name"] == "Windows 10" and out["vendor"] is None
    messages = sorted(r.getMessage() for r in caplog.records)
    assert len(messages) == 3  # p0f.fp, oui.csv, manuf: each once
    assert all("not found" in m for m in messages)


def test_real_windows_by_dhcp(shared: Databases) -> None:
    out = predict(
        facts(("dhcp", "vendor_class", "MSFT 5.0"), ("dhcp", "prl", WIN10_PRL), ("tcp", "syn", WIN_SYN)),
        mac_int("00:0c:29:11:22:33"),
        db=shared,
    )
    got = out["os"]
    assert (got["family"], got["name"]) == ("Windows", "Windows 10") and not got["conflict"]
    assert {"dhcp.prl", "dhcp.vendor_class", "tcp.syn"} <= sources(got)
    syn = next(e for e in got["evidence"] if e["source"] == "tcp.syn")
    assert syn["match"] == "p0f s:win:Windows:7 or 8"
    assert out["vendor"] == "VMware, Inc."
    assert out["device"]["type"] == "virtual machine"


def test_a_vmware_host_adapter_is_the_host_not_a_guest(shared: Databases) -> None:
    """VMware Workstation's own adapters on the host (VMnet1, VMnet8) are 00:50:56:C0:00:xx:
    VMware's block, but the device is the computer running it."""
    msft = facts(("dhcp", "vendor_class", "MSFT 5.0"))
    host = predict(msft, mac_int("00:50:56:c0:00:08"), db=shared)
    guest = predict(msft, mac_int("00:50:56:3a:10:20"), db=shared)
    assert host["vendor"] == guest["vendor"] == "VMware, Inc."
    assert guest["device"]["type"] == "virtual machine" and host["device"]["type"] != "virtual machine"


def test_real_linux_syn_and_oui(shared: Databases) -> None:
    out = predict(facts(("tcp", "syn", LINUX_SYN)), mac_int("b8:27:eb:01:02:03"), db=shared)
    assert (out["os"]["family"], out["os"]["version"]) == ("Linux", "3.11 and newer")
    assert out["vendor"] == "Raspberry Pi Foundation"


def test_real_samba_and_macos_smb(shared: Databases) -> None:
    """Samba and macOS's SMB client both claim Windows 7 in NTLMSSP; their native OS says otherwise."""
    qnap = predict(
        facts(("smb", "native_os", "QTS"), ("smb", "native_lanman", "Samba 4.4.16"), ("ntlm", "os_version", "6.1.0")),
        None,
        db=shared,
    )
    assert qnap["os"]["family"] == "Linux" and not qnap["os"]["conflict"]
    assert (qnap["device"]["type"], qnap["device"]["vendor"]) == ("NAS", "QNAP")
    mac = predict(
        facts(
            ("smb", "native_os", "Mac OS X 10.10"),
            ("smb", "native_lanman", "SMBFS 3.0.0"),
            ("ntlm", "os_version", "6.1.7600"),
        ),
        None,
        db=shared,
    )
    assert (mac["os"]["family"], mac["os"]["version"]) == ("macOS", "10.10")


SOURCES = ["tcp", "dhcp", "dhcpv6", "http", "ssh", "smb", "ntlm", "netbios", "lldp", "cdp", "snmp", "ssdp", "ntp"]
SOURCES += ["mdns", "s7comm", "modbus", "enip", "bacnet", "dnp3", "ndp", "tls"]
KEYS = ["syn", "synack", "prl", "vendor_class", "user_agent", "server", "server_banner", "client_banner", "native_os"]
KEYS += ["native_lanman", "os_version", "role", "system_description", "platform", "software_version", "sys_descr"]
KEYS += ["sys_object_id", "capabilities", "capabilities_enabled", "model", "manufacturer", "service", "hinfo", "srv"]
KEYS += ["module", "order_number", "vendor", "product_name", "device_type", "system", "engine_enterprise"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(SOURCES),
            st.sampled_from(KEYS),
            st.one_of(
                st.text(max_size=40),
                st.tuples(st.text(max_size=5), st.integers(0, 70000), st.text(max_size=5)),
                st.tuples(st.text(max_size=8), st.text(max_size=8)),
            ),
        ),
        max_size=12,
    ),
    st.one_of(st.none(), st.integers(0, (1 << 48) - 1)),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_any_facts_give_a_well_formed_prediction(
    items: list[tuple[str, str, Value]], mac: int | None, router: bool
) -> None:
    db = Databases(Path("/nonexistent-nps-data"), system=False)
    out = predict(facts(*items), mac, router=router, db=db)
    for field in ("os", "device"):
        pred = out[field]
        if pred is not None:
            assert 0.0 <= pred["confidence"] <= 1.0
            assert pred["evidence"] and all(0 < e["weight"] <= 1 for e in pred["evidence"])
            assert [c["score"] for c in pred["candidates"]] == sorted(
                (c["score"] for c in pred["candidates"]), reverse=True
            )


def test_more_sources_of_the_vocabulary(empty: Databases) -> None:
    win = predict(facts(("dhcpv6", "vendor_class", "311:MSFT 5.0")), None, db=empty)["os"]
    assert win["family"] == "Windows"
    router = predict(
        facts(("ssdp", "server", "UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6")),
        None,
        db=empty,
    )
    assert router["device"]["type"] == "router"
    phone = predict(facts(("lldp", "capabilities_enabled", "bridge,telephone")), None, db=empty)["device"]
    assert phone["type"] == "VoIP phone"
    l3 = predict(facts(("cdp", "capabilities", "router,switch,igmp")), None, db=empty)["device"]
    assert l3["type"] == "network device"
    printer = predict(facts(("snmp", "sys_object_id", "1.3.6.1.4.1.2435.2.3.9.1")), None, db=empty)["device"]
    assert (printer["type"], printer["vendor"]) == ("printer", "Brother")
    rtu = predict(facts(("dnp3", "role", "outstation"), ("dnp3", "address", "10")), None, db=empty)["device"]
    assert rtu["type"] == "RTU"
