"""What every answer of the hub tells the browser, and its cookies.

* `Content-Security-Policy`: the hub's own files only (the pages have no script and
  no inline style), no framing, forms post to the hub only; `X-Frame-Options: DENY`
  for older browsers; `X-Content-Type-Options: nosniff`; `Referrer-Policy`;
  `Cache-Control: no-store` (pages show personalization codes and the inventory);
* over HTTPS, `Strict-Transport-Security`, and `Secure` on every cookie.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The /docs page: Swagger UI from the hub's own files; it sets inline styles.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        more = [
            *COMMON,
            (b"content-security-policy", (DOCS_CSP if path in ("/docs", "/redoc") else CSP).encode()),
        ]
        if not path.startswith("/static/"):
            more.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            more.append((b"strict-transport-security", HSTS.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *((k, v) for k, v in more if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Strict, and Secure whenever the request came over HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def delete_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, httponly=True, samesite="strict", secure=request.url.scheme == "https")
