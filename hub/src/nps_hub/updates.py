"""Sensor updates through the hub: bundles uploaded once, offered to each sensor whose
version is older, handed over on the sensor's next heartbeat.

An administrator uploads a bundle (`inv image.bundle`'s file; POST /api/v1/bundles); the
hub keeps it in its data directory as uploaded (`bundles/N.tar`, what its manifest says
beside it in `N.json`). With `NPS_HUB_RELEASE_KEY` naming the release's public key (or
certificate), a bundle another key signed is refused at the upload; without it the hub
shows the version the manifest claims, and each sensor checks the signature against
the key its image carries, before anything is installed: the hub is not what makes a
bundle trusted.

The quick action is a command like the others (`update:N`), delivered with the
heartbeat as {"action": "update", "bundle": {id, version, sha256, size}}; the sensor
downloads the bundle with its own credential (only a bundle a command of its names)
and acknowledges the command when the update has ended, updated or rolled back. Each
heartbeat says which version runs; the hub keeps it as the sensor's version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from nps_hub import lifecycle
from nps_hub.context import DB, Administrator, HubDep, Operator, PathId, SensorDep, Viewer
from nps_hub.models import Command, Sensor, now
from nps_sensor.appliance.update_bundle import MAX_TOTAL, BundleError, check, load_keys, peek

ACTION = "update"
MAX_BUNDLE = MAX_TOTAL + (1 << 20)  # the files plus the tar's own bytes
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,63}$")
router = APIRouter()


@dataclass(frozen=True)
class Bundle:
    id: int
    version: str
    sha256: str
    size: int
    uploaded: str
    user: str
    checked: str  # what the hub checked of it

    def for_agent(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256, "size": self.size}


def folder(data_dir: Path) -> Path:
    return data_dir / "bundles"


def bundles(data_dir: Path) -> list[Bundle]:
    """Every bundle uploaded, oldest first."""
    out = []
    for meta in folder(data_dir).glob("*.json"):
        with contextlib.suppress(OSError, ValueError, TypeError):
            out.append(Bundle(**json.loads(meta.read_text())))
    return sorted(out, key=lambda b: b.id)


def bundle(data_dir: Path, bundle_id: int) -> Bundle | None:
    return next((b for b in bundles(data_dir) if b.id == bundle_id), None)


def newer(version: str, than: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return False


def offer(data_dir: Path, version: str) -> Bundle | None:
    """The newest bundle newer than `version`, which the UI offers to that sensor."""
    candidates = [b for b in bundles(data_dir) if newer(b.version, version)]
    return max(candidates, key=lambda b: _key(b.version), default=None)


def _key(version: str) -> Any:
    from packaging.version import Version

    return Version(version)


def keep(data_dir: Path, uploaded: Path, digest: str, user: str) -> Bundle:
    """Check an uploaded file and keep it as the next bundle; BundleError says why not."""
    key_file = os.environ.get("NPS_HUB_RELEASE_KEY", "")
    if key_file:
        version = check(uploaded, load_keys(Path(key_file)))
        checked = "signature and digests checked against the release key"
    else:
        version, _files = peek(uploaded)
        checked = "not checked here (no NPS_HUB_RELEASE_KEY): each sensor checks it"
    same = [b for b in bundles(data_dir) if b.sha256 == digest]
    if same:
        return same[0]
    number = max((b.id for b in bundles(data_dir)), default=0) + 1
    kept = Bundle(number, version, digest, uploaded.stat().st_size, now().isoformat(timespec="seconds"), user, checked)
    os.replace(uploaded, folder(data_dir) / f"{number}.tar")
    (folder(data_dir) / f"{number}.json").write_text(json.dumps(asdict(kept)) + "\n")
    return kept


def queue(db: Session, sensor: Sensor, kept: Bundle, user: str, offline_after: float) -> Command:
    """The update quick action for `sensor`: refused as the other actions are (not
    registered) and when that version runs already."""
    st = lifecycle.status(sensor, offline_after)
    if st in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED):
        raise lifecycle.Refused(f"sensor {sensor.name!r} is {st}: register it first")
    if sensor.version == kept.version:
        raise lifecycle.Refused(f"sensor {sensor.name!r} runs {kept.version} already")
    cmd = Command(sensor_id=sensor.id, action=f"{ACTION}:{kept.id}", user=user)
    db.add(cmd)
    db.commit()
    return cmd


def queue_action(db: Session, sensor: Sensor, action: str, user: str, offline_after: float, data_dir: Path) -> str:
    """The web UI's quick action `update:N`: queued, and its label; Refused when there is no bundle N."""
    number = action.partition(":")[2]
    kept = bundle(data_dir, int(number)) if number.isdigit() else None
    if kept is None:
        raise lifecycle.Refused(f"no bundle {number}: upload it first")
    queue(db, sensor, kept, user, offline_after)
    return f"Update to {kept.version}"


