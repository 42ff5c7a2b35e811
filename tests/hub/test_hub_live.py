"""End to end: a real `nps-sensor run` capturing a replay in a network namespace,
registered with a real hub through `nps-sensor register`, steered and drained by
`nps-sensor uplink`, both in the sensor's namespace, reaching the hub over HTTPS on
a management veth pair the test creates (link-local addresses; nothing leaves it).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import SENSOR_BIN, HubProcess
from benchmarks.lab import Lab, Sensor, missing, sh
from nps_hub.ingest import addresses
from nps_sensor.synth import write_capture
from tests.hub import databases
from tests.hub.databases import KINDS
from tests.sensor.live.compare import flow_sums
from tests.support import waiting

pytestmark = pytest.mark.live


if (reason := missing("tcpreplay", "openssl")) is not None:
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def lab() -> Iterator[tuple[Lab, str]]:
    """The capture lab plus a management link: the hub's side in this namespace."""
    lab = Lab(1)
    tag = lab.sensor.rsplit("-", 1)[1]
    net = 16 + os.getpid() % 200
    hub_side, sensor_side = f"169.254.{net}.1", f"169.254.{net}.2"
    try:
        sh("ip", "link", "add", f"nps-hm-{tag}", "type", "veth", "peer", "name", f"nps-hs-{tag}")
        sh("ip", "link", "set", f"nps-hs-{tag}", "netns", lab.sensor, "name", "mgmt0")
        sh("ip", "addr", "add", f"{hub_side}/30", "dev", f"nps-hm-{tag}")
        sh("ip", "link", "set", f"nps-hm-{tag}", "up")
        sh("ip", "-n", lab.sensor, "addr", "add", f"{sensor_side}/30", "dev", "mgmt0")
        sh("ip", "-n", lab.sensor, "link", "set", "mgmt0", "up")
        yield lab, hub_side
    finally:
        lab.close()
        subprocess.run(["ip", "link", "delete", f"nps-hm-{tag}"], check=False, capture_output=True)


