"""The sensor's own endpoints, `/api/v1/agent/...`: registration, heartbeat, command
acknowledgements, report upload.

A report is read as it streams in (limits.BodyLimits bounds it), then inflated,
counted, parsed, checked and merged in an ingest thread (limits.Ingest), off the event
loop. A report the hub refuses for its content gets 400/413/415 naming what is wrong,
and nothing of it is stored; the uplink moves it aside and sends the next one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request

from nps_hub import (
    __version__,
    config_store,
    configuration,
    dashboard,
    events,
    ingest,
    lifecycle,
    ratelimit,
    report,
    updates,
)
from nps_hub.context import DB, AnySensor, HubDep, PathId, SensorDep, UploadingSensor, address, limited
from nps_hub.limits import read_body
from nps_hub.models import now
from nps_hub.schema import Ack, Heartbeat, Registration

REPORT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUS_KEPT = 64_000  # characters of a heartbeat's status kept per sensor

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


@router.post("/register", status_code=201)
def register(body: Registration, request: Request, db: DB, hub: HubDep) -> dict[str, Any]:
    where = address(request)
    try:
        hub.guard.check_code(db, body.code, where)
        sensor, token = lifecycle.register(db, hub.keyed, body.code, body.facts.model_dump())
    except ratelimit.Limited as e:
        raise limited(e) from None
    except lifecycle.Refused as e:
        hub.guard.code_failed(db, body.code, where)
        raise HTTPException(403, str(e)) from None
    return {
        "sensor": {"id": sensor.id, "name": sensor.name, "network": sensor.network},
        "token": token,
        "heartbeat_interval": hub.settings.heartbeat_interval,
        "hub_version": __version__,
    }


@router.post("/heartbeat")
def heartbeat(body: Heartbeat, sensor: AnySensor, db: DB, hub: HubDep) -> dict[str, Any]:
    if sensor.deregistered is not None:  # the one answer a deregistered sensor gets
        lifecycle.spend(db, sensor)
        return {"deregistered": True, "commands": [], "sensing": False, "config": None}
    for ack in body.acks:
        lifecycle.acknowledge(db, sensor, ack.id, ack.ok, ack.result)
    status = body.status.model_dump(exclude_none=True)
    sensor.last_heartbeat = now()
    sensor.state = body.status.state
    sensor.status = status if len(str(status)) < STATUS_KEPT else {"state": body.status.state, "truncated": True}
    sensor.config_version = body.config_version
    updates.note_version(sensor, status)
    events.from_heartbeat(db, sensor, body.status)
    dashboard.record(db, sensor.id, status)
    cmds = lifecycle.pending(db, sensor)
    config = None
    head = config_store.newest(db)  # the document only when the sensor has another version
    if head is not None and head.version != body.config_version:
        doc, version = config_store.saved(db)
        config = {"version": version, "yaml": configuration.for_sensor(doc, sensor.name, config_store.tag_ranges(db))}
    db.commit()
    return {
        "deregistered": False,
        "sensing": sensor.want_sensing,
        "commands": [updates.for_agent(hub.settings.data_dir, c) for c in cmds],
        "config": config,
        "heartbeat_interval": hub.settings.heartbeat_interval,
    }


@router.post("/commands/{command_id}/ack")
def ack(command_id: PathId, body: Ack, sensor: SensorDep, db: DB) -> dict[str, Any]:
    cmd = lifecycle.acknowledge(db, sensor, command_id, body.ok, body.result)
    if cmd is None:
        raise HTTPException(404, f"no command {command_id} for this sensor")
    db.commit()
    return lifecycle.command_dict(cmd)


@router.post(
    "/reports",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "a report as the sensor spools it; Content-Encoding gzip or deflate",
        }
    },
)
async def upload(
    request: Request,
    sensor: UploadingSensor,
    hub: HubDep,
    x_report_id: Annotated[str, Header(description="the report's id: the same report is stored once")],
    content_encoding: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if not REPORT_ID.match(x_report_id):
        raise HTTPException(400, "X-Report-Id: 1 to 128 letters, digits and . _ : -")
    body = await read_body(request.stream())

    def work() -> dict[str, Any]:
        try:
            parsed = report.read(body, content_encoding or "identity")
        except report.Refused as e:
            raise HTTPException(e.status, str(e)) from None
        with hub.sessions() as session:
            excluded = config_store.excluded_hostnames(session)
        later = ingest.Wire(body, content_encoding or "identity") if hub.ingest.queued() else None
        done = ingest.ingest(hub.engine, sensor, x_report_id, parsed, len(body), excluded, later)
        return {"id": x_report_id, "stored": True, "duplicate": done.duplicate, "assets": done.assets,
                "flows": done.flows}  # fmt: skip

    return await hub.ingest.run(work, sensor.network)
