"""The web UI: server-rendered pages over the same data as the API, no front-end build.

Logins are cookie sessions (HttpOnly, SameSite=Strict); every form carries the
session's CSRF token, and the login form a token of its own (double submit), so a
page elsewhere cannot post on a user's behalf.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nps_hub import configuration, events, ingest, lifecycle, ratelimit, security, updates
from nps_hub.api import (
    COOKIE,
    Hub,
    PathId,
    _address,
    _asset_dict,
    _flow_dict,
    _traffic,
    add_user,
    change_user,
    create_tag,
    delete_tag,
    latest_config,
    tag_dict,
    tag_ranges,
    user_dict,
    warnings,
)
from nps_hub.configuration import AssetConfig
from nps_hub.db import aware
from nps_hub.models import Asset, Command, ConfigVersion, Event, Flow, RangeTag, Sensor, User, UserSession, now

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
LOGIN_COOKIE = "nps_login"
ACTION_LABELS = {
    "start": "Start sensing",
    "pause": "Pause",
    "reboot": "Reboot",
    "delete_assets": "Delete assets",
    "deregister": "Deregister",
}


def _session(request: Request, db: Session, hub: Hub) -> tuple[User, UserSession] | None:
    token = request.cookies.get(COOKIE, "")
    if not token.startswith(security.SESSION_PREFIX):
        return None
    s = db.scalar(select(UserSession).where(UserSession.token_hash == hub.keyed.digest("session", token)))
    expires = aware(s.expires) if s else None
    if s is None or expires is None or expires <= now():
        return None
    user = db.get(User, s.user_id)
    return (user, s) if user and not user.disabled else None


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


def add_ui(app: FastAPI, hub: Hub) -> None:
    offline = hub.settings.offline_after

    def page(
        request: Request, name: str, title: str, ctx: dict[str, Any], status: int = 200, **more: Any
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, {"title": title, **ctx, **more}, status_code=status)

    def guard(request: Request, db: Session, form: dict[str, Any] | None = None) -> dict[str, Any] | Response:
        found = _session(request, db, hub)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        user, s = found
        if form is not None and not hmac.compare_digest(str(form.get("csrf", "")), s.csrf):
            return HTMLResponse("the form is stale or forged (CSRF token): reload the page", status_code=403)
        return {"user": user, "csrf": s.csrf}

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/sensors", status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(16)
        resp = page(request, "login.html", "Log in", {"user": None, "login_csrf": token})
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return resp

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
            return HTMLResponse("the login form is stale: reload the page", status_code=403)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        with hub.sessions() as db:
            try:
                user = hub.try_login(db, name, password, _address(request))
            except (PermissionError, ratelimit.Limited) as e:
                token = secrets.token_urlsafe(16)
                refused = page(
                    request, "login.html", "Log in", {"user": None, "login_csrf": token},
                    status=429 if isinstance(e, ratelimit.Limited) else 401, error=str(e),
                )  # fmt: skip
                refused.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict")
                if isinstance(e, ratelimit.Limited):
                    refused.headers["Retry-After"] = str(e.retry_after)
                return refused
            token = security.new_session_token()
            csrf = secrets.token_urlsafe(32)
            expires = now() + dt.timedelta(seconds=hub.settings.session_ttl)
            db.add(
                UserSession(token_hash=hub.keyed.digest("session", token), csrf=csrf, user_id=user.id, expires=expires)
            )
            db.commit()
        resp = RedirectResponse("/sensors", status_code=303)
        resp.set_cookie(
            COOKIE, token, max_age=int(hub.settings.session_ttl), httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            token = request.cookies.get(COOKIE, "")
            db.query(UserSession).filter(UserSession.token_hash == hub.keyed.digest("session", token)).delete()
            db.commit()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    def sensors_page(request: Request, db: Session, ctx: dict[str, Any], status: int = 200, **more: Any) -> Response:
        pending = dict(
            db.execute(
                select(Command.sensor_id, func.count()).where(Command.state == "pending").group_by(Command.sensor_id)
            ).all()
        )
        rows = []
        for s in db.scalars(select(Sensor).order_by(Sensor.name)):
            d = lifecycle.sensor_dict(s, offline)
            d["pending"] = pending.get(s.id, 0)
            if d["status"] in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED):
                d["actions"] = []
            else:
                d["actions"] = [(a, ACTION_LABELS[a]) for a in lifecycle.ACTIONS]
                offered = updates.offer(hub.settings.data_dir, d["version"])
                if offered:  # the update quick action, to the newest bundle newer than what runs
                    d["actions"].append((f"{updates.ACTION}:{offered.id}", f"Update to {offered.version}"))
            rows.append(d)
        return page(request, "sensors.html", "Sensors", ctx, status, nav="sensors", sensors=rows, **more)

    @app.get("/sensors", include_in_schema=False)
    def sensors(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            return sensors_page(request, db, ctx)

    @app.post("/sensors", include_in_schema=False)
    async def create(request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            name = str(form.get("name", "")).strip()[:128]
            if not name:
                return sensors_page(request, db, ctx, 422, error="a sensor needs a name")
            if db.scalar(select(Sensor).where(Sensor.name == name)) is not None:
                return sensors_page(request, db, ctx, 409, error=f"a sensor named {name!r} exists already")
            s = Sensor(
                name=name,
                location=str(form.get("location", "")).strip()[:256],
                network=str(form.get("network", "")).strip()[:128] or "Default",
            )
            code, expires = lifecycle.issue_code(s, hub.keyed, hub.settings.code_ttl)
            db.add(s)
            db.commit()
            shown = {"name": name, "code": code, "expires": f"{expires:%Y-%m-%d %H:%M}"}
            return sensors_page(request, db, ctx, code=shown)

    @app.post("/sensors/{sensor_id}/action", include_in_schema=False)
    async def action(sensor_id: PathId, request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            s = db.get(Sensor, sensor_id)
            if s is None:
                return sensors_page(request, db, ctx, 404, error=f"no sensor {sensor_id}")
            name = str(form.get("action", ""))
            label = ACTION_LABELS.get(name, name)
            try:
                if name.startswith(f"{updates.ACTION}:"):
                    label = updates.queue_action(db, s, name, ctx["user"].name, offline, hub.settings.data_dir)
                else:
                    lifecycle.queue(db, s, name, ctx["user"].name, offline)
            except lifecycle.Refused as e:
                return sensors_page(request, db, ctx, 409, error=str(e))
            if name == "delete_assets":
                ingest.delete_assets_of(db, s.id)
                db.commit()
            return sensors_page(request, db, ctx, notice=f"{label}: sent to {s.name} with its next heartbeat")

    @app.get("/sensors/{sensor_id}", include_in_schema=False)
    def sensor(sensor_id: PathId, request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            s = db.get(Sensor, sensor_id)
            if s is None:
                return sensors_page(request, db, ctx, 404, error=f"no sensor {sensor_id}")
            cmds = db.scalars(select(Command).where(Command.sensor_id == s.id).order_by(Command.id.desc()).limit(50))
            evs = [
                events.event_dict(e, s.name)
                for e in db.scalars(select(Event).where(Event.sensor_id == s.id).order_by(Event.id.desc()).limit(100))
            ]
            health = s.status if isinstance(s.status, dict) else {}
            interfaces = [i for i in health.get("interfaces", []) if isinstance(i, dict)]
            return page(
                request, "sensor.html", f"Sensor {s.name}", ctx, nav="sensors",
                s=lifecycle.sensor_dict(s, offline), commands=[lifecycle.command_dict(c) for c in cmds],
                interfaces=interfaces, events=evs,
            )  # fmt: skip

    @app.post("/sensors/{sensor_id}/delete", include_in_schema=False)
    async def delete(sensor_id: PathId, request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            s = db.get(Sensor, sensor_id)
            if s is None:
                return sensors_page(request, db, ctx, 404, error=f"no sensor {sensor_id}")
            st = lifecycle.status(s, offline)
            if st not in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED):
                return sensors_page(request, db, ctx, 409, error=f"sensor {s.name!r} is {st}: deregister it first")
            ingest.delete_assets_of(db, s.id)
            db.delete(s)
            db.commit()
            return sensors_page(request, db, ctx, notice=f"sensor {s.name} deleted")

    def config_page(
        request: Request, db: Session, ctx: dict[str, Any], doc: AssetConfig, version: int, status: int = 200,
        **more: Any,
    ) -> Response:  # fmt: skip
        groups = [
            *doc.internal,
            configuration.AssetGroup.model_construct(
                name="", sensors=[], inventory=True, defaults=False, tags=[], ranges=[], type="dhcp"
            ),
        ]
        sensors = [
            (s.name, s.network)
            for s in db.scalars(select(Sensor).where(Sensor.registered.is_not(None)))
            if s.deregistered is None
        ]
        latest = latest_config(db)
        saved = AssetConfig.model_validate(latest.document) if latest else None
        tags = [tag_dict(t, saved) for t in db.scalars(select(RangeTag).order_by(RangeTag.name))]
        return page(
            request, "configuration.html", "Configuration", ctx, status, nav="configuration", doc=doc,
            groups=groups, version=version, warnings=warnings(db, doc, sensors), tags=tags, **more,
        )  # fmt: skip

    @app.get("/configuration", include_in_schema=False)
    def config_get(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            latest = latest_config(db)
            doc = AssetConfig.model_validate(latest.document) if latest else AssetConfig()
            return config_page(request, db, ctx, doc, latest.version if latest else 0)

    @app.post("/configuration", include_in_schema=False)
    async def config_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            latest = latest_config(db)
            version = latest.version if latest else 0
            try:
                doc = _form_document(form)
            except ValueError as e:
                return config_page(request, db, ctx, AssetConfig(), version, 422, error=str(e))
            try:
                configuration.check(doc, list(db.scalars(select(Sensor.name))), tag_ranges(db))
            except ValueError as e:
                return config_page(request, db, ctx, doc, version, 422, error=str(e))
            db.add(ConfigVersion(version=version + 1, document=doc.model_dump(), author=ctx["user"].name))
            db.commit()
            return config_page(request, db, ctx, doc, version + 1, notice=f"configuration version {version + 1} saved")

    def saved_config(db: Session) -> tuple[AssetConfig, int]:
        latest = latest_config(db)
        return (AssetConfig.model_validate(latest.document), latest.version) if latest else (AssetConfig(), 0)

    @app.post("/configuration/tags", include_in_schema=False)
    async def tag_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            doc, version = saved_config(db)
            name = form.get("tag_name", "")[:128]
            try:
                if not name.strip() or any(ord(c) < 32 or c == "," for c in name):
                    raise ValueError("an IP-range tag needs a name without commas")
                tag = create_tag(db, name, _split(form.get("tag_ranges", "")), ctx["user"].name)
            except ValueError as e:
                return config_page(request, db, ctx, doc, version, 422, error=f"IP-range tag: {e}")
            except LookupError as e:
                return config_page(request, db, ctx, doc, version, 409, error=str(e))
            return config_page(request, db, ctx, doc, version, notice=f"IP-range tag {tag.name} created")

    @app.post("/configuration/tags/{tag_id}/delete", include_in_schema=False)
    async def tag_delete(tag_id: PathId, request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            doc, version = saved_config(db)
            tag = db.get(RangeTag, tag_id)
            if tag is None:
                return config_page(request, db, ctx, doc, version, 404, error=f"no IP-range tag {tag_id}")
            try:
                delete_tag(db, tag)
            except LookupError as e:
                return config_page(request, db, ctx, doc, version, 409, error=str(e))
            return config_page(request, db, ctx, doc, version, notice=f"IP-range tag {tag.name} deleted")

    def users_page(request: Request, db: Session, ctx: dict[str, Any], status: int = 200, **more: Any) -> Response:
        if not ctx["user"].admin:
            return page(request, "users.html", "Users", ctx, 403, nav="users", users=[],
                        error=f"user {ctx['user'].name} is not an administrator: ask one to do this")  # fmt: skip
        users = [user_dict(u) for u in db.scalars(select(User).order_by(User.name))]
        return page(request, "users.html", "Users", ctx, status, nav="users", users=users, **more)

    @app.get("/users", include_in_schema=False)
    def users(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            return users_page(request, db, ctx)

    @app.post("/users", include_in_schema=False)
    async def user_create(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            if not ctx["user"].admin:
                return users_page(request, db, ctx)
            name = form.get("name", "").strip()
            try:
                add_user(db, name, form.get("password", ""), "admin" in form)
            except ValueError as e:
                return users_page(request, db, ctx, 422, error=str(e))
            except LookupError as e:
                return users_page(request, db, ctx, 409, error=str(e))
            return users_page(request, db, ctx, notice=f"user {name} created")

    @app.post("/users/{user_id}/{change}", include_in_schema=False)
    async def user_change(user_id: PathId, change: str, request: Request) -> Response:
        form = dict(await request.form())
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            if not ctx["user"].admin:
                return users_page(request, db, ctx)
            target = db.get(User, user_id)
            if target is None or change not in ("disable", "enable"):
                return users_page(request, db, ctx, 404, error=f"no user {user_id}, or no such change")
            try:
                change_user(db, ctx["user"], target, None, None, change == "disable")
            except LookupError as e:
                return users_page(request, db, ctx, 409, error=str(e))
            return users_page(request, db, ctx, notice=f"user {target.name} {change}d")

    @app.get("/assets", include_in_schema=False)
    def assets(request: Request, q: str | None = None) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            stmt = select(Asset)
            if q:
                like = f"%{q}%"
                stmt = stmt.where(or_(Asset.ip.like(like), Asset.mac.like(like), Asset.hostname.like(like)))
            total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            rows = [_asset_dict(db, a, brief=True) for a in db.scalars(stmt.order_by(Asset.id).limit(1000))]
            return page(request, "assets.html", "Assets", ctx, nav="assets", assets=rows, total=total, q=q)

    @app.get("/assets/{asset_id}", include_in_schema=False)
    def asset(asset_id: PathId, request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            a = db.get(Asset, asset_id)
            if a is None:
                return page(request, "assets.html", "Assets", ctx, 404, nav="assets", assets=[], total=0,
                            error=f"no asset {asset_id}")  # fmt: skip
            d = _asset_dict(db, a, brief=False)
            d["traffic"] = _traffic(db, a.id)
            evidence = [e for e in (a.raw or {}).get("evidence", []) if isinstance(e, dict)]
            return page(
                request, "asset.html", f"Asset {a.ip or a.mac}", ctx, nav="assets", a=d, evidence=evidence,
                raw=json.dumps(a.raw, indent=1, sort_keys=True),
            )  # fmt: skip

    @app.get("/traffic", include_in_schema=False)
    def traffic(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            total = db.scalar(select(func.count()).select_from(Flow)) or 0
            flows = [_flow_dict(f) for f in db.scalars(select(Flow).order_by(Flow.id.desc()).limit(500))]
            return page(
                request, "traffic.html", "Traffic", ctx, nav="traffic", flows=flows, total=total, chart=_chart(db)
            )


def _form_document(form: dict[str, str]) -> AssetConfig:
    groups = []
    i = 0
    while f"g{i}_name" in form:
        name = form[f"g{i}_name"].strip()
        if name:
            groups.append(
                {
                    "name": name,
                    "sensors": _split(form.get(f"g{i}_sensors", "")),
                    "inventory": f"g{i}_inventory" in form,
                    "defaults": f"g{i}_defaults" in form,
                    "tags": _split(form.get(f"g{i}_tags", "")),
                    "ranges": _split(form.get(f"g{i}_ranges", "")),
                    "type": form.get(f"g{i}_type", "dhcp") if form.get(f"g{i}_type") in ("dhcp", "static") else "dhcp",
                }
            )
        i += 1
    monitors = []
    for n, line in enumerate(form.get("monitor", "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, targets = line.partition(":")
        if not sep or not name.strip() or not _split(targets):
            raise ValueError(f"monitored external assets, line {n}: write 'name: target, target'")
        monitors.append({"name": name.strip(), "targets": _split(targets)})
    return AssetConfig.model_validate(
        {
            "internal": groups,
            "excluded": {"ips": _split(form.get("excluded_ips", "")), "macs": _split(form.get("excluded_macs", ""))},
            "monitor_external": monitors,
            "general": {
                "share_fingerprints": "share_fingerprints" in form,
                "recipients": _split(form.get("recipients", "")),
                "dedupe_excluded_hostnames": _split(form.get("dedupe_hostnames", "")),
            },
        }
    )


def _chart(db: Session, width: int = 900, height: int = 160) -> dict[str, Any]:
    """Bytes per minute of the latest traffic records, as SVG bars."""
    buckets: dict[str, int] = {}
    for last, cb, sb in db.execute(
        select(Flow.last_seen, Flow.client_bytes, Flow.server_bytes).order_by(Flow.id.desc()).limit(20_000)
    ):
        key = (last or "")[:16]
        if key:
            buckets[key] = buckets.get(key, 0) + cb + sb
    keys = sorted(buckets)[-120:]
    top = max((buckets[k] for k in keys), default=0) or 1
    w = width / max(1, len(keys))
    bars = [
        {
            "x": round(i * w, 1),
            "w": max(1.0, round(w - 1, 1)),
            "h": round(buckets[k] / top * height, 1),
            "y": round(height - buckets[k] / top * height, 1),
            "label": k.replace("T", " "),
            "bytes": buckets[k],
        }
        for i, k in enumerate(keys)
    ]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "first": keys[0].replace("T", " ") if keys else "",
        "last": keys[-1].replace("T", " ") if keys else "",
    }
