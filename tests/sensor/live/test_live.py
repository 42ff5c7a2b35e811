"""`nps-sensor run` on veth pairs in network namespaces, fed by tcpreplay.

Every test builds its own namespaces: a "mirror" namespace where tcpreplay sends,
and a "sensor" namespace where the sensor listens on the other end of each veth
pair. No packet leaves them. Needs root, iproute2 and tcpreplay (./bootstrap).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.lab import BIN, Lab, Sensor, missing
from nps_sensor.live.service import RESTART_LIMIT
from nps_sensor.synth import write_capture
from tests.sensor.live.compare import analyze_result, live_result, per_message_counts_aside, unoriented, write_qinq
from tests.support.waiting import wait_for

pytestmark = pytest.mark.live
NEW_WINDOW = 300  # seconds: the new-assets window of `_sensing`'s sensor (on a grid since the epoch)


if (reason := missing("tcpreplay", "tcpprep")) is not None:
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    pairs = getattr(request, "param", 1)
    lab = Lab(pairs)
    try:
        yield lab
    finally:
        lab.close()


@pytest.mark.parametrize(
    ("wrap", "workers", "lab"),
    [
        ("plain", 1, 1),
        ("vlan", 1, 1),
        ("qinq", 1, 1),
        ("erspan2", 1, 1),
        ("plain", 2, 1),
        ("erspan2", 2, 1),
        ("plain", 2, 2),
    ],
    indirect=["lab"],
    ids=["plain-1-worker", "vlan-1-worker", "qinq-1-worker", "erspan2-1-worker", "plain-2-workers",
         "erspan2-2-workers", "plain-tap-2-interfaces"],
)  # fmt: skip
def test_run_reports_what_analyze_reports(lab: Lab, tmp_path: Path, wrap: str, workers: int) -> None:
    """Every field of every asset and of the engine's counters, and the traffic."""
    capture = tmp_path / f"{wrap}.pcap"
    if wrap == "qinq":
        write_qinq(capture, 20_000, 11)
    else:
        write_capture(str(capture), 20_000, 11, wrap)
    sensor = Sensor(lab, tmp_path, workers=workers)
    sensor.start()
    lab.replay(capture, split=len(lab.sniff) == 2)
    sensor.wait_received(20_000)
    status = sensor.status()
    assert sum(i["dropped"] for i in status["interfaces"]) == 0
    assert sensor.stop() == 0
    live_assets, live_flows, live_stats = live_result(sensor)
    file_assets, file_flows, file_stats = analyze_result(capture, sensor.config)
    if len(lab.sniff) == 2:
        # A TAP's two directions arrive on two interfaces: between a request and its
        # answer on the same ports (NTP 123 to 123) nothing orders them, and the first
        # packet seen names the client. Compare such flows without their orientation.
        live_flows, file_flows = unoriented(live_flows), unoriented(file_flows)
    assert live_flows == file_flows
    if workers > 1:
        live_assets, live_stats = per_message_counts_aside(live_assets, live_stats)
        file_assets, file_stats = per_message_counts_aside(file_assets, file_stats)
    assert live_assets == file_assets
    assert live_stats == file_stats
    if wrap != "plain":
        assert any(a.get("vlans") for a in live_assets.values())
    assert "report" in sensor.logtext() and "Traceback" not in sensor.logtext()


