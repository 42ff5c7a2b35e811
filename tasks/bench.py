"""`inv bench`: the sensor and the hub measured beside their peers on the same input."""

from __future__ import annotations

import os
import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import ROOT


@task(
    auto_shortflags=False,
    help={
        "packets": "packets in the benchmark capture (default 1,000,000)",
        "live": "the live service instead: trafgen into a veth pair at rising rates, with and without RPS (needs root)",
        "hub": "the management hub instead: ingest of 10,000 assets and 100,000 flows, then the fleet run "
        "(N sensors uploading at once), SQLite and PostgreSQL",
        "fleet": "with --hub: the fleet run's numbers of sensors, comma-separated (default 20,100,1000; 0: none)",
        "discovery": "device identification instead: type, brand, model, OS of labeled devices beside p0f and Satori",
        "discovery_cost": "discovery's cost instead: callgrind's instructions of nps-sensor analyze, engine only "
        "and with discovery, plain, 802.1Q and ERSPAN II",
    },
)
def bench(
    c: Context,
    packets: int = 1_000_000,
    live: bool = False,
    hub: bool = False,
    discovery: bool = False,
    discovery_cost: bool = False,
    fleet: str = "20,100,1000",
) -> None:
    """Throughput and memory of the sensor beside tshark, p0f, softflowd and nfstream."""
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:  # benchmarks/ is imported from the checkout, not installed
        sys.path.insert(0, str(ROOT))
    if discovery:
        from benchmarks.discovery.run import main as discovery_main

        code = discovery_main()
    elif discovery_cost:
        from benchmarks.discovery_cost import main as cost_main

        code = cost_main(packets=packets)
    elif hub:
        from benchmarks.hub import main as hub_main

        try:
            sizes = [int(n) for n in fleet.split(",") if int(n) > 0]
        except ValueError:
            raise Exit(f"--fleet {fleet!r}: numbers of sensors separated by commas, such as 20,100,1000") from None
        code = hub_main(sizes)
    elif live:
        from benchmarks.live import main as live_main

        code = live_main(packets=packets)
    else:
        from benchmarks.offline import main as bench_main

        code = bench_main(packets=packets)
    if code:
        raise Exit(code=code)
