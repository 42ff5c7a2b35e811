"""What every page of the web UI shares: the templates and their filters, the visitor
(the logged-in user, found by the session cookie, checked for the role a page needs
and, on a form, for the CSRF token) as a FastAPI dependency, and the answers when
there is none: the login page, a stale form, a page the role does not allow.

The pages themselves live in routers by subject (web_sensors, web_settings,
web_inventory), each calling the domain modules the JSON API calls too.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from nps_hub import present, roles, schema
from nps_hub.context import COOKIE, Hub, HubDep, session_of
from nps_hub.models import User

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters.update(present.FILTERS)


class LoginNeeded(Exception):
    """No valid session: the login page."""


class StaleForm(Exception):
    """A form whose CSRF token is not the session's."""


class NotAllowed(Exception):
    def __init__(self, visit: Visit, reason: str) -> None:
        super().__init__(reason)
        self.visit = visit


@dataclass
class Visit:
    """A logged-in user's request: the database session, the posted form (checked
    against the session's CSRF token) and what the templates need to know of the user."""

    request: Request
    hub: Hub
    db: Session
    user: User
    csrf: str
    form: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "csrf": self.csrf,
            "operator": roles.may(self.user, roles.OPERATOR),
            "administrator": roles.may(self.user, roles.ADMINISTRATOR),
        }

    def page(self, name: str, title: str, status: int = 200, **more: Any) -> HTMLResponse:
        return render(self.request, name, title, self.context, status, **more)


def render(request: Request, name: str, title: str, ctx: dict[str, Any], status: int = 200, **more: Any
           ) -> HTMLResponse:  # fmt: skip
    return TEMPLATES.TemplateResponse(request, name, {"title": title, **ctx, **more}, status_code=status)


def visitor(needs: str) -> Callable[..., AsyncIterator[Visit]]:
    """The dependency of a page that needs the role `needs` (and a good CSRF token when
    it is a form being posted)."""

    async def visit(request: Request, hub: HubDep) -> AsyncIterator[Visit]:
        form: dict[str, str] = {}
        if request.method == "POST":
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        with hub.sessions() as db:
            found = session_of(db, hub, request.cookies.get(COOKIE, ""))
            if found is None:
                raise LoginNeeded
            user, s = found
            if request.method == "POST" and not hmac.compare_digest(form.get("csrf", ""), s.csrf):
                raise StaleForm
            v = Visit(request, hub, db, user, s.csrf, form)
            try:
                roles.require(user, needs)
            except roles.Forbidden as e:
                raise NotAllowed(v, str(e)) from None
            yield v

    return visit


Viewing = Annotated[Visit, Depends(visitor(roles.VIEWER))]
Operating = Annotated[Visit, Depends(visitor(roles.OPERATOR))]
Administering = Annotated[Visit, Depends(visitor(roles.ADMINISTRATOR))]


def handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    def _login(request: Request, exc: LoginNeeded) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StaleForm)
    def _stale(request: Request, exc: StaleForm) -> Response:
        return error_page(request, 403, "the form is stale or forged (CSRF token): reload the page")

    @app.exception_handler(NotAllowed)
    def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return exc.visit.page("base.html", "Not allowed", 403, error=str(exc))


def browsing(request: Request) -> bool:
    """A person's browser on a page of the UI (it asks for HTML), not a client of the JSON
    API: an error then reads as a page of the hub, not as a line of JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """An error as a page (a bad link, a page number out of range): the reason in one line
    and a way back. No user is looked up, so the page shows no menu."""
    page = render(request, "error.html", HTTPStatus(status).phrase, {}, status, error=detail)
    page.headers.update(headers or {})
    return page


def checked(model: type[BaseModel], form: dict[str, Any]) -> Any:
    """A form checked by the API's own schema; ValueError names the field."""
    try:
        return model.model_validate(form)
    except ValidationError as e:
        raise ValueError(schema.refusal(e)) from None


def split(text: str) -> list[str]:
    """A list typed in a text field: comma- or line-separated."""
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]
