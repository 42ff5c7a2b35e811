"""The hub's HTTP API (FastAPI; the OpenAPI description is at /openapi.json).

Two kinds of callers, kept apart by their credentials:

* users, with a login session (`Authorization: Bearer nps-u1-...`, or the session
  cookie plus the `X-CSRF-Token` header on changes);
* sensors, with the credential they received at registration
  (`Authorization: Bearer nps-s1-...`), only on `/api/v1/agent/...`, and only for
  themselves: a sensor's credential is never looked up among user sessions, nor the
  other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from nps_hub import __version__, configuration, events, families, ingest, lifecycle, ratelimit, security
from nps_hub.configuration import AssetConfig
from nps_hub.db import aware
from nps_hub.models import (
    Asset,
    Command,
    ConfigVersion,
    Event,
    Flow,
    RangeTag,
    Sensor,
    Sighting,
    User,
    UserSession,
    now,
)
from nps_hub.settings import Settings

MAX_REPORT = 64 << 20  # bytes of one report on the wire
MAX_INFLATED = 512 << 20  # bytes of one report once decompressed
REPORT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
COOKIE = "nps_session"


class Hub:
    """What the routes share: settings, the database, the secret key."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], keyed: security.Keyed) -> None:
        self.settings = settings
        self.sessions = sessions
        self.keyed = keyed
        self.logins = ratelimit.Limiter("login attempts", settings.login_limit, settings.limit_window)
        self.codes = ratelimit.Limiter("registration attempts", settings.code_limit, settings.limit_window)

    def try_login(self, db: Session, name: str, password: str, address: str) -> User:
        """The user, when the name and password are right and the user is not disabled;
        ratelimit.Limited when this address or name failed too often; otherwise
        PermissionError with the one-line reason."""
        keys = {"address": address, "user name": name}
        self.logins.check(keys)
        user = db.scalar(select(User).where(User.name == name))
        ok = security.check_password(user.password_hash if user else security.DUMMY_HASH, password)
        if user is None or not ok:
            self.logins.failed(keys)
            raise PermissionError("wrong user name or password")
        self.logins.forget("user name", name)
        if user.disabled:
            raise PermissionError(f"user {name} is disabled: ask an administrator")
        return user


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _db(request: Request) -> Iterator[Session]:
    with _hub(request).sessions() as db:
        yield db


DB = Annotated[Session, Depends(_db)]
HubDep = Annotated[Hub, Depends(_hub)]
# Identifiers and counts within what every database stores (SQLite: 64-bit signed).
BIG = 2**53
PathId = Annotated[int, Path(ge=1, le=BIG)]
QueryId = Annotated[int | None, Query(ge=1, le=BIG)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=BIG)]


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


# --- users ---------------------------------------------------------------------------