def for_agent(data_dir: Path, cmd: Command) -> dict[str, Any]:
    """A pending command as the heartbeat hands it over (an update with its bundle)."""
    action, _, number = cmd.action.partition(":")
    if action != ACTION:
        return {"id": cmd.id, "action": cmd.action}
    kept = bundle(data_dir, int(number)) if number.isdigit() else None
    return {"id": cmd.id, "action": ACTION, "bundle": kept.for_agent() if kept else None}


def note_version(sensor: Sensor, status: dict[str, Any]) -> None:
    """The version the sensor's heartbeat says runs (after an update, not the registration's)."""
    version = status.get("version")
    if isinstance(version, str) and _VERSION.match(version):
        sensor.version = version


# --- routes --------------------------------------------------------------------------


class UpdateRequest(BaseModel):
    bundle: int = Field(ge=1, le=2**31, description="the id of an uploaded bundle (GET /api/v1/bundles)")


@router.get("/api/v1/bundles", tags=["updates"])
def list_bundles(user: Viewer, hub: HubDep) -> list[dict[str, Any]]:
    return [asdict(b) for b in bundles(hub.settings.data_dir)]


@router.post(
    "/api/v1/bundles",
    tags=["updates"],
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            # Declared as octet-stream (any client, and API fuzzers, can send raw bytes); the body
            # is the tar whatever its Content-Type says, checked by its signature once on disk.
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "an update bundle as `inv image.bundle` writes it (nps-sensor-VERSION-update.tar)",
        }
    },
)
async def upload(request: Request, admin: Administrator, hub: HubDep) -> dict[str, Any]:
    """Keep an update bundle for the sensors (streamed to disk, bounded)."""
    target = folder(hub.settings.data_dir)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".tar", dir=target)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BUNDLE:
                    raise HTTPException(413, f"a bundle is at most {MAX_BUNDLE} bytes")
                digest.update(chunk)
                out.write(chunk)
        kept = keep(hub.settings.data_dir, Path(name), digest.hexdigest(), admin.name)
    except BundleError as e:
        raise HTTPException(422, f"not an update bundle: {e}") from None
    finally:
        Path(name).unlink(missing_ok=True)
    return asdict(kept)


@router.post("/api/v1/sensors/{sensor_id}/update", tags=["sensors"], status_code=202)
def update(sensor_id: PathId, body: UpdateRequest, user: Operator, db: DB, hub: HubDep) -> dict[str, Any]:
    """The update quick action: the sensor gets the bundle with its next heartbeat."""
    sensor = db.get(Sensor, sensor_id)
    if sensor is None:
        raise HTTPException(404, f"no sensor {sensor_id}")
    kept = bundle(hub.settings.data_dir, body.bundle)
    if kept is None:
        raise HTTPException(404, f"no bundle {body.bundle}: upload it first (POST /api/v1/bundles)")
    return lifecycle.command_dict(queue(db, sensor, kept, user.name, hub.settings.offline_after))


@router.get("/api/v1/agent/bundles/{bundle_id}", tags=["agent"])
def download(bundle_id: PathId, sensor: SensorDep, db: DB, hub: HubDep) -> FileResponse:
    """A bundle, to the sensor a pending update command names it for."""
    asked = db.scalar(
        select(Command.id).where(
            Command.sensor_id == sensor.id, Command.action == f"{ACTION}:{bundle_id}", Command.state == "pending"
        )
    )
    kept = bundle(hub.settings.data_dir, bundle_id)
    if asked is None or kept is None:
        raise HTTPException(404, f"no update with bundle {bundle_id} for this sensor")
    path = folder(hub.settings.data_dir) / f"{kept.id}.tar"
    return FileResponse(path, media_type="application/x-tar", filename=f"nps-sensor-{kept.version}-update.tar")
