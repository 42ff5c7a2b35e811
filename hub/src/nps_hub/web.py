"""The web UI: server-rendered pages over the same data as the API, no front-end build.

Logins are cookie sessions (HttpOnly, SameSite=Strict); every form carries the
session's CSRF token, and the login form a token of its own (double submit), so a
page elsewhere cannot post on a user's behalf.
"""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nps_hub import (
    accounts,
    config_store,
    configuration,
    events,
    headers,
    ingest,
    inventory,
    lifecycle,
    present,
    ratelimit,
    roles,
    schema,
)
from nps_hub.configuration import AssetConfig
from nps_hub.context import COOKIE, Hub, PathId, address, session_of
from nps_hub.models import Asset, Command, Event, Flow, RangeTag, Sensor, User, UserSession

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters.update(present.FILTERS)
LOGIN_COOKIE = "nps_login"
ACTION_LABELS = {
    "start": "Start sensing",
    "pause": "Pause",
    "reboot": "Reboot",
    "delete_assets": "Delete assets",
    "deregister": "Deregister",
}


def _form(model: type[BaseModel], form: dict[str, Any]) -> Any:
    """A form checked by the API's own schema; ValueError names the field."""
    try:
        return model.model_validate(form)
    except ValidationError as e:
        raise ValueError(schema.refusal(e)) from None


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


