"""The uplink against a hub that refuses what it should: a poison report is set aside
and the reports after it go up; a window too large for one upload goes in parts,
exactly once; a deregistered sensor hears it once and is refused after that. Against
`nps-hub serve` as its own process and real `nps-sensor register`/`uplink` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.hublab import HubProcess
from nps_sensor.live.spool import Spool
from nps_sensor.uplink.parts import MAX_ASSETS, MAX_FLOWS, parts
from tests.hub.test_hub import engine_reports, register, sensor_config, uplink


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with HubProcess(tmp_path) as h:
        yield h


def registered(hub: HubProcess, tmp_path: Path, name: str = "s1") -> tuple[int, Path]:
    sid, code = hub.api().create_sensor(name)
    where = tmp_path / name
    out = register(hub, code, where)
    assert out.returncode == 0, out.stderr
    return sid, where


def test_a_refused_report_is_set_aside_and_the_next_ones_go_up(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, where = registered(hub, tmp_path)
    cfg = sensor_config(where)
    spool = Spool(str(where / "spool"), 100 << 20)
    good = engine_reports(tmp_path, 2)
    evil = {"ip": "10.9.9.9", "class": "inventoried", "hostnames": [{"name": "ev\x00il\x1b[2J", "source": "llmnr"}]}
    poison = {"kind": "update", "assets": [evil], "flows": []}
    spool.write(good[0])
    spool.write(poison)
    spool.write(good[1])
    out = uplink(where / "hub.json", cfg)
    assert out.returncode == 0, out.stderr
    assert "set aside" in out.stderr and "assets[0].hostnames[0].name: control characters are not allowed" in out.stderr
    assert "Traceback" not in out.stderr
    assert spool.pending() == []  # the good ones went up, the poison is aside
    flows = api.get("/api/v1/flows", params={"sensor": sid, "limit": 10000})["total"]
    assert flows == sum(len(r["flows"]) for r in good)
    aside = sorted((where / "spool" / "quarantine").iterdir())
    names = [p.name for p in aside]
    assert len([n for n in names if n.endswith(".json") and n != "state.json"]) == 1
    reason = next(p for p in aside if p.name.endswith(".reason")).read_text()
    assert reason.strip() == "the hub refused: assets[0].hostnames[0].name: control characters are not allowed (400)"

    # The next heartbeat carries the quarantine's counts: the hub raises an event.
    assert uplink(where / "hub.json", cfg).returncode == 0
    events = api.get("/api/v1/events", params={"sensor": sid, "open": True})
    quarantined = [e for e in events if e["kind"] == "Reports Quarantined"]
    assert quarantined and "1 report(s) the hub refused" in quarantined[0]["detail"]
    assert "control characters are not allowed" in quarantined[0]["detail"]
    health = api.sensor(sid)["health"]
    assert health["uplink"]["quarantine"]["reports"] == 1


def big_report(assets: int, flows: int) -> dict[str, Any]:
    ips = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(assets)]

    def asset(i: int, ip: str) -> dict[str, Any]:
        mac = f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        return {"ip": ip, "mac": mac, "class": "inventoried", "packets": 1, "last_seen": "2026-01-01T00:29:00Z"}

    def flow(k: int) -> dict[str, Any]:
        return {"client": ips[k % assets], "server": ips[(k * 7) % assets], "port": k % 65536, "proto": "tcp",
                "client_bytes": k}  # fmt: skip

    return {
        "kind": "update",
        "window_start": "2026-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:30:00Z",
        "assets": [asset(i, ip) for i, ip in enumerate(ips)],
        "flows": [flow(k) for k in range(flows)],
        "stats": {},
    }


def test_a_window_too_large_for_one_upload_goes_in_parts_exactly_once(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, where = registered(hub, tmp_path)
    cfg = sensor_config(where)
    report = big_report(2 * MAX_ASSETS + 500, 2 * MAX_FLOWS + 5_000)
    cut = parts(json.dumps(report, separators=(",", ":")).encode())
    assert [rid.rsplit(".", 1)[1] for rid, _ in cut] == [f"p{i}-6" for i in range(1, 7)]
    spool = Spool(str(where / "spool"), 200 << 20)
    spool.write(report)
    out = uplink(where / "hub.json", cfg)
    assert out.returncode == 0, out.stderr
    assert spool.pending() == []
    assert api.get("/api/v1/assets", params={"limit": 1})["total"] == len(report["assets"])
    flows = api.get("/api/v1/flows", params={"sensor": sid, "limit": 1})
    assert flows["total"] == len(report["flows"])
    # The flows came after their assets: each end is an asset.
    sample = api.get("/api/v1/flows", params={"sensor": sid, "limit": 100})["flows"]
    assert all(f["client_asset"] and f["server_asset"] for f in sample)
    # The same window sent again (a lost answer): every part recognised, nothing doubled.
    token = json.loads((where / "hub.json").read_text())["token"]
    http = httpx.Client(base_url=hub.url, verify=hub.verify, headers={"Authorization": f"Bearer {token}"})
    again = [http.post("/api/v1/agent/reports", content=body, headers={"X-Report-Id": rid}).json() for rid, body in cut]
    assert all(r["duplicate"] for r in again)
    assert api.get("/api/v1/flows", params={"sensor": sid, "limit": 1})["total"] == len(report["flows"])


def test_a_deregistered_sensor_hears_it_once_and_is_refused_after(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, where = registered(hub, tmp_path)
    token = json.loads((where / "hub.json").read_text())["token"]
    http = httpx.Client(base_url=hub.url, verify=hub.verify, headers={"Authorization": f"Bearer {token}"})
    assert http.post("/api/v1/agent/heartbeat", json={}).json()["deregistered"] is False
    api.act(sid, "pause")
    api.act(sid, "deregister")
    beat = http.post("/api/v1/agent/heartbeat", json={"status": {"state": "paused"}})
    assert beat.status_code == 200 and beat.json() == {"deregistered": True, "commands": [], "sensing": False,
                                                       "config": None}  # fmt: skip
    for r in (
        http.post("/api/v1/agent/heartbeat", json={}),
        http.post("/api/v1/agent/reports", content=b'{"assets":[],"flows":[]}', headers={"X-Report-Id": "r"}),
        http.post("/api/v1/agent/commands/1/ack", json={"id": 1}),
    ):
        assert r.status_code == 401 and "deregistered or deleted" in r.json()["detail"]
    states = {c["action"]: (c["state"], c["result"]) for c in api.get(f"/api/v1/sensors/{sid}/commands")}
    assert states["deregister"] == ("done", "the sensor learned it was deregistered")
    assert states["pause"] == ("failed", "not delivered: the sensor was deregistered")
    # Before its heartbeat came, every other call was refused already.
    sid2, where2 = registered(hub, tmp_path, "s2")
    token2 = json.loads((where2 / "hub.json").read_text())["token"]
    api.act(sid2, "deregister")
    r = httpx.post(f"{hub.url}/api/v1/agent/reports", verify=hub.verify, content=b"{}",
                   headers={"Authorization": f"Bearer {token2}", "X-Report-Id": "r"})  # fmt: skip
    assert r.status_code == 401 and "deregistered on the hub" in r.json()["detail"]
    # The uplink stops cleanly on its one answer, its credential forgotten.
    out = uplink(where2 / "hub.json", sensor_config(where2))
    assert out.returncode == 0 and not (where2 / "hub.json").exists(), out.stderr
