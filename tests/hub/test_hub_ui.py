"""The hub's web UI in headless Chromium (Debian's, driven by Playwright; no browser
download): log in, the sensors list with statuses, a quick action, the configuration
form with a validation error, an asset's evidence, the traffic chart. Screenshots are
kept in build/test-artifacts/hub-ui (or $NPS_TEST_ARTIFACTS/hub-ui)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.hublab import ADMIN_PASSWORD, HubProcess
from nps_sensor.uplink.agent import report_id
from tests.hub.test_hub import register_typed
from tests.support import chromium
from tests.support.chromium import CHROMIUM

playwright = chromium.sync_api()


@pytest.fixture
def artifacts() -> Path:
    return chromium.artifacts("hub-ui")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with HubProcess(tmp_path, tls=False) as h:
        yield h


def test_the_ui_in_chromium(hub: HubProcess, tmp_path: Path, artifacts: Path) -> None:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{hub.url}/sensors")
        assert page.url.endswith("/login")
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", "not the password")
        page.click("button:has-text('Log in')")
        assert "wrong user name or password" in page.inner_text("[role=alert]")
        page.screenshot(path=str(artifacts / "01-login-refused.png"))
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button:has-text('Log in')")
        assert page.url.endswith("/dashboard")  # the landing page
        page.click("header a:has-text('Sensors')")

        # Two sensors: one registers with the code the page shows, one stays unregistered.
        for name in ("crane-1", "spare"):
            page.fill("form[action='/sensors'] input[name=name]", name)
            page.fill("form[action='/sensors'] input[name=location]", "quay 4")
            page.click("button:has-text('Create')")
            code = page.inner_text("#code")
            if name == "crane-1":
                first_code = code
        assert len(first_code) == 14
        state = tmp_path / "hub.json"
        out = register_typed(hub, first_code, state)
        assert out.returncode == 0, out.stderr
        page.goto(f"{hub.url}/sensors")
        statuses = {
            row.get_attribute("data-sensor"): row.inner_text() for row in page.query_selector_all("tr[data-sensor]")
        }
        assert "Paused" in statuses["crane-1"] and "Unregistered" in statuses["spare"]
        page.screenshot(path=str(artifacts / "02-sensors.png"), full_page=True)

        page.click("tr[data-sensor='crane-1'] button:has-text('Start sensing')")
        assert "Start sensing: sent to crane-1" in page.inner_text("main")
        assert "1 pending" in page.inner_text("tr[data-sensor='crane-1']")
        page.screenshot(path=str(artifacts / "03-quick-action.png"), full_page=True)
        page.click("a:has-text('crane-1')")
        assert "start" in page.inner_text("main") and "pending" in page.inner_text("main")

        page.click("header a:has-text('Configuration')")
        page.fill("input[name=g0_name]", "office")
        page.fill("textarea[name=g0_ranges]", "10.1.0.0/16\n10.1.300.0/24")
        page.click("button:has-text('Save')")
        error = page.inner_text("[role=alert]")
        assert "internal[0].ranges[1]" in error and "10.1.300.0/24" in error
        page.screenshot(path=str(artifacts / "04-configuration-error.png"), full_page=True)
        page.fill("input[name=g0_name]", "office")
        page.fill("textarea[name=g0_ranges]", "10.1.0.0/16")
        page.click("button:has-text('Save')")
        assert "configuration version 1 saved" in page.inner_text("main")
        # An IP-range tag, then used by the group.
        page.fill("#new-tag input[name=tag_name]", "quay cranes")
        page.fill("#new-tag textarea[name=tag_ranges]", "10.7.0.0/16\n10.8.0.1-10.8.0.20")
        page.click("button:has-text('Create tag')")
        assert "IP-range tag quay cranes created" in page.inner_text("main")
        page.fill("input[name=g0_tags]", "quay cranes")
        page.click("button:has-text('Save')")
        assert "configuration version 2 saved" in page.inner_text("main")
        assert "office" in page.inner_text("#tags tr:has-text('quay cranes')")
        page.screenshot(path=str(artifacts / "04b-ip-range-tags.png"), full_page=True)

        # A report from the registered sensor, with the evidence discovery gives.
        token = json.loads(state.read_text())["token"]
        report = {
            "kind": "new-assets",
            "assets": [
                {
                    "ip": "10.1.2.3",
                    "mac": "00:11:22:33:44:55",
                    "class": "inventoried",
                    "group": "office",
                    "first_seen": "2026-11-27T10:00:00Z",
                    "last_seen": "2026-11-27T10:05:00Z",
                    "hostnames": ["plc-7"],
                    "evidence": [{"source": "dhcp", "key": "hostname", "value": "plc-7", "count": 3}],
                }
            ],
            "flows": [
                {"client": "10.1.2.3", "server": "10.1.0.1", "port": 502, "proto": "tcp", "client_bytes": 1200,
                 "server_bytes": 800, "first_seen": "2026-11-27T10:00:00Z", "last_seen": "2026-11-27T10:01:00Z"},
            ],
        }  # fmt: skip
        body = json.dumps(report).encode()
        r = httpx.post(
            f"{hub.url}/api/v1/agent/reports",
            content=body,
            headers={"Authorization": f"Bearer {token}", "X-Report-Id": report_id(body)},
        )
        assert r.status_code == 200, r.text
        page.click("header a:has-text('Assets')")
        page.click("#assets a:has-text('10.1.2.3')")
        evidence = page.inner_text("#evidence")
        assert "dhcp" in evidence and "hostname" in evidence and "plc-7" in evidence
        page.click("summary:has-text('Raw discovery data')")
        assert '"evidence"' in page.inner_text("#raw")
        page.screenshot(path=str(artifacts / "05-asset-evidence.png"), full_page=True)
        page.click("header a:has-text('Traffic')")
        page.wait_for_selector(".uplot canvas")
        assert "502" in page.inner_text("#flows")
        page.screenshot(path=str(artifacts / "06-traffic.png"), full_page=True)

        # Users (admins only): create one, disable it; it can no longer log in.
        page.click("header a:has-text('Users')")
        page.fill("#new-user input[name=name]", "viewer")
        page.fill("#new-user input[name=password]", "viewer-password")
        page.click("button:has-text('Create user')")
        assert "user viewer created" in page.inner_text("main")
        assert "admin" in page.inner_text("#users") and page.query_selector("tr[data-user='admin'] button") is None
        page.once("dialog", lambda d: d.accept())  # "Disable viewer? Their sessions end now."
        page.click("tr[data-user='viewer'] button:has-text('Disable')")
        assert "disabled" in page.inner_text("tr[data-user='viewer']")
        page.screenshot(path=str(artifacts / "07-users.png"), full_page=True)
        refused = httpx.post(f"{hub.url}/api/v1/login", json={"name": "viewer", "password": "viewer-password"})
        assert refused.status_code == 401 and "disabled" in refused.json()["detail"]

        # Forms without the session's CSRF token are refused.
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        forged = httpx.post(f"{hub.url}/sensors", data={"name": "forged"}, cookies=cookies)
        assert forged.status_code == 403
        browser.close()
