"""The whole inventory at the hub, from shared captures sent by `nps-sensor upload`: what
discovery found (hostname, vendor, OS, device type, model, with confidence) in the
API's columns, devices known only by their MAC (LLDP/CDP switches) listed, search and
filters that find exactly what the reports say, the CSV export equal to the filtered
list, and a second upload of the same captures stored once. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import SENSOR_BIN, Api, HubProcess
from nps_sensor import config
from nps_sensor.analyze import analyze
from tests.hub.databases import KINDS, database

CAPTURES = (
    "smb/smbv1-win7.pcap",
    "smb/smb-windows10-ntlm.pcap",
    "mixed/win10-workgroup-lan.pcap",
    "ics/s7comm-szl-ident.pcap",
    "cdp/lldp-and-cdp-c3560.pcap",
    "lldp/wireshark-lldp.pcap",
    "gre/gre-teb-windows-domain.pcap",
)
KEPT = ("inventoried", "non-inventoried", "monitored")


def upload(hub: HubProcess, where: Path, paths: list[str], code: str = "") -> subprocess.CompletedProcess[str]:
    args = [str(SENSOR_BIN), "upload", *paths, "--state", str(where / "hub.json"), "--proxy-file", "/nonexistent"]
    if code:
        (where / "code").write_text(code + "\n")
        (where / "code").chmod(0o600)
        args += ["--hub", hub.url, "--code-file", str(where / "code"), "--ca", str(hub.cert)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module", params=KINDS)
def uploaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pcaps_dir: Path
             ) -> Iterator[tuple[HubProcess, list[dict[str, Any]]]]:  # fmt: skip
    """A hub holding the shared captures, uploaded by `nps-sensor upload`; and the
    assets the sensor's own analysis of them reports (what the hub must show)."""
    where = tmp_path_factory.mktemp(f"inventory-{request.param}")
    paths = [str(pcaps_dir / c) for c in CAPTURES]
    with database(request.param) as (url, _), HubProcess(where, database=url) as hub:
        _, code = hub.api().create_sensor("laptop-capture", network="Lab")
        out = upload(hub, where, paths, code)
        assert out.returncode == 0, out.stderr
        assert "registered with" in out.stderr and "reports at the hub" in out.stdout
        reported = analyze(paths, config.Config()).result["assets"]
        yield hub, [a for a in reported if a.get("class") in KEPT and (a.get("ip") or a.get("mac"))]


def everything(api: Api, **params: Any) -> list[dict[str, Any]]:
    body = api.get("/api/v1/assets", params={**params, "limit": 10_000})
    assert body["total"] == len(body["assets"])
    return list(body["assets"])


def key(a: dict[str, Any]) -> tuple[str, str]:
    return (a.get("ip") or "", (a.get("mac") or "").lower())


def test_the_inventory_shows_what_discovery_found(uploaded: tuple[HubProcess, list[dict[str, Any]]]) -> None:
    hub, reported = uploaded
    assets = everything(hub.api())
    assert {key(a) for a in assets} == {key(a) for a in reported}
    by_ip = {a["ip"]: a for a in assets if a["ip"]}
    win7 = by_ip["192.168.69.10"]  # the Windows domain behind GRE
    assert win7["os"].startswith("Windows 7") and win7["os_family"] == "Windows" and win7["os_confidence"] >= 0.9
    assert win7["vendor"].startswith("VMware") and win7["device_type"] == "workstation"
    assert win7["sensors"] == ["laptop-capture"] and win7["network"] == "Lab"
    plc = next(a for a in assets if a["device_type"] == "PLC")  # S7comm's SZL identification
    assert plc["vendor"] == "Siemens" and "S7-300" in plc["model"] and plc["device_confidence"] > 0.5
    smb = [a for a in assets if a["os"].startswith("Windows 10")]  # the SMB captures
    assert {a["hostname"] for a in smb} >= {"desktop-2aefm7g", "desktop-v1fa0uq"}
    # Known only by their MAC: the switches that announce themselves by LLDP and CDP.
    switches = {a["hostname"]: a for a in assets if a["ip"] is None and a["device_type"] == "switch"}
    assert {"s1", "s2", "summit300-48", "procurve switch 2600-8-pwr"} <= set(switches)
    assert switches["s1"]["vendor"].startswith("Cisco") and switches["s1"]["model"] == "WS-C3560-24TS"
    detail = hub.api().get(f"/api/v1/assets/{switches['s1']['id']}")
    assert {h["source"] for h in detail["hostnames"]} == {"cdp", "lldp"}
    assert any(e["source"] == "cdp" for e in detail["evidence"]) and detail["device"]["type"] == "switch"


