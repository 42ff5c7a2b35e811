"""What the routes share: the hub (settings, database, secret key, guessing limits,
ingest threads), and who is calling, as FastAPI dependencies.

Two kinds of callers, kept apart by their credentials:

* users, with a login session (`Authorization: Bearer nps-u1-...`, or the session
  cookie plus the `X-CSRF-Token` header on changes), each with a role (roles.py);
* sensors, with the credential they received at registration
  (`Authorization: Bearer nps-s1-...`), only on `/api/v1/agent/...`, and only for
  themselves: a sensor's credential is never looked up among user sessions, nor the
  other way round. A deregistered sensor's credential gets one answer (its heartbeat
  learns it) and is refused everywhere after that.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query, Request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from nps_hub import limits, ratelimit, roles, security
from nps_hub.db import aware
from nps_hub.models import Sensor, User, UserSession, now
from nps_hub.settings import Settings

COOKIE = "nps_session"
BIG = 2**53  # identifiers and counts within what every database stores exactly
PathId = Annotated[int, Path(ge=1, le=BIG)]
QueryId = Annotated[int | None, Query(ge=1, le=BIG)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=BIG)]


class Hub:
    def __init__(self, settings: Settings, engine: Engine, sessions: sessionmaker[Session], keyed: security.Keyed):
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.keyed = keyed
        self.guard = ratelimit.Guard(keyed, settings.login_limit, settings.code_limit, settings.limit_window)
        self.ingest = limits.Ingest(settings.ingest_threads)


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_db(request: Request) -> Iterator[Session]:
    with get_hub(request).sessions() as db:
        yield db


DB = Annotated[Session, Depends(get_db)]
HubDep = Annotated[Hub, Depends(get_hub)]


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def limited(exc: ratelimit.Limited) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


def session_of(db: Session, hub: Hub, token: str) -> tuple[User, UserSession] | None:
    """The live session a token opens, and its user (not disabled), or None."""
    if not token.startswith(security.SESSION_PREFIX):
        return None
    s = db.scalar(select(UserSession).where(UserSession.token_hash == hub.keyed.digest("session", token)))
    expires = aware(s.expires) if s else None
    if s is None or expires is None or expires <= now():
        return None
    user = db.get(User, s.user_id)
    return (user, s) if user is not None and not user.disabled else None


def current_user(
    request: Request,
    db: DB,
    hub: HubDep,
    authorization: Annotated[str | None, Header()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> User:
    token = bearer(authorization)
    by_cookie = token is None
    if token is None:
        token = request.cookies.get(COOKIE)
    if not token or not token.startswith(security.SESSION_PREFIX):
        raise HTTPException(401, "log in first (POST /api/v1/login)", headers={"WWW-Authenticate": "Bearer"})
    found = session_of(db, hub, token)
    if found is None:
        raise HTTPException(
            401,
            "session expired or unknown, or the user is disabled: log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user, session = found
    if (
        by_cookie
        and request.method not in ("GET", "HEAD")
        and not hmac.compare_digest(x_csrf_token or "", session.csrf)
    ):
        raise HTTPException(403, "missing or wrong X-CSRF-Token (the value login returned)")
    return user


def operator(user: Annotated[User, Depends(current_user)]) -> User:
    roles.require(user, roles.OPERATOR)
    return user


def administrator(user: Annotated[User, Depends(current_user)]) -> User:
    roles.require(user, roles.ADMINISTRATOR)
    return user


Viewer = Annotated[User, Depends(current_user)]
Operator = Annotated[User, Depends(operator)]
Administrator = Annotated[User, Depends(administrator)]


def _sensor_of(db: Session, hub: Hub, authorization: str | None) -> Sensor:
    token = bearer(authorization)
    if not token or not token.startswith(security.SENSOR_PREFIX):
        raise HTTPException(401, "a sensor credential is needed (register with a personalization code)")
    sensor = db.scalar(select(Sensor).where(Sensor.token_hash == hub.keyed.digest("sensor", token)))
    if sensor is None:
        raise HTTPException(401, "unknown sensor credential: the sensor was deregistered or deleted; register again")
    return sensor


def _registered(sensor: Sensor) -> Sensor:
    if sensor.deregistered is not None:
        raise HTTPException(401, "this sensor was deregistered on the hub: register it again with a new code")
    return sensor


def any_sensor(db: DB, hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> Sensor:
    """The sensor whose credential this is, deregistered or not."""
    return _sensor_of(db, hub, authorization)


def current_sensor(sensor: Annotated[Sensor, Depends(any_sensor)]) -> Sensor:
    """A registered sensor: a deregistered one hears so on its heartbeat only."""
    return _registered(sensor)


def uploading_sensor(hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> Sensor:
    """A registered sensor, looked up in a session of its own that is closed at once: an
    upload then waits for its body and an ingest thread without holding a connection of
    the pool (hundreds of sensors upload at once; the pool has a few dozen)."""
    with hub.sessions() as db:
        return _registered(_sensor_of(db, hub, authorization))


AnySensor = Annotated[Sensor, Depends(any_sensor)]
SensorDep = Annotated[Sensor, Depends(current_sensor)]
UploadingSensor = Annotated[Sensor, Depends(uploading_sensor)]
