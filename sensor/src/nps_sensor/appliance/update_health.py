"""Is the new version working? The services as they were before the switch, now in it.

Before switching, the update notes what ran: the sensing service (and whether it was
sensing or paused), the uplink, and whether the uplink had reached the hub lately.
After the restart the new version must give back the same: the service answers on its
status endpoint as the new version, in the same state, with its capture workers; the
uplink stays up; and if the hub was being reached before, the new uplink reaches it
too (its heartbeat file names the new version). A service that exits, or restarts,
fails the check at once instead of at the deadline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nps_sensor.errors import SensorError

SENSOR, UPLINK = "nps-sensor.service", "nps-uplink.service"
UPLINK_STATUS = "/var/lib/nps-sensor/uplink.json"  # written by the uplink after each heartbeat
RECENT = 600.0  # seconds: a heartbeat this recent means the hub was being reached
TIMEOUT = 240.0  # seconds for the new version to answer (a slow, busy appliance starts in ~30)
SETTLE = 10.0  # and to keep running afterwards


class Host(Protocol):
    """What the update needs of the machine (the appliance's systemd, or a test's stand-in)."""

    def run(self, cmd: Sequence[str]) -> str: ...

    def unit(self, name: str) -> dict[str, str]: ...

    def restart(self, *units: str) -> None: ...

    def status(self) -> dict[str, Any] | None: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Before:
    """What ran before the switch."""

    sensing: bool  # the sensing service was active
    state: str  # its state: sensing or paused
    uplink: bool  # the uplink was active
    reaching_hub: bool  # and had sent a heartbeat lately

    @property
    def units(self) -> list[str]:
        return [u for u, on in ((SENSOR, self.sensing), (UPLINK, self.uplink)) if on]


def _active(host: Host, unit: str) -> bool:
    return host.unit(unit).get("ActiveState") == "active"


def heartbeat(root: Path) -> dict[str, Any]:
    """The uplink's last heartbeat ({version, at}), {} when there is none."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((root / UPLINK_STATUS.lstrip("/")).read_text())
        if isinstance(data, dict):
            return data
    return {}


def _age(beat: dict[str, Any], now: dt.datetime) -> float:
    try:
        return (now - dt.datetime.fromisoformat(str(beat.get("at")))).total_seconds()
    except ValueError:
        return float("inf")


def before(host: Host, root: Path) -> Before:
    sensing = _active(host, SENSOR)
    status = host.status() if sensing else None
    uplink = _active(host, UPLINK)
    recent = uplink and _age(heartbeat(root), dt.datetime.now(dt.UTC)) < RECENT
    return Before(sensing, str((status or {}).get("state") or ""), uplink, recent)


def _restarts(host: Host, unit: str) -> int:
    value = host.unit(unit).get("NRestarts", "0")
    return int(value) if value.isdigit() else 0


def _exited(host: Host, unit: str, baseline: int) -> str:
    """Why `unit` is not running (exited, or restarted by systemd since `baseline`), or ""."""
    props = host.unit(unit)
    if props.get("ActiveState") == "failed" or props.get("SubState") == "auto-restart":
        return f"{unit} exited (status {props.get('ExecMainStatus', '?')})"
    restarts = _restarts(host, unit)
    if restarts > baseline:
        return f"{unit} exited and was restarted {restarts - baseline} times"
    return ""


def check(host: Host, root: Path, was: Before, version: str, since: dt.datetime, timeout: float | None = None) -> str:
    """The reason `version` does not work as the old one did, in one line; "" when it does."""
    timeout = TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    # systemd counts the automatic restarts since the unit was loaded: only new ones count.
    baseline = {u: _restarts(host, u) for u in was.units}
    while True:
        reason = next((r for r in (_exited(host, u, baseline[u]) for u in was.units) if r), "")
        if reason:
            return reason
        waiting = _waiting_for(host, root, was, version, since)
        if not waiting:
            break
        if time.monotonic() > deadline:
            return f"after {timeout:.0f} s still waiting for {waiting}"
        host.sleep(2)
    host.sleep(SETTLE)  # and it keeps running
    return next((r for r in (_exited(host, u, baseline[u]) for u in was.units) if r), "")


def _waiting_for(host: Host, root: Path, was: Before, version: str, since: dt.datetime) -> str:
    if was.sensing:
        status = host.status()
        if not status or status.get("version") != version:
            return f"the sensing service to answer as {version}"
        # Sensing must sense again; a paused sensor is steered back by the hub's uplink.
        if was.state == "sensing" and status.get("state") != "sensing":
            return f"the sensing service to sense again (it is {status.get('state')})"
        if status.get("state") == "sensing" and not status.get("workers"):
            return "the sensing service's capture workers"
    if was.reaching_hub:
        beat = heartbeat(root)
        if beat.get("version") != version or _age(beat, since) > 0:
            return f"a heartbeat to the hub from {version}"
    return ""


class Systemd:
    """The appliance itself: systemctl, the sensing service's status endpoint."""

    def __init__(self, status_address: str) -> None:
        self.address = status_address

    def run(self, cmd: Sequence[str]) -> str:
        done = subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise SensorError(f"{cmd[0]} failed: {said[-1] if said else f'exit status {done.returncode}'}")
        return done.stdout

    def unit(self, name: str) -> dict[str, str]:
        props = "ActiveState,SubState,NRestarts,ExecMainStatus"
        out = subprocess.run(
            ["systemctl", "show", "-p", props, name], capture_output=True, text=True, check=False
        ).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def restart(self, *units: str) -> None:
        if units:
            self.run(["systemctl", "restart", *units])

    def status(self) -> dict[str, Any] | None:
        from nps_sensor.live import status as local

        try:
            return local.request(self.address, timeout=3.0)
        except SensorError:
            return None

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
