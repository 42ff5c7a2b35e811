"""A sensor's life on the hub: created with a personalization code, registered by the
appliance, managed by quick actions, deregistered, deleted.

Statuses, as the product names them: `Unregistered` (created, never registered),
`Paused` and `Sensing` (what the sensor said in its last heartbeat), `Not Connected`
(no heartbeat for the configured time), `Deregistered`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nps_hub import security
from nps_hub.db import aware, iso
from nps_hub.models import Command, Sensor, now

UNREGISTERED, PAUSED, SENSING, NOT_CONNECTED, DEREGISTERED = (
    "Unregistered",
    "Paused",
    "Sensing",
    "Not Connected",
    "Deregistered",
)
ACTIONS = ("start", "pause", "reboot", "delete_assets", "deregister")


class Refused(Exception):
    """The request cannot be done in this state; the message says why and what to do."""


class Taken(LookupError):
    """Another sensor has that name."""


def create(db: Session, keyed: security.Keyed, code_ttl: float, name: str, location: str, network: str
           ) -> tuple[Sensor, str, dt.datetime]:  # fmt: skip
    """A new sensor and its personalization code (shown once); raise Taken. The texts
    are checked by the caller's schema (schema.NewSensor)."""
    name = name.strip()
    if db.scalar(select(Sensor).where(Sensor.name == name)) is not None:
        raise Taken(f"a sensor named {name!r} exists already: choose another name")
    sensor = Sensor(name=name, location=location.strip(), network=network.strip() or "Default")
    code, expires = issue_code(sensor, keyed, code_ttl)
    db.add(sensor)
    db.commit()
    return sensor, code, expires


def status(sensor: Sensor, offline_after: float, at: dt.datetime | None = None) -> str:
    if sensor.deregistered is not None:
        return DEREGISTERED
    if sensor.registered is None:
        return UNREGISTERED
    at = at or now()
    contact = aware(sensor.last_heartbeat) or aware(sensor.registered)
    assert contact is not None
    if (at - contact).total_seconds() > offline_after:
        return NOT_CONNECTED
    return SENSING if sensor.state == "sensing" else PAUSED


def require_idle(sensor: Sensor, offline_after: float, before: str) -> None:
    """Raise Refused unless the sensor is unregistered or deregistered (`before`: what
    then may be done, "it gets a new code")."""
    st = status(sensor, offline_after)
    if st not in (UNREGISTERED, DEREGISTERED):
        raise Refused(f"sensor {sensor.name!r} is {st}: deregister it before {before}")


def issue_code(sensor: Sensor, keyed: security.Keyed, ttl: float) -> tuple[str, dt.datetime]:
    """A new single-use code (the old one stops working); only its digest is kept."""
    code = security.new_code()
    expires = now() + dt.timedelta(seconds=ttl)
    sensor.code_hash = keyed.digest("code", code)
    sensor.code_expires = expires
    sensor.code_used = None
    return code, expires


def find_by_code(db: Session, keyed: security.Keyed, code: str) -> Sensor:
    digits = security.normalise_code(code)
    if len(digits) != security.CODE_DIGITS or not digits.isdigit():
        raise Refused(f"a personalization code has {security.CODE_DIGITS} digits; check what was typed")
    sensor = db.scalar(select(Sensor).where(Sensor.code_hash == keyed.digest("code", digits)))
    if sensor is None:
        raise Refused("personalization code not recognised: check the digits, or create a new code on the hub")
    if sensor.code_used is not None:
        raise Refused(
            f"personalization code already used (sensor {sensor.name!r} registered with it): "
            "create a new code on the hub for another appliance"
        )
    expires = aware(sensor.code_expires)
    if expires is None or expires <= now():
        raise Refused(
            f"personalization code expired at {expires:%Y-%m-%d %H:%M} UTC: "
            f"issue a new one for sensor {sensor.name!r} on the hub"
            if expires
            else "personalization code expired: issue a new one on the hub"
        )
    return sensor


FACTS = ("model", "version", "hostname", "mgmt_ipv4", "mgmt_ipv6", "mac")


def register(db: Session, keyed: security.Keyed, code: str, facts: dict[str, str]) -> tuple[Sensor, str]:
    sensor = find_by_code(db, keyed, code)
    token = security.new_sensor_token()
    t = now()
    sensor.code_used = t
    sensor.token_hash = keyed.digest("sensor", token)
    sensor.registered = t
    sensor.deregistered = None
    sensor.last_heartbeat = None
    sensor.want_sensing = False  # a registered sensor starts Paused; the user starts it
    sensor.state = "paused"
    sensor.config_version = 0
    for k in FACTS:  # checked by schema.Facts
        setattr(sensor, k, str(facts.get(k) or ""))
    db.commit()
    return sensor, token


