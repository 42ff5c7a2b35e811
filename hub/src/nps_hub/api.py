"""The hub's JSON API for users (FastAPI; the OpenAPI description is at /openapi.json):
thin routes on the domain modules the web UI calls too (app.py assembles both).

Who may call what: context.py (users and sensors), roles.py (viewer, operator,
administrator). Every body is checked by its schema (schema.py) and refused with 400
naming the field; bodies are bounded before they are read (limits.py); every answer
carries the security headers (headers.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from sqlalchemy import delete, select

from nps_hub import (
    __version__,
    accounts,
    backlog,
    config_store,
    conversations,
    dashboard,
    events,
    headers,
    ingest,
    inventory,
    lifecycle,
    ratelimit,
    schema,
)
from nps_hub.configuration import AssetConfig
from nps_hub.context import (
    COOKIE,
    DB,
    Administrator,
    Hub,
    HubDep,
    Limit,
    Offset,
    Operator,
    PathId,
    QueryId,
    Viewer,
    address,
    bearer,
    limited,
)
from nps_hub.db import iso
from nps_hub.models import Asset, Command, Event, Flow, RangeTag, Sensor, User, UserSession

log = logging.getLogger("nps-hub")
router = APIRouter(prefix="/api/v1")


@router.get("/health", tags=["hub"])
async def health() -> dict[str, str]:
    """Answered on the event loop, without the database: it says the hub is serving."""
    return {"status": "ok", "version": __version__}


# --- users ---------------------------------------------------------------------------


@router.post("/login", tags=["users"])
def login(body: schema.Login, response: Response, request: Request, db: DB, hub: HubDep) -> dict[str, Any]:
    try:
        user = accounts.try_login(db, hub.guard, body.name, body.password, address(request))
    except ratelimit.Limited as e:
        raise limited(e) from None
    except PermissionError as e:
        raise HTTPException(401, str(e)) from None
    token, csrf, expires = accounts.open_session(db, hub.keyed, user, hub.settings.session_ttl)
    headers.set_cookie(response, request, COOKIE, token, int(hub.settings.session_ttl))
    return {"token": token, "csrf": csrf, "expires": iso(expires), "user": user.name, "role": user.role}


@router.post("/logout", tags=["users"])
def logout(
    user: Viewer,
    request: Request,
    response: Response,
    db: DB,
    hub: HubDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    token = bearer(authorization) or request.cookies.get(COOKIE) or ""
    db.execute(delete(UserSession).where(UserSession.token_hash == hub.keyed.digest("session", token)))
    db.commit()
    headers.delete_cookie(response, request, COOKIE)
    return {"status": "logged out"}


@router.get("/users", tags=["users"])
def list_users(admin: Administrator, db: DB) -> list[dict[str, Any]]:
    return [accounts.user_dict(u) for u in db.scalars(select(User).order_by(User.name))]


@router.post("/users", tags=["users"], status_code=201)
def create_user(body: schema.NewUser, admin: Administrator, db: DB) -> dict[str, Any]:
    try:
        user = accounts.add_user(db, body.name, body.password, body.chosen_role())
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    except accounts.Taken as e:
        raise HTTPException(409, str(e)) from None
    return accounts.user_dict(user)


@router.patch("/users/{user_id}", tags=["users"])
def patch_user(user_id: PathId, body: schema.UserChange, admin: Administrator, db: DB) -> dict[str, Any]:
    user = db.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"no user {user_id}")
    try:
        accounts.change_user(db, admin, user, body.password, body.chosen_role(), body.disabled)
    except LookupError as e:
        raise HTTPException(409, str(e)) from None
    return accounts.user_dict(user)


# --- sensors --------------------------------------------------------------------------


def _sensor(db: DB, sensor_id: int) -> Sensor:
    sensor = db.get(Sensor, sensor_id)
    if sensor is None:
        raise HTTPException(404, f"no sensor {sensor_id}")
    return sensor


@router.get("/sensors", tags=["sensors"])
def list_sensors(user: Viewer, db: DB, hub: HubDep) -> list[dict[str, Any]]:
    offline = hub.settings.offline_after
    return [lifecycle.sensor_dict(s, offline) for s in db.scalars(select(Sensor).order_by(Sensor.name))]


@router.post("/sensors", tags=["sensors"], status_code=201)
def create_sensor(body: schema.NewSensor, user: Operator, db: DB, hub: HubDep) -> dict[str, Any]:
    try:
        sensor, code, expires = lifecycle.create(
            db, hub.keyed, hub.settings.code_ttl, body.name, body.location, body.network
        )
    except lifecycle.Taken as e:
        raise HTTPException(409, str(e)) from None
    return _with_code(sensor, code, expires, hub)


def _with_code(sensor: Sensor, code: str, expires: dt.datetime, hub: Hub) -> dict[str, Any]:
    """A sensor and its new personalization code, shown this once."""
    return {
        "sensor": lifecycle.sensor_dict(sensor, hub.settings.offline_after),
        "code": code,
        "code_expires": iso(expires),
    }


@router.get("/sensors/{sensor_id}", tags=["sensors"])
def get_sensor(sensor_id: PathId, user: Viewer, db: DB, hub: HubDep) -> dict[str, Any]:
    s = _sensor(db, sensor_id)
    out = lifecycle.sensor_dict(s, hub.settings.offline_after)
    out["health"] = s.status
    return out


@router.post("/sensors/{sensor_id}/code", tags=["sensors"])
def new_code(sensor_id: PathId, user: Operator, db: DB, hub: HubDep) -> dict[str, Any]:
    s = _sensor(db, sensor_id)
    lifecycle.require_idle(s, hub.settings.offline_after, "it gets a new code")
    code, expires = lifecycle.issue_code(s, hub.keyed, hub.settings.code_ttl)
    s.registered = None
    s.deregistered = None
    s.token_hash = None
    db.commit()
    return _with_code(s, code, expires, hub)


@router.post("/sensors/{sensor_id}/actions", tags=["sensors"], status_code=202)
def act(sensor_id: PathId, body: schema.Action, user: Operator, db: DB, hub: HubDep) -> dict[str, Any]:
    s = _sensor(db, sensor_id)
    cmd = lifecycle.queue(db, s, body.action, user.name, hub.settings.offline_after)
    if body.action == "delete_assets":
        with ingest.writing(hub.engine) as conn:
            ingest.delete_assets_of(conn, s)
    return lifecycle.command_dict(cmd)


@router.get("/sensors/{sensor_id}/commands", tags=["sensors"])
def commands(sensor_id: PathId, user: Viewer, db: DB) -> list[dict[str, Any]]:
    _sensor(db, sensor_id)
    rows = db.scalars(select(Command).where(Command.sensor_id == sensor_id).order_by(Command.id.desc()).limit(100))
    return [lifecycle.command_dict(c) for c in rows]


@router.delete("/sensors/{sensor_id}", tags=["sensors"])
def delete_sensor(sensor_id: PathId, user: Operator, db: DB, hub: HubDep) -> dict[str, str]:
    s = _sensor(db, sensor_id)
    lifecycle.require_idle(s, hub.settings.offline_after, "deleting it")
    with ingest.writing(hub.engine) as conn:
        ingest.delete_assets_of(conn, s)
    db.delete(s)
    db.commit()
    return {"status": "deleted", "name": s.name}


# --- configuration -----------------------------------------------------------------


@router.get("/configuration", tags=["configuration"])
def get_configuration(user: Viewer, db: DB) -> dict[str, Any]:
    doc, version = config_store.saved(db)
    return config_store.reply(db, version, doc)


@router.put("/configuration", tags=["configuration"])
def put_configuration(body: AssetConfig, user: Operator, db: DB) -> dict[str, Any]:
    try:
        version = config_store.save(db, body, user.name)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return config_store.reply(db, version, body)


@router.get("/tags", tags=["configuration"])
def list_tags(user: Viewer, db: DB) -> list[dict[str, Any]]:
    doc, version = config_store.saved(db)
    return [
        config_store.tag_dict(t, doc if version else None) for t in db.scalars(select(RangeTag).order_by(RangeTag.name))
    ]


@router.post("/tags", tags=["configuration"], status_code=201)
def new_tag(body: schema.NewTag, user: Operator, db: DB) -> dict[str, Any]:
    try:
        tag = config_store.create_tag(db, body.name, body.ranges, user.name)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    except LookupError as e:
        raise HTTPException(409, str(e)) from None
    return config_store.tag_dict(tag, None)


@router.delete("/tags/{tag_id}", tags=["configuration"])
def remove_tag(tag_id: PathId, user: Operator, db: DB) -> dict[str, str]:
    tag = db.get(RangeTag, tag_id)
    if tag is None:
        raise HTTPException(404, f"no IP-range tag {tag_id}")
    try:
        config_store.delete_tag(db, tag)
    except LookupError as e:
        raise HTTPException(409, str(e)) from None
    return {"status": "deleted", "name": tag.name}


# --- inventory, traffic, events -------------------------------------------------------


@router.get("/assets", tags=["inventory"])
def assets(
    user: Viewer, db: DB, f: Annotated[inventory.AssetQuery, Query()], limit: Limit = 1000, offset: Offset = 0
) -> dict[str, Any]:
    """The inventory, filtered, sorted and a page of it, with how many match in all."""
    return inventory.listing(db, f, limit, offset)


@router.get("/assets.csv", tags=["inventory"], response_class=Response)
def assets_csv(user: Viewer, db: DB, f: Annotated[inventory.AssetQuery, Query()]) -> Response:
    """Exactly the filtered inventory, as CSV (at most 100,000 assets)."""
    return Response(
        "".join(inventory.export_csv(db, f)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="assets.csv"'},
    )


@router.get("/assets/{asset_id}", tags=["inventory"])
def asset(asset_id: PathId, user: Viewer, db: DB) -> dict[str, Any]:
    a = db.get(Asset, asset_id)
    if a is None:
        raise HTTPException(404, f"no asset {asset_id}")
    out = inventory.asset_dict(db, a, brief=False)
    out["traffic"] = inventory.traffic(db, a.id, a.network)
    return out


@router.get("/dashboard", tags=["inventory"])
def dashboard_figures(user: Viewer, db: DB, span: dashboard.Span = "24h") -> dict[str, Any]:
    """Time series (linear time axis, every bucket present; `times` in seconds since the
    epoch, traffic in bytes per second), top talkers and services, the inventory by
    device type, OS family and vendor, and the open events."""
    return dashboard.summary(db, span)


@router.get("/map", tags=["traffic"])
def conversation_map(
    user: Viewer, db: DB, f: Annotated[inventory.AssetQuery, Query()], asset: QueryId = None
) -> dict[str, Any]:
    """Who talks to whom: one asset and its peers, or the filtered inventory; nodes
    (assets, or addresses the inventory does not hold) and edges weighted by bytes."""
    return conversations.graph(db, f, asset)


@router.get("/flows", tags=["traffic"])
def flows(
    user: Viewer, db: DB, asset: QueryId = None, sensor: QueryId = None, limit: Limit = 1000, offset: Offset = 0
) -> dict[str, Any]:
    """Traffic records, in the order they were stored; one sensor's in the order of its
    reports, the order of flows.report_id's index, which finds them (by flows.id,
    PostgreSQL would walk the whole table's key to fill a page of a sensor's few)."""
    stmt = select(Flow)
    order = [Flow.id]
    if asset is not None:
        stmt = stmt.where((Flow.client_asset == asset) | (Flow.server_asset == asset))
    if sensor is not None:
        stmt = stmt.where(Flow.report_id.in_(ingest.reports_of(sensor)))
        order = [Flow.report_id, Flow.id]
    rows = db.scalars(stmt.order_by(*order).limit(limit).offset(offset))
    names = dict(db.execute(select(Sensor.id, Sensor.name)).all())
    return {"total": inventory.total(db, stmt), "waiting": backlog.waiting(db.connection()),
            "flows": [inventory.flow_dict(f) | {"sensor_name": names.get(f.sensor_id, "")} for f in rows]}  # fmt: skip


@router.get("/events", tags=["events"])
def list_events(
    user: Viewer, db: DB, sensor: QueryId = None, open: bool | None = None, limit: Limit = 1000
) -> list[dict[str, Any]]:
    stmt = select(Event, Sensor.name).join(Sensor, Sensor.id == Event.sensor_id)
    if sensor is not None:
        stmt = stmt.where(Event.sensor_id == sensor)
    if open is not None:
        stmt = stmt.where(Event.open.is_(open))
    return [events.event_dict(e, name) for e, name in db.execute(stmt.order_by(Event.id.desc()).limit(limit))]
