"""The management hub with real peers: `nps-hub serve` as its own process on loopback
(HTTPS with a certificate the sensor pins), real `nps-sensor register` and `nps-sensor
uplink` processes, Debian's tinyproxy as the forward proxy.

The live service itself (capture in namespaces) is in test_hub_live.py; here the
uplink drains a spool written by the sensor's own Spool class with reports of the
engine's own making, and steers a real status endpoint.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.hublab import SENSOR_BIN, HubProcess, Tinyproxy, free_port
from nps_hub.ingest import addresses
from nps_sensor import config
from nps_sensor.analyze import analyze
from nps_sensor.appliance.registration import EX_TEMPFAIL
from nps_sensor.appliance.registration import run as register_from_deployment
from nps_sensor.appliance.render import files, write
from nps_sensor.appliance.settings import Settings
from nps_sensor.errors import SensorError
from nps_sensor.live.spool import Spool
from nps_sensor.live.status import StatusServer
from nps_sensor.synth import write_capture
from nps_sensor.uplink.agent import report_id
from nps_sensor.uplink.register import register as register_in_process
from tests.support.waiting import wait_for

if shutil.which("openssl") is None:
    pytest.skip("openssl is needed to make the hub's test certificate", allow_module_level=True)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with HubProcess(tmp_path) as h:
        yield h


def sensor_cmd(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SENSOR_BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def register(hub: HubProcess, code: str, where: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`nps-sensor register` with the code in a root-only file (never on the command line)."""
    where.mkdir(exist_ok=True)
    code_file = where / "registration"
    code_file.write_text(code + "\n")
    code_file.chmod(0o600)
    args = ["register", "--hub", hub.url, "--code-file", str(code_file), "--state", str(where / "hub.json")]
    if hub.cert:
        args += ["--ca", str(hub.cert)]
    return sensor_cmd(*args, "--proxy-file", str(where / "proxy.env"), *extra)


