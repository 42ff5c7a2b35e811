"""The web UI's sensor pages: the list with statuses and quick actions, a new sensor
and its personalization code, one sensor's health, actions and events, deletion. The
rules are the domain's (lifecycle, ingest), the same the JSON API applies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select

from nps_hub import events, ingest, lifecycle, schema, updates
from nps_hub.context import PathId
from nps_hub.models import Command, Event, Sensor
from nps_hub.webpage import Operating, Viewing, Visit, checked

router = APIRouter(include_in_schema=False)
ACTION_LABELS = {
    "start": "Start sensing",
    "pause": "Pause",
    "reboot": "Reboot",
    "delete_assets": "Delete assets",
    "deregister": "Deregister",
}
# Quick actions that lose something: the page asks before it sends them.
CONFIRM = {
    "reboot": "Reboot {name}? Sensing stops until it is back.",
    "delete_assets": "Delete every asset and traffic record {name} reported? This cannot be undone.",
    "deregister": "Deregister {name}? It stops reporting until it is registered again with a new code.",
}


def sensors_page(v: Visit, status: int = 200, **more: Any) -> Response:
    offline = v.hub.settings.offline_after
    pending = dict(
        v.db.execute(
            select(Command.sensor_id, func.count()).where(Command.state == "pending").group_by(Command.sensor_id)
        ).all()
    )
    rows = []
    for s in v.db.scalars(select(Sensor).order_by(Sensor.name)):
        d = lifecycle.sensor_dict(s, offline)
        d["pending"] = pending.get(s.id, 0)
        idle = d["status"] in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED)
        d["actions"] = (
            []
            if idle or not v.context["operator"]
            else [(a, ACTION_LABELS[a], CONFIRM.get(a, "").format(name=s.name)) for a in lifecycle.ACTIONS]
        )
        offered = updates.offer(v.hub.settings.data_dir, d["version"]) if d["actions"] else None
        if offered:  # the update quick action, to the newest bundle newer than what runs
            d["actions"].append((f"{updates.ACTION}:{offered.id}", f"Update to {offered.version}",
                                 f"Update {s.name} to {offered.version}? It restarts on the new version."))  # fmt: skip
        rows.append(d)
    return v.page("sensors.html", "Sensors", status, nav="sensors", sensors=rows, refresh=60, **more)


@router.get("/sensors")
def sensors(v: Viewing) -> Response:
    return sensors_page(v)


@router.post("/sensors")
def create(v: Operating) -> Response:
    fields = {k: v.form[k].strip() for k in ("name", "location", "network") if v.form.get(k, "").strip()}
    try:
        body = checked(schema.NewSensor, fields)
        s, code, expires = lifecycle.create(
            v.db, v.hub.keyed, v.hub.settings.code_ttl, body.name, body.location, body.network
        )
    except ValueError as e:
        return sensors_page(v, 400, error=str(e))
    except lifecycle.Taken as e:
        return sensors_page(v, 409, error=str(e))
    return sensors_page(v, code={"name": s.name, "code": code, "expires": expires})


@router.post("/sensors/{sensor_id}/action")
def action(sensor_id: PathId, v: Operating) -> Response:
    s = v.db.get(Sensor, sensor_id)
    if s is None:
        return sensors_page(v, 404, error=f"no sensor {sensor_id}")
    name = v.form.get("action", "")
    label = ACTION_LABELS.get(name, name)
    offline = v.hub.settings.offline_after
    try:
        if name.startswith(f"{updates.ACTION}:"):
            label = updates.queue_action(v.db, s, name, v.user.name, offline, v.hub.settings.data_dir)
        else:
            lifecycle.queue(v.db, s, name, v.user.name, offline)
    except lifecycle.Refused as e:
        return sensors_page(v, 409, error=str(e))
    if name == "delete_assets":
        with ingest.writing(v.hub.engine) as conn:
            ingest.delete_assets_of(conn, s)
    return sensors_page(v, notice=f"{label}: sent to {s.name} with its next heartbeat")


@router.get("/sensors/{sensor_id}")
def sensor(sensor_id: PathId, v: Viewing) -> Response:
    s = v.db.get(Sensor, sensor_id)
    if s is None:
        return sensors_page(v, 404, error=f"no sensor {sensor_id}")
    cmds = v.db.scalars(select(Command).where(Command.sensor_id == s.id).order_by(Command.id.desc()).limit(50))
    evs = [
        events.event_dict(e, s.name)
        for e in v.db.scalars(select(Event).where(Event.sensor_id == s.id).order_by(Event.id.desc()).limit(100))
    ]
    health = s.status if isinstance(s.status, dict) else {}
    interfaces = [i for i in health.get("interfaces") or [] if isinstance(i, dict)]
    return v.page(
        "sensor.html", f"Sensor {s.name}", nav="sensors", s=lifecycle.sensor_dict(s, v.hub.settings.offline_after),
        commands=[lifecycle.command_dict(c) for c in cmds], interfaces=interfaces, events=evs,
        confirm_delete=f"Delete sensor {s.name} with every asset and traffic record only it reported?",
    )  # fmt: skip


@router.post("/sensors/{sensor_id}/delete")
def delete_sensor(sensor_id: PathId, v: Operating) -> Response:
    s = v.db.get(Sensor, sensor_id)
    if s is None:
        return sensors_page(v, 404, error=f"no sensor {sensor_id}")
    try:
        lifecycle.require_idle(s, v.hub.settings.offline_after, "deleting it")
    except lifecycle.Refused as e:
        return sensors_page(v, 409, error=str(e))
    with ingest.writing(v.hub.engine) as conn:
        ingest.delete_assets_of(conn, s)
    v.db.delete(s)
    v.db.commit()
    return sensors_page(v, notice=f"sensor {s.name} deleted")
