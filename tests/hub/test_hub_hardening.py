"""What the hub tells browsers and keeps from everyone: security headers on every
answer, Secure cookies and HSTS over HTTPS, the database file private whatever its
directory, no database password in any message; and the web UI's roles (a viewer reads,
is shown no form that changes anything, and is refused if it posts one anyway)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.hublab import ADMIN_PASSWORD, HUB_BIN, HubProcess


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    tmp_path.chmod(0o755)
    (tmp_path / "hub-data").mkdir(mode=0o755)  # an existing, world-readable data directory
    with HubProcess(tmp_path) as h:
        yield h


def web_login(http: httpx.Client, name: str, password: str) -> httpx.Response:
    form = http.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    return http.post("/login", data={"csrf": csrf, "name": name, "password": password})


def test_headers_cookies_and_files(hub: HubProcess) -> None:
    with httpx.Client(base_url=hub.url, verify=hub.verify) as http:
        for path in ("/api/v1/health", "/login", "/api/v1/sensors", "/static/hub.css"):
            r = http.get(path)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
            assert "default-src 'self'" in r.headers["content-security-policy"], path
            assert r.headers["strict-transport-security"].startswith("max-age="), path
        assert http.get("/login").headers["cache-control"] == "no-store"
        # A failed login sets the login form's cookie again: Secure over HTTPS too.
        refused = web_login(http, "admin", "wrong")
        assert refused.status_code == 401
        cookies = refused.headers.get_list("set-cookie")
        assert cookies and all("Secure" in c and "HttpOnly" in c and "SameSite=strict" in c for c in cookies)
        ok = web_login(http, "admin", ADMIN_PASSWORD)
        assert ok.status_code == 303
        assert all("Secure" in c for c in ok.headers.get_list("set-cookie"))
    database = hub.data / "hub.sqlite3"
    for f in (database, hub.data / "hub.sqlite3-wal", hub.data / "secret.key"):
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # A world-readable file from an older hub is made private at the next start.
    hub.stop()
    database.chmod(0o644)
    hub.start()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_no_hsts_over_plain_http(tmp_path: Path) -> None:
    with HubProcess(tmp_path, tls=False) as hub:
        r = httpx.get(f"{hub.url}/api/v1/health")
        assert "strict-transport-security" not in r.headers and r.headers["x-frame-options"] == "DENY"


def test_database_passwords_never_appear_in_messages(tmp_path: Path) -> None:
    for url in (
        "postgresql://hub:s3cret-in-url@127.0.0.1:1/hub",
        "postgresql://hub@127.0.0.1:1/hub?password=s3cret-in-query&sslmode=disable",
    ):
        out = subprocess.run(
            [str(HUB_BIN), "--data", str(tmp_path / "d"), "--database", url, "migrate"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "NPS_HUB_DATABASE": ""},
        )
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "s3cret" not in out.stderr and "***" in out.stderr, out.stderr


def test_roles_in_the_web_ui(hub: HubProcess) -> None:
    api = hub.api()
    api.post("/api/v1/users", {"name": "vera", "password": "vera-password", "role": "viewer"})
    api.post("/api/v1/users", {"name": "otto", "password": "otto-password", "role": "operator"})
    api.create_sensor("crane-1")
    with httpx.Client(base_url=hub.url, verify=hub.verify) as vera:
        assert web_login(vera, "vera", "vera-password").status_code == 303
        page = vera.get("/sensors").text
        assert "crane-1" in page and "(viewer)" in page
        assert 'action="/sensors"' not in page and "/users" not in page  # no form that changes anything
        assert 'name="csrf"' in page  # the log-out form
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        refused = vera.post("/sensors", data={"csrf": csrf, "name": "sneaky"})
        assert refused.status_code == 403 and "needs an operator" in refused.text
        assert vera.get("/users").status_code == 403
        assert "<button>Save</button>" not in vera.get("/configuration").text
    with httpx.Client(base_url=hub.url, verify=hub.verify) as otto:
        assert web_login(otto, "otto", "otto-password").status_code == 303
        page = otto.get("/sensors").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        # The form and the API share one schema: the same refusal, naming the field.
        bad = otto.post("/sensors", data={"csrf": csrf, "name": "crane\x1b[2J"})
        assert bad.status_code == 400 and "name: control characters are not allowed" in bad.text
        made = otto.post("/sensors", data={"csrf": csrf, "name": "crane-2", "location": "quay"})
        assert made.status_code == 200 and "Personalization code for <strong>crane-2</strong>" in made.text
        assert otto.get("/users").status_code == 403
    names = [s["name"] for s in api.get("/api/v1/sensors")]
    assert names == ["crane-1", "crane-2"]


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_error_pages_and_api_clients_json(hub: HubProcess) -> None:
    """A bad link, method or page number in the UI reads as a page of the hub, with the
    reason and a way back; the same mistakes on the API, or from a client that does not ask
    for HTML, keep their one JSON line."""
    with httpx.Client(base_url=hub.url, verify=hub.verify) as http:
        assert web_login(http, "admin", ADMIN_PASSWORD).status_code == 303
        for path, status, reason in (("/no-such-page", 404, "Not Found"), ("/assets?page=-5", 400, "page: at least 0")):
            page = http.get(path, headers=BROWSER)
            assert page.status_code == status and page.headers["content-type"].startswith("text/html"), path
            assert reason in page.text and 'href="/dashboard"' in page.text, path
            assert http.get(path).json()["detail"] == reason, path  # no HTML asked for
        wrong = http.delete("/assets", headers=BROWSER)
        assert wrong.status_code == 405 and "Method Not Allowed" in wrong.text and "GET" in wrong.headers["allow"]
        api = http.get("/api/v1/no-such-thing", headers=BROWSER)
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
        stale = http.post("/sensors", data={"csrf": "forged", "name": "x"}, headers=BROWSER)
        assert stale.status_code == 403 and "stale or forged" in stale.text and "<h1>Forbidden</h1>" in stale.text
