"""What must agree between `nps-sensor run` and `nps-sensor analyze` on the same frames.

Every field of every asset and of the engine's counters, except times (a replay is
not the capture: the kernel stamps the packets anew), and the traffic records
summed per (client, server, port, protocol) over the windows (the live service cuts
them where its windows end, `analyze` where the capture's do).
"""

from __future__ import annotations

import collections
import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.lab import BIN, Sensor
from nps_sensor.synth import PcapWriter, generate
from nps_sensor.synth import packets as P

TIMES = {"first_seen", "last_seen", "first", "last", "elapsed_seconds", "packets_per_second"}
Flows = dict[tuple[Any, ...], list[int]]


def timeless(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: timeless(v) for k, v in x.items() if k not in TIMES}
    if isinstance(x, list):
        return [timeless(v) for v in x]
    return x


def asset_key(x: dict[str, Any]) -> Any:
    return x.get("id") or x["ip"] or x["name"]


def flow_sums(flows: list[dict[str, Any]]) -> Flows:
    f: Flows = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in flows:
        s = f[(r["client"], r["server"], r["port"], r["proto"])]
        s[0] += r["client_bytes"]
        s[1] += r["server_bytes"]
        s[2] += r["client_packets"]
        s[3] += r["server_packets"]
    return dict(f)


def unoriented(flows: Flows) -> Flows:
    """Flows keyed by their two endpoints in either order, byte and packet counts paired
    the same way, for endpoints whose roles only packet order decides."""
    out: Flows = {}
    for (client, server, port, proto), (cb, sb, cp, sp) in flows.items():
        key, counts = (
            ((client, server, port, proto), (cb, sb, cp, sp))
            if client <= server
            else ((server, client, port, proto), (sb, cb, sp, cp))
        )
        total = out.setdefault(key, [0, 0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n
    return out


def live_result(sensor: Sensor) -> tuple[dict[Any, Any], Flows, dict[str, Any]]:
    """Assets (each as its last report has it: assets carry totals), summed flows, and
    the engine's counters as the last report has them."""
    reports = sensor.reports()
    latest: dict[Any, dict[str, Any]] = {}
    for r in reports:
        for x in r["assets"]:
            latest[asset_key(x)] = x
    assets = {k: timeless(v) for k, v in latest.items()}
    return assets, flow_sums([f for r in reports for f in r["flows"]]), timeless(reports[-1]["stats"])


def analyze_result(capture: Path, config: Path) -> tuple[dict[Any, Any], Flows, dict[str, Any]]:
    cmd = [str(BIN), "analyze", str(capture), "--config", str(config)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assets = {asset_key(x): timeless(x) for x in result["assets"]}
    return assets, flow_sums(result["flows"]), timeless(result["stats"])


def per_message_counts_aside(assets: dict[Any, Any], stats: dict[str, Any]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """What several capture workers may count differently from one, and nothing else.

    Each worker reads a message repeated within a window once (the repeats it drops are
    its own), and the first SYN of each sender (discovery.registry.sampled): with two
    workers a DNS answer repeated to two clients is read twice. So how many times a fact
    was read, and how many packets discovery read, depend on how many workers share the
    traffic; which facts were found, and the type, OS and brand predicted from them, do
    not (merging the workers keeps the earliest SYN, the one `analyze` reads)."""
    kept = {k: {**a, "evidence": [_uncounted(e) for e in a.get("evidence", [])]} for k, a in assets.items()}
    return kept, {**stats, "discovery": {**stats["discovery"], "packets": None}}


def _uncounted(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evidence.items() if k != "count"}


def write_qinq(path: Path, packets: int, seed: int) -> None:
    """The generator's 802.1Q trunk inside an 802.1ad service tag: QinQ as a provider's
    mirror delivers it."""
    outer = P.vlan_tag(300, tpid=P.ETH_QINQ)
    with PcapWriter(str(path)) as w:
        for ts, frame in generate(packets, seed, "vlan"):
            w.write(ts, frame[:12] + outer + frame[12:])
