"""`inv bench --live`: the sensing service at the sender's limit, and at its own.

trafgen (netsniff-ng) sends frames of the benchmark capture, preloaded from a trafgen
configuration (the capture's first FRAMES frames, over and over), into a veth pair from
one core; `nps-sensor run` with one capture worker listens on the other end, pinned to
the other core. Rising rates come from trafgen's own pacing (--rate), then trafgen
sends at its top speed. trafgen paces by its own clock, which for some frames (ERSPAN
II here) runs short of the rate asked, so each step reports the rate that reached the
sniffing interface, and the steps go on past the one asked for. For each step the kernel's
counters say what the sensor received and dropped, and /proc says how much of its core
the worker used: the figure that shows the headroom when the sender is the limit.

A veth pair copies each frame into the sensor's ring on the sender's CPU, so without
more the sender is the limit. With RPS on the sniffing interface pointing at the
worker's core, the kernel's receive work moves onto that core, and the sensor is the
limit; the table shows that core's time in softirq beside the worker's own.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.lab import Lab, Sensor, sh
from benchmarks.offline import OUT, bench_capture

RATES = (100_000, 200_000, 250_000, 300_000, 350_000, 400_000, 450_000, 500_000, 550_000, 600_000)
SECONDS = 4.0  # measured per rate step
SETTLE = 1.5  # seconds for a new rate to take hold (and the counters to follow)
FRAMES = 20_000  # frames trafgen holds: 28 ms of traffic at 700,000 packets/s, more than the copy window
SENDER_CPU, WORKER_CPU = 0, 1
TICKS = os.sysconf("SC_CLK_TCK")
NO_SENSOR = "no sensor (200,000)"  # the step measuring the kernel's receive work alone


@dataclass
class Step:
    wrap: str
    rps: bool
    asked: str  # the token bucket's rate, or "top speed"
    sent_pps: float  # what reached the sensor's interface, per second
    received: int
    dropped: int
    worker_cpu: float  # the worker's share of its core (user and system time)
    softirq: float  # the share of the worker's core spent in softirq (receive work under RPS)
    backlog_dropped: int = 0  # dropped by the kernel before any socket saw them (a full RPS backlog)

    @property
    def lost(self) -> int:
        return self.dropped + self.backlog_dropped

    @property
    def drop_percent(self) -> float:
        total = self.received + self.lost
        return self.lost / total * 100 if total else 0.0


def trafgen_config(capture: Path, frames: int = FRAMES) -> Path:
    """The first `frames` frames of a classic pcap as a trafgen configuration (built once)."""
    cfg = capture.with_suffix(f".{frames}.trafgen")
    if cfg.exists():
        return cfg
    lines: list[str] = []
    with capture.open("rb") as f:
        f.read(24)
        for _ in range(frames):
            head = f.read(16)
            if len(head) < 16:
                break
            incl = struct.unpack("<4I", head)[2]
            data = f.read(incl)
            lines.append("{" + ",".join(f"0x{b:02x}" for b in data) + "}")
    tmp = cfg.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(cfg)
    return cfg


def _rx(lab: Lab) -> tuple[int, float]:
    """Packets the sniffing interface has taken in, and when."""
    out = sh("ip", "-n", lab.sensor, "-s", "-j", "link", "show", lab.sniff[0])
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"]), time.monotonic()


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _backlog_drops() -> int:
    """Frames the kernel dropped because a CPU's receive backlog was full (netdev_max_backlog),
    all CPUs: under RPS they never reach the sensor's socket, so its counters cannot show them."""
    with open("/proc/net/softnet_stat", encoding="ascii") as f:
        return sum(int(line.split()[1], 16) for line in f)


def _softirq_ticks(cpu: int) -> int:
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[7])
    return 0


def _workers(sensor: Sensor) -> list[int]:
    assert sensor.proc is not None
    pid = sensor.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        return [int(x) for x in f.read().split()]


