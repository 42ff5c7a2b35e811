"""`inv demo` end to end, as a user runs it: the run's image (`appliance_dist`, so that
the demo's own build is not paid twice) booted in QEMU, registered with the demo's hub by
its OVF properties, a generated LAN replayed into its sniffing NIC, the hub's API showing
the assets; then an interrupted demo that leaves nothing behind.

Slow: one boot under TCG (about 3 minutes here; more while other work shares the CPU),
and the start of a second one, interrupted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nps_sensor.config import Config
from tests.conftest import image_tools_missing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).parent / "inv")


def _expected_assets(packets: int) -> int:
    """The assets the sensor's engine finds in the demo's frames, offline."""
    from nps_image.demo import Demo, frames
    from nps_sensor.capture.batch import batch_from_frames
    from nps_sensor.pipeline import Engine

    replay = frames(Demo(ROOT / "build" / "demo", packets=packets))
    engine = Engine(Config(), lambda report: None)
    engine.feed(batch_from_frames(replay))
    engine.finish()
    return sum(1 for a in engine.reporter.assets.values() if a.ip)


def test_inv_demo_shows_the_replayed_assets_in_the_hub(appliance_dist: Path) -> None:
    reason = image_tools_missing()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        [INV, "demo", "--stop", "--image", str(appliance_dist), "--packets", "3000"],
        capture_output=True, text=True, timeout=1500, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for number, name in enumerate(("image", "hub", "boot", "sensing", "replay", "assets"), 1):
        assert re.search(rf"^\[{number}/6\] {name}: done in \d+ s$", out, re.M), out
    shown = re.search(r"The hub shows (\d+) assets from the appliance 'nps-demo-1' \(3000 frames replayed\)", out)
    assert shown, out
    # The hub merges what the sensor reports by device: no more assets than addresses the
    # engine finds offline in the same frames, and a LAN's worth of them.
    assert 50 <= int(shown[1]) <= _expected_assets(3000), out
    assert re.search(r"^  login:        admin / \S{12,}$", out, re.M)
    assert re.search(r"^  stages:       image \d+ s, hub \d+ s, boot \d+ s", out, re.M)
    assert not list((ROOT / "build" / "demo").glob("run-*"))


def _leftovers(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if pid.isdigit() and marker.encode() in cmdline:
            found.append(int(pid))
    return found


def test_an_interrupted_demo_leaves_nothing_behind(appliance_dist: Path) -> None:
    reason = image_tools_missing()
    if reason:
        pytest.skip(reason)
    before = set((ROOT / "build" / "demo").glob("run-*"))
    proc = subprocess.Popen(
        [INV, "demo", "--image", str(appliance_dist)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("[3/6] boot"):
            break
    time.sleep(5)  # QEMU is running
    runs = set((ROOT / "build" / "demo").glob("run-*")) - before
    assert len(runs) == 1
    (run,) = runs
    assert _leftovers(str(run))  # the VM and the hub
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(60) == 130
    assert "stopped; the appliance, the hub and their files are gone" in rest
    assert not run.exists() and not _leftovers(str(run))
