"""Events: what about a sensor needs attention, and the e-mail that says so.

Kinds, as the product names them: `Not Connected` (no heartbeat for the configured
time), `Asset Reporting Stopped` (sensing, connected, but no report for the configured
time, or a sniffing interface whose link the heartbeat gives as down or missing),
`Reboot Required` and `Driver Change Required` (the sensor says so in its heartbeat:
a pending reboot; a sniffing NIC whose driver is not supported, such as the emulated
e1000 instead of VMXNET3), `Reports Quarantined` (the hub refused reports of this
sensor for their content; the uplink moved them aside and went on with the next
ones). An event is open while its condition lasts; it keeps
when it began, when it was last seen and how many times. Each new event is mailed once
to the configuration's recipients over SMTP.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nps_hub import lifecycle
from nps_hub.configuration import AssetConfig
from nps_hub.db import aware, iso
from nps_hub.models import ConfigVersion, Event, Sensor, now
from nps_hub.schema import Status

log = logging.getLogger("nps-hub")
NOT_CONNECTED = "Not Connected"
REPORTING_STOPPED = "Asset Reporting Stopped"
REBOOT_REQUIRED = "Reboot Required"
DRIVER_CHANGE = "Driver Change Required"
QUARANTINED = "Reports Quarantined"
KINDS = (NOT_CONNECTED, REPORTING_STOPPED, REBOOT_REQUIRED, DRIVER_CHANGE, QUARANTINED)


def observe(
    db: Session, sensor: Sensor, kind: str, active: bool, detail: str = "", at: dt.datetime | None = None
) -> None:
    at = at or now()
    ev = db.scalar(select(Event).where(Event.sensor_id == sensor.id, Event.kind == kind, Event.open.is_(True)))
    if active:
        if ev is None:
            db.add(Event(sensor_id=sensor.id, kind=kind, detail=detail[:2000], first=at, last=at, count=1))
        else:
            ev.last = at
            ev.count += 1
            ev.detail = detail[:2000]
    elif ev is not None:
        ev.open = False
        ev.last = at


def from_heartbeat(db: Session, sensor: Sensor, status: Status) -> None:
    observe(db, sensor, REBOOT_REQUIRED, status.reboot_required is True, "the sensor's system asks for a reboot")
    bad = [f"{i.name} ({i.driver})" for i in status.interfaces if i.driver_supported is False]
    observe(
        db, sensor, DRIVER_CHANGE, bool(bad),
        "unsupported sniffing NIC driver: " + ", ".join(bad) + " (give the VM a VMXNET3 or Hyper-V synthetic NIC)",
    )  # fmt: skip
    q = status.uplink.quarantine if status.uplink else None
    observe(
        db, sensor, QUARANTINED, bool(q and q.reports),
        f"{q.reports} report(s) the hub refused are set aside on the sensor ({q.bytes:,} bytes"
        f"{f', {q.dropped} dropped for room' if q.dropped else ''}); the last one: {q.last_reason}" if q else "",
    )  # fmt: skip
    observe(db, sensor, NOT_CONNECTED, False)
    lost = links_lost(status)
    if lost and status.state == "sensing":  # the sweep ends it once the links are back
        observe(db, sensor, REPORTING_STOPPED, True, "sniffing interface " + ", ".join(lost))


def links_lost(status: Status) -> list[str]:
    """Sniffing interfaces whose link the sensor's status gives as down or missing."""
    return [f"{i.name} {i.link}" for i in status.interfaces if i.link in ("down", "missing")]


def stored(status: Any) -> Status | None:
    """A sensor's last status as the hub kept it (validated when it came), or None
    when there is none or it was kept by a hub before the schema."""
    try:
        return Status.model_validate(status) if isinstance(status, dict) else None
    except ValidationError:
        return None


def sweep(db: Session, offline_after: float, reporting_stopped_after: float) -> None:
    """The conditions that time reveals: no heartbeat, no report."""
    at = now()
    for s in db.scalars(select(Sensor).where(Sensor.registered.is_not(None), Sensor.deregistered.is_(None))):
        st = lifecycle.status(s, offline_after, at)
        observe(db, s, NOT_CONNECTED, st == lifecycle.NOT_CONNECTED, f"no heartbeat for {offline_after:.0f} s", at)
        since = aware(s.last_report) or aware(s.registered)
        stopped = (
            st == lifecycle.SENSING and since is not None and (at - since).total_seconds() > reporting_stopped_after
        )
        kept = stored(s.status) if st == lifecycle.SENSING else None
        lost = links_lost(kept) if kept else []
        detail = f"no report for {reporting_stopped_after:.0f} s while sensing"
        if lost:
            detail = "sniffing interface " + ", ".join(lost)
        observe(db, s, REPORTING_STOPPED, stopped or bool(lost), detail, at)
    db.commit()


def event_dict(e: Event, name: str = "") -> dict[str, Any]:
    return {
        "id": e.id,
        "sensor": e.sensor_id,
        "sensor_name": name,
        "kind": e.kind,
        "detail": e.detail,
        "first": iso(e.first or now()),
        "last": iso(e.last or now()),
        "count": e.count,
        "open": e.open,
        "notified": e.notified,
    }


@dataclass
class Smtp:
    """Where notifications go out: NPS_HUB_SMTP=host:port, NPS_HUB_SMTP_FROM, NPS_HUB_SMTP_STARTTLS=1,
    NPS_HUB_SMTP_USER and NPS_HUB_SMTP_PASSWORD_FILE (the password in a root-only file)."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str = ""
    password_file: str = ""

    @staticmethod
    def from_env() -> Smtp | None:
        where = os.environ.get("NPS_HUB_SMTP", "")
        if not where:
            return None
        host, _, port = where.rpartition(":")
        return Smtp(
            host or where,
            int(port) if port.isdigit() else 25,
            os.environ.get("NPS_HUB_SMTP_FROM", "nps-hub@localhost"),
            os.environ.get("NPS_HUB_SMTP_STARTTLS", "") in ("1", "true", "yes"),
            os.environ.get("NPS_HUB_SMTP_USER", ""),
            os.environ.get("NPS_HUB_SMTP_PASSWORD_FILE", ""),
        )

    def send(self, recipients: list[str], subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = subject
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                with open(self.password_file, encoding="utf-8") as f:
                    smtp.login(self.user, f.read().strip())
            smtp.send_message(msg)


def notify(db: Session, smtp: Smtp | None) -> int:
    """Mail every event not mailed yet; returns how many went out."""
    pending = list(db.scalars(select(Event).where(Event.notified.is_(False)).order_by(Event.id)))
    if not pending:
        return 0
    latest = db.scalar(select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(1))
    recipients = AssetConfig.model_validate(latest.document).general.recipients if latest else []
    sent = 0
    for e in pending:
        if not recipients or smtp is None:
            e.notified = True  # nobody to tell: the event stays visible in the hub
            continue
        sensor = db.get(Sensor, e.sensor_id)
        name = sensor.name if sensor else f"#{e.sensor_id}"
        subject = f"[nps-hub] {e.kind}: sensor {name}"
        body = (
            f"{e.kind} on sensor {name} ({sensor.location if sensor else ''}), since "
            f"{(aware(e.first) or now()):%Y-%m-%d %H:%M:%S} UTC.\n\n{e.detail}\n"
        )
        try:
            smtp.send(recipients, subject, body)
        except (OSError, smtplib.SMTPException) as err:
            log.warning("notification not sent (%s:%d): %s; will try again", smtp.host, smtp.port, err)
            break
        e.notified = True
        sent += 1
    db.commit()
    return sent
