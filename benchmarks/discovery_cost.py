"""`inv bench --discovery-cost`: what discovery adds to the engine, in instructions.

CPU seconds on this shared machine scatter by ±20 % between runs, more than the
difference to be measured (issue 18: discovery within 20 % of the engine alone), so
this counts the instructions of the whole `nps-sensor analyze` process under
callgrind instead: start-up, fingerprint data, the packet loop, discovery, reports
and output, the same command as `inv bench` runs, on the same generated captures,
once engine only (`discovery: {enabled: false}`) and once with discovery (`enabled:
true`). The count
does not depend on the machine's load; it moves by well under 0.1 % between runs.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

import nps_sensor

from .offline import OUT, WRAPS, bench_capture, warm_fingerprints

LABELS = {"plain": "plain", "vlan": "802.1Q", "erspan2": "ERSPAN II"}
BAR = 20.0  # per cent over the engine alone (issue 18)


def instructions(argv: list[str], scratch: Path, name: str) -> int:
    """Instructions the process executed (callgrind's total, every function included)."""
    out = scratch / f"{name}.callgrind"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"{out}: no instruction total")


def _argv(capture: Path, scratch: Path, engine_only: bool) -> list[str]:
    """Both runs read a configuration file, so that reading one (YAML's import and
    parser, some 80 M instructions) is on both sides and not counted as discovery's."""
    sensor = str(Path(sys.executable).parent / "nps-sensor")
    config = scratch / f"discovery-{not engine_only}.yaml".lower()
    config.write_text(f"discovery:\n  enabled: {str(not engine_only).lower()}\n")
    out = scratch / f"{capture.stem}-{engine_only}.json"
    return [sensor, "analyze", str(capture), "-f", "json", "-o", str(out), "--config", str(config)]


def main(packets: int = 1_000_000, wraps: tuple[str, ...] = WRAPS, jobs: int = 2) -> int:
    console = Console(width=120)
    if not Path("/usr/bin/valgrind").exists():
        console.print("bench: valgrind is missing (Debian package `valgrind`); run ./bootstrap")
        return 2
    # Byte-compiled, as pip installs it and as `inv bench` measures it.
    compileall.compile_dir(str(Path(nps_sensor.__file__).parent), quiet=1)
    warm_fingerprints()  # as `inv bench`: a cold cache in the first runs only would count ~250 M more
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        captures = {wrap: bench_capture(packets, wrap) for wrap in wraps}
        runs = [(wrap, only) for wrap in wraps for only in (True, False)]

        def count(run: tuple[str, bool]) -> int:
            wrap, only = run
            return instructions(_argv(captures[wrap], scratch, only), scratch, f"{wrap}-{only}")

        status = console.status(f"callgrind: {len(runs)} runs of nps-sensor analyze on {packets:,} packets ...")
        with status, ThreadPoolExecutor(max_workers=jobs) as pool:
            counts = list(pool.map(count, runs))
    got = dict(zip(runs, counts, strict=True))
    title = f"Discovery's cost: instructions of the whole process, {packets:,} packets"
    table = Table(title=title, title_justify="left")
    for col in ("capture", "engine only", "with discovery", "discovery's cost"):
        table.add_column(col, justify="left" if col == "capture" else "right")
    worst = 0.0
    for wrap in wraps:
        alone, both = got[(wrap, True)], got[(wrap, False)]
        cost = 100 * (both - alone) / alone
        worst = max(worst, cost)
        table.add_row(LABELS.get(wrap, wrap), f"{alone / 1e6:,.0f} M", f"{both / 1e6:,.0f} M", f"+{cost:.1f} %")
    console.print(table)
    data = os.environ.get("NPS_DATA_DIR", "/usr/share/nps-sensor/data")
    console.print(f"fingerprint data: {data}; results in {OUT}")
    console.print(f"{'met    ' if worst <= BAR else 'MISSED '} discovery within {BAR:.0f} % of the engine alone")
    return 0 if worst <= BAR else 1