def in_ns(lab: Lab, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", lab.sensor, str(SENSOR_BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


wait_for = functools.partial(waiting.wait_for, timeout=90, every=0.5)  # a live sensor answers slower


@pytest.fixture(params=KINDS)
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The hub's database: SQLite in its data directory, or a throwaway PostgreSQL cluster."""
    with databases.database(request.param) as (url, _):
        yield url


def start_uplink(lab: Lab, tmp_path: Path, sensor: Sensor) -> subprocess.Popen[bytes]:
    """`nps-sensor uplink` in the sensor's namespace, its log in uplink.log."""
    with (tmp_path / "uplink.log").open("w") as log:
        agent = subprocess.Popen(
            ["ip", "netns", "exec", lab.sensor, str(SENSOR_BIN), "uplink", "--config", str(sensor.config),
             "--state", str(tmp_path / "hub.json"), "--proxy-file", "-"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    lab.processes.append(agent)  # type: ignore[arg-type]
    return agent


def test_a_sensor_end_to_end_through_the_hub(lab: tuple[Lab, str], database: str, tmp_path: Path) -> None:
    the_lab, address = lab
    hub = HubProcess(tmp_path, host=address, database=database)
    hub.start()
    try:
        api = hub.api()
        sid, code = api.create_sensor("crane-1", "quay 4")
        reg = in_ns(the_lab, "register", "--hub", hub.url, "--ca", str(hub.cert), "--state",
                    str(tmp_path / "hub.json"), "--proxy-file", "-", stdin=code + "\n")  # fmt: skip
        assert reg.returncode == 0, reg.stderr
        facts = api.sensor(sid)
        assert facts["status"] == "Paused" and facts["mgmt_ipv4"] == address.rsplit(".", 1)[0] + ".2"
        assert (
            facts["mac"]
            and facts["mac"]
            == sh("ip", "-n", the_lab.sensor, "-j", "link", "show", "mgmt0").split('"address":"')[1].split('"')[0]
        )

        sensor = Sensor(the_lab, tmp_path, workers=1, windows=(2, 4))
        sensor.start()
        agent = start_uplink(the_lab, tmp_path, sensor)
        capture = tmp_path / "c.pcap"
        write_capture(str(capture), 6_000, 13, "plain")
        try:
            # Registered means Paused: the uplink pauses the service that started sensing.
            wait_for(lambda: sensor.status()["state"] == "paused")
            the_lab.replay(capture, "--topspeed")
            time.sleep(2)
            assert sensor.received() == 0

            api.act(sid, "start")
            wait_for(lambda: api.sensor(sid)["status"] == "Sensing")
            the_lab.replay(capture)
            sensor.wait_received(6_000)
            expected = _analyze(capture, sensor.config)
            wait_for(lambda: _hub_flows(api, sid) == expected[1], timeout=120)
            assets = api.get("/api/v1/assets", params={"sensor": sid, "limit": 10000})["assets"]
            assert {ip for a in assets for ip in a["ips"]} == expected[0]
            detail = api.get(f"/api/v1/assets/{assets[0]['id']}")
            assert detail["raw"] and detail["sensors"][0]["name"] == "crane-1"
            # The heartbeat that counts them may come after the report that stored them.
            wait_for(lambda: api.sensor(sid)["active_assets_last_hour"], why="a heartbeat counting the assets")
            assert api.sensor(sid)["cpu_percent"] is not None

            api.act(sid, "pause")
            wait_for(lambda: api.sensor(sid)["status"] == "Paused")
            assert sensor.status()["state"] == "paused"
            api.act(sid, "delete_assets")
            assert api.get("/api/v1/assets", params={"sensor": sid})["total"] == 0
            api.act(sid, "deregister")
            assert agent.wait(60) == 0
            assert not (tmp_path / "hub.json").exists()
            commands = api.get(f"/api/v1/sensors/{sid}/commands")
            assert {c["action"]: c["state"] for c in commands} == {
                "start": "done",
                "pause": "done",
                "delete_assets": "done",
                "deregister": "done",
            }
        finally:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(30)
            sensor.stop()
        text = (tmp_path / "uplink.log").read_text()
        assert "Traceback" not in text and "reports uploaded" in text
    finally:
        hub.stop()


def _analyze(capture: Path, config: Path) -> tuple[set[str], dict[Any, list[int]]]:
    out = subprocess.run(
        [str(SENSOR_BIN), "analyze", str(capture), "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    # Every address of every asset: which one a window's report names first depends on
    # where the window boundaries fall (a dual-stack host), the addresses do not.
    ips = {i for a in result["assets"] if a["ip"] for i in addresses(a)}
    return ips, flow_sums(result["flows"])


def _hub_flows(api: Any, sid: int) -> dict[Any, list[int]]:
    return flow_sums(api.get("/api/v1/flows", params={"sensor": sid, "limit": 10000})["flows"])


POISONED = ("dns", "llmnr", "mdns-hostname", "mdns-txt")


def test_poisoned_names_reach_a_postgresql_hub_cleaned(lab: tuple[Lab, str], tmp_path: Path) -> None:
    """A capture whose DNS, LLMNR and mDNS answers name a device `ev\\x00il\\x1b[2J`, through
    a live sensor to a hub on PostgreSQL: stored with the names cleaned. Then a report
    the hub refuses, dropped into the spool: set aside, and the next report arrives."""

    the_lab, address = lab
    with databases.database("postgresql") as (url, _):
        _poisoned_names(the_lab, address, tmp_path, url)
    text = (tmp_path / "uplink.log").read_text()
    assert "Traceback" not in text and "set aside" in text


def _poisoned_names(the_lab: Lab, address: str, tmp_path: Path, url: str) -> None:
    """The test above against a hub on `url`."""
    from nps_sensor.synth.pcapw import PcapWriter
    from tests.sensor.discovery.dissectors.frames import A4
    from tests.sensor.discovery.test_printable import SOURCES

    hub = HubProcess(tmp_path, host=address, database=url)
    agent: subprocess.Popen[bytes] | None = None
    sensor = Sensor(the_lab, tmp_path, workers=1, windows=(2, 4))
    try:
        hub.start()
        api = hub.api()
        sid, code = api.create_sensor("crane-9")
        reg = in_ns(the_lab, "register", "--hub", hub.url, "--ca", str(hub.cert), "--state",
                    str(tmp_path / "hub.json"), "--proxy-file", "-", stdin=code + "\n")  # fmt: skip
        assert reg.returncode == 0, reg.stderr
        sensor.start()
        agent = start_uplink(the_lab, tmp_path, sensor)
        api.act(sid, "start")
        wait_for(lambda: api.sensor(sid)["status"] == "Sensing")

        poisoned = tmp_path / "poisoned.pcap"
        with PcapWriter(str(poisoned)) as w:
            for i, frame in enumerate(f for s in SOURCES if s.name in POISONED for f in s.frames()):
                w.write(1_700_000_000.0 + i, frame)
        the_lab.replay(poisoned)
        wait_for(lambda: _named(api, A4), timeout=120)
        device = api.get(f"/api/v1/assets/{_named(api, A4)}")
        names = {h["name"] for h in device["raw"]["hostnames"]}
        assert "evil" in names, names
        removed = [e for e in device["raw"]["evidence"] if e["key"] == "removed"]
        assert {"source": "llmnr", "key": "removed", "value": ["hostname", "NUL", "escape sequence"],
                "count": 1} in removed  # fmt: skip
        stored = api.get("/api/v1/assets", params={"limit": 10000})
        text = json.dumps([api.get(f"/api/v1/assets/{a['id']}") for a in stored["assets"]])
        assert "\\u0000" not in text and "\\u001b" not in text

        # A report the hub refuses, first in the spool: set aside, then the next one goes up.
        evil = {"ip": "10.1.1.99", "class": "inventoried", "hostnames": [{"name": "ev\x00il", "source": "dns"}]}
        poison = json.dumps({"kind": "update", "assets": [evil], "flows": []}).encode()
        (sensor.spool / "000000000001-update.json").write_bytes(poison)
        before = api.get("/api/v1/flows", params={"sensor": sid, "limit": 1})["total"]
        capture = tmp_path / "after.pcap"
        write_capture(str(capture), 2_000, 29, "plain")
        the_lab.replay(capture)
        wait_for(lambda: api.get("/api/v1/flows", params={"sensor": sid, "limit": 1})["total"] > before, timeout=120)
        aside = [p.name for p in (sensor.spool / "quarantine").iterdir()]
        assert "000000000001-update.json" in aside
        wait_for(lambda: any(e["kind"] == "Reports Quarantined" for e in api.get("/api/v1/events",
                                                                               params={"sensor": sid})))  # fmt: skip
        assert agent.poll() is None  # one refusal never stops the uplink
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(30)
        sensor.stop()
        hub.stop()


def _named(api: Any, ip: str) -> int | None:
    """The id of the asset at `ip` once it has a hostname, else None."""
    for a in api.get("/api/v1/assets", params={"q": ip, "limit": 100})["assets"]:
        if a["ip"] == ip and a["hostname"]:
            return int(a["id"])
    return None
