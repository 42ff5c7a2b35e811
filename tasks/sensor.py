"""`inv sensor.*`: the sensor engine on files (`nps-sensor analyze`, `generate`)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from nps_sensor.output import FORMAT_HELP

from .settings import BIN, ROOT, run

DEMO_DIR = ROOT / "build" / "demo"


def _sensor(*args: str) -> None:
    run([str(BIN / "nps-sensor"), *args])


@task(
    auto_shortflags=False,
    help={
        "packets": "packets in the generated capture (default 200000)",
        "wrap": "delivery of the traffic: plain, vlan or erspan2",
        "format": FORMAT_HELP,
    },
)
def demo(c: Context, packets: int = 200_000, wrap: str = "plain", format: str = "table") -> None:
    """Generate a mixed LAN capture and analyze it: the sensor engine end to end."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    capture = DEMO_DIR / f"demo-{wrap}-{packets}.pcap"
    if not capture.exists():
        _sensor("generate", str(capture), "--packets", str(packets), "--wrap", wrap)
    _sensor("analyze", str(capture), "--format", format)


@task(
    auto_shortflags=False,
    iterable=["capture"],
    help={
        "capture": "a capture file (pcap or pcapng; repeat the option for several)",
        "config": "classification and reporting settings (YAML)",
        "format": FORMAT_HELP,
        "output": "write here (mode 0644) instead of standard output",
    },
)
def analyze(
    c: Context, capture: list[str] | None = None, config: str = "", format: str = "table", output: str = ""
) -> None:
    """Analyze capture files with the sensor engine (nps-sensor analyze)."""
    args = ["analyze", *(capture or [])]
    if config:
        args += ["--config", config]
    if output:
        args += ["--output", output]
    _sensor(*args, "--format", format)


@task(
    auto_shortflags=False,
    help={
        "output": "pcap file to write",
        "packets": "how many (default 100000)",
        "seed": "generator seed (default 1)",
        "wrap": "plain, vlan or erspan2",
    },
)
def generate(c: Context, output: str, packets: int = 100_000, seed: int = 1, wrap: str = "plain") -> None:
    """Write a deterministic synthetic capture (the benchmark's and the tests' traffic)."""
    _sensor("generate", output, "--packets", str(packets), "--seed", str(seed), "--wrap", wrap)


sensor = Collection("sensor", demo, analyze, generate)
