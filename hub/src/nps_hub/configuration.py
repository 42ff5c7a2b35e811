"""The asset configuration: edited on the hub, versioned, pushed to each sensor in the
sensor's own YAML schema (checked with the sensor's own parser before it is saved).

Groups name the sensors they apply to (none: every sensor). A sensor gets the groups
that apply to it; with none, it keeps its defaults (the private ranges, inventoried).

A group's IP ranges come from the defaults, from IP-range tags (named sets of ranges
kept on the hub, `tags` maps each name to its ranges) and from its own custom ranges;
what a sensor receives has the tags resolved, so its schema knows nothing of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from nps_hub.schema import Name, Text64, Text128, Text255
from nps_sensor.config import DEFAULT_RANGES, parse, parse_mac, parse_range
from nps_sensor.errors import ConfigError

MANY = 10_000  # items in one of the document's lists


class AssetGroup(BaseModel):
    name: Name
    sensors: list[Name] = Field(
        default_factory=list, max_length=MANY, description="sensor names it applies to; empty: every sensor"
    )
    inventory: bool = True
    defaults: bool = Field(default=False, description="include the private and link-local ranges")
    tags: list[Text128] = Field(
        default_factory=list, max_length=MANY, description="names of IP-range tags whose ranges it includes"
    )
    ranges: list[Text128] = Field(
        default_factory=list, max_length=MANY, description="addresses, CIDR blocks or first-last ranges"
    )
    type: Literal["dhcp", "static"] = "dhcp"


class Excluded(BaseModel):
    ips: list[Text128] = Field(default_factory=list, max_length=MANY)
    macs: list[Text64] = Field(default_factory=list, max_length=MANY)


class Monitored(BaseModel):
    name: Name
    targets: list[Text255] = Field(
        min_length=1, max_length=MANY, description="addresses, ranges or domain names (*.example.com)"
    )


class General(BaseModel):
    share_fingerprints: bool = False
    recipients: list[Text255] = Field(
        default_factory=list, max_length=1000, description="e-mail addresses for notifications"
    )
    dedupe_excluded_hostnames: list[Text255] = Field(default_factory=list, max_length=MANY)


class AssetConfig(BaseModel):
    internal: list[AssetGroup] = Field(default_factory=list, max_length=1000)
    excluded: Excluded = Field(default_factory=Excluded)
    monitor_external: list[Monitored] = Field(default_factory=list, max_length=1000)
    general: General = Field(default_factory=General)


Tags = Mapping[str, list[str]]


def group_ranges(g: AssetGroup, tags: Tags) -> list[str]:
    """The group's ranges: the defaults, then each tag's (in order), then its own; a tag
    that no longer exists gives none (check() refuses a document that names one)."""
    out = list(DEFAULT_RANGES if g.defaults else ())
    for t in g.tags:
        out.extend(tags.get(t, ()))
    out.extend(g.ranges)
    return list(dict.fromkeys(out))


def check_ranges(ranges: list[str]) -> None:
    """Raise ValueError naming the first range the sensor's parser refuses."""
    if not ranges:
        raise ValueError("give at least one IP range")
    for i, r in enumerate(ranges):
        try:
            parse_range(r)
        except ValueError as e:
            raise ValueError(f"ranges[{i}]: {e}") from None


def _sensor_yaml(doc: AssetConfig, groups: list[AssetGroup], tags: Tags) -> str:
    out: dict[str, Any] = {}
    if groups:
        out["internal"] = [{"name": g.name, "inventory": g.inventory, "ranges": group_ranges(g, tags)} for g in groups]
    if doc.excluded.ips or doc.excluded.macs:
        out["excluded"] = {"ips": list(doc.excluded.ips), "macs": list(doc.excluded.macs)}
    if doc.monitor_external:
        out["monitor_external"] = [{"name": m.name, "targets": list(m.targets)} for m in doc.monitor_external]
    return yaml.safe_dump(out, sort_keys=False) if out else ""


def for_sensor(doc: AssetConfig, sensor_name: str, tags: Tags) -> str:
    """The classification part of the sensor's configuration file, as YAML."""
    return _sensor_yaml(doc, [g for g in doc.internal if not g.sensors or sensor_name in g.sensors], tags)


def tag_users(doc: AssetConfig, tag: str) -> list[str]:
    """The internal asset groups that use an IP-range tag."""
    return [g.name for g in doc.internal if tag in g.tags]


