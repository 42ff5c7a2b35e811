"""`nps-sensor appliance update BUNDLE`: a new version of the sensor, in place, undone by
itself when it does not work.

1. The bundle is checked against the release key the image was built with, then
   unpacked (nothing of it is used before its signature and every digest match).
2. Its version must be newer than the running one (`--downgrade` to go back on purpose).
3. It is installed beside the running version (`update_layout`).
4. The journal says "trial", then /opt/nps-sensor is switched to it and the services that
   ran are restarted in it.
5. The health check (`update_health`): the services as they were, now in the new version.
6. Healthy: the journal says "done" and versions older than the previous one go.
   Not healthy: switched back, restarted, the new version removed, the journal says
   "rolled back" and why. A restart in the middle of 4-5 (a power cut) is rolled back
   at the next boot by `--recover`, before the services start.

The journal (/var/lib/nps-sensor/update.json) is also how the outcome reaches the hub
when the hub asked for the update: the uplink, restarted in whichever version won,
reads it and acknowledges the hub's command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nps_sensor import atomic
from nps_sensor.appliance import update_health as health
from nps_sensor.appliance import update_layout as layout
from nps_sensor.appliance.update_bundle import BundleError, load_keys, unpack

log = logging.getLogger("nps-update")
JOURNAL = "/var/lib/nps-sensor/update.json"
TRIAL = "/var/lib/nps-sensor/update.trial"  # present from the switch to the verdict (the boot's check)
STAGING = "/var/lib/nps-sensor/updates"
LOCK = "/run/lock/nps-sensor-update.lock"


@dataclass(frozen=True)
class Outcome:
    state: str  # done, rolled back, refused
    version: str  # what runs now
    message: str

    @property
    def ok(self) -> bool:
        return self.state == "done"


def journal(root: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(layout.path(root, JOURNAL).read_text())
        if isinstance(data, dict):
            return data
    return {}


def _write_journal(root: Path, **entry: Any) -> None:
    entry["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    target = layout.path(root, JOURNAL)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write(target, (json.dumps(entry, indent=1) + "\n").encode(), 0o644, sync_directory=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    lock = layout.path(root, LOCK)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError("another update is running; wait for it to finish") from None
        yield


def _newer(version: str, than: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return version > than


def update(
    bundle_path: Path,
    host: health.Host,
    root: Path = Path("/"),
    downgrade: bool = False,
    command: int | None = None,
) -> Outcome:
    """Apply the bundle; a refusal raises BundleError (nothing changed), a failed health
    check returns the rolled-back Outcome. `command` is the hub's command to acknowledge."""
    with _locked(root):
        staging = layout.path(root, STAGING) / "unpacked"
        old = ""
        try:
            old = layout.running(root)
            keys = load_keys(layout.path(root, layout.RELEASE_KEY))
            bundle = unpack(bundle_path, keys, staging)
            new = bundle.version
            if new == old:
                raise BundleError(f"version {new} is the one running: nothing to do")
            if not _newer(new, old) and not downgrade:
                raise BundleError(f"version {new} is older than the running {old} (--downgrade to install it anyway)")
            log.info("installing %s beside %s", new, old)
            layout.install(root, bundle, host.run)
        except BundleError as e:
            _write_journal(root, state="refused", version=old, reason=str(e), command=command)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return _trial(host, root, old, new, command)


def _trial(host: health.Host, root: Path, old: str, new: str, command: int | None) -> Outcome:
    was = health.before(host, root)
    _write_journal(root, state="trial", previous=old, version=new, command=command)
    layout.path(root, TRIAL).write_text(f"{old} {new}\n")
    since = dt.datetime.now(dt.UTC)
    layout.switch(root, new)
    log.info("switched to %s; restarting %s", new, ", ".join(was.units) or "nothing (no service was running)")
    try:
        host.restart(*was.units)
        reason = health.check(host, root, was, new, since)
    except Exception as e:  # whatever goes wrong in the trial, the old version comes back
        reason = f"{type(e).__name__}: {e}"
    if not reason:
        _write_journal(root, state="done", previous=old, version=new, command=command)
        layout.path(root, TRIAL).unlink(missing_ok=True)
        gone = layout.prune(root, keep=[new, old])
        log.info("%s works; kept %s to roll back to%s", new, old, f", removed {', '.join(gone)}" if gone else "")
        return Outcome("done", new, f"updated from {old} to {new}")
    log.error("%s failed its health check (%s): rolling back to %s", new, reason, old)
    return rollback(host, root, old, new, reason, command, was.units)


def rollback(
    host: health.Host, root: Path, old: str, new: str, reason: str, command: int | None, units: list[str]
) -> Outcome:
    layout.switch(root, old)
    message = f"{new} failed its health check ({reason}); rolled back to {old}"
    try:
        host.restart(*units)
    except Exception as e:
        message += f" (restarting {', '.join(units)} in {old} failed too: {e})"
    layout.remove(root, new)
    _write_journal(root, state="rolled back", previous=new, version=old, reason=reason, command=command)
    layout.path(root, TRIAL).unlink(missing_ok=True)
    return Outcome("rolled back", old, message)


def recover(root: Path = Path("/")) -> str:
    """At boot, before the services: an update cut short in its trial is rolled back."""
    trial = layout.path(root, TRIAL)
    if not trial.exists():
        return "no update was in its trial"
    entry = journal(root)
    old, new = entry.get("previous", ""), entry.get("version", "")
    if entry.get("state") != "trial" or not layout.installed(root, old):
        trial.unlink()
        return "the trial marker had no trial to go with it: removed"
    layout.switch(root, old)
    layout.remove(root, new)
    reason = "the appliance restarted during the health check"
    _write_journal(root, state="rolled back", previous=new, version=old, reason=reason, command=entry.get("command"))
    trial.unlink()
    return f"{new} did not finish its health check ({reason}); rolled back to {old}"


def in_unit() -> bool:
    """Whether this process runs in the update's own transient unit (see `cli`)."""
    return os.environ.get("NPS_UPDATE_UNIT") == "1"