def queue(db: Session, sensor: Sensor, action: str, user: str, offline_after: float) -> Command:
    if action not in ACTIONS:
        raise Refused(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    st = status(sensor, offline_after)
    if st in (UNREGISTERED, DEREGISTERED):
        raise Refused(f"sensor {sensor.name!r} is {st}: register it first")
    if action == "start":
        sensor.want_sensing = True
    elif action in ("pause", "deregister"):
        sensor.want_sensing = False
    if action == "deregister":
        sensor.deregistered = now()  # at once on the hub; the sensor forgets its credential on ack
    cmd = Command(sensor_id=sensor.id, action=action, user=user)
    db.add(cmd)
    db.commit()
    return cmd


def spend(db: Session, sensor: Sensor) -> None:
    """A deregistered sensor's one answer has been given: its credential is spent (every
    later call is refused). The deregistration is done, and so is an asset deletion (the
    hub did it when it was asked); other actions still pending never reach the sensor."""
    t = now()
    for c in db.scalars(select(Command).where(Command.sensor_id == sensor.id, Command.state == "pending")):
        if c.action == "deregister":
            c.state, c.result = "done", "the sensor learned it was deregistered"
        elif c.action == "delete_assets":
            c.state, c.result = "done", "the hub deleted the assets; the sensor was deregistered before it heard"
        else:
            c.state, c.result = "failed", "not delivered: the sensor was deregistered"
        c.done = t
    sensor.token_hash = None
    db.commit()


def pending(db: Session, sensor: Sensor) -> list[Command]:
    cmds = list(
        db.scalars(
            select(Command).where(Command.sensor_id == sensor.id, Command.state == "pending").order_by(Command.id)
        )
    )
    t = now()
    for c in cmds:
        if c.delivered is None:
            c.delivered = t
    return cmds


def acknowledge(db: Session, sensor: Sensor, command_id: int, ok: bool, result: str) -> Command | None:
    cmd = db.scalar(select(Command).where(Command.id == command_id, Command.sensor_id == sensor.id))
    if cmd is None or cmd.state != "pending":
        return cmd
    cmd.state = "done" if ok else "failed"
    cmd.done = now()
    cmd.result = result[:2000]
    if cmd.action == "deregister" and ok:
        sensor.token_hash = None  # the credential is spent
    return cmd


def command_dict(c: Command) -> dict[str, Any]:
    return {
        "id": c.id,
        "sensor": c.sensor_id,
        "action": c.action,
        "state": c.state,
        "created": iso(c.created),
        "delivered": iso(c.delivered),
        "done": iso(c.done),
        "result": c.result,
        "user": c.user,
    }


def _number(status: Any, *path: str) -> float | None:
    """A number inside a sensor's stored status, or None (a status from before the hub
    checked them may hold anything)."""
    for key in path:
        if not isinstance(status, dict):
            return None
        status = status.get(key)
    return status if isinstance(status, int | float) and not isinstance(status, bool) else None


def sensor_dict(s: Sensor, offline_after: float) -> dict[str, Any]:
    st = s.status if isinstance(s.status, dict) else {}
    return {
        "id": s.id,
        "name": s.name,
        "location": s.location,
        "network": s.network,
        "status": status(s, offline_after),
        "model": s.model,
        "version": s.version,
        "hostname": s.hostname,
        "mgmt_ipv4": s.mgmt_ipv4,
        "mgmt_ipv6": s.mgmt_ipv6,
        "mac": s.mac,
        "created": _iso(s.created),
        "registered": _iso(s.registered),
        "deregistered": _iso(s.deregistered),
        "last_heartbeat": _iso(s.last_heartbeat),
        "code_expires": _iso(s.code_expires) if s.registered is None and s.code_hash else None,
        "sensing_requested": s.want_sensing,
        "config_version": s.config_version,
        "active_assets_last_hour": _number(st, "assets_last_hour"),
        "utilisation_percent": _number(st, "throughput", "utilisation_percent"),
        "cpu_percent": _number(st, "system", "cpu_percent"),
        "memory_percent": _number(st, "system", "memory", "used_percent"),
        "disk_percent": _number(st, "system", "disk", "used_percent"),
    }


def _iso(t: dt.datetime | None) -> str | None:
    return iso(t)