def test_a_crash_keeps_every_closed_window_intact(lab: Lab, tmp_path: Path) -> None:
    capture = tmp_path / "c.pcap"
    write_capture(str(capture), 4_000, 5, "plain")
    sensor = Sensor(lab, tmp_path, windows=(2, 4))
    sensor.start()
    lab.replay(capture, "--topspeed")
    flowing = time.time()  # the first burst is sent: from here on, every window has traffic
    while time.time() - flowing < 11:
        time.sleep(0.3)
        lab.replay(capture, "--topspeed")
    killed = time.time()
    assert sensor.stop(signal.SIGKILL) == -signal.SIGKILL
    before = {p.name: p.read_bytes() for p in sensor.spool.glob("0*.json")}
    reports = sensor.reports()  # every file parses: none is half written
    updates = {_epoch(r["window_end"]) for r in reports if r["kind"] == "update"}
    # Every update window that ended a second after the first burst was sent (on a busy
    # machine, the sensor may read it that much later) and a second before the kill.
    closed = {t for t in range(int(flowing) + 2, int(killed)) if t % 4 == 0 and t < killed - 1}
    assert closed and closed <= updates, (sorted(closed), sorted(updates))
    # Up again, the spool goes on from where it was; what was there stays as it was.
    sensor.start()
    lab.replay(capture, "--topspeed")
    time.sleep(1.5)
    assert sensor.stop() == 0
    after = {p.name: p.read_bytes() for p in sensor.spool.glob("0*.json")}
    assert len(after) > len(before)
    assert all(after[name] == data for name, data in before.items())


def _workers(sensor: Sensor) -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = sensor.status()["capture_workers"]
    return workers


def _replaced(sensor: Sensor, count: int, before: set[int]) -> list[dict[str, Any]]:
    """The workers once `count` were replaced and a new process runs in each place."""

    def settled() -> list[dict[str, Any]]:
        status = sensor.status()
        workers: list[dict[str, Any]] = status["capture_workers"]
        pids = {w["pid"] for w in workers}
        return workers if status["workers_replaced"] == count and pids != before and len(pids) == 2 else []

    return wait_for(settled, 30, why=f"{count} capture workers replaced")


def _sensing(lab: Lab, tmp_path: Path) -> tuple[Path, Sensor]:
    """A sensor with two workers that has received a capture of 4,000 packets."""
    capture = tmp_path / "w.pcap"
    write_capture(str(capture), 4_000, 9, "plain")
    sensor = Sensor(lab, tmp_path, windows=(NEW_WINDOW, 1800))
    sensor.start()
    lab.replay(capture, "--topspeed")
    sensor.wait_received(4_000)
    return capture, sensor


def test_a_worker_that_dies_is_replaced_and_the_window_goes_on(lab: Lab, tmp_path: Path) -> None:
    """A capture worker killed (a bug, the OOM killer): a new one takes its place in the
    fanout groups and gets its share of the traffic, the window goes on (nothing is
    reported early), the counters never go back, one line in the log."""
    capture, sensor = _sensing(lab, tmp_path)
    first = _workers(sensor)
    os.kill(first[0]["pid"], signal.SIGKILL)
    after = _replaced(sensor, 1, {w["pid"] for w in first})
    assert after[1]["pid"] == first[1]["pid"]  # the survivor goes on
    assert sensor.received() >= 4_000  # the dead worker's kernel counters stay in the totals
    lab.replay(capture, "--topspeed")
    sensor.wait_received(8_000)
    status = sensor.status()
    assert sum(i["dropped"] for i in status["interfaces"]) == 0
    new = status["capture_workers"][0]
    assert new["pid"] == after[0]["pid"] and new["packets"] > 0  # in the groups: flows reach it
    # The open window went on: a report so far closed a window at its boundary on the
    # 5-minute grid (the test may run across one), none at the worker's death.
    early = [r["window_end"] for r in sensor.reports() if _epoch(r["window_end"]) % NEW_WINDOW]
    assert early == []
    assert sensor.stop() == 0
    log = sensor.logtext()
    assert "capture-0 stopped (exit code -9); a new one takes its place" in log
    assert "Traceback" not in log and "BrokenPipe" not in log, log
    reports = sensor.reports()
    packets = sum(f["client_packets"] + f["server_packets"] for r in reports for f in r["flows"])
    assert packets >= 4_000  # the second replay whole, and the survivor's share of the first