def test_search_and_filters_find_exactly_what_the_reports_say(
    uploaded: tuple[HubProcess, list[dict[str, Any]]],
) -> None:
    hub, reported = uploaded
    api = hub.api()

    def os_name(a: dict[str, Any]) -> str:
        return str((a.get("os") or {}).get("name") or "")

    def found(**params: Any) -> set[tuple[str, str]]:
        return {key(a) for a in everything(api, **params)}

    windows = {key(a) for a in reported if "windows" in os_name(a).lower()}
    assert windows and found(q="Windows") == windows == found(q="wInDoWs")
    cisco = {key(a) for a in reported if "cisco" in str(a.get("vendor") or "").lower()}
    assert cisco and found(q="Cisco") == cisco and found(vendor="cisco") == cisco
    switch = {key(a) for a in reported if (a.get("device") or {}).get("type") == "switch"}
    assert len(switch) >= 4 and found(device_type="switch") == switch
    family = {key(a) for a in reported if (a.get("os") or {}).get("family") == "Windows"}
    assert found(os_family="Windows") == family
    prefix = "00:50:56"  # VMware's
    vmware = {key(a) for a in reported if str(a.get("mac") or "").startswith(prefix)}
    assert vmware and found(q=prefix) == vmware
    # LIKE's wildcards are taken as they are.
    assert found(q="%") == set() and found(q="_") == set() and found(q="0_:50") == set()
    assert found(q="Windows", device_type="workstation") == windows & {
        key(a) for a in reported if (a.get("device") or {}).get("type") == "workstation"
    }


def test_the_csv_export_is_the_filtered_list(uploaded: tuple[HubProcess, list[dict[str, Any]]]) -> None:
    hub, _ = uploaded
    api = hub.api()
    for params in ({}, {"q": "Windows"}, {"device_type": "switch", "sort": "hostname", "desc": "1"}):
        listed = everything(api, **params)
        r = api.http.get("/api/v1/assets.csv", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [int(row["id"]) for row in rows] == [a["id"] for a in listed]
        assert [row["os"] for row in rows] == [a["os"] for a in listed]
        assert [row["vendor"] for row in rows] == [a["vendor"] for a in listed]


def test_a_capture_uploaded_again_is_stored_once(
    uploaded: tuple[HubProcess, list[dict[str, Any]]], pcaps_dir: Path
) -> None:
    hub, _ = uploaded
    api = hub.api()
    before = everything(api)
    where = Path(str(hub.workdir))
    out = upload(hub, where, [str(pcaps_dir / c) for c in CAPTURES])
    assert out.returncode == 0, out.stderr
    assert "of them stored before" in out.stdout
    after = everything(api)
    assert [(a["id"], a["packets"], a["os"]) for a in after] == [(a["id"], a["packets"], a["os"]) for a in before]


def test_a_refused_sort_or_filter_is_a_400_naming_it(uploaded: tuple[HubProcess, list[dict[str, Any]]]) -> None:
    hub, _ = uploaded
    api = hub.api()
    for params, field in (({"sort": "password"}, "sort"), ({"sensor": "-1"}, "sensor"), ({"q": "x" * 300}, "q")):
        r = api.http.get("/api/v1/assets", params=params)
        assert r.status_code in (400, 422) and field in r.text, (params, r.text)


def test_the_dashboard_adds_up_the_traffic(uploaded: tuple[HubProcess, list[dict[str, Any]]]) -> None:
    """The dashboard's series (from the per-minute totals kept at ingest) hold every byte
    of the traffic records, on an axis of evenly spaced buckets; its top services agree
    with the records too."""
    hub, _ = uploaded
    api = hub.api()
    d = api.get("/api/v1/dashboard", params={"span": "all"})
    records = api.get("/api/v1/flows", params={"limit": 10_000})["flows"]
    total = sum(f["client_bytes"] + f["server_bytes"] for f in records)
    traffic = d["traffic"]
    assert round(sum(v * traffic["step"] for s in traffic["series"] for v in s["values"])) == total
    assert len({b - a for a, b in zip(traffic["times"], traffic["times"][1:], strict=False)}) == 1
    assert [s["name"] for s in traffic["series"]] == ["laptop-capture"]
    assert {f["sensor_name"] for f in records} == {"laptop-capture"}  # names, not only ids
    by_service: dict[str, int] = {}
    for f in records:
        key = f"{f['proto']}/{f['port']}" if f["port"] is not None else f["proto"]
        by_service[key] = by_service.get(key, 0) + f["client_bytes"] + f["server_bytes"]
    assert {s["service"]: s["bytes"] for s in d["services"]} == {
        k: by_service[k] for k in (s["service"] for s in d["services"])
    }
    assert d["services"][0]["bytes"] == max(by_service.values())
    inventory = d["inventory"]
    assert max(inventory["active"]) >= 1 and sum(inventory["new"]) <= d["assets"]


def test_upload_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    """No hub is needed to refuse these: exit 2 and one line on standard error."""
    capture = tmp_path / "c.pcap"
    capture.write_bytes(b"")
    for args, says in (
        (["--hub", "https://127.0.0.1:1"], "give both --hub and --code-file"),
        ([], "not registered with a hub"),
    ):
        out = subprocess.run(
            [str(SENSOR_BIN), "upload", str(capture), "--state", str(tmp_path / "none.json"), "--proxy-file",
             "/nonexistent", *args], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and says in out.stderr, out.stderr