class Sender:
    """trafgen on SENDER_CPU, sending the configuration round and round until stopped,
    at `pps` frames a second (None: its top speed). Through its TX ring at top speed, or
    one sendto(2) a frame: paced sending always goes that way, and with RPS so does top
    speed, because the frames then wait in the worker core's backlog charged to
    trafgen's socket and the ring's non-blocking flush fails with EAGAIN, which ends
    trafgen; sendto blocks instead (about 340,000 frames/s of ERSPAN II here, against
    400,000-450,000 through the ring)."""

    def __init__(self, lab: Lab, cfg: Path, pps: int | None, ring: bool = True) -> None:
        cmd = ["ip", "netns", "exec", lab.mirror, "taskset", "-c", str(SENDER_CPU), "trafgen", "-i", str(cfg)]
        if pps:
            pace = ["--rate", f"{pps}pps"]
        else:
            pace = [] if ring else ["-t", "0"]
        self.proc = subprocess.Popen(
            [*cmd, "-o", lab.ports[0], "-P", "1", "-q", *pace, "--no-sock-mem", "--notouch-irq"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )
        lab.processes.append(self.proc)
        deadline = time.monotonic() + 300  # trafgen compiles its configuration first
        first = _rx(lab)[0]
        while _rx(lab)[0] == first:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"trafgen did not start sending: {self._error()}")
            time.sleep(0.2)

    def _error(self) -> str:
        if self.proc.poll() is None:
            return "still compiling its configuration"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().strip()[-300:]

    def alive(self) -> bool:
        """Still sending: with RPS trafgen sometimes ends on a send error ("Flushing
        TX_RING failed: Resource temporarily unavailable"), and the step is measured again."""
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 2)
            self.proc.wait(30)


def _counters(sensor: Sensor | None) -> tuple[int, int]:
    if sensor is None:
        return 0, 0
    interfaces = sensor.status()["interfaces"]
    return sum(i["received"] for i in interfaces), sum(i["dropped"] for i in interfaces)


def _step(lab: Lab, sensor: Sensor | None, wrap: str, rps: bool, asked: str) -> Step:
    """One rate, held: SETTLE seconds to reach it, then SECONDS measured. The workers
    push their kernel counters once a second, so both ends of the window lag alike.
    Without a sensor, only what the kernel did."""
    workers = _workers(sensor) if sensor is not None else []
    time.sleep(SETTLE)
    before, rx0 = _counters(sensor), _rx(lab)
    cpu0, irq0, lost0 = _cpu_ticks(workers), _softirq_ticks(WORKER_CPU), _backlog_drops()
    time.sleep(SECONDS)
    after, rx1 = _counters(sensor), _rx(lab)
    cpu1, irq1, lost1 = _cpu_ticks(workers), _softirq_ticks(WORKER_CPU), _backlog_drops()
    seconds = rx1[1] - rx0[1]
    return Step(
        wrap,
        rps,
        asked,
        (rx1[0] - rx0[0]) / seconds,
        after[0] - before[0],
        after[1] - before[1],
        (cpu1 - cpu0) / TICKS / seconds,
        (irq1 - irq0) / TICKS / seconds,
        lost1 - lost0,
    )


def _kernel_alone(lab: Lab, wrap: str, cfg: Path) -> Step:
    """With RPS and no sensor at all: the kernel's own receive work per packet on the
    worker's core (veth, RPS backlog, IP input), which bounds what any sensor can take
    there. It moves between runs (2.9-4.0 microseconds a packet), so it is a guide."""
    sender = Sender(lab, cfg, RATES[1], ring=False)
    try:
        return _step(lab, None, wrap, True, NO_SENSOR)
    finally:
        sender.stop()


def _held(lab: Lab, sensor: Sensor, cfg: Path, wrap: str, rps: bool, pps: int | None) -> Step | None:
    """One step with its own trafgen; measured again once if trafgen ends on a send
    error under RPS ("Flushing TX_RING failed"), and left out if it ends again."""
    asked = "top speed" if pps is None else f"{pps:,}"
    for _ in range(2):
        sender = Sender(lab, cfg, pps, ring=not rps)
        try:
            step = _step(lab, sensor, wrap, rps, asked)
            if sender.alive():
                return step
        finally:
            sender.stop()
    return None


