"""`nps-sensor upload`: captures analysed here, their reports sent to a hub, so that a
capture taken anywhere (a laptop on a mirror port, a customer's trace) lands in the
hub's inventory without a live sensor.

The reports are the engine's own, the ones the live service would have spooled from
the same packets, and they go through the uplink's own `send` (parts, gzip, the id
that is the digest of the report's bytes). The report's bytes depend only on the
packets and the configuration, so uploading the same capture again is recognised by
the hub and stored once.

The credential is a registered sensor's (`--state`, written by `nps-sensor register`);
with `--hub` and `--code-file`, the sensor is registered first with a personalization
code created at the hub for it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from nps_sensor import __version__
from nps_sensor.analyze import analyze
from nps_sensor.config import Config
from nps_sensor.errors import SensorError
from nps_sensor.uplink import state
from nps_sensor.uplink.agent import send
from nps_sensor.uplink.client import HubClient, Retry
from nps_sensor.uplink.proxy import ProxySettings

ATTEMPTS = 5  # per report, for passing failures (hub restarting, 503 with Retry-After)
VOLATILE_STATS = ("elapsed_seconds", "packets_per_second")  # would change the report's id at every run


@dataclass
class Uploaded:
    reports: int
    known: int  # of them, stored before (the same captures sent again)
    assets: int
    flows: int
    errors: list[str]  # damaged captures: what precedes the damage was sent


def reports_of(captures: list[str], cfg: Config) -> tuple[list[bytes], list[str]]:
    """The reports the engine makes of the captures, as the live service spools them;
    the same packets give the same bytes."""
    done = analyze(captures, cfg)
    stats = {k: v for k, v in done.result["stats"].items() if k not in VOLATILE_STATS}
    sensor = {"version": __version__, "captures": [os.path.basename(c) for c in captures]}
    out = []
    for report in done.reports:
        if report["assets"] or report["flows"]:
            body = {**report, "sensor": sensor, "stats": stats}
            out.append(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return out, done.errors


def upload(
    captures: list[str],
    cfg: Config,
    state_path: str,
    proxy: ProxySettings | None = None,
    progress: Callable[[str], None] = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Uploaded:
    hub = state.load(state_path)
    client = HubClient(hub.hub, hub.token, hub.ca_pem, proxy)
    bodies, errors = reports_of(captures, cfg)
    total = Uploaded(0, 0, 0, 0, errors)
    for i, data in enumerate(bodies, 1):
        for attempt in range(ATTEMPTS):
            try:
                total.known += send(client, data, f"{i} of {len(bodies)}")
                break
            except Retry as e:
                if attempt == ATTEMPTS - 1:
                    raise SensorError(f"report {i} of {len(bodies)} not stored: {e}") from None
                wait = e.retry_after if e.retry_after is not None else 2.0**attempt
                progress(f"report {i} of {len(bodies)}: {e}; again in {wait:.0f} s")
                sleep(min(wait, 60.0))
        body = json.loads(data)
        total.reports += 1
        total.assets += len(body["assets"])
        total.flows += len(body["flows"])
        progress(f"report {i} of {len(bodies)} at the hub: {len(body['assets'])} assets, {len(body['flows'])} flows")
    return total