def current_user(
    request: Request,
    db: DB,
    hub: HubDep,
    authorization: Annotated[str | None, Header()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> User:
    token = _bearer(authorization)
    by_cookie = False
    if token is None:
        token = request.cookies.get(COOKIE)
        by_cookie = True
    if not token or not token.startswith(security.SESSION_PREFIX):
        raise HTTPException(401, "log in first (POST /api/v1/login)", headers={"WWW-Authenticate": "Bearer"})
    session = db.scalar(select(UserSession).where(UserSession.token_hash == hub.keyed.digest("session", token)))
    expires = aware(session.expires) if session else None
    if session is None or expires is None or expires <= now():
        raise HTTPException(401, "session expired or unknown: log in again", headers={"WWW-Authenticate": "Bearer"})
    if (
        by_cookie
        and request.method not in ("GET", "HEAD")
        and not hmac.compare_digest(x_csrf_token or "", session.csrf)
    ):
        raise HTTPException(403, "missing or wrong X-CSRF-Token (the value login returned)")
    user = db.get(User, session.user_id)
    if user is None or user.disabled:
        raise HTTPException(401, "this user no longer exists or is disabled")
    return user


UserDep = Annotated[User, Depends(current_user)]


def current_admin(user: UserDep) -> User:
    if not user.admin:
        raise HTTPException(403, f"user {user.name} is not an administrator: ask one to do this")
    return user


AdminDep = Annotated[User, Depends(current_admin)]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limited(exc: ratelimit.Limited) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


class Login(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\s]+$")
    password: str = Field(min_length=8, max_length=1024)
    admin: bool = False


class UserChange(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    admin: bool | None = None
    disabled: bool | None = Field(default=None, description="a disabled user cannot log in; their sessions end")


class NewTag(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=configuration.NAME)
    ranges: list[Annotated[str, Field(max_length=100)]] = Field(
        min_length=1, max_length=10_000, description="addresses, CIDR blocks or first-last ranges"
    )


class NewSensor(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    location: str = Field(default="", max_length=256)
    network: str = Field(default="Default", min_length=1, max_length=128)


class Action(BaseModel):
    action: str = Field(description="one of: " + ", ".join(lifecycle.ACTIONS))


# --- sensors --------------------------------------------------------------------------


class Facts(BaseModel):
    model: str = Field(default="", max_length=128)
    version: str = Field(default="", max_length=64)
    hostname: str = Field(default="", max_length=255)
    mgmt_ipv4: str = Field(default="", max_length=64)
    mgmt_ipv6: str = Field(default="", max_length=64)
    mac: str = Field(default="", max_length=32)


class Registration(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    facts: Facts = Field(default_factory=Facts)


class Ack(BaseModel):
    id: int = Field(ge=1, le=2**53)
    ok: bool = True
    result: str = Field(default="", max_length=2000)


class Heartbeat(BaseModel):
    status: dict[str, Any] = Field(default_factory=dict)
    config_version: int = Field(default=0, ge=0, le=2**31)
    acks: list[Ack] = Field(default_factory=list)


def current_sensor(db: DB, hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> Sensor:
    token = _bearer(authorization)
    if not token or not token.startswith(security.SENSOR_PREFIX):
        raise HTTPException(401, "a sensor credential is needed (register with a personalization code)")
    sensor = db.scalar(select(Sensor).where(Sensor.token_hash == hub.keyed.digest("sensor", token)))
    if sensor is None:
        raise HTTPException(401, "unknown sensor credential: the sensor was deregistered or deleted; register again")
    return sensor


SensorDep = Annotated[Sensor, Depends(current_sensor)]


def warnings(db: Session, doc: AssetConfig, sensors: list[tuple[str, str]]) -> list[str]:
    """Overlapping inventories, and inventoried addresses that look like NAT devices."""
    out = configuration.overlaps(doc, sensors, tag_ranges(db))
    rows = db.execute(select(Asset.ip, Asset.network, Asset.raw).where(Asset.klass == "inventoried"))
    for ip, network, raw in rows:
        if isinstance(raw, dict) and ip and (w := configuration.nat_warning(ip, network, raw)):
            out.append(w)
    return out


def tag_ranges(db: Session) -> dict[str, list[str]]:
    """Each IP-range tag's name and ranges."""
    return {t.name: list(t.ranges) for t in db.scalars(select(RangeTag))}


def tag_dict(t: RangeTag, doc: AssetConfig | None) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "ranges": list(t.ranges),
        "created": t.created.isoformat(),
        "author": t.author,
        "used_by": configuration.tag_users(doc, t.name) if doc else [],
    }


def create_tag(db: Session, name: str, ranges: list[str], author: str) -> RangeTag:
    """Raise ValueError (the range at fault) or LookupError (the name is taken)."""
    name = name.strip()
    ranges = [r.strip() for r in ranges if r.strip()]
    if not name:
        raise ValueError("an IP-range tag needs a name")
    configuration.check_ranges(ranges)
    if db.scalar(select(RangeTag).where(RangeTag.name == name)) is not None:
        raise LookupError(f"an IP-range tag named {name!r} exists already: choose another name")
    tag = RangeTag(name=name, ranges=list(dict.fromkeys(ranges)), author=author)
    db.add(tag)
    db.commit()
    return tag


def delete_tag(db: Session, tag: RangeTag) -> None:
    """Raise LookupError when the configuration's groups still use it."""
    latest = latest_config(db)
    users = configuration.tag_users(AssetConfig.model_validate(latest.document), tag.name) if latest else []
    if users:
        raise LookupError(
            f"IP-range tag {tag.name!r} is used by the asset group(s) {', '.join(users)}: "
            "remove it from them (and save the configuration) first"
        )
    db.delete(tag)
    db.commit()


def add_user(db: Session, name: str, password: str, admin: bool) -> User:
    """Raise ValueError (name or password unfit) or LookupError (the name is taken)."""
    if not name or len(name) > 64 or any(c.isspace() or ord(c) < 32 for c in name):
        raise ValueError("a user name is 1 to 64 characters without spaces")
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise LookupError(f"a user named {name!r} exists already: choose another name")
    user = User(name=name, password_hash=security.hash_password(password), admin=admin)
    db.add(user)
    db.commit()
    return user


def change_user(
    db: Session, actor: User, user: User, password: str | None, admin: bool | None, disabled: bool | None
) -> None:
    """Raise LookupError when the actor changes their own account (so that a stolen session
    cannot lock its owner out)."""
    if user.id == actor.id:
        raise LookupError("you cannot change your own account here: ask another admin, or use nps-hub user")
    if password is not None:
        user.password_hash = security.hash_password(password)
    if admin is not None:
        user.admin = admin
    if disabled is not None:
        user.disabled = disabled
    if disabled or password is not None:  # their sessions end
        db.query(UserSession).filter(UserSession.user_id == user.id).delete()
    db.commit()


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "admin": u.admin, "disabled": u.disabled, "created": u.created.isoformat()}


def latest_config(db: Session) -> ConfigVersion | None:
    return db.scalar(select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(1))


def create_app(hub: Hub) -> FastAPI:
    from nps_hub import updates  # its routes use this module's dependencies

    smtp = events.Smtp.from_env()

    def sweep_once() -> None:
        with hub.sessions() as db:
            events.sweep(db, hub.settings.offline_after, hub.settings.reporting_stopped_after)
            events.notify(db, smtp)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(hub.settings.sweep_interval)
                try:
                    await run_in_threadpool(sweep_once)
                except Exception:
                    logging.getLogger("nps-hub").exception("event sweep failed; trying again")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        lifespan=lifespan,
        title="nps-hub",
        version=__version__,
        description="Management hub for nps-sensor appliances: sensors, quick actions, configuration, "
        "merged inventory and traffic.",
    )
    app.state.hub = hub
    offline = hub.settings.offline_after

    @app.exception_handler(lifecycle.Refused)
    def _refused(request: Request, exc: lifecycle.Refused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.get("/api/v1/health", tags=["hub"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # --- users ---------------------------------------------------------------------

    @app.post("/api/v1/login", tags=["users"])
    def login(body: Login, response: Response, request: Request, db: DB) -> dict[str, Any]:
        try:
            user = hub.try_login(db, body.name, body.password, _address(request))
        except ratelimit.Limited as e:
            raise limited(e) from None
        except PermissionError as e:
            raise HTTPException(401, str(e)) from None
        token, csrf = security.new_session_token(), security.new_session_token()[len(security.SESSION_PREFIX) :]
        expires = now() + dt.timedelta(seconds=hub.settings.session_ttl)
        db.query(UserSession).filter(UserSession.expires < now()).delete()
        db.add(UserSession(token_hash=hub.keyed.digest("session", token), csrf=csrf, user_id=user.id, expires=expires))
        db.commit()
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(hub.settings.session_ttl),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return {"token": token, "csrf": csrf, "expires": expires.isoformat(), "user": user.name}

    @app.post("/api/v1/logout", tags=["users"])
    def logout(
        user: UserDep,
        request: Request,
        response: Response,
        db: DB,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        token = _bearer(authorization) or request.cookies.get(COOKIE) or ""
        db.query(UserSession).filter(UserSession.token_hash == hub.keyed.digest("session", token)).delete()
        db.commit()
        response.delete_cookie(COOKIE)
        return {"status": "logged out"}

    @app.get("/api/v1/users", tags=["users"])
    def list_users(admin: AdminDep, db: DB) -> list[dict[str, Any]]:
        return [user_dict(u) for u in db.scalars(select(User).order_by(User.name))]

    @app.post("/api/v1/users", tags=["users"], status_code=201)
    def create_user(body: NewUser, admin: AdminDep, db: DB) -> dict[str, Any]:
        try:
            user = add_user(db, body.name, body.password, body.admin)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        except LookupError as e:
            raise HTTPException(409, str(e)) from None
        return user_dict(user)

    @app.patch("/api/v1/users/{user_id}", tags=["users"])
    def patch_user(user_id: PathId, body: UserChange, admin: AdminDep, db: DB) -> dict[str, Any]:
        user = db.get(User, user_id)
        if user is None:
            raise HTTPException(404, f"no user {user_id}")
        try:
            change_user(db, admin, user, body.password, body.admin, body.disabled)
        except LookupError as e:
            raise HTTPException(409, str(e)) from None
        return user_dict(user)

    @app.get("/api/v1/sensors", tags=["sensors"])
    def list_sensors(user: UserDep, db: DB) -> list[dict[str, Any]]:
        return [lifecycle.sensor_dict(s, offline) for s in db.scalars(select(Sensor).order_by(Sensor.name))]

    @app.post("/api/v1/sensors", tags=["sensors"], status_code=201)
    def create_sensor(body: NewSensor, user: UserDep, db: DB) -> dict[str, Any]:
        name = body.name.strip()
        if not name:
            raise HTTPException(422, "a sensor needs a name")
        if db.scalar(select(Sensor).where(Sensor.name == name)) is not None:
            raise HTTPException(409, f"a sensor named {name!r} exists already: choose another name")
        sensor = Sensor(name=name, location=body.location.strip(), network=body.network.strip() or "Default")
        code, expires = lifecycle.issue_code(sensor, hub.keyed, hub.settings.code_ttl)
        db.add(sensor)
        db.commit()
        return {"sensor": lifecycle.sensor_dict(sensor, offline), "code": code, "code_expires": expires.isoformat()}

    def _sensor(db: Session, sensor_id: int) -> Sensor:
        sensor = db.get(Sensor, sensor_id)
        if sensor is None:
            raise HTTPException(404, f"no sensor {sensor_id}")
        return sensor

    @app.get("/api/v1/sensors/{sensor_id}", tags=["sensors"])
    def get_sensor(sensor_id: PathId, user: UserDep, db: DB) -> dict[str, Any]:
        s = _sensor(db, sensor_id)
        out = lifecycle.sensor_dict(s, offline)
        out["health"] = s.status
        return out

    @app.post("/api/v1/sensors/{sensor_id}/code", tags=["sensors"])
    def new_code(sensor_id: PathId, user: UserDep, db: DB) -> dict[str, Any]:
        s = _sensor(db, sensor_id)
        st = lifecycle.status(s, offline)
        if st not in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED):
            raise HTTPException(409, f"sensor {s.name!r} is {st}: deregister it before it gets a new code")
        code, expires = lifecycle.issue_code(s, hub.keyed, hub.settings.code_ttl)
        s.registered = None
        s.deregistered = None
        s.token_hash = None
        db.commit()
        return {"sensor": lifecycle.sensor_dict(s, offline), "code": code, "code_expires": expires.isoformat()}

    @app.post("/api/v1/sensors/{sensor_id}/actions", tags=["sensors"], status_code=202)
    def act(sensor_id: PathId, body: Action, user: UserDep, db: DB) -> dict[str, Any]:
        s = _sensor(db, sensor_id)
        cmd = lifecycle.queue(db, s, body.action, user.name, offline)
        if body.action == "delete_assets":
            ingest.delete_assets_of(db, s.id)
            db.commit()
        return lifecycle.command_dict(cmd)

    @app.get("/api/v1/sensors/{sensor_id}/commands", tags=["sensors"])
    def commands(sensor_id: PathId, user: UserDep, db: DB) -> list[dict[str, Any]]:
        _sensor(db, sensor_id)
        rows = db.scalars(select(Command).where(Command.sensor_id == sensor_id).order_by(Command.id.desc()).limit(100))
        return [lifecycle.command_dict(c) for c in rows]

    @app.delete("/api/v1/sensors/{sensor_id}", tags=["sensors"])
    def delete_sensor(sensor_id: PathId, user: UserDep, db: DB) -> dict[str, str]:
        s = _sensor(db, sensor_id)
        st = lifecycle.status(s, offline)
        if st not in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED):
            raise HTTPException(409, f"sensor {s.name!r} is {st}: deregister it before deleting it")
        ingest.delete_assets_of(db, s.id)
        db.delete(s)
        db.commit()
        return {"status": "deleted", "name": s.name}

    # --- configuration -----------------------------------------------------------------

    @app.get("/api/v1/configuration", tags=["configuration"])
    def get_configuration(user: UserDep, db: DB) -> dict[str, Any]:
        latest = latest_config(db)
        doc = AssetConfig.model_validate(latest.document) if latest else AssetConfig()
        return _config_reply(db, latest.version if latest else 0, doc)

    def _config_reply(db: Session, version: int, doc: AssetConfig) -> dict[str, Any]:
        sensors = [
            (s.name, s.network)
            for s in db.scalars(select(Sensor).where(Sensor.registered.is_not(None)))
            if s.deregistered is None
        ]
        return {"version": version, "document": doc.model_dump(), "warnings": warnings(db, doc, sensors)}

    @app.put("/api/v1/configuration", tags=["configuration"])
    def put_configuration(body: AssetConfig, user: UserDep, db: DB) -> dict[str, Any]:
        try:
            configuration.check(body, list(db.scalars(select(Sensor.name))), tag_ranges(db))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        latest = latest_config(db)
        version = (latest.version if latest else 0) + 1
        db.add(ConfigVersion(version=version, document=body.model_dump(), author=user.name))
        db.commit()
        return _config_reply(db, version, body)

    @app.get("/api/v1/tags", tags=["configuration"])
    def list_tags(user: UserDep, db: DB) -> list[dict[str, Any]]:
        latest = latest_config(db)
        doc = AssetConfig.model_validate(latest.document) if latest else None
        return [tag_dict(t, doc) for t in db.scalars(select(RangeTag).order_by(RangeTag.name))]

    @app.post("/api/v1/tags", tags=["configuration"], status_code=201)
    def new_tag(body: NewTag, user: UserDep, db: DB) -> dict[str, Any]:
        try:
            tag = create_tag(db, body.name, body.ranges, user.name)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        except LookupError as e:
            raise HTTPException(409, str(e)) from None
        return tag_dict(tag, None)

    @app.delete("/api/v1/tags/{tag_id}", tags=["configuration"])
    def remove_tag(tag_id: PathId, user: UserDep, db: DB) -> dict[str, str]:
        tag = db.get(RangeTag, tag_id)
        if tag is None:
            raise HTTPException(404, f"no IP-range tag {tag_id}")
        try:
            delete_tag(db, tag)
        except LookupError as e:
            raise HTTPException(409, str(e)) from None
        return {"status": "deleted", "name": tag.name}

    # --- inventory and traffic ------------------------------------------------------

    @app.get("/api/v1/assets", tags=["inventory"])
    def assets(
        user: UserDep,
        db: DB,
        network: str | None = None,
        klass: Annotated[str | None, Query(alias="class")] = None,
        sensor: QueryId = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        limit: Limit = 1000,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        stmt = select(Asset)
        if network:
            stmt = stmt.where(Asset.network == network)
        if klass:
            stmt = stmt.where(Asset.klass == klass)
        if sensor is not None:
            stmt = stmt.where(Asset.id.in_(select(Sighting.asset_id).where(Sighting.sensor_id == sensor)))
        if q:
            like = f"%{q}%"
            stmt = stmt.where(or_(Asset.ip.like(like), Asset.mac.like(like), Asset.hostname.like(like)))
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = db.scalars(stmt.order_by(Asset.id).limit(limit).offset(max(0, offset)))
        return {"total": total, "assets": [_asset_dict(db, a, brief=True) for a in rows]}

    @app.get("/api/v1/assets/{asset_id}", tags=["inventory"])
    def asset(asset_id: PathId, user: UserDep, db: DB) -> dict[str, Any]:
        a = db.get(Asset, asset_id)
        if a is None:
            raise HTTPException(404, f"no asset {asset_id}")
        out = _asset_dict(db, a, brief=False)
        out["traffic"] = _traffic(db, a.id)
        return out

    @app.get("/api/v1/flows", tags=["traffic"])
    def flows(
        user: UserDep, db: DB, asset: QueryId = None, sensor: QueryId = None, limit: Limit = 1000, offset: Offset = 0
    ) -> dict[str, Any]:
        stmt = select(Flow)
        if asset is not None:
            stmt = stmt.where(or_(Flow.client_asset == asset, Flow.server_asset == asset))
        if sensor is not None:
            stmt = stmt.where(Flow.sensor_id == sensor)
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = db.scalars(stmt.order_by(Flow.id).limit(limit).offset(max(0, offset)))
        return {"total": total, "flows": [_flow_dict(f) for f in rows]}

    @app.get("/api/v1/events", tags=["events"])
    def list_events(
        user: UserDep, db: DB, sensor: QueryId = None, open: bool | None = None, limit: Limit = 1000
    ) -> list[dict[str, Any]]:
        stmt = select(Event, Sensor.name).join(Sensor, Sensor.id == Event.sensor_id)
        if sensor is not None:
            stmt = stmt.where(Event.sensor_id == sensor)
        if open is not None:
            stmt = stmt.where(Event.open.is_(open))
        return [events.event_dict(e, name) for e, name in db.execute(stmt.order_by(Event.id.desc()).limit(limit))]

    # --- the sensor's own endpoints ---------------------------------------------------

    @app.post("/api/v1/agent/register", tags=["agent"], status_code=201)
    def register(body: Registration, request: Request, db: DB) -> dict[str, Any]:
        keys = {"address": _address(request), "code": hub.keyed.digest("attempt", security.normalise_code(body.code))}
        try:
            hub.codes.check(keys)
            sensor, token = lifecycle.register(db, hub.keyed, body.code, body.facts.model_dump())
        except ratelimit.Limited as e:
            raise limited(e) from None
        except lifecycle.Refused as e:
            hub.codes.failed(keys)
            raise HTTPException(403, str(e)) from None
        return {
            "sensor": {"id": sensor.id, "name": sensor.name, "network": sensor.network},
            "token": token,
            "heartbeat_interval": hub.settings.heartbeat_interval,
            "hub_version": __version__,
        }

    @app.post("/api/v1/agent/heartbeat", tags=["agent"])
    def heartbeat(body: Heartbeat, sensor: SensorDep, db: DB) -> dict[str, Any]:
        for ack in body.acks:
            lifecycle.acknowledge(db, sensor, ack.id, ack.ok, ack.result)
        if sensor.token_hash is None:  # deregistration acknowledged just now
            db.commit()
            return {"deregistered": True, "commands": [], "sensing": False, "config": None}
        sensor.last_heartbeat = now()
        state = body.status.get("state")
        sensor.state = state if isinstance(state, str) else ""
        sensor.status = _small(body.status)
        sensor.config_version = body.config_version
        updates.note_version(sensor, body.status)
        events.from_heartbeat(db, sensor, body.status)
        cmds = lifecycle.pending(db, sensor)
        latest = latest_config(db)
        config = None
        if latest is not None and latest.version != body.config_version:
            doc = AssetConfig.model_validate(latest.document)
            config = {"version": latest.version, "yaml": configuration.for_sensor(doc, sensor.name, tag_ranges(db))}
        db.commit()
        return {
            "deregistered": sensor.deregistered is not None,
            "sensing": sensor.want_sensing,
            "commands": [updates.for_agent(hub.settings.data_dir, c) for c in cmds],
            "config": config,
            "heartbeat_interval": hub.settings.heartbeat_interval,
        }

    @app.post("/api/v1/agent/commands/{command_id}/ack", tags=["agent"])
    def ack(command_id: PathId, body: Ack, sensor: SensorDep, db: DB) -> dict[str, Any]:
        cmd = lifecycle.acknowledge(db, sensor, command_id, body.ok, body.result)
        if cmd is None:
            raise HTTPException(404, f"no command {command_id} for this sensor")
        db.commit()
        return lifecycle.command_dict(cmd)

    @app.post(
        "/api/v1/agent/reports",
        tags=["agent"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
                "description": "a report as the sensor spools it; Content-Encoding gzip or deflate",
            }
        },
    )
    async def report(
        request: Request,
        sensor: SensorDep,
        x_report_id: Annotated[str, Header(description="the report's id: the same report is stored once")],
        content_encoding: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        if not REPORT_ID.match(x_report_id):
            raise HTTPException(422, "X-Report-Id: 1 to 128 letters, digits and . _ : -")
        if sensor.deregistered is not None:
            raise HTTPException(410, "this sensor was deregistered on the hub: it sends no more reports")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_REPORT:
                raise HTTPException(413, f"a report is at most {MAX_REPORT >> 20} MiB compressed")
        try:
            data = _inflate(bytes(raw), (content_encoding or "identity").lower())
            body = ingest.check(json.loads(data))
        except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as e:
            raise HTTPException(400, f"not a readable report: {e}") from None
        return await _run_ingest(request, sensor.id, x_report_id, body, len(raw))

    async def _run_ingest(
        request: Request, sensor_id: int, rid: str, body: dict[str, Any], size: int
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with hub.sessions() as db:
                sensor = db.get(Sensor, sensor_id)
                assert sensor is not None
                latest = latest_config(db)
                excluded = (
                    AssetConfig.model_validate(latest.document).general.dedupe_excluded_hostnames if latest else []
                )
                done = ingest.ingest(db, sensor, rid, body, size, excluded)
                return {
                    "id": rid,
                    "stored": True,
                    "duplicate": done.duplicate,
                    "assets": done.assets,
                    "flows": done.flows,
                }

        return await run_in_threadpool(work)

    from nps_hub.web import add_ui

    app.include_router(updates.router)

    add_ui(app, hub)
    return app


def _inflate(data: bytes, encoding: str) -> bytes:
    if encoding in ("identity", ""):
        return data
    if encoding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        d = zlib.decompressobj()
    else:
        raise ValueError(f"Content-Encoding {encoding!r} is not gzip, deflate or identity")
    out = d.decompress(data, MAX_INFLATED)
    if d.unconsumed_tail:
        raise ValueError(f"larger than {MAX_INFLATED >> 20} MiB once decompressed")
    if not d.eof:
        raise EOFError("compressed data ends early")
    return out


def _small(status: dict[str, Any]) -> dict[str, Any]:
    """The heartbeat's status, bounded (it is stored per sensor)."""
    text = json.dumps(status)
    return status if len(text) < 64_000 else {"state": status.get("state"), "truncated": True}


def _asset_dict(db: Session, a: Asset, brief: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "network": a.network,
        "ip": a.ip,
        "ips": a.ips,
        "mac": a.mac,
        "macs": a.macs,
        "hostname": a.hostname,
        "class": a.klass,
        "group": a.group,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "packets": a.packets,
        "bytes_in": a.bytes_in,
        "bytes_out": a.bytes_out,
    }
    if not brief:
        out["raw"] = a.raw
        out["sensors"] = [
            {"sensor": s.sensor_id, "name": name, "first_seen": s.first_seen, "last_seen": s.last_seen}
            for s, name in db.execute(
                select(Sighting, Sensor.name)
                .join(Sensor, Sensor.id == Sighting.sensor_id)
                .where(Sighting.asset_id == a.id)
            )
        ]
    return out


def _flow_dict(f: Flow) -> dict[str, Any]:
    return {
        "id": f.id,
        "sensor": f.sensor_id,
        "network": f.network,
        "client": f.client,
        "server": f.server,
        "port": f.port,
        "proto": f.proto,
        "client_bytes": f.client_bytes,
        "server_bytes": f.server_bytes,
        "client_packets": f.client_packets,
        "server_packets": f.server_packets,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "client_asset": f.client_asset,
        "server_asset": f.server_asset,
    }


def _traffic(db: Session, asset_id: int) -> dict[str, Any]:
    """Traffic per service family, service (protocol and port) and role: as client (egress =
    its bytes sent) and as server (ingress = the clients' bytes)."""
    services: dict[str, dict[str, Any]] = {}
    by_family: dict[str, dict[str, int]] = {}
    totals = {"ingress": 0, "egress": 0}
    for f in db.scalars(select(Flow).where(or_(Flow.client_asset == asset_id, Flow.server_asset == asset_id))):
        for role, sent, received in (
            ("client", f.client_bytes, f.server_bytes),
            ("server", f.server_bytes, f.client_bytes),
        ):
            if (f.client_asset if role == "client" else f.server_asset) != asset_id:
                continue
            key = f"{f.proto}/{f.port}" if f.port is not None else f.proto
            name, family = families.classify(f.proto, f.port)
            s = services.setdefault(
                f"{role} {key}",
                {"service": key, "name": name, "family": family, "role": role, "ingress": 0, "egress": 0},
            )
            s["egress"] += sent
            s["ingress"] += received
            fam = by_family.setdefault(family, {"ingress": 0, "egress": 0})
            fam["egress"] += sent
            fam["ingress"] += received
            totals["egress"] += sent
            totals["ingress"] += received
    for s in services.values():
        s["total"] = s["ingress"] + s["egress"]
    totals["total"] = totals["ingress"] + totals["egress"]
    fams = [{"family": k, **v, "total": v["ingress"] + v["egress"]} for k, v in by_family.items()]
    return {
        "totals": totals,
        "families": sorted(fams, key=lambda x: -x["total"]),
        "services": sorted(services.values(), key=lambda s: -s["total"]),
    }
