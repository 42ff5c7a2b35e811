"""`inv bench --live`: the sensing service under tcpreplay, at increasing rates.

The benchmark capture is replayed into a veth pair (in namespaces of its own) at a
rising packet rate, then at full speed, into `nps-sensor run` with one and with two
capture workers, for plain and ERSPAN II traffic. For each step the kernel's own
counters say how many packets the sensor received and how many it dropped. The
result: the highest rate with no drop, and the drop rate at full speed.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.lab import Lab, Sensor
from benchmarks.offline import OUT, _capture

RATES = (100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000)
STEP = 300_000  # packets sent per rate step


@dataclass
class Step:
    wrap: str
    workers: int
    asked: str  # the rate asked of tcpreplay, or "top speed"
    sent_pps: float
    sent: int
    received: int
    dropped: int

    @property
    def drop_percent(self) -> float:
        total = self.received + self.dropped
        return self.dropped / total * 100 if total else 0.0


def _replay(lab: Lab, capture: Path, rate: int | None) -> tuple[int, float]:
    speed = ["--topspeed"] if rate is None else [f"--pps={rate}"]
    # -K: the packets are loaded into memory first, so tcpreplay sends as fast as it can.
    cmd = [
        "ip",
        "netns",
        "exec",
        lab.mirror,
        "tcpreplay",
        "-K",
        *speed,
        f"--limit={STEP}",
        "-i",
        lab.ports[0],
        str(capture),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    sent = re.search(r"Actual: (\d+) packets", out)
    pps = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", out)
    return (int(sent.group(1)) if sent else 0), (float(pps.group(1)) if pps else 0.0)


def _counters(sensor: Sensor) -> tuple[int, int]:
    interfaces = sensor.status()["interfaces"]
    return sum(i["received"] for i in interfaces), sum(i["dropped"] for i in interfaces)


def measure(wrap: str, workers: int, capture: Path) -> list[Step]:
    steps = []
    lab = Lab(1)
    try:
        with tempfile.TemporaryDirectory() as work:
            sensor = Sensor(lab, Path(work), workers=workers)
            sensor.start()
            try:
                for rate in (*RATES, None):
                    before = _counters(sensor)
                    sent, pps = _replay(lab, capture, rate)
                    sensor.wait_settled()
                    after = _counters(sensor)
                    asked = "top speed" if rate is None else f"{rate:,}"
                    steps.append(Step(wrap, workers, asked, pps, sent, after[0] - before[0], after[1] - before[1]))
            finally:
                sensor.stop()
    finally:
        lab.close()
    return steps


def main(packets: int = 1_000_000) -> int:
    console = Console(width=150)
    steps: list[Step] = []
    for wrap in ("plain", "erspan2"):
        capture = _capture(packets, wrap)
        for workers in (1, 2):
            with console.status(f"{wrap}, {workers} worker(s): replaying at rising rates ..."):
                steps.extend(measure(wrap, workers, capture))
    table = Table(title="Live capture: tcpreplay into a veth pair", title_justify="left")
    for col in ("traffic", "workers", "asked pkt/s", "sent pkt/s", "sent", "received", "dropped", "drop %"):
        table.add_column(col, justify="left" if col in ("traffic", "asked pkt/s") else "right")
    for s in steps:
        table.add_row(
            s.wrap,
            str(s.workers),
            s.asked,
            f"{s.sent_pps:,.0f}",
            f"{s.sent:,}",
            f"{s.received:,}",
            f"{s.dropped:,}",
            f"{s.drop_percent:.2f}",
        )
    console.print(table)
    summary = Table(title="Summary", title_justify="left")
    for col in ("traffic", "workers", "highest rate with no drop (pkt/s sent)", "drop % at top speed"):
        summary.add_column(col)
    for wrap in ("plain", "erspan2"):
        for workers in (1, 2):
            mine = [s for s in steps if s.wrap == wrap and s.workers == workers]
            clean = [s.sent_pps for s in mine if s.dropped == 0 and s.received]
            top = mine[-1] if mine else None
            summary.add_row(
                wrap,
                str(workers),
                f"{max(clean):,.0f}" if clean else "-",
                f"{top.drop_percent:.2f} at {top.sent_pps:,.0f} pkt/s" if top else "-",
            )
    console.print(summary)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "live.json").write_text(json.dumps([asdict(s) for s in steps], indent=1))
    return 0