def test_workers_that_keep_dying_restart_the_service(lab: Lab, tmp_path: Path) -> None:
    """Past RESTART_LIMIT replacements within RESTART_SPAN, the service writes the window
    and ends with status 1, for systemd to start it again."""
    _, sensor = _sensing(lab, tmp_path)
    for n in range(1, RESTART_LIMIT + 1):
        before = _workers(sensor)
        os.kill(before[1]["pid"], signal.SIGKILL)
        _replaced(sensor, n, {w["pid"] for w in before})
    os.kill(_workers(sensor)[1]["pid"], signal.SIGKILL)  # worker 0 keeps its harvest
    assert sensor.proc is not None
    sensor.proc.wait(60)
    assert sensor.stop() == 1  # ended already
    log = sensor.logtext()
    assert f"{RESTART_LIMIT + 1} workers died within 10 minutes; restarting the service" in log, log
    assert "Traceback" not in log and "BrokenPipe" not in log, log
    reports = sensor.reports()
    assert reports and sum(len(r["flows"]) for r in reports) > 0  # the window was written


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_full_spool_drops_the_oldest_and_keeps_sensing(lab: Lab, tmp_path: Path) -> None:
    capture = tmp_path / "q.pcap"
    write_capture(str(capture), 4_000, 6, "plain")
    sensor = Sensor(lab, tmp_path, windows=(1, 2), spool_mb=1)
    sensor.start()
    deadline = time.time() + 12
    while time.time() < deadline:
        lab.replay(capture, "--topspeed")
        time.sleep(0.2)
    status = sensor.status()
    assert status["spool"]["dropped"] > 0
    assert status["spool"]["bytes"] <= 1 << 20
    assert status["state"] == "sensing"
    before = sensor.received()
    lab.replay(capture, "--topspeed")
    sensor.wait_received(before + 4_000)
    assert sensor.stop() == 0


def test_pause_resume_and_reload(lab: Lab, tmp_path: Path) -> None:
    capture = tmp_path / "p.pcap"
    write_capture(str(capture), 2_000, 7, "plain")
    sensor = Sensor(lab, tmp_path)
    sensor.start()
    assert sensor.command("pause")["state"] == "paused"
    lab.replay(capture, "--topspeed")
    time.sleep(2)
    assert sensor.received() == 0
    assert sensor.command("resume")["state"] == "sensing"
    lab.replay(capture, "--topspeed")
    sensor.wait_received(2_000)
    sensor.write_config(extra="monitor_external: [{name: watched, targets: [198.51.100.1]}]\n")
    assert sensor.proc is not None
    sensor.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in sensor.logtext(), timeout=30, why="the reload's log line")
    assert sensor.status()["state"] == "sensing"
    assert sensor.stop() == 0


def test_a_missing_interface_is_waited_for(lab: Lab, tmp_path: Path) -> None:
    """An interface that is not there (yet) is waited for, not a reason to end; what the
    service cannot run without still ends its start in one line (a busy status port)."""
    capture = tmp_path / "m.pcap"
    write_capture(str(capture), 2_000, 8, "plain")
    lab.unplug()
    sensor = Sensor(lab, tmp_path)
    sensor.start()
    first = render_status(sensor)  # the very first status: every figure there, or said to be missing
    assert "None" not in first and "CPU " in first and "link missing" in first, first
    iface = sensor.status()["interfaces"][0]
    assert (iface["link"], iface["capturing"]) == ("missing", False)
    assert "sniff0 does not exist: waiting for it" in sensor.logtext()
    lab.plug()
    wait_for(lambda: sensor.status()["interfaces"][0]["capturing"], why="capturing")
    lab.replay(capture, "--topspeed")
    sensor.wait_received(2_000)
    second = subprocess.run(
        ["ip", "netns", "exec", lab.sensor, str(BIN), "run", "--config", str(sensor.config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "status endpoint" in second.stderr and "Traceback" not in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert sensor.stop() == 0


def render_status(sensor: Sensor) -> str:
    """`nps-sensor status` as a person reads it."""
    out = subprocess.run(
        ["ip", "netns", "exec", sensor.lab.sensor, str(BIN), "status", "--address", f"127.0.0.1:{sensor.port}"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout + out.stderr