def register_typed(hub: HubProcess, code: str, state: Path) -> subprocess.CompletedProcess[str]:
    """`nps-sensor register` with the code on its standard input, as typed at the prompt; no proxy, no --ca."""
    return subprocess.run(
        [str(SENSOR_BIN), "register", "--hub", hub.url, "--state", str(state), "--proxy-file", "-"],
        input=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def sensor_config(where: Path, status_port: int = 1, extra: str = "") -> Path:
    path = where / "sensor.yaml"
    path.write_text(
        "sensing:\n"
        "  interfaces: [eth1]\n"
        f"  spool: {{directory: {where / 'spool'}, max_mb: 100}}\n"
        f"  status: 127.0.0.1:{status_port}\n" + extra
    )
    return path


def engine_reports(tmp_path: Path, count: int, seed: int = 5) -> list[dict[str, Any]]:
    """Reports as the live service spools them, cut from the engine's own analysis."""
    capture = tmp_path / f"c{seed}.pcap"
    write_capture(str(capture), 4_000, seed, "plain")
    result = analyze([str(capture)], config.Config()).result
    assets, flows = result["assets"], result["flows"]
    out = []
    for i in range(count):
        out.append(
            {
                "kind": "update",
                "window_start": f"2026-01-01T00:{i:02d}:00.000000Z",
                "window_end": f"2026-01-01T00:{i + 1:02d}:00.000000Z",
                "assets": assets[i::count],
                "flows": flows[i::count],
                "sensor": {"version": "test", "hostname": "t"},
                "stats": {"packets": i},
            }
        )
    return out


def uplink(state: Path, cfg: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return sensor_cmd(
        "uplink", "--once", "--state", str(state), "--config", str(cfg), "--proxy-file", "/nonexistent", *extra, env=env
    )


# --- registration ------------------------------------------------------------------


def test_registration_with_a_personalization_code(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, code = api.create_sensor("crane-1", "north quay")
    assert len(code) == 14 and code.isdigit()
    assert api.sensor(sid)["status"] == "Unregistered"

    wrong = register(hub, "12345678901234" if code != "12345678901234" else "43210987654321", tmp_path / "w")
    assert wrong.returncode == 2
    assert wrong.stderr.count("\n") == 1 and "personalization code not recognised" in wrong.stderr
    short = register(hub, "1234", tmp_path / "s")
    assert short.returncode == 2 and "14 digits" in short.stderr

    done = register(hub, code, tmp_path / "a")
    assert done.returncode == 0, done.stderr
    assert "crane-1" in done.stdout
    state = tmp_path / "a" / "hub.json"
    assert state.stat().st_mode & 0o777 == 0o600
    saved = json.loads(state.read_text())
    assert saved["token"].startswith("nps-s1-") and saved["sensor_id"] == sid
    details = api.sensor(sid)
    assert details["status"] == "Paused"
    assert details["version"] and details["hostname"] and details["mgmt_ipv4"] == "127.0.0.1"

    again = register(hub, code, tmp_path / "b")
    assert again.returncode == 2 and "already used" in again.stderr and again.stderr[-1] == "\n"
    assert again.stderr.count("\n") == 1

    # An expired code: issued by the CLI with a validity of (almost) nothing.
    out = hub.cli("sensor", "add", "late", env={"NPS_HUB_CODE_TTL": "0.001"})
    assert out.returncode == 0, out.stderr
    late = out.stdout.split("personalization code ")[1].split()[0]
    expired = register(hub, late, tmp_path / "c")
    assert expired.returncode == 2 and "expired" in expired.stderr and "issue a new one" in expired.stderr

    # Codes and credentials are stored only as keyed digests.
    db = (hub.data / "hub.sqlite3").read_bytes()
    assert code.encode() not in db and saved["token"].encode() not in db and late.encode() not in db


def test_a_sensor_credential_reaches_only_its_own_endpoints(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    a_id, a_code = api.create_sensor("a")
    b_id, b_code = api.create_sensor("b")
    assert register(hub, a_code, tmp_path / "a").returncode == 0
    assert register(hub, b_code, tmp_path / "b").returncode == 0
    a_token = json.loads((tmp_path / "a" / "hub.json").read_text())["token"]
    b_cmd = api.act(b_id, "reboot")
    sensor = httpx.Client(base_url=hub.url, verify=hub.verify, headers={"Authorization": f"Bearer {a_token}"})
    for path in ("/api/v1/sensors", f"/api/v1/sensors/{b_id}", f"/api/v1/sensors/{b_id}/commands", "/api/v1/assets"):
        assert sensor.get(path).status_code == 401
    assert sensor.post(f"/api/v1/sensors/{b_id}/actions", json={"action": "pause"}).status_code == 401
    # B's command cannot be acknowledged (nor seen) with A's credential.
    r = sensor.post(f"/api/v1/agent/commands/{b_cmd['id']}/ack", json={"id": b_cmd["id"], "ok": True})
    assert r.status_code == 404
    beat = sensor.post("/api/v1/agent/heartbeat", json={"status": {"state": "paused"}}).json()
    assert beat["commands"] == []
    assert api.get(f"/api/v1/sensors/{b_id}/commands")[0]["state"] == "pending"
    # And a user's session is no sensor credential.
    user_token = api.http.headers["Authorization"]
    r = httpx.post(
        f"{hub.url}/api/v1/agent/heartbeat", json={}, verify=hub.verify, headers={"Authorization": user_token}
    )
    assert r.status_code == 401
    assert httpx.get(f"{hub.url}/api/v1/sensors", verify=hub.verify).status_code == 401
    wrong = httpx.post(f"{hub.url}/api/v1/login", json={"name": "admin", "password": "nope"}, verify=hub.verify)
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong user name or password"
    _ = a_id


# --- reports -----------------------------------------------------------------------


@pytest.mark.slow
def test_the_spool_arrives_exactly_once_across_hub_restarts(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, code = api.create_sensor("s1")
    where = tmp_path / "s1"
    assert register(hub, code, where).returncode == 0
    cfg = sensor_config(where)
    spool = Spool(str(where / "spool"), 100 << 20)
    reports = engine_reports(tmp_path, 12)
    for r in reports[:4]:
        spool.write(r)

    log = (tmp_path / "uplink.log").open("w")
    agent = subprocess.Popen(
        [str(SENSOR_BIN), "uplink", "--state", str(where / "hub.json"), "--config", str(cfg), "--proxy-file", "-"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: not spool.pending())
        hub.stop()
        for r in reports[4:9]:  # closed while the hub is down
            spool.write(r)
        time.sleep(3)
        assert len(spool.pending()) == 5  # nothing leaves the spool unconfirmed
        hub.start()
        for r in reports[9:]:
            spool.write(r)
        wait_for(lambda: not spool.pending(), timeout=120)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        log.close()
    text = (tmp_path / "uplink.log").read_text()
    assert "cannot reach the hub" in text and "Traceback" not in text

    flows = api.get("/api/v1/flows", params={"sensor": sid, "limit": 10000})
    assert flows["total"] == sum(len(r["flows"]) for r in reports)
    sent = {(f["client"], f["server"], f["port"], f["proto"], f["client_bytes"]) for r in reports for f in r["flows"]}
    got = {(f["client"], f["server"], f["port"], f["proto"], f["client_bytes"]) for f in flows["flows"]}
    assert got == sent
    assets = api.get("/api/v1/assets", params={"limit": 10000})
    with_ip = {i for r in reports for a in r["assets"] if a["ip"] for i in addresses(a)}
    owners = [ip for a in assets["assets"] for ip in a["ips"]]
    assert sorted(owners) == sorted(with_ip)  # each address belongs to one asset, once
    # One asset per device: at most one per address, and the devices the sensor knows by
    # their MAC alone (the generated LAN's router).
    mac_only = {a["mac"] for r in reports for a in r["assets"] if not a["ip"] and a.get("mac")}
    assert {a["mac"] for a in assets["assets"] if not a["ip"]} <= mac_only
    assert (
        assets["total"]
        == len(assets["assets"])
        <= len({i for r in reports for a in r["assets"] if (i := a["ip"])}) + len(mac_only)
    )
    assert spool.status().dropped == 0


def test_ingest_is_idempotent_by_report_id(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("s")
    assert register(hub, code, tmp_path / "s").returncode == 0
    token = json.loads((tmp_path / "s" / "hub.json").read_text())["token"]
    report = engine_reports(tmp_path, 1)[0]
    data = json.dumps(report).encode()
    http = httpx.Client(base_url=hub.url, verify=hub.verify, headers={"Authorization": f"Bearer {token}"})
    headers = {"Content-Encoding": "gzip", "X-Report-Id": report_id(data), "Content-Type": "application/json"}
    first = http.post("/api/v1/agent/reports", content=gzip.compress(data), headers=headers).json()
    second = http.post("/api/v1/agent/reports", content=gzip.compress(data), headers=headers).json()
    assert first["stored"] and not first["duplicate"]
    assert second["stored"] and second["duplicate"]
    listed = api.get("/api/v1/flows")
    assert listed["total"] == len(report["flows"]) and listed["waiting"] == 0  # a lone report: stored at once
    bad = http.post("/api/v1/agent/reports", content=b"\x1f\x8b broken", headers=headers)
    assert bad.status_code == 400 and "not a readable report" in bad.json()["detail"]
    bad = http.post("/api/v1/agent/reports", content=b"{}", headers={"X-Report-Id": "x"})
    assert bad.status_code == 400 and bad.json()["detail"] == "assets: required (and 1 more)"


def test_the_same_device_seen_by_two_sensors_is_one_asset(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    tokens = {}
    for name, network in (("a", "Plant"), ("b", "Plant"), ("c", "Crane 2")):
        _, code = api.create_sensor(name, network=network)
        assert register(hub, code, tmp_path / name).returncode == 0
        tokens[name] = json.loads((tmp_path / name / "hub.json").read_text())["token"]

    def send(name: str, assets: list[dict[str, Any]], flows: list[dict[str, Any]] | None = None) -> None:
        body = json.dumps({"kind": "update", "assets": assets, "flows": flows or []}).encode()
        r = httpx.post(
            f"{hub.url}/api/v1/agent/reports",
            content=body,
            verify=hub.verify,
            headers={"Authorization": f"Bearer {tokens[name]}", "X-Report-Id": report_id(body)},
        )
        r.raise_for_status()

    def asset(ip: str, mac: str | None, **kw: Any) -> dict[str, Any]:
        base = {"ip": ip, "mac": mac, "class": "inventoried", "group": "Default", "packets": 10}
        base.update({"first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:05:00Z", **kw})
        return base

    send("a", [asset("10.0.0.5", "00:11:22:33:44:55"), asset("10.0.0.6", None)])
    # b sees the same MAC at a new address (DHCP), and the MAC-less one with its MAC now.
    send(
        "b",
        [
            asset("10.0.0.9", "00:11:22:33:44:55", last_seen="2026-01-01T01:00:00Z"),
            asset("10.0.0.6", "aa:bb:cc:00:00:06"),
        ],
    )
    send("c", [asset("10.0.0.5", "00:11:22:33:44:55")])  # another Network: another device
    plant = api.get("/api/v1/assets", params={"network": "Plant"})["assets"]
    assert len(plant) == 2
    moved = next(a for a in plant if a["mac"] == "00:11:22:33:44:55")
    assert set(moved["ips"]) == {"10.0.0.5", "10.0.0.9"} and moved["ip"] == "10.0.0.9"
    assert moved["last_seen"] == "2026-01-01T01:00:00Z" and moved["packets"] == 20
    details = api.get(f"/api/v1/assets/{moved['id']}")
    assert sorted(s["name"] for s in details["sensors"]) == ["a", "b"]
    assert details["raw"]["ip"] == "10.0.0.9"
    assert len(api.get("/api/v1/assets", params={"network": "Crane 2"})["assets"]) == 1
    send(
        "a",
        [],
        [
            {
                "client": "10.0.0.6",
                "server": "10.0.0.9",
                "port": 443,
                "proto": "tcp",
                "client_bytes": 100,
                "server_bytes": 900,
            }
        ],
    )
    # Many hostnames and two OS families behind one address: a NAT device, says the hub.
    nat_os = {
        "family": "windows",
        "candidates": [{"family": "windows", "score": 0.6}, {"family": "linux", "score": 0.4}],
    }
    send("a", [asset("10.0.0.77", None, hostnames=["pc-1", "pc-2", "PC-3"], os=nat_os)])
    warnings = api.get("/api/v1/configuration")["warnings"]
    nat = [w for w in warnings if "10.0.0.77 (Plant) looks like a NAT device" in w]
    assert nat and "3 hostnames" in nat[0] and "OS families linux, windows" in nat[0]
    traffic = api.get(f"/api/v1/assets/{moved['id']}")["traffic"]
    assert traffic["totals"] == {"ingress": 100, "egress": 900, "total": 1000}
    assert traffic["services"][0]["role"] == "server" and traffic["services"][0]["service"] == "tcp/443"
    assert traffic["services"][0]["name"] == "https" and traffic["families"][0]["family"] == "web"
    # A dual-stack host: every address the sensor saw it use is the asset's, and its IPv6
    # traffic is its traffic (an entry that only looks like an address is left out).
    dual = asset("10.0.0.40", "00:11:22:33:44:66", ips=[{"ip": "10.0.0.40"}, {"ip": "fd00::40"}, {"ip": "10.0.0"}])
    v6_flow = {"client": "fd00::40", "server": "fd00::9", "port": 22, "proto": "tcp", "client_bytes": 7}
    send("a", [dual], [{**v6_flow, "server_bytes": 3}])
    host = next(a for a in api.get("/api/v1/assets", params={"network": "Plant"})["assets"] if a["ip"] == "10.0.0.40")
    assert host["ips"] == ["10.0.0.40", "fd00::40"]
    assert api.get(f"/api/v1/assets/{host['id']}")["traffic"]["totals"]["total"] == 10


# --- quick actions and configuration --------------------------------------------------


class LocalSensor:
    """The live service's real status endpoint, over a sensing state this test holds."""

    def __init__(self, port: int) -> None:
        self.state = "sensing"
        self.reloads = 0
        self.server = StatusServer(
            f"127.0.0.1:{port}",
            lambda: {"state": self.state, "assets_last_hour": 3, "system": {"cpu_percent": 5.0}},
            {"pause": lambda: self._set("paused"), "resume": lambda: self._set("sensing"), "reload": self._reload},
        )
        self.server.start()

    def _set(self, state: str) -> None:
        self.state = state

    def _reload(self) -> None:
        self.reloads += 1


def test_quick_actions_reach_the_sensor_and_are_acknowledged(hub: HubProcess, tmp_path: Path) -> None:
    from benchmarks.hublab import free_port

    api = hub.api()
    sid, code = api.create_sensor("s")
    where = tmp_path / "s"
    assert register(hub, code, where).returncode == 0
    port = free_port()
    local = LocalSensor(port)
    cfg = sensor_config(where, port)
    try:
        # Registered means Paused: the first heartbeat pauses a service that started sensing.
        assert uplink(where / "hub.json", cfg).returncode == 0
        assert local.state == "paused"
        assert api.sensor(sid)["status"] == "Paused"

        cmd = api.act(sid, "start")
        assert cmd["state"] == "pending"
        out = uplink(where / "hub.json", cfg)
        assert out.returncode == 0, out.stderr
        assert local.state == "sensing"
        done = api.get(f"/api/v1/sensors/{sid}/commands")[0]
        assert done["state"] == "done" and done["delivered"] and done["done"]
        uplink(where / "hub.json", cfg)  # a heartbeat reports the new state
        details = api.sensor(sid)
        assert details["status"] == "Sensing" and details["active_assets_last_hour"] == 3

        marker = tmp_path / "rebooted"
        api.act(sid, "reboot")
        out = uplink(where / "hub.json", cfg, env={"NPS_SENSOR_REBOOT_COMMAND": f"touch {marker}"})
        assert out.returncode == 0 and marker.exists()
        uplink(where / "hub.json", cfg, env={"NPS_SENSOR_REBOOT_COMMAND": f"rm {marker}"})
        assert marker.exists()  # a command runs once

        api.act(sid, "pause")
        uplink(where / "hub.json", cfg)
        assert local.state == "paused"

        r = api.http.delete(f"/api/v1/sensors/{sid}")
        assert r.status_code == 409 and "deregister it" in r.json()["detail"]
        api.act(sid, "deregister")
        assert api.sensor(sid)["status"] == "Deregistered"
        out = uplink(where / "hub.json", cfg)
        assert out.returncode == 0, out.stderr
        assert not (where / "hub.json").exists()
        states = {c["action"]: c["state"] for c in api.get(f"/api/v1/sensors/{sid}/commands")}
        assert states == {"start": "done", "reboot": "done", "pause": "done", "deregister": "done"}
        assert api.http.delete(f"/api/v1/sensors/{sid}").status_code == 200
        assert api.http.get(f"/api/v1/sensors/{sid}").status_code == 404
    finally:
        local.server.stop()


def test_configuration_is_checked_and_pushed_in_the_sensors_schema(hub: HubProcess, tmp_path: Path) -> None:
    from benchmarks.hublab import free_port

    api = hub.api()
    a_id, a_code = api.create_sensor("a")
    _, b_code = api.create_sensor("b")
    where = tmp_path / "a"
    assert register(hub, a_code, where).returncode == 0
    assert register(hub, b_code, tmp_path / "b").returncode == 0
    bad = api.http.put(
        "/api/v1/configuration",
        json={"internal": [{"name": "office", "ranges": ["10.1.0.0/16", "10.1.300.0/24"]}]},
    )
    assert bad.status_code == 422
    assert "internal[0].ranges[1]" in bad.json()["detail"] and "10.1.300.0/24" in bad.json()["detail"]
    bad = api.http.put(
        "/api/v1/configuration", json={"internal": [{"name": "x", "ranges": ["10.0.0.0/8"], "sensors": ["nope"]}]}
    )
    assert bad.status_code == 422 and "no sensor is named 'nope'" in bad.json()["detail"]
    doc = {
        "internal": [
            {"name": "office", "sensors": ["a"], "ranges": ["10.1.0.0/16"], "inventory": True},
            {"name": "guests", "ranges": ["10.9.0.0/16"], "inventory": False, "type": "dhcp"},
            {"name": "plant", "sensors": ["b"], "ranges": ["10.1.5.0/24"]},
        ],
        "excluded": {"ips": ["10.1.0.66"], "macs": ["00:11:22:33:44:55"]},
        "monitor_external": [{"name": "social", "targets": ["www.facebook.com", "31.13.65.36"]}],
        "general": {"recipients": ["ops@example.com"]},
    }
    saved = api.http.put("/api/v1/configuration", json=doc)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["version"] == 1
    assert any("sensors a and b both inventory" in w for w in body["warnings"])

    port = free_port()
    local = LocalSensor(port)
    cfg = sensor_config(where, port, extra="reporting: {new_assets_window: 60}\n")
    try:
        out = uplink(where / "hub.json", cfg)
        assert out.returncode == 0, out.stderr
        loaded = config.load(str(cfg))
        assert [g.name for g in loaded.internal] == ["office", "guests"]  # plant is b's only
        assert [r.text for r in loaded.internal[0].ranges] == ["10.1.0.0/16"]
        assert loaded.monitor[0].domains == ["www.facebook.com"]
        assert loaded.reporting.new_assets == 60 and loaded.sensing.status == f"127.0.0.1:{port}"  # kept
        assert local.reloads == 1
        uplink(where / "hub.json", cfg)
        assert api.sensor(a_id)["config_version"] == 1
        assert local.reloads == 1  # nothing new, nothing reloaded
    finally:
        local.server.stop()


# --- the way out: proxies -----------------------------------------------------------


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    try:
        p = Tinyproxy(tmp_path, "sensor", "proxy-secret")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def test_the_uplink_goes_through_a_proxy_with_basic_auth(hub: HubProcess, proxy: Tinyproxy, tmp_path: Path) -> None:
    api = hub.api()
    sid, code = api.create_sensor("behind-proxy")
    where = tmp_path / "p"
    where.mkdir()
    proxy.env_file(where / "proxy.env", "basic", "sensor", "wrong")
    refused = register(hub, code, where)
    assert refused.returncode == 2 and "refused the credentials" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "wrong" not in refused.stderr
    proxy.env_file(where / "proxy.env", "basic", "sensor", "proxy-secret")
    done = register(hub, code, where)
    assert done.returncode == 0, done.stderr
    assert f"CONNECT 127.0.0.1:{hub.port}" in proxy.logtext() or "CONNECT" in proxy.logtext()

    spool = Spool(str(where / "spool"), 100 << 20)
    for r in engine_reports(tmp_path, 3):
        spool.write(r)
    cfg = sensor_config(where, extra=f"proxy: {{file: {where / 'proxy.env'}}}\n")
    out = sensor_cmd("uplink", "--once", "--state", str(where / "hub.json"), "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert not spool.pending()
    assert api.get("/api/v1/flows", params={"sensor": sid})["total"] > 0
    assert "proxy-secret" not in out.stderr


def test_socks_proxies_are_refused_clearly(hub: HubProcess, tmp_path: Path) -> None:
    where = tmp_path / "x"
    where.mkdir()
    (where / "proxy.env").write_text("NPS_PROXY_ADDRESS=socks5://127.0.0.1\nNPS_PROXY_PORT=1080\n")
    out = register(hub, "12345678901234", where)
    assert out.returncode == 2 and "SOCKS proxy" in out.stderr and out.stderr.count("\n") == 1

    # A SOCKS server answers CONNECT with SOCKS bytes: recognised, not a traceback.
    listener = __import__("socket").create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def socks() -> None:
        for _ in range(3):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"\x05\xff")

    threading.Thread(target=socks, daemon=True).start()
    (where / "proxy.env").write_text(f"NPS_PROXY_ADDRESS=127.0.0.1\nNPS_PROXY_PORT={port}\n")
    out = register(hub, "12345678901234", where)
    listener.close()
    assert out.returncode == 2 and "did not answer as an HTTP proxy" in out.stderr, out.stderr

    (where / "proxy.env").write_text("NPS_PROXY_ADDRESS=127.0.0.1\nNPS_PROXY_PORT=3128\nNPS_PROXY_AUTH=ntlm\n")
    out = register(hub, "12345678901234", where)
    assert out.returncode == 2 and "needs NPS_PROXY_USER" in out.stderr


def test_the_hubs_certificate_is_verified(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("s")
    where = tmp_path / "s"
    where.mkdir()
    code_file = where / "code"
    code_file.write_text(code)
    out = sensor_cmd("register", "--hub", hub.url, "--code-file", str(code_file), "--state", str(where / "hub.json"))
    assert out.returncode == 2 and "did not verify" in out.stderr and "--ca" in out.stderr
    out = sensor_cmd("register", "--hub", hub.url.replace("https://127.0.0.1", "http://192.0.2.1"), stdin=code)
    assert out.returncode == 2 and "HTTPS only" in out.stderr


def test_hub_cli_errors_are_one_line(tmp_path: Path) -> None:
    from benchmarks.hublab import HUB_BIN

    busy = __import__("socket").create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        out = subprocess.run(
            [str(HUB_BIN), "--data", str(tmp_path / "d"), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        busy.close()
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "cannot listen" in out.stderr
    out = subprocess.run(
        [str(HUB_BIN), "--data", str(tmp_path / "d"), "--database", "postgresql://nobody@127.0.0.1:1/x", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "is the server running" in out.stderr
    out = subprocess.run(
        [str(HUB_BIN), "--data", str(tmp_path / "d"), "user", "bob"],
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and out.stderr == "nps-hub: password: at least 8 characters (and at most 1,024)\n"


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from nps_hub import db
    from nps_hub.models import Base

    engine = db.engine_for(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.migrate(engine)
    db.migrate(engine)  # twice: idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_upgrade_folds_duplicate_assets_and_keeps_roles_and_flows(tmp_path: Path) -> None:
    """A database of the hub before issue 14, with the duplicates concurrent uploads made:
    upgraded, each MAC is one asset again (sightings and flows moved to it), admins stay
    administrators, other users become operators, the flows stay."""
    from alembic import command
    from sqlalchemy import text

    from nps_hub import db

    engine = db.engine_for(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    command.upgrade(db.alembic_config(engine), "0003")
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        for name, admin in (("root", 1), ("ops", 0)):
            conn.execute(text("INSERT INTO users (name, password_hash, admin, disabled, created) "
                              "VALUES (:n, 'x', :a, 0, :t)"), {"n": name, "a": admin, "t": now})  # fmt: skip
        for sid in (1, 2):
            conn.execute(text("INSERT INTO sensors (id, name, location, network, created, model, version, hostname, "
                              "mgmt_ipv4, mgmt_ipv6, mac, want_sensing, state, status, config_version) VALUES "
                              "(:i, :n, '', 'Plant', :t, '', '', '', '', '', '', 0, '', '{}', 0)"),
                         {"i": sid, "n": f"s{sid}", "t": now})  # fmt: skip
            conn.execute(text("INSERT INTO reports (id, sensor_id, report_id, kind, window_start, window_end, "
                              "received, assets, flows, size, stats) VALUES (:i, :i, 'r', 'update', '', '', :t, 1, 1, "
                              "1, '{}')"), {"i": sid, "t": now})  # fmt: skip
        for aid in (1, 2, 3):  # 1 and 2: the same MAC, made twice by two sensors at once
            mac = "00:11:22:33:44:55" if aid < 3 else "00:11:22:33:44:66"
            conn.execute(text("INSERT INTO assets (id, network, mac, ip, ips, macs, hostname, class, \"group\", "
                              "first_seen, last_seen, packets, bytes_in, bytes_out, raw) VALUES (:i, 'Plant', :m, "
                              "'10.0.0.1', '[]', '[]', '', 'inventoried', '', '', '', 1, 1, 1, '{}')"),
                         {"i": aid, "m": mac})  # fmt: skip
        for aid, sid in ((1, 1), (2, 2), (2, 1), (3, 1)):
            conn.execute(text("INSERT INTO sightings VALUES (:a, :s, '', '', 1, 1, 1)"), {"a": aid, "s": sid})
        conn.execute(text("INSERT INTO flows (sensor_id, report_id, network, client, server, port, proto, "
                          "client_bytes, server_bytes, client_packets, server_packets, first_seen, last_seen, "
                          "client_asset, server_asset) VALUES (2, 2, 'Plant', '10.0.0.1', '10.0.0.2', 80, 'tcp', "
                          "5, 6, 1, 1, '', '', 2, 3)"))  # fmt: skip
    db.migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, mac FROM assets ORDER BY id")).all() == [
            (1, "00:11:22:33:44:55"),
            (3, "00:11:22:33:44:66"),
        ]
        assert sorted(conn.execute(text("SELECT asset_id, sensor_id FROM sightings")).all()) == [(1, 1), (1, 2), (3, 1)]
        assert conn.execute(text("SELECT client_asset, server_asset, client_bytes FROM flows")).all() == [(1, 3, 5)]
        assert dict(conn.execute(text("SELECT name, role FROM users")).all()) == {
            "root": "administrator",
            "ops": "operator",
        }


# --- PostgreSQL -----------------------------------------------------------------------


@pytest.fixture
def pg_hub(tmp_path: Path) -> Iterator[HubProcess]:
    from tests.hub.databases import database

    with database("postgresql") as (url, _), HubProcess(tmp_path, database=url) as h:
        yield h


@pytest.mark.slow
def test_the_lifecycle_on_postgresql(pg_hub: HubProcess, tmp_path: Path) -> None:
    """Registration, actions, reports across a restart, merge, asset deletion, deregistration."""
    from benchmarks.hublab import free_port

    hub = pg_hub
    api = hub.api()
    sid, code = api.create_sensor("pg-1", "cellar")
    _, other = api.create_sensor("pg-2")
    where = tmp_path / "s"
    assert register(hub, code, where).returncode == 0
    again = register(hub, code, tmp_path / "again")
    assert again.returncode == 2 and "already used" in again.stderr
    assert register(hub, other, tmp_path / "s2").returncode == 0
    assert not (hub.data / "hub.sqlite3").exists()

    port = free_port()
    local = LocalSensor(port)
    cfg = sensor_config(where, port)
    spool = Spool(str(where / "spool"), 100 << 20)
    reports = engine_reports(tmp_path, 6)
    try:
        api.act(sid, "start")
        for r in reports[:3]:
            spool.write(r)
        assert uplink(where / "hub.json", cfg).returncode == 0
        assert local.state == "sensing" and not spool.pending()
        hub.stop()
        for r in reports[3:]:
            spool.write(r)
        failed = uplink(where / "hub.json", cfg)
        assert failed.returncode == 2 and "cannot reach the hub" in failed.stderr
        assert len(spool.pending()) == 3
        hub.start()
        api = hub.api()
        assert uplink(where / "hub.json", cfg).returncode == 0
        assert not spool.pending()
        assert api.sensor(sid)["status"] == "Sensing"
        flows = api.get("/api/v1/flows", params={"sensor": sid, "limit": 10000})
        assert flows["total"] == sum(len(r["flows"]) for r in reports)
        assets = api.get("/api/v1/assets", params={"sensor": sid, "limit": 10000})
        assert assets["total"] > 0

        api.act(sid, "delete_assets")
        assert api.get("/api/v1/assets", params={"sensor": sid})["total"] == 0
        assert api.get("/api/v1/flows", params={"sensor": sid})["total"] == 0
        api.act(sid, "deregister")
        assert uplink(where / "hub.json", cfg).returncode == 0
        assert not (where / "hub.json").exists()
        assert api.http.delete(f"/api/v1/sensors/{sid}").status_code == 200
    finally:
        local.server.stop()


def test_the_uplink_authenticates_to_an_ntlm_proxy(hub: HubProcess, tmp_path: Path) -> None:
    from benchmarks.hublab import NtlmProxy

    pytest.importorskip("spnego", reason="pyspnego is not installed")
    proxy = NtlmProxy(tmp_path, "PLANT", "sensor", "ntlm-secret")
    proxy.start()
    try:
        api = hub.api()
        sid, code = api.create_sensor("ntlm")
        where = tmp_path / "n"
        where.mkdir()
        proxy.env_file(where / "proxy.env", "PLANT\\sensor", "wrong")
        refused = register(hub, code, where)
        assert refused.returncode == 2 and "refused the credentials" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1 and proxy.refused == 1
        proxy.env_file(where / "proxy.env", "PLANT\\sensor", "ntlm-secret")
        done = register(hub, code, where)
        assert done.returncode == 0, done.stderr
        spool = Spool(str(where / "spool"), 100 << 20)
        for r in engine_reports(tmp_path, 2):
            spool.write(r)
        cfg = sensor_config(where, extra=f"proxy: {{file: {where / 'proxy.env'}}}\n")
        out = sensor_cmd("uplink", "--once", "--state", str(where / "hub.json"), "--config", str(cfg))
        assert out.returncode == 0, out.stderr
        assert not spool.pending() and proxy.tunnels >= 2
        assert api.get("/api/v1/flows", params={"sensor": sid})["total"] > 0
    finally:
        proxy.stop()


# --- registration pinned by fingerprint, and from the deployment's properties --------
# Without the hub's certificate file: pinned by its SHA-256 (what fits in a deployment
# property), and `nps-sensor appliance register` (nps-register.service at boot).


def fingerprint(hub: HubProcess) -> str:
    assert hub.cert is not None
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest()


def colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i : i + 2] for i in range(0, 64, 2)).upper()


def test_a_fingerprint_pins_the_hub_and_a_wrong_one_sends_nothing(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("pinned-1")
    code_file = tmp_path / "code"
    code_file.write_text(code)
    code_file.chmod(0o600)
    args = ["register", "--hub", hub.url, "--code-file", str(code_file), "--state", str(tmp_path / "hub.json")]

    other = "00" * 32
    r = sensor_cmd(*args, "--fingerprint", colons(other))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "did not verify" in r.stderr and colons(fingerprint(hub)) in r.stderr and "nothing was sent" in r.stderr
    assert not (tmp_path / "hub.json").exists()

    # The code was not spent on the wrong certificate: it still registers, pinned by the right one.
    r = sensor_cmd(*args, "--fingerprint", colons(fingerprint(hub)))  # as people copy it: colons, capitals
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "hub.json").read_text())
    assert hub.cert is not None and saved["ca_pem"].strip() == hub.cert.read_text().strip()

    r = sensor_cmd(*args, "--fingerprint", "not-hex")
    assert r.returncode == 2 and "64 hex digits" in r.stderr
    r = sensor_cmd(*args, "--fingerprint", other, "--ca", str(hub.cert))
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_without_a_pin_a_self_signed_hub_is_refused(hub: HubProcess, tmp_path: Path) -> None:
    _, code = hub.api().create_sensor("unpinned-1")
    with pytest.raises(SensorError, match=r"certificate .* did not verify"):
        register_in_process(hub.url, code, str(tmp_path / "hub.json"))


def deployed_root(where: Path, hub_url: str, code: str, pin: str) -> Path:
    root = where / "root"
    s = Settings(registration_hub=hub_url, registration_code=code, registration_fingerprint=pin)
    write(root, files(s))
    return root


def test_registration_from_the_deployment(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, code = api.create_sensor("deployed-1")
    root = deployed_root(tmp_path, hub.url, code, fingerprint(hub))
    assert (root / "etc/nps-sensor/hub.env").read_text().count(hub.url) == 1
    assert register_from_deployment(root) == 0
    state = root / "var/lib/nps-sensor/hub.json"
    assert state.stat().st_mode & 0o777 == 0o600 and json.loads(state.read_text())["sensor_id"] == sid
    assert not (root / "etc/nps-sensor/registration").exists()  # a code works once: gone once used
    assert register_from_deployment(root) == 0  # registered already: nothing to do
    assert api.sensor(sid)["status"] == "Paused"


def test_registration_from_the_deployment_retries_or_stops(hub: HubProcess, tmp_path: Path) -> None:
    _, code = hub.api().create_sensor("deployed-2")
    # The hub not reachable (yet): EX_TEMPFAIL, which the service retries; the code is kept.
    unreachable = deployed_root(tmp_path / "a", f"https://127.0.0.1:{free_port()}", code, "")
    assert register_from_deployment(unreachable) == EX_TEMPFAIL
    assert (unreachable / "etc/nps-sensor/registration").exists()
    # A code the hub refuses: an error (exit 2 from the command), not retried.
    wrong = "12345678901234" if code != "12345678901234" else "43210987654321"
    refused = deployed_root(tmp_path / "b", hub.url, wrong, fingerprint(hub))
    with pytest.raises(SensorError, match="personalization code not recognised"):
        register_from_deployment(refused)
    # Nothing from the deployment: one line saying where to register instead.
    bare = tmp_path / "c"
    write(bare, files(Settings()))
    with pytest.raises(SensorError, match="register at the console"):
        register_from_deployment(bare)


def test_deployment_settings_are_checked() -> None:
    from nps_sensor.appliance.settings import SettingsError

    for hub_url, pin, field in (
        ("http://hub.example.org", "", "registration_hub"),
        ("hub.example.org", "", "registration_hub"),
        ("https://hub.example.org", "abc", "registration_fingerprint"),
    ):
        with pytest.raises(SettingsError) as e:
            Settings(registration_hub=hub_url, registration_fingerprint=pin).check()
        assert e.value.field == field


def test_a_self_signed_hub_prints_the_fingerprint_sensors_pin(tmp_path: Path) -> None:
    """`nps-hub serve --self-signed`: a certificate of its own, made once and kept (its
    fingerprint is what sensors pin), the key readable by the hub's user only."""
    hub = HubProcess(tmp_path, tls=False, self_signed=True)
    data = tmp_path / "hub-data"
    with hub:
        said = re.search(r"SHA-256 ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", hub.log.read_text())
        assert said, hub.log.read_text()
        pin = said.group(1)
        cert = data / "tls" / "hub.crt"
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert colons(hashlib.sha256(der).hexdigest()) == pin
        assert (data / "tls" / "hub.key").stat().st_mode & 0o777 == 0o600
        _, code = hub.api().create_sensor("self-signed-1")
        code_file = tmp_path / "code"
        code_file.write_text(code)
        args = ["register", "--hub", hub.url, "--code-file", str(code_file), "--state", str(tmp_path / "hub.json")]
        r = sensor_cmd(*args, "--fingerprint", pin)
        assert r.returncode == 0, r.stderr
    with hub:  # started again: the same certificate
        assert hub.log.read_text().count(pin) == 2
