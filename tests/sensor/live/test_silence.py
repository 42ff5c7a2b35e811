"""An ERSPAN destination stays silent: the kernel answers no GRE packet with ICMP.

A switch sends ERSPAN to the sniffing interface's address. Without the sensor the
kernel answers with ICMP "protocol unreachable" (rate-limited: a burst, then about one
a second); with `nps-sensor run` in ERSPAN mode it answers nothing, and the frames
inside are sensed. Cost: about 15 s.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.lab import Lab, Sensor, sh
from nps_sensor.synth import packets as P

pytestmark = pytest.mark.live

SWITCH, DESTINATION = "10.77.0.1", "10.77.0.2"
INNER = ("192.168.50.10", "192.168.50.20")
SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
for line in open(sys.argv[1]):
    s.sendto(bytes.fromhex(line.strip()), (sys.argv[2], 0))
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(1)
    try:
        sh("ip", "-n", lab.mirror, "addr", "add", f"{SWITCH}/24", "dev", lab.ports[0])
        sh("ip", "-n", lab.sensor, "addr", "add", f"{DESTINATION}/24", "dev", lab.sniff[0])
        yield lab
    finally:
        lab.close()


def send_erspan(lab: Lab, work: Path, count: int, gap: float) -> None:
    """`count` ERSPAN II packets from the switch's address to the destination's."""
    frames = work / "erspan.hex"
    inner = [
        P.eth_ipv4_udp("02:00:00:00:00:01", "02:00:00:00:00:02", *INNER, 40000 + i, 53, b"\0" * 20)
        for i in range(count)
    ]
    frames.write_text("".join(P.erspan_ii(f, session=7, seq=i).hex() + "\n" for i, f in enumerate(inner)))
    sh("ip", "netns", "exec", lab.mirror, sys.executable, "-c", SENDER, str(frames), DESTINATION, str(gap))


def unreachables(lab: Lab) -> int:
    """ICMP destination unreachables the sensor's namespace has sent (/proc/net/snmp)."""
    lines = [line.split() for line in sh("ip", "netns", "exec", lab.sensor, "cat", "/proc/net/snmp").splitlines()]
    names, values = (line for line in lines if line[0] == "Icmp:")
    return int(values[names.index("OutDestUnreachs")])


def test_an_erspan_destination_answers_nothing(lab: Lab, tmp_path: Path) -> None:
    send_erspan(lab, tmp_path, 20, 0.01)
    assert unreachables(lab) > 0  # without the sensor, the kernel answers
    sensor = Sensor(lab, tmp_path, workers=1, interfaces=[f"{{name: {lab.sniff[0]}, mode: ERSPAN}}"])
    sensor.start()
    before = unreachables(lab)
    send_erspan(lab, tmp_path, 300, 0.01)  # 3 s: the rate limit alone would let 2-3 answers through
    sensor.wait_received(300)
    assert unreachables(lab) == before
    assert sensor.stop() == 0
    seen = {a["ip"] for r in sensor.reports() for a in r["assets"]}
    assert INNER[0] in seen  # the mirrored frames inside were sensed (their sender is an asset)
    assert "cannot keep the kernel" not in sensor.logtext()
