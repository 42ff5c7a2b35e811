"""`inv bench`: the sensor and its peers on the same generated captures, side by side.

Each tool runs as its own process under GNU time, pinned to one core (taskset), so
wall time, CPU seconds and peak memory are measured the same way for all of them;
throughput is packets (and wire bits) of the capture divided by the CPU time of the
whole process (user and system, start-up and output included), which other work on
the machine does not inflate as it does wall time. Peers run with the options that
make them do their nearest equivalent of the sensor's job on one core. The sensor
also says where its CPU time went (nps_sensor.phases): start-up, fingerprint data,
the packet loop, discovery's dissectors, report building and the JSON output.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

import nps_sensor
from nps_sensor.capture import open_capture
from nps_sensor.synth.traffic import write_capture

OUT = Path("build") / "bench"
WRAPS = ("plain", "vlan", "erspan2")
SEED = 1
TIME = "/usr/bin/time"
TIMEOUT = 900  # seconds per tool and capture
CORE = "1"  # every tool runs on this one core
PHASES = ("startup", "fingerprint data", "packets", "dissectors", "reports", "output", "other")
# Control socket paths for softflowd; see _stuck_in_accept for why there are several.
SOFTFLOWD_CTL = ("/tmp/nps-sf.ctl", "/tmp/s.ctl", "/tmp/nps-bench-softflowd.ctl", "/tmp/sf-1.ctl")
NFSTREAM = (
    "import sys\n"
    "from nfstream import NFStreamer\n"
    "n = sum(1 for _ in NFStreamer(source=sys.argv[1], n_meters=1, statistical_analysis=False,"
    " n_dissections=0, splt_analysis=0))\n"
    "print(n, 'flows')\n"
)


@dataclass
class Run:
    tool: str
    capture: str
    packets: int
    wire_bytes: int
    wall: float
    cpu: float
    peak_mb: float
    ok: bool
    note: str = ""
    phases: dict[str, float] | None = None  # the sensor's CPU seconds by phase

    @property
    def pps(self) -> float:
        """Packets per CPU second of the whole process."""
        return self.packets / self.cpu if self.cpu > 0 else 0.0

    @property
    def mbps(self) -> float:
        return self.wire_bytes * 8 / self.cpu / 1e6 if self.cpu > 0 else 0.0


def bench_capture(packets: int, wrap: str) -> Path:
    path = OUT / f"bench-{wrap}-{packets}-s{SEED}.pcap"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_capture(str(tmp), packets, SEED, wrap)
        tmp.replace(path)
    return path


def _size(path: Path) -> tuple[int, int]:
    packets = wire = 0
    for batch in open_capture(str(path)).batches():
        packets += len(batch)
        wire += batch.wire_bytes()
    return packets, wire


ENGINE_ONLY = "nps-sensor engine only"


def _commands(capture: Path, scratch: Path) -> dict[str, list[str] | None]:
    bindir = Path(sys.executable).parent
    have = shutil.which
    # NPS_PHASES: the sensor writes where its CPU time went (nps_sensor.phases).
    sensor = ["env", f"NPS_PHASES={scratch / 'phases.json'}", str(bindir / "nps-sensor"), "analyze", str(capture)]
    sensor += ["-f", "json"]
    (scratch / "engine-only.yaml").write_text("discovery:\n  enabled: false\n")
    return {
        "nps-sensor": [*sensor, "-o", str(scratch / "s.json")],
        ENGINE_ONLY: [*sensor, "--config", str(scratch / "engine-only.yaml"), "-o", str(scratch / "e.json")],
        "tshark": ["tshark", "-n", "-r", str(capture), "-q", "-z", "conv,ip"] if have("tshark") else None,
        "p0f": ["p0f", "-r", str(capture), "-o", str(scratch / "p0f.log")] if have("p0f") else None,
        "softflowd": [
            "softflowd",
            "-r",
            str(capture),
            "-v",
            "9",
            "-n",
            "127.0.0.1:9",
            "-p",
            str(scratch / "sf.pid"),
            "-c",
            str(scratch / "sf.ctl"),
            "-d",
        ]
        if have("softflowd")
        else None,
        "nfstream": [sys.executable, "-c", NFSTREAM, str(capture)] if _has_nfstream() else None,
    }


def _has_nfstream() -> bool:
    try:
        import nfstream  # noqa: F401
    except ImportError:
        return False
    return True


def _measure(tool: str, argv: list[str], capture: Path, packets: int, wire: int) -> Run:
    """Run one tool to completion under GNU time (a small parent, so that the peak
    memory is the tool's own, not a copy of this process's)."""
    for attempt in range(len(SOFTFLOWD_CTL) if tool == "softflowd" else 1):
        if tool == "softflowd":
            argv = [a if not a.endswith(".ctl") else SOFTFLOWD_CTL[attempt] for a in argv]
        with tempfile.NamedTemporaryFile("r", suffix=".time") as t, tempfile.TemporaryFile("w+") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [TIME, "-f", "%e %U %S %M", "-o", t.name, "taskset", "-c", CORE, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            stalled = False
            while proc.poll() is None:
                elapsed = time.perf_counter() - start
                if tool == "softflowd" and 2 < elapsed < 3 and _stuck_in_accept(proc.pid):
                    stalled = True
                if stalled or elapsed > TIMEOUT:
                    proc.kill()
                    for child in _children(proc.pid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child, signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(0.01)
            fields = t.read().split()
            err.seek(0)
            stderr = err.read().strip()
        if stalled:
            continue  # softflowd's start-up bug: another control socket path changes its stack
        try:
            wall, user, sys_, rss = (float(x) for x in fields[-4:])
        except ValueError:
            note = f"no result after {TIMEOUT} s" if time.perf_counter() - start > TIMEOUT else stderr[-120:]
            return Run(tool, capture.name, packets, wire, 0, 0, 0, False, note)
        ok = proc.returncode == 0
        note = "" if ok else f"exit {proc.returncode}: {stderr.splitlines()[-1][:80] if stderr else ''}"
        return Run(tool, capture.name, packets, wire, wall, user + sys_, rss / 1024, ok, note)
    return Run(tool, capture.name, packets, wire, 0, 0, 0, False, "hung in accept() at start (softflowd bug)")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _stuck_in_accept(time_pid: int) -> bool:
    """softflowd 1.1 reading a file calls accept() on its control socket before any
    poll(), on uninitialised poll results: depending on what is on its stack it blocks
    there for ever. Seen from /proc: sleeping in accept with no CPU time used."""
    children = _children(time_pid)
    if not children:
        return False
    pid = children[0]
    try:
        with open(f"/proc/{pid}/wchan", encoding="ascii") as f:
            wchan = f.read()
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return "wait_for_more_packets" in wchan and int(fields[11]) + int(fields[12]) == 0


def warm_fingerprints() -> None:
    """The IEEE lists parsed into the fingerprint cache (fingerprints/cache.py), as a
    sensor's first run leaves them: like the bytecode, the runs measure the steady state
    (a first run ever parses them: ~0.05 CPU-s more)."""
    from nps_sensor.discovery.fingerprints import databases, oui

    db = databases()
    for name in ("oui36", "iab", "mam", "oui"):
        db.get(name, oui.load_ieee, oui.EMPTY)


def main(packets: int = 1_000_000, wraps: tuple[str, ...] = WRAPS) -> int:
    console = Console(width=150)
    # Byte-compiled, as pip installs it: start-up is measured without compiling the sources
    # (an editable install under PYTHONDONTWRITEBYTECODE would compile them on every run).
    compileall.compile_dir(str(Path(nps_sensor.__file__).parent), quiet=1)
    warm_fingerprints()
    if not Path(TIME).exists():
        console.print(f"bench: {TIME} is missing (Debian package `time`); run ./bootstrap")
        return 2
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        for wrap in wraps:
            with console.status(f"generating {packets} packets ({wrap}) ..."):
                capture = bench_capture(packets, wrap)
                count, wire = _size(capture)
            for tool, argv in _commands(capture, scratch).items():
                if argv is None:
                    console.print(f"bench: {tool} is not installed, skipped")
                    continue
                with console.status(f"{tool} on {capture.name} ..."):
                    run = _measure(tool, argv, capture, count, wire)
                if tool.startswith("nps-sensor") and run.ok:
                    run.phases = json.loads((scratch / "phases.json").read_text())
                    loop = run.phases["packets"] + run.phases.get("dissectors", 0)
                    run.note = f"packet loop: {count / loop:,.0f} pkt/CPU-s" if loop else ""
                runs.append(run)
    _print(console, runs)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps([asdict(r) | {"pps": r.pps, "mbps": r.mbps} for r in runs], indent=1))
    return 0 if all(r.ok for r in runs if r.tool == "nps-sensor") else 1


def _print(console: Console, runs: list[Run]) -> None:
    title = f"Offline throughput, one core (CPU {CORE}), CPU time of the whole process (sensor = 1.00)"
    table = Table(title=title, title_justify="left")
    for col in ("capture", "tool", "packets/CPU-s", "Mbit/CPU-s", "CPU s", "wall s", "peak MB", "× sensor", "note"):
        table.add_column(col, justify="left" if col in ("capture", "tool", "note") else "right")
    sensor = {r.capture: r for r in runs if r.tool == "nps-sensor"}
    for r in runs:
        base = sensor.get(r.capture)
        ratio = f"{r.pps / base.pps:.2f}" if base and base.pps and r.ok else "-"
        table.add_row(
            r.capture,
            r.tool,
            f"{r.pps:,.0f}" if r.ok else "-",
            f"{r.mbps:,.0f}" if r.ok else "-",
            f"{r.cpu:.2f}",
            f"{r.wall:.2f}",
            f"{r.peak_mb:.0f}",
            ratio,
            r.note,
        )
    console.print(table)
    _print_phases(console, [r for r in runs if r.tool.startswith("nps-sensor") and r.phases])
    _print_targets(console, runs)
    load = os.getloadavg()[0]
    console.print(f"{os.cpu_count()} CPUs, load {load:.1f}; results in {OUT / 'results.json'}")


def _print_phases(console: Console, runs: list[Run]) -> None:
    """Item by item, where the sensor's CPU seconds went (nps_sensor.phases)."""
    table = Table(title="Where the sensor's CPU time goes (seconds)", title_justify="left")
    for col in ("capture", "run", *PHASES, "total"):
        table.add_column(col, justify="left" if col in ("capture", "run") else "right")
    for r in runs:
        spent = r.phases or {}
        run = "engine only" if r.tool == ENGINE_ONLY else "with discovery"
        cells = [f"{spent.get(name, 0.0):.3f}" for name in (*PHASES, "total")]
        table.add_row(r.capture, run, *cells)
    console.print(table)


