"""The web UI's settings pages: the asset configuration with its IP-range tags, and the
users (administrators only). The rules are the domain's (config_store, accounts), the
same the JSON API applies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from nps_hub import accounts, config_store, configuration, roles, schema
from nps_hub.configuration import AssetConfig
from nps_hub.context import PathId
from nps_hub.models import RangeTag, User
from nps_hub.webpage import Administering, Operating, Viewing, Visit, checked, split

router = APIRouter(include_in_schema=False)


def config_page(v: Visit, doc: AssetConfig, version: int, status: int = 200, **more: Any) -> Response:
    blank = configuration.AssetGroup.model_construct(
        name="", sensors=[], inventory=True, defaults=False, tags=[], ranges=[], type="dhcp"
    )
    saved, saved_version = config_store.saved(v.db)
    tags = [config_store.tag_dict(t, saved if saved_version else None)
            for t in v.db.scalars(select(RangeTag).order_by(RangeTag.name))]  # fmt: skip
    return v.page(
        "configuration.html", "Configuration", status, nav="configuration", doc=doc, groups=[*doc.internal, blank],
        version=version, tags=tags, warnings=config_store.warnings(v.db, doc, config_store.active_sensors(v.db)),
        **more,
    )  # fmt: skip


@router.get("/configuration")
def config_get(v: Viewing) -> Response:
    doc, version = config_store.saved(v.db)
    return config_page(v, doc, version)


@router.post("/configuration")
def config_post(v: Operating) -> Response:
    _, version = config_store.saved(v.db)
    try:
        doc = form_document(v.form)
    except ValueError as e:
        return config_page(v, AssetConfig(), version, 400, error=str(e))
    try:
        version = config_store.save(v.db, doc, v.user.name)
    except ValueError as e:
        return config_page(v, doc, version, 422, error=str(e))
    return config_page(v, doc, version, notice=f"configuration version {version} saved")


@router.post("/configuration/tags")
def tag_post(v: Operating) -> Response:
    doc, version = config_store.saved(v.db)
    try:
        body = checked(schema.NewTag, {"name": v.form.get("tag_name", "").strip(),
                                       "ranges": split(v.form.get("tag_ranges", ""))})  # fmt: skip
        tag = config_store.create_tag(v.db, body.name, body.ranges, v.user.name)
    except ValueError as e:
        return config_page(v, doc, version, 422, error=f"IP-range tag: {e}")
    except LookupError as e:
        return config_page(v, doc, version, 409, error=str(e))
    return config_page(v, doc, version, notice=f"IP-range tag {tag.name} created")


@router.post("/configuration/tags/{tag_id}/delete")
def tag_delete(tag_id: PathId, v: Operating) -> Response:
    doc, version = config_store.saved(v.db)
    tag = v.db.get(RangeTag, tag_id)
    if tag is None:
        return config_page(v, doc, version, 404, error=f"no IP-range tag {tag_id}")
    try:
        config_store.delete_tag(v.db, tag)
    except LookupError as e:
        return config_page(v, doc, version, 409, error=str(e))
    return config_page(v, doc, version, notice=f"IP-range tag {tag.name} deleted")


def users_page(v: Visit, status: int = 200, **more: Any) -> Response:
    users = [accounts.user_dict(u) for u in v.db.scalars(select(User).order_by(User.name))]
    return v.page("users.html", "Users", status, nav="users", users=users, roles=roles.ROLES, **more)


@router.get("/users")
def users(v: Administering) -> Response:
    return users_page(v)


@router.post("/users")
def user_create(v: Administering) -> Response:
    try:
        fields = {"name": v.form.get("name", "").strip(), "password": v.form.get("password", ""),
                  "role": v.form.get("role") or roles.VIEWER}  # fmt: skip
        body = checked(schema.NewUser, fields)
        accounts.add_user(v.db, body.name, body.password, body.chosen_role())
    except ValueError as e:
        return users_page(v, 400, error=str(e))
    except accounts.Taken as e:
        return users_page(v, 409, error=str(e))
    return users_page(v, notice=f"user {body.name} created ({body.chosen_role()})")


@router.post("/users/{user_id}/{change}")
def user_change(user_id: PathId, change: str, v: Administering) -> Response:
    target = v.db.get(User, user_id)
    role = v.form.get("role") if change == "role" else None
    if target is None or change not in ("disable", "enable", "role") or (change == "role" and role not in roles.ROLES):
        return users_page(v, 404, error=f"no user {user_id}, or no such change")
    try:
        disabled = None if change == "role" else change == "disable"
        accounts.change_user(v.db, v.user, target, None, role, disabled)
    except LookupError as e:
        return users_page(v, 409, error=str(e))
    done = f"now {role}" if role else f"{change}d"
    return users_page(v, notice=f"user {target.name} {done}")


def form_document(form: dict[str, str]) -> AssetConfig:
    """The configuration form as the document the API takes (checked by its schema)."""
    groups = []
    i = 0
    while f"g{i}_name" in form:
        name = form[f"g{i}_name"].strip()
        if name:
            groups.append(
                {
                    "name": name,
                    "sensors": split(form.get(f"g{i}_sensors", "")),
                    "inventory": f"g{i}_inventory" in form,
                    "defaults": f"g{i}_defaults" in form,
                    "tags": split(form.get(f"g{i}_tags", "")),
                    "ranges": split(form.get(f"g{i}_ranges", "")),
                    "type": form.get(f"g{i}_type", "dhcp") if form.get(f"g{i}_type") in ("dhcp", "static") else "dhcp",
                }
            )
        i += 1
    monitors = []
    for n, line in enumerate(form.get("monitor", "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, targets = line.partition(":")
        if not sep or not name.strip() or not split(targets):
            raise ValueError(f"monitored external assets, line {n}: write 'name: target, target'")
        monitors.append({"name": name.strip(), "targets": split(targets)})
    return checked(  # type: ignore[no-any-return]
        AssetConfig,
        {
            "internal": groups,
            "excluded": {"ips": split(form.get("excluded_ips", "")), "macs": split(form.get("excluded_macs", ""))},
            "monitor_external": monitors,
            "general": {
                "share_fingerprints": "share_fingerprints" in form,
                "recipients": split(form.get("recipients", "")),
                "dedupe_excluded_hostnames": split(form.get("dedupe_hostnames", "")),
            },
        },
    )
