"""The web UI: server-rendered pages (Jinja2) on the domain modules the JSON API
calls too; a session cookie (HttpOnly, SameSite=Strict) and a CSRF token in every
form. This module logs in and out, serves the API's documentation from the hub's own
files, and assembles the routers of the pages (web_sensors, web_settings,
web_inventory) with the dependencies and answers they share (webpage)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import delete
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from nps_hub import accounts, headers, ratelimit, schema, web_inventory, web_sensors, web_settings, webpage
from nps_hub.context import COOKIE, HubDep, address
from nps_hub.models import UserSession
from nps_hub.webpage import HERE, Viewing, checked, render

LOGIN_COOKIE = "nps_login"
router = APIRouter(include_in_schema=False)


def login_page(request: Request, status: int = 200, error: str = "") -> Response:
    token = secrets.token_urlsafe(16)
    resp = render(request, "login.html", "Log in", {"user": None, "login_csrf": token}, status, error=error)
    headers.set_cookie(resp, request, LOGIN_COOKIE, token)
    return resp


@router.get("/login")
def login_form(request: Request) -> Response:
    return login_page(request)


@router.post("/login")
async def login(request: Request, hub: HubDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
        return HTMLResponse("the login form is stale: reload the page", status_code=403)
    with hub.sessions() as db:
        try:
            body = checked(schema.Login, {"name": form.get("name", ""), "password": form.get("password", "")})
            user = accounts.try_login(db, hub.guard, body.name, body.password, address(request))
        except ValueError as e:
            return login_page(request, 400, str(e))
        except (PermissionError, ratelimit.Limited) as e:
            refused = login_page(request, 429 if isinstance(e, ratelimit.Limited) else 401, str(e))
            if isinstance(e, ratelimit.Limited):
                refused.headers["Retry-After"] = str(e.retry_after)
            return refused
        token, _, _ = accounts.open_session(db, hub.keyed, user, hub.settings.session_ttl)
    resp = RedirectResponse("/dashboard", status_code=303)
    headers.set_cookie(resp, request, COOKIE, token, int(hub.settings.session_ttl))
    headers.delete_cookie(resp, request, LOGIN_COOKIE)
    return resp


@router.post("/logout")
def logout(v: Viewing) -> Response:
    token = v.request.cookies.get(COOKIE, "")
    v.db.execute(delete(UserSession).where(UserSession.token_hash == v.hub.keyed.digest("session", token)))
    v.db.commit()
    resp = RedirectResponse("/login", status_code=303)
    headers.delete_cookie(resp, v.request, COOKIE)
    return resp


@router.get("/docs")
def docs(request: Request) -> Response:
    """Swagger UI from the hub's own files (sensor networks often reach no CDN)."""
    return render(request, "docs.html", "API", {"user": None})


def add_ui(app: FastAPI) -> None:
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    webpage.handlers(app)
    for r in (router, web_sensors.router, web_settings.router, web_inventory.router):
        app.include_router(r)
