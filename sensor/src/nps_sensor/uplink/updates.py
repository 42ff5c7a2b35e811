"""The hub's "update" quick action, on the sensor's side.

The hub hands the bundle over with the command (its id, version, SHA-256 and size);
the uplink fetches it with the sensor's own credential, checks the digest, and starts
`nps-sensor appliance update BUNDLE --detach` (a unit of its own: the update restarts
the uplink itself). The command is acknowledged only when the update has ended, by the
uplink then running, whichever version won: it finds the outcome in the updater's
journal. The bundle's signature is checked by the updater against the image's release
key, not here: the hub is not trusted to vouch for what it hands over.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from nps_sensor.appliance.render import VENV
from nps_sensor.appliance.update_bundle import MAX_TOTAL
from nps_sensor.errors import SensorError
from nps_sensor.uplink.client import HubClient

JOURNAL = "/var/lib/nps-sensor/update.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def fetch(client: HubClient, bundle: Any, directory: str) -> str:
    """The bundle the command names, downloaded into `directory`; its path."""
    if (
        not isinstance(bundle, dict)
        or not isinstance(bundle.get("id"), int)
        or not isinstance(bundle.get("sha256"), str)
        or not _SHA256.match(bundle["sha256"])
    ):
        raise SensorError("the hub's update command names no bundle (id and SHA-256): update the hub")
    target = os.path.join(directory, "updates", f"hub-bundle-{bundle['id']}.tar")
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    digest = client.download(f"/api/v1/agent/bundles/{bundle['id']}", target, MAX_TOTAL + (1 << 20))
    if digest != bundle["sha256"]:
        os.unlink(target)
        raise SensorError(f"the bundle from the hub is not the one it named (SHA-256 {digest[:12]}…)")
    return target


def start(path: str, command: int) -> None:
    """Hand the bundle to the updater, in a unit of its own (it restarts this uplink)."""
    custom = os.environ.get("NPS_SENSOR_UPDATE_COMMAND")  # tests: a stand-in for the updater
    args = custom.split() if custom else [f"{VENV}/bin/nps-sensor", "appliance", "update"]
    done = subprocess.run(
        [*args, path, "--detach", f"--command={command}"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise SensorError(f"the updater did not start: {said[-1] if said else f'exit status {done.returncode}'}")


def last(journal: str = JOURNAL) -> dict[str, Any]:
    """The updater's last journal entry (what the hub shows of the last update); {} if none."""
    try:
        entry = json.loads(Path(journal).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(entry, dict):
        return {}
    return {k: str(entry[k])[:500] for k in ("state", "version", "previous", "reason", "at") if entry.get(k)}


def outcome(command: int, journal: str = JOURNAL) -> tuple[bool, str] | None:
    """How the update for `command` ended, from the updater's journal; None while it runs."""
    try:
        entry = json.loads(Path(journal).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("command") != command or entry.get("state") == "trial":
        return None
    state, version = entry.get("state"), entry.get("version")
    if state == "done":
        return True, f"updated from {entry.get('previous')} to {version}"
    if state == "rolled back":
        return False, f"{entry.get('previous')} failed its health check ({entry.get('reason')}); {version} runs"
    return False, f"refused: {entry.get('reason')}"