def _print_targets(console: Console, runs: list[Run]) -> None:
    """The packet core's targets (issue 20), met or not, on this run's figures."""
    by = {(r.capture.split("-")[1], r.tool): r for r in runs if r.ok}
    sensor_runs = [r for r in runs if r.tool == "nps-sensor" and r.ok]
    checks: list[tuple[str, float, float]] = []  # (what, ours, the bar)
    plain, soft = by.get(("plain", "nps-sensor")), by.get(("plain", "softflowd"))
    if plain and soft:
        checks.append(("plain: as fast as softflowd (pkt/CPU-s)", plain.pps, soft.pps))
    erspan = by.get(("erspan2", "nps-sensor"))
    if erspan:
        checks.append(("ERSPAN II: 1,500,000 pkt/CPU-s", erspan.pps, 1_500_000))
    for r in sensor_runs:
        nf = by.get((r.capture.split("-")[1], "nfstream"))
        if nf:
            checks.append((f"{r.capture}: 5x nfstream", r.pps, 5 * nf.pps))
    if sensor_runs:
        peak = max(r.peak_mb for r in sensor_runs)
        checks.append(("peak memory under 150 MB (lower is better)", 150, peak))
    for what, ours, bar in checks:
        console.print(f"{'met    ' if ours >= bar else 'MISSED '} {what}: {ours:,.0f} against {bar:,.0f}")
