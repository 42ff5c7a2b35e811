"""The sensor as a plain distribution: `pip install ./sensor` (not editable) in a fresh
virtual environment analyzes a capture and renders the appliance's files from the
templates it carries, away from the repository (the image's wheel is built the same way).

Slow (a venv and the sensor's dependencies from pip's cache: about 20 s here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

RENDER = """
from nps_sensor.appliance.render import files, TEMPLATES
from nps_sensor.appliance.settings import Settings
s = Settings()
s.hostname = "plain-1"
out = files(s)
assert "site-packages" in str(TEMPLATES), TEMPLATES
print(sorted(out))
print(out["/etc/systemd/network/10-management.network"].content)
"""


def test_a_plain_install_of_the_sensor_analyzes_and_renders(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # From a copy of the sources (setuptools builds in the tree it is given): nothing of
    # the repository is on the installed sensor's path, and the checkout stays clean.
    source = tmp_path / "sensor"
    shutil.copytree(ROOT / "sensor", source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(source)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=600,
    )
    capture = tmp_path / "lan.pcap"
    sensor = str(venv / "bin" / "nps-sensor")
    subprocess.run([sensor, "generate", str(capture), "--packets", "2000"], check=True, cwd=tmp_path, timeout=120)
    out = subprocess.run(
        [sensor, "analyze", str(capture)], check=True, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert json.loads(out.stdout)["stats"]["packets"] == 2000
    rendered = subprocess.run(
        [str(python), "-c", RENDER], check=True, cwd=tmp_path, capture_output=True, text=True, timeout=60
    ).stdout
    assert "/etc/nps-sensor/sensor.yaml" in rendered and "[Match]" in rendered
