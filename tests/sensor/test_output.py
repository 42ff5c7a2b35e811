"""Output for people and pipes (`nps-sensor analyze -f table|csv`): golden files on shared
captures, the same bytes directly, through `inv`, to a pipe and to a terminal; nothing on
standard output before an error; files written 0644.

The goldens are read with the shared fingerprint databases (NPS_DATA_DIR), so that the
vendor and OS columns do not depend on this machine's packages. After a deliberate
change of the engine or of discovery, look at the difference, then write them again:
`NPS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/sensor/test_output.py`.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from nps_sensor.output import item_json
from tests.conftest import sensor_command, sensor_env

GOLDEN = Path(__file__).parent / "golden"
INV = str(Path(sys.executable).parent / "inv")
ROOT = Path(__file__).resolve().parents[2]
# dhcp-time-and-nameserver: a MAC with ":cd:" (no emoji); win10-workgroup-lan: hostnames,
# vendors, Windows versions; ntp-apple and ssh-banner-windows: a MAC with ":cd:" each too.
CAPTURES = (
    "dhcp/dhcp-time-and-nameserver.pcap",
    "mixed/win10-workgroup-lan.pcap",
    "ntp/ntp-apple.pcap",
    "ssh/ssh-banner-windows.pcap",
)


@pytest.fixture
def env(shared_fingerprints: Path) -> dict[str, str]:
    return {**sensor_env(), "NPS_DATA_DIR": str(shared_fingerprints)}


def _direct(capture: Path, fmt: str, env: dict[str, str]) -> bytes:
    proc = subprocess.run(
        [*sensor_command(), "analyze", str(capture), "--format", fmt],
        check=False,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _golden(name: str, data: bytes) -> bytes:
    path = GOLDEN / name
    if os.environ.get("NPS_UPDATE_GOLDEN"):
        path.write_bytes(data)
    if not path.exists():
        pytest.fail(f"{path} is missing: write it with NPS_UPDATE_GOLDEN=1 once its content is checked")
    return path.read_bytes()


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_table_and_csv_match_their_golden_files(pcaps_dir: Path, env: dict[str, str], name: str, fmt: str) -> None:
    out = _direct(pcaps_dir / name, fmt, env)
    stem = name.replace("/", "--").rsplit(".", 1)[0]
    assert out == _golden(f"{stem}.{'txt' if fmt == 'table' else 'csv'}", out)
    text = out.decode()
    assert "💿" not in text and "\ufffd" not in text
    if fmt == "table":
        assert all(line == line.rstrip() for line in text.splitlines())


def test_a_mac_with_cd_is_printed_as_it_is(pcaps_dir: Path, env: dict[str, str]) -> None:
    out = _direct(pcaps_dir / CAPTURES[0], "table", env).decode()
    assert "00:90:f5:91:cd:1f" in out


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_inv_writes_the_same_bytes_as_the_command(pcaps_dir: Path, env: dict[str, str], fmt: str) -> None:
    capture = pcaps_dir / CAPTURES[1]
    through_inv = subprocess.run(
        [INV, "sensor.analyze", "--capture", str(capture), "--format", fmt],
        check=False,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )
    assert through_inv.returncode == 0, through_inv.stderr
    assert through_inv.stdout == _direct(capture, fmt, env)


def test_a_terminal_gets_the_same_bytes_as_a_pipe(pcaps_dir: Path, env: dict[str, str]) -> None:
    capture = pcaps_dir / CAPTURES[1]
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*sensor_command(), "analyze", str(capture), "--format", "table"],
        stdout=secondary,
        stderr=subprocess.DEVNULL,
        env={**env, "COLUMNS": "80"},
    )
    os.close(secondary)
    written = _read_terminal(primary)
    assert proc.wait(60) == 0
    # The terminal's line discipline turns "\n" into "\r\n"; nothing else differs.
    assert written.replace(b"\r\n", b"\n") == _direct(capture, "table", env)


def _read_terminal(primary: int) -> bytes:
    """All a command wrote to a pseudo-terminal, read from its primary side until the command closed it; closes it."""
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return b"".join(chunks)


def test_nothing_on_stdout_before_an_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*sensor_command(), "analyze", str(tmp_path / "nonexistent.pcap")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"nps-sensor: {tmp_path / 'nonexistent.pcap'}: no such file"]


def test_output_files_are_0644_and_the_progress_bar_stays_off_a_pipe(tmp_path: Path) -> None:
    capture = tmp_path / "lan.pcap"
    subprocess.run([*sensor_command(), "generate", str(capture), "--packets", "3000"], check=True, timeout=60)
    out = tmp_path / "assets.csv"
    proc = subprocess.run(
        ["/bin/sh", "-c", 'umask 022 && exec "$@"', "sh", *sensor_command(), "analyze", str(capture), "-f", "csv",
         "-o", str(out)],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert out.stat().st_mode & 0o777 == 0o644
    assert out.read_text().startswith("name,ip,mac,hostname,vendor,os,")


PROGRESS = """
import time
from nps_sensor.progress import Progress
with Progress("analyzing", delay=0.0) as progress:
    progress(50, 100)
    time.sleep(0.3)
with Progress("quick", delay=60.0) as quick:
    quick(50, 100)
    assert quick.bar is None
"""


def _stderr_on_a_terminal(args: list[str]) -> str:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    written = _read_terminal(primary)
    assert proc.wait(60) == 0
    return written.decode(errors="replace")


def test_the_progress_bar_draws_on_a_terminal_after_its_delay() -> None:
    drawn = _stderr_on_a_terminal([sys.executable, "-c", PROGRESS])
    assert "analyzing" in drawn and "quick" not in drawn


FLOW = {
    "client": "10.0.0.1",
    "server": "External",
    "port": 443,
    "proto": "tcp",
    "client_bytes": 1,
    "server_bytes": 2**70,
    "client_packets": 0,
    "server_packets": 3,
    "first_seen": "2026-01-01T00:00:00.000001Z",
    "last_seen": "2026-01-01T00:00:01.000000Z",
}


@pytest.mark.parametrize(
    "value",
    [
        FLOW,
        FLOW | {"port": None, "first_seen": None},
        FLOW | {"client": 'h\u00f6st "x"\n\x1b[31m\u2028', "server": "\U0001f600"},
        FLOW | {"client_bytes": True},  # not an int as json sees it: the generic encoder
        FLOW | {"port": 1.5},
        {**FLOW, "extra": 1},
        dict(reversed(FLOW.items())),
        {"ip": "10.0.0.1", "macs": ["00:11:22:33:44:55"], "nested": {"a": [1, None, 2.5]}},
        [1, "two"],
    ],
)
def test_a_flow_line_is_what_json_dumps_writes(value: object) -> None:
    """The flows' shortcut in the JSON writer gives json.dumps's bytes, whatever the values."""
    assert item_json(value) == json.dumps(value)
