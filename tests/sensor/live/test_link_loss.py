"""`nps-sensor run` through link loss, in network namespaces: a sniffing link down for
20 s, a 1 s flap (switched off, and the carrier lost), the interface deleted and made
again, the service started with its link down or its interface missing.

Each time with traffic before, during and after: a capture replayed before and after
(and into the dead link during), and trafgen's steady background flow throughout.
What must hold: no crash and no restart; the status endpoint answers every time it is
asked and shows the interface's state; every packet the kernel received is in the
engine's counters and in the reports (the capture's traffic exactly twice, as
`analyze` counts it; the background flow's packets, all of them); with an uplink, the
hub shows the outage as an event. Cost: about two minutes, 20 s of it the outage.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import SENSOR_BIN, HubProcess
from benchmarks.lab import NOISE_FROM, Lab, Sensor, missing
from nps_sensor.synth import write_capture
from tests.sensor.live.compare import Flows, analyze_result, flow_sums
from tests.support.waiting import wait_for

pytestmark = pytest.mark.live

if (reason := missing("tcpreplay", "trafgen")) is not None:
    pytest.skip(reason, allow_module_level=True)

PACKETS = 10_000  # in the replayed capture
NOISE_PPS = 1000


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(1)
    try:
        yield lab
    finally:
        lab.close()


@dataclass
class Watch:
    """Asks the status endpoint every half second, from start to stop, in a thread."""

    sensor: Sensor
    links: list[tuple[str, bool]] = field(default_factory=list)  # (link, capturing) as answered
    failures: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.5):
            try:
                iface = self.sensor.status()["interfaces"][0]
                self.links.append((iface["link"], iface["capturing"]))
            except (subprocess.CalledProcessError, KeyError, ValueError) as e:
                self.failures.append(str(e))

    def saw(self, link: str) -> bool:
        return any(state == link for state, _ in self.links)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(30)


def capturing(sensor: Sensor) -> bool:
    iface = sensor.status()["interfaces"][0]
    return bool(iface["link"] == "up" and iface["capturing"])


def run_outage(lab: Lab, tmp_path: Path, sensor: Sensor, outage: Callable[[Path], None]) -> Outcome:
    """The capture before (unless the link is down already), `outage(capture)`, the
    capture after; background traffic throughout, and the status asked all along."""
    capture = tmp_path / "c.pcap"
    write_capture(str(capture), PACKETS, 17, "plain")
    watch = Watch(sensor)
    noise = lab.noise(tmp_path, NOISE_PPS)
    if capturing(sensor):
        lab.replay(capture)
        sensor.wait_received(PACKETS)
    outage(capture)
    wait_for(lambda: capturing(sensor), timeout=30, why="capturing again")
    noise.stop()  # a new one: the sending end may have gone with the interface
    noise = lab.noise(tmp_path, NOISE_PPS)
    lab.replay(capture)
    time.sleep(1)
    noise.stop()
    sensor.wait_settled()
    watch.stop()
    final = sensor.status()
    assert sensor.stop() == 0
    return Outcome(sensor, capture, watch, final)


@dataclass
class Outcome:
    sensor: Sensor
    capture: Path
    watch: Watch
    final: dict[str, Any]  # the status at the end

    def check(self, times: int, lost: str) -> dict[str, int]:
        """No restart, the status always answered and showed `lost`; every packet
        received is in the engine's counters and in the reports; the capture's traffic
        `times` over."""
        log = self.sensor.logtext()
        assert "Traceback" not in log and "stopped (exit code" not in log, log
        assert log.count("sensing on ") == 1  # one start: no restart
        assert not self.watch.failures and len(self.watch.links) >= 5, self.watch.failures
        assert self.watch.saw(lost), self.watch.links
        iface = self.final["interfaces"][0]
        assert (iface["link"], iface["capturing"], iface["dropped"]) == ("up", True, 0)
        received = iface["received"]
        assert self.final["stats"]["packets"] == received  # the engine's counters are the kernel's
        reports = self.sensor.reports()
        flows = [f for r in reports for f in r["flows"]]
        noise = [f for f in flows if NOISE_FROM in (f["client"], f["server"])]
        replayed = flow_sums([f for f in flows if f not in noise])
        noise_packets = sum(f["client_packets"] + f["server_packets"] for f in noise)
        _, expected, _ = analyze_result(self.capture, self.sensor.config)
        assert replayed == times_over(expected, times)
        assert noise_packets == received - times * PACKETS  # all of the background flow received
        assert noise_packets > 0
        return {"received": received, "background": noise_packets, "reports": len(reports)}


def times_over(flows: Flows, times: int) -> Flows:
    return {k: [n * times for n in v] for k, v in flows.items()}


def test_a_link_down_for_20_seconds_is_an_event_on_the_hub(lab: Lab, tmp_path: Path) -> None:
    hub_side, _ = lab.management()
    sensor = Sensor(lab, tmp_path, workers=2, windows=(2, 4))
    # The uplink drains a spool of its own: the reports stay here for the test to count.
    uplink_config = tmp_path / "uplink.yaml"
    uplink_config.write_text(sensor.config.read_text().replace(str(sensor.spool), str(tmp_path / "elsewhere")))
    with HubProcess(tmp_path, host=hub_side, env={"NPS_HUB_SWEEP": "1"}) as hub:
        api = hub.api()
        sid, code = api.create_sensor("quay-7")
        state = tmp_path / "hub.json"
        register = subprocess.run(
            ["ip", "netns", "exec", lab.sensor, str(SENSOR_BIN), "register", "--hub", hub.url, "--ca", str(hub.cert),
             "--state", str(state), "--proxy-file", "-"],
            input=code + "\n", capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert register.returncode == 0, register.stderr
        sensor.start()
        with (tmp_path / "uplink.log").open("w") as out:
            uplink = subprocess.Popen(
                ["ip", "netns", "exec", lab.sensor, str(SENSOR_BIN), "uplink", "--config", str(uplink_config),
                 "--state", str(state), "--proxy-file", "-"],
                stdout=out, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        lab.processes.append(uplink)
        wait_for(lambda: sensor.status()["state"] == "paused", why="the uplink to pause the new sensor")
        api.act(sid, "start")
        wait_for(lambda: sensor.status()["state"] == "sensing", why="the hub's start")

        def events() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = api.get("/api/v1/events", params={"sensor": sid})
            return [e for e in found if e["kind"] == "Asset Reporting Stopped"]

        def down_20s(capture: Path) -> None:
            lab.link("down")
            went = time.monotonic()
            lab.replay(capture)  # into the dead link: lost before the sensor
            event = wait_for(lambda: [e for e in events() if e["open"]], timeout=15, why="the hub's event")
            assert "sniff0 down" in event[0]["detail"]
            time.sleep(max(0.0, went + 20 - time.monotonic()))
            lab.link("up")

        outcome = run_outage(lab, tmp_path, sensor, down_20s)
        wait_for(lambda: events() and not any(e["open"] for e in events()), timeout=20, why="the event's end")
        uplink.terminate()
        uplink.wait(30)
    counts = outcome.check(2, "down")
    log = sensor.logtext()
    assert "sniff0: link down" in log and "link up after" in log
    print("link down 20 s:", counts)


def test_a_one_second_flap(lab: Lab, tmp_path: Path) -> None:
    sensor = Sensor(lab, tmp_path, workers=2, windows=(2, 4))

    def flap(capture: Path) -> None:
        lab.link("down")  # switched off: the socket gets ENETDOWN
        time.sleep(1)
        lab.link("up")
        wait_for(lambda: capturing(sensor), timeout=30, why="capturing again")
        lab.replay(capture)  # a second time, between the two flaps
        sensor.wait_received(2 * PACKETS)
        # The carrier lost (the mirror's end switched off): no error, and no packet.
        subprocess.run(["ip", "-n", lab.mirror, "link", "set", lab.ports[0], "down"], check=True)
        time.sleep(1)
        subprocess.run(["ip", "-n", lab.mirror, "link", "set", lab.ports[0], "up"], check=True)

    sensor.start()
    print("1 s flap:", run_outage(lab, tmp_path, sensor, flap).check(3, "down"))


def test_an_interface_deleted_and_made_again(lab: Lab, tmp_path: Path) -> None:
    sensor = Sensor(lab, tmp_path, workers=2, windows=(2, 4))

    def replug(capture: Path) -> None:
        lab.unplug()
        wait_for(lambda: sensor.status()["interfaces"][0]["link"] == "missing", why="missing")
        time.sleep(2)
        lab.plug()

    sensor.start()
    counts = run_outage(lab, tmp_path, sensor, replug).check(2, "missing")
    log = sensor.logtext()
    assert "sniff0: gone" in log and "capturing again (new sockets)" in log
    print("deleted and made again:", counts)


def test_started_with_the_link_down(lab: Lab, tmp_path: Path) -> None:
    def come_up(capture: Path) -> None:
        lab.replay(capture)  # into the dead link
        time.sleep(3)
        lab.link("up")

    sensor = Sensor(lab, tmp_path, workers=2, windows=(2, 4))
    lab.link("down")
    sensor.start()
    counts = run_outage(lab, tmp_path, sensor, come_up).check(1, "down")
    assert "sniff0 is down: no traffic until its link comes up" in sensor.logtext()
    print("started with the link down:", counts)
