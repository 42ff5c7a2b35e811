"""The configuration as the hub keeps it: its versions and the IP-range tags, for the
API and the web UI alike."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from nps_hub import configuration
from nps_hub.configuration import AssetConfig
from nps_hub.db import iso
from nps_hub.models import Asset, ConfigVersion, RangeTag, Sensor


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
        "created": iso(t.created),
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


def latest_config(db: Session) -> ConfigVersion | None:
    return db.scalar(select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(1))


def saved(db: Session) -> tuple[AssetConfig, int]:
    """The newest configuration and its version (an empty one, 0, before the first)."""
    latest = latest_config(db)
    return (AssetConfig.model_validate(latest.document), latest.version) if latest else (AssetConfig(), 0)


def active_sensors(db: Session) -> list[tuple[str, str]]:
    """(name, Network) of the registered sensors, for the overlap warnings."""
    return [
        (s.name, s.network)
        for s in db.scalars(select(Sensor).where(Sensor.registered.is_not(None)))
        if s.deregistered is None
    ]


def save(db: Session, doc: AssetConfig, author: str) -> int:
    """Check the document (ValueError naming the place at fault) and store it as the next
    version, which sensors pull with their next heartbeat."""
    configuration.check(doc, list(db.scalars(select(Sensor.name))), tag_ranges(db))
    _, version = saved(db)
    db.add(ConfigVersion(version=version + 1, document=doc.model_dump(), author=author))
    db.commit()
    return version + 1


class Head(NamedTuple):
    """Which configuration is current. A stored version never changes (a save adds the
    next one), so its number and save time name its document: the time tells a database
    made anew, whose version 1 is another document."""

    version: int
    saved: dt.datetime


def newest(db: Session) -> Head | None:
    """The newest configuration's Head, without its document; None before the first."""
    head = db.execute(
        select(ConfigVersion.version, ConfigVersion.created).order_by(ConfigVersion.version.desc()).limit(1)
    ).first()
    return Head(head.version, head.created) if head else None


# The hostnames of the newest version, by its Head; one entry per process.
_EXCLUDED: dict[Head, list[str]] = {}


def excluded_hostnames(db: Session) -> list[str]:
    """The hostnames the merge does not deduplicate by, read for every upload: a process
    parses a version's document once."""
    key = newest(db)
    if key is None:
        return []
    names = _EXCLUDED.get(key)
    if names is None:
        row = db.get(ConfigVersion, key.version)
        names = AssetConfig.model_validate(row.document).general.dedupe_excluded_hostnames if row else []
        _EXCLUDED.clear()
        _EXCLUDED[key] = names
    return list(names)


def reply(db: Session, version: int, doc: AssetConfig) -> dict[str, Any]:
    return {"version": version, "document": doc.model_dump(), "warnings": warnings(db, doc, active_sensors(db))}
