"""`inv sensor.*`: the sensor engine on files (`nps-sensor analyze`, `generate`)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from .settings import BIN, ROOT, run

DEMO_DIR = ROOT / "build" / "demo"
FORMAT = "table (for people), json or ndjson"


def _sensor(c: Context, *args: str) -> object:
    return run(c, [str(BIN / "nps-sensor"), *args])


@task(
    auto_shortflags=False,
    help={
        "packets": "packets in the generated capture (default 200000)",
        "wrap": "delivery of the traffic: plain, vlan or erspan2",
        "format": FORMAT,
    },
)
def demo(c: Context, packets: int = 200_000, wrap: str = "plain", format: str = "table") -> None:
    """Generate a mixed LAN capture and analyze it: the sensor engine end to end."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    capture = DEMO_DIR / f"demo-{wrap}-{packets}.pcap"
    if not capture.exists():
        _sensor(c, "generate", str(capture), "--packets", str(packets), "--wrap", wrap)
    _sensor(c, "analyze", str(capture), "--format", format)


@task(
    auto_shortflags=False,
    iterable=["capture"],
    help={
        "capture": "a capture file (pcap or pcapng; repeat the option for several)",
        "config": "classification and reporting settings (YAML)",
        "format": FORMAT,
        "output": "write here instead of standard output",
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
    _sensor(c, *args, "--format", format)


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
    _sensor(c, "generate", output, "--packets", str(packets), "--seed", str(seed), "--wrap", wrap)


sensor = Collection("sensor", demo, analyze, generate)