def add_ui(app: FastAPI, hub: Hub) -> None:
    offline = hub.settings.offline_after
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(
        request: Request, name: str, title: str, ctx: dict[str, Any], status: int = 200, **more: Any
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, {"title": title, **ctx, **more}, status_code=status)

    def guard(request: Request, db: Session, form: dict[str, Any] | None = None, needs: str = roles.VIEWER
              ) -> dict[str, Any] | Response:  # fmt: skip
        found = session_of(db, hub, request.cookies.get(COOKIE, ""))
        if found is None:
            return RedirectResponse("/login", status_code=303)
        user, s = found
        if form is not None and not hmac.compare_digest(str(form.get("csrf", "")), s.csrf):
            return HTMLResponse("the form is stale or forged (CSRF token): reload the page", status_code=403)
        ctx = {"user": user, "csrf": s.csrf, "operator": roles.may(user, roles.OPERATOR),
               "administrator": roles.may(user, roles.ADMINISTRATOR)}  # fmt: skip
        try:
            roles.require(user, needs)
        except roles.Forbidden as e:
            return page(request, "base.html", "Not allowed", ctx, 403, error=str(e))
        return ctx

    async def posted(request: Request) -> dict[str, str]:
        return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/sensors", status_code=303)

    def login_page(request: Request, status: int = 200, error: str = "") -> Response:
        token = secrets.token_urlsafe(16)
        resp = page(request, "login.html", "Log in", {"user": None, "login_csrf": token}, status, error=error)
        headers.set_cookie(resp, request, LOGIN_COOKIE, token)
        return resp

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await posted(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return HTMLResponse("the login form is stale: reload the page", status_code=403)
        with hub.sessions() as db:
            try:
                body = _form(schema.Login, {"name": form.get("name", ""), "password": form.get("password", "")})
                user = accounts.try_login(db, hub.guard, body.name, body.password, address(request))
            except ValueError as e:
                return login_page(request, 400, str(e))
            except (PermissionError, ratelimit.Limited) as e:
                refused = login_page(request, 429 if isinstance(e, ratelimit.Limited) else 401, str(e))
                if isinstance(e, ratelimit.Limited):
                    refused.headers["Retry-After"] = str(e.retry_after)
                return refused
            token, _, _ = accounts.open_session(db, hub.keyed, user, hub.settings.session_ttl)
        resp = RedirectResponse("/sensors", status_code=303)
        headers.set_cookie(resp, request, COOKIE, token, int(hub.settings.session_ttl))
        headers.delete_cookie(resp, request, LOGIN_COOKIE)
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form)
            if isinstance(ctx, Response):
                return ctx
            token = request.cookies.get(COOKIE, "")
            db.execute(delete(UserSession).where(UserSession.token_hash == hub.keyed.digest("session", token)))
            db.commit()
        resp = RedirectResponse("/login", status_code=303)
        headers.delete_cookie(resp, request, COOKIE)
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
            idle = d["status"] in (lifecycle.UNREGISTERED, lifecycle.DEREGISTERED)
            d["actions"] = [] if idle or not ctx["operator"] else [(a, ACTION_LABELS[a]) for a in lifecycle.ACTIONS]
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
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            fields = {k: form[k] for k in ("name", "location", "network") if form.get(k, "").strip()}
            try:
                body = _form(schema.NewSensor, {k: v.strip() for k, v in fields.items()})
                s, code, expires = lifecycle.create(db, hub.keyed, hub.settings.code_ttl, body.name, body.location,
                                                    body.network)  # fmt: skip
            except ValueError as e:
                return sensors_page(request, db, ctx, 400, error=str(e))
            except lifecycle.Taken as e:
                return sensors_page(request, db, ctx, 409, error=str(e))
            shown = {"name": s.name, "code": code, "expires": f"{expires:%Y-%m-%d %H:%M}"}
            return sensors_page(request, db, ctx, code=shown)

    @app.post("/sensors/{sensor_id}/action", include_in_schema=False)
    async def action(sensor_id: PathId, request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            s = db.get(Sensor, sensor_id)
            if s is None:
                return sensors_page(request, db, ctx, 404, error=f"no sensor {sensor_id}")
            name = form.get("action", "")
            try:
                lifecycle.queue(db, s, name, ctx["user"].name, offline)
            except lifecycle.Refused as e:
                return sensors_page(request, db, ctx, 409, error=str(e))
            if name == "delete_assets":
                with ingest.writing(hub.engine) as conn:
                    ingest.delete_assets_of(conn, s)
            label = ACTION_LABELS.get(name, name)
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
            interfaces = [i for i in health.get("interfaces") or [] if isinstance(i, dict)]
            return page(
                request, "sensor.html", f"Sensor {s.name}", ctx, nav="sensors",
                s=lifecycle.sensor_dict(s, offline), commands=[lifecycle.command_dict(c) for c in cmds],
                interfaces=interfaces, events=evs,
            )  # fmt: skip

    @app.post("/sensors/{sensor_id}/delete", include_in_schema=False)
    async def delete_sensor(sensor_id: PathId, request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            s = db.get(Sensor, sensor_id)
            if s is None:
                return sensors_page(request, db, ctx, 404, error=f"no sensor {sensor_id}")
            try:
                lifecycle.require_idle(s, offline, "deleting it")
            except lifecycle.Refused as e:
                return sensors_page(request, db, ctx, 409, error=str(e))
            with ingest.writing(hub.engine) as conn:
                ingest.delete_assets_of(conn, s)
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
        saved, saved_version = config_store.saved(db)
        tags = [config_store.tag_dict(t, saved if saved_version else None)
                for t in db.scalars(select(RangeTag).order_by(RangeTag.name))]  # fmt: skip
        return page(
            request, "configuration.html", "Configuration", ctx, status, nav="configuration", doc=doc,
            groups=groups, version=version, tags=tags,
            warnings=config_store.warnings(db, doc, config_store.active_sensors(db)), **more,
        )  # fmt: skip

    @app.get("/configuration", include_in_schema=False)
    def config_get(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            doc, version = config_store.saved(db)
            return config_page(request, db, ctx, doc, version)

    @app.post("/configuration", include_in_schema=False)
    async def config_post(request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            _, version = config_store.saved(db)
            try:
                doc = _form_document(form)
            except ValueError as e:
                return config_page(request, db, ctx, AssetConfig(), version, 400, error=str(e))
            try:
                version = config_store.save(db, doc, ctx["user"].name)
            except ValueError as e:
                return config_page(request, db, ctx, doc, version, 422, error=str(e))
            return config_page(request, db, ctx, doc, version, notice=f"configuration version {version} saved")

    @app.post("/configuration/tags", include_in_schema=False)
    async def tag_post(request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            doc, version = config_store.saved(db)
            try:
                body = _form(schema.NewTag, {"name": form.get("tag_name", "").strip(),
                                             "ranges": _split(form.get("tag_ranges", ""))})  # fmt: skip
                tag = config_store.create_tag(db, body.name, body.ranges, ctx["user"].name)
            except ValueError as e:
                return config_page(request, db, ctx, doc, version, 422, error=f"IP-range tag: {e}")
            except LookupError as e:
                return config_page(request, db, ctx, doc, version, 409, error=str(e))
            return config_page(request, db, ctx, doc, version, notice=f"IP-range tag {tag.name} created")

    @app.post("/configuration/tags/{tag_id}/delete", include_in_schema=False)
    async def tag_delete(tag_id: PathId, request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.OPERATOR)
            if isinstance(ctx, Response):
                return ctx
            doc, version = config_store.saved(db)
            tag = db.get(RangeTag, tag_id)
            if tag is None:
                return config_page(request, db, ctx, doc, version, 404, error=f"no IP-range tag {tag_id}")
            try:
                config_store.delete_tag(db, tag)
            except LookupError as e:
                return config_page(request, db, ctx, doc, version, 409, error=str(e))
            return config_page(request, db, ctx, doc, version, notice=f"IP-range tag {tag.name} deleted")

    def users_page(request: Request, db: Session, ctx: dict[str, Any], status: int = 200, **more: Any) -> Response:
        users = [accounts.user_dict(u) for u in db.scalars(select(User).order_by(User.name))]
        return page(request, "users.html", "Users", ctx, status, nav="users", users=users, roles=roles.ROLES, **more)

    @app.get("/users", include_in_schema=False)
    def users(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db, needs=roles.ADMINISTRATOR)
            if isinstance(ctx, Response):
                return ctx
            return users_page(request, db, ctx)

    @app.post("/users", include_in_schema=False)
    async def user_create(request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.ADMINISTRATOR)
            if isinstance(ctx, Response):
                return ctx
            try:
                fields = {"name": form.get("name", "").strip(), "password": form.get("password", ""),
                          "role": form.get("role") or roles.VIEWER}  # fmt: skip
                body = _form(schema.NewUser, fields)
                accounts.add_user(db, body.name, body.password, body.chosen_role())
            except ValueError as e:
                return users_page(request, db, ctx, 400, error=str(e))
            except accounts.Taken as e:
                return users_page(request, db, ctx, 409, error=str(e))
            return users_page(request, db, ctx, notice=f"user {body.name} created ({body.chosen_role()})")

    @app.post("/users/{user_id}/{change}", include_in_schema=False)
    async def user_change(user_id: PathId, change: str, request: Request) -> Response:
        form = await posted(request)
        with hub.sessions() as db:
            ctx = guard(request, db, form, roles.ADMINISTRATOR)
            if isinstance(ctx, Response):
                return ctx
            target = db.get(User, user_id)
            role = form.get("role") if change == "role" else None
            if (
                target is None
                or change not in ("disable", "enable", "role")
                or (change == "role" and role not in roles.ROLES)
            ):
                return users_page(request, db, ctx, 404, error=f"no user {user_id}, or no such change")
            try:
                disabled = None if change == "role" else change == "disable"
                accounts.change_user(db, ctx["user"], target, None, role, disabled)
            except LookupError as e:
                return users_page(request, db, ctx, 409, error=str(e))
            done = f"now {role}" if role else f"{change}d"
            return users_page(request, db, ctx, notice=f"user {target.name} {done}")

    @app.get("/assets", include_in_schema=False)
    def assets(request: Request) -> Response:
        with hub.sessions() as db:
            ctx = guard(request, db)
            if isinstance(ctx, Response):
                return ctx
            try:
                f = inventory.AssetQuery.model_validate(dict(request.query_params))
                error = ""
            except ValidationError as e:
                f, error = inventory.AssetQuery.model_validate({}), schema.refusal(e)
            listed = inventory.listing(db, f, 1000)
            return page(request, "assets.html", "Assets", ctx, 400 if error else 200, nav="assets", f=f,
                        error=error, choices=inventory.choices(db), sensors=_sensor_names(db), **listed)  # fmt: skip

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
            d = inventory.asset_dict(db, a, brief=False)
            d["traffic"] = inventory.traffic(db, a.id)
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
            flows = [inventory.flow_dict(f) for f in db.scalars(select(Flow).order_by(Flow.id.desc()).limit(500))]
            return page(
                request, "traffic.html", "Traffic", ctx, nav="traffic", flows=flows, total=total, chart=_chart(db)
            )


def _sensor_names(db: Session) -> dict[int, str]:
    return dict(db.execute(select(Sensor.id, Sensor.name)).tuples())


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
    return _form(  # type: ignore[no-any-return]
        AssetConfig,
        {
            "internal": groups,
            "excluded": {"ips": _split(form.get("excluded_ips", "")), "macs": _split(form.get("excluded_macs", ""))},
            "monitor_external": monitors,
            "general": {
                "share_fingerprints": "share_fingerprints" in form,
                "recipients": _split(form.get("recipients", "")),
                "dedupe_excluded_hostnames": _split(form.get("dedupe_hostnames", "")),
            },
        },
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