def check(doc: AssetConfig, known_sensors: Iterable[str] | None = None, tags: Tags | None = None) -> None:
    """Raise ValueError with the first problem, named by where it is in the document."""
    tags = tags or {}
    for i, g in enumerate(doc.internal):
        if not g.ranges and not g.defaults and not g.tags:
            raise ValueError(f"internal[{i}] ({g.name}): give IP ranges, IP-range tags or use the defaults")
        for t in g.tags:
            if t not in tags:
                raise ValueError(
                    f"internal[{i}] ({g.name}): no IP-range tag is named {t!r} (create it first, or remove it)"
                )
        for j, r in enumerate(g.ranges):  # named by the document's path (tags' ranges are checked on creation)
            try:
                parse_range(r)
            except ValueError as e:
                raise ValueError(f"internal[{i}].ranges[{j}]: {e}") from None
        if known_sensors is not None:
            known = set(known_sensors)
            for s in g.sensors:
                if s not in known:
                    raise ValueError(f"internal[{i}] ({g.name}): no sensor is named {s!r}")
    for i, m in enumerate(doc.excluded.macs):
        try:
            parse_mac(m)
        except ValueError as e:
            raise ValueError(f"excluded.macs[{i}]: {e}") from None
    for i, r in enumerate(doc.general.recipients):
        if "@" not in r.strip(" @") or any(c.isspace() for c in r):
            raise ValueError(f"general.recipients[{i}]: {r!r} is not an e-mail address")
    try:
        parse(_sensor_yaml(doc, doc.internal, tags), "configuration")
    except ConfigError as e:
        # "configuration:LINE: internal[0].ranges[1]: problem": the line is of the generated
        # file, the path is the document's.
        text = str(e)
        parts = text.split(": ", 2)
        raise ValueError(": ".join(parts[1:]) if len(parts) == 3 else text) from None


def overlaps(doc: AssetConfig, sensors: list[tuple[str, str]], tags: Tags | None = None) -> list[str]:
    """Warnings: two sensors of one Network inventory overlapping ranges (the product's first
    best practice is that each address is inventoried by one sensor). `sensors`: (name, network)."""

    def inventoried(name: str) -> list[tuple[int, int, str]]:
        groups = [g for g in doc.internal if (not g.sensors or name in g.sensors) and g.inventory]
        if not doc.internal:
            texts = list(DEFAULT_RANGES)
        else:
            texts = [r for g in groups for r in group_ranges(g, tags or {})]
        out = []
        for t in texts:
            try:
                r = parse_range(t)
            except ValueError:
                continue
            out.append((r.start, r.end, t))
        return out

    warnings = []
    ranges = {name: inventoried(name) for name, _ in sensors}
    for i, (a, net_a) in enumerate(sensors):
        for b, net_b in sensors[i + 1 :]:
            if net_a != net_b:
                continue
            hit = next(
                ((ra, rb) for ra in ranges[a] for rb in ranges[b] if ra[0] <= rb[1] and rb[0] <= ra[1]),
                None,
            )
            if hit:
                warnings.append(
                    f"sensors {a} and {b} both inventory {hit[0][2]} / {hit[1][2]}: "
                    "give each sensor its own ranges (asset groups' sensors) so one device is inventoried once"
                )
    return warnings


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


NAT_HOSTNAMES = 3  # distinct hostnames behind one address that make it look like NAT


def nat_warning(ip: str, network: str, raw: dict[str, Any]) -> str | None:
    """An inventoried address behind which several devices seem to hide: many hostnames,
    or OS families that contradict each other (the product's NAT warning)."""
    names = []
    for h in raw.get("hostnames") or []:
        name = h.get("name") if isinstance(h, dict) else h
        if isinstance(name, str) and name.lower() not in names:
            names.append(name.lower())
    families = []
    os_ = raw.get("os")
    if isinstance(os_, dict):
        for c in os_.get("candidates") or []:
            if isinstance(c, dict) and isinstance(c.get("family"), str) and (c.get("score") or 0) >= 0.3:
                families.append(c["family"])
    reasons = []
    if len(names) >= NAT_HOSTNAMES:
        reasons.append(f"{len(names)} hostnames ({', '.join(names[:4])}{'…' if len(names) > 4 else ''})")
    if len(set(families)) >= 2:
        reasons.append(f"OS families {', '.join(sorted(set(families)))}")
    if not reasons:
        return None
    return (
        f"{ip} ({network}) looks like a NAT device: {' and '.join(reasons)} behind one address; "
        "inventory the network behind it with its own sensor, or exclude the address"
    )