def measure(wrap: str, rps: bool, capture: Path) -> tuple[list[Step], dict[str, float]]:
    """Rising rates, then top speed, into one sensor worker; with the capacity the
    sensor's calibration found at start."""
    cfg = trafgen_config(capture)
    steps: list[Step] = []
    lab = Lab(1)
    try:
        if rps:
            mask = f"{1 << WORKER_CPU:x}"
            sh("ip", "netns", "exec", lab.sensor, "sh", "-c",
               f"echo {mask} > /sys/class/net/{lab.sniff[0]}/queues/rx-0/rps_cpus")  # fmt: skip
            steps.append(_kernel_alone(lab, wrap, cfg))
        with tempfile.TemporaryDirectory() as work:
            sensor = Sensor(lab, Path(work), workers=1)
            sensor.start(cpus=str(WORKER_CPU))
            try:
                for rate in (*RATES, None):
                    step = _held(lab, sensor, cfg, wrap, rps, rate)
                    if step is not None:
                        steps.append(step)
                capacity: dict[str, float] = sensor.status().get("capacity", {})
            finally:
                sensor.stop()
    finally:
        lab.close()
    return steps, capacity


def main(packets: int = 1_000_000) -> int:
    """The bench itself and every command it starts (`ip`, `nps-sensor status`, each a
    short burst of CPU) stay on the sender's core, off the worker's, whose every spare
    cycle under RPS decides whether the ring overflows."""
    console = Console(width=150)
    steps: list[Step] = []
    capacity: dict[str, float] = {}
    captures = {wrap: bench_capture(packets, wrap) for wrap in ("plain", "erspan2")}
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SENDER_CPU})
    try:
        for wrap, capture in captures.items():
            for rps in (False, True):
                with console.status(f"{wrap}{', RPS' if rps else ''}: trafgen at rising rates ..."):
                    mine, capacity = measure(wrap, rps, capture)
                steps.extend(mine)
    finally:
        os.sched_setaffinity(0, cpus)
    _print(console, steps, capacity)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "live.json").write_text(json.dumps({"steps": [asdict(s) for s in steps], "capacity": capacity}, indent=1))
    return 0


def _print(console: Console, steps: list[Step], capacity: dict[str, float]) -> None:
    title = f"Live capture: trafgen (CPU {SENDER_CPU}) into a veth pair, one sensor worker (CPU {WORKER_CPU})"
    table = Table(title=title, title_justify="left")
    cols = ["traffic", "RPS", "asked pkt/s", "sent pkt/s", "received", "dropped", "backlog drops", "drop %"]
    for col in [*cols, "worker CPU", "softirq"]:
        table.add_column(col, justify="left" if col in ("traffic", "RPS", "asked pkt/s") else "right")
    for s in steps:
        table.add_row(
            s.wrap,
            "yes" if s.rps else "no",
            s.asked,
            f"{s.sent_pps:,.0f}",
            f"{s.received:,}",
            f"{s.dropped:,}",
            f"{s.backlog_dropped:,}",
            f"{s.drop_percent:.2f}",
            f"{s.worker_cpu:.0%}",
            f"{s.softirq:.0%}",
        )
    console.print(table)
    summary = Table(title="Summary", title_justify="left")
    for col in ("traffic", "RPS", "highest rate with no drop (pkt/s)", "worker CPU there", "at top speed"):
        summary.add_column(col)
    for wrap in ("plain", "erspan2"):
        for rps in (False, True):
            mine = [s for s in steps if s.wrap == wrap and s.rps == rps]
            clean = [s for s in mine if s.lost == 0 and s.received]
            best = max(clean, key=lambda s: s.sent_pps) if clean else None
            top = mine[-1] if mine else None
            summary.add_row(
                wrap,
                "yes" if rps else "no",
                f"{best.sent_pps:,.0f}" if best else "-",
                f"{best.worker_cpu:.0%}" if best else "-",
                f"{top.drop_percent:.2f} % dropped at {top.sent_pps:,.0f} pkt/s" if top else "-",
            )
    console.print(summary)
    for s in steps:
        if s.asked == NO_SENSOR and s.sent_pps:
            micros = s.softirq / s.sent_pps * 1e6
            console.print(
                f"{s.wrap}, RPS, no sensor running: the kernel's receive work alone takes {micros:.1f} µs a packet "
                f"on the worker's core, which it fills at about {1e6 / micros:,.0f} packets/s"
            )
    if capacity:
        console.print(
            f"calibration at start: {capacity.get('pps_per_core', 0):,.0f} packets/s per core "
            f"({capacity.get('mbps', 0):,.0f} Mbit/s with {capacity.get('workers', 0)} worker)"
        )
