"""Every page of the web UI in headless Chromium (Debian's, driven by Playwright) after
the shared captures went up through `nps-sensor upload`, at 1440×900 and 800 px wide:
the inventory with hostname, vendor, OS and device type (the LLDP/CDP switches listed,
known by their MAC only), filters and search, the dashboard's charts with axes, units
and a linear time axis, the conversation map, the API's documentation served by the
hub itself, and destructive actions that ask first (refused, then confirmed).
Screenshots are kept in build/test-artifacts/hub-ui-inventory (or $NPS_TEST_ARTIFACTS);
with NPS_PUBLISH_SCREENSHOTS=1 they are copied into docs/images/hub for the README and
docs/hub.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.hublab import ADMIN_PASSWORD, SENSOR_BIN, HubProcess
from tests.hub.test_hub_inventory import CAPTURES
from tests.support import chromium
from tests.support.chromium import CHROMIUM

REPO = chromium.REPO
WIDTHS = ((1440, 900), (800, 900))

playwright = chromium.sync_api()


@pytest.fixture
def artifacts() -> Path:
    return chromium.artifacts("hub-ui-inventory")


@pytest.fixture
def hub(tmp_path: Path, pcaps_dir: Path) -> Iterator[HubProcess]:
    """A hub holding the shared captures, sent by `nps-sensor upload` with a sensor
    registered by its code on the way; and a second sensor, live and heartbeating."""
    with HubProcess(tmp_path, tls=False) as h:
        api = h.api()
        _, code = api.create_sensor("laptop-capture", network="Lab")
        (tmp_path / "code").write_text(code + "\n")
        (tmp_path / "code").chmod(0o600)
        out = subprocess.run(
            [str(SENSOR_BIN), "upload", *(str(pcaps_dir / c) for c in CAPTURES), "--hub", h.url, "--code-file",
             str(tmp_path / "code"), "--state", str(tmp_path / "hub.json"), "--proxy-file", "/nonexistent"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        token = json.loads((tmp_path / "hub.json").read_text())["token"]
        for i in range(3):  # heartbeats: the sensors' charts get a few minutes of history
            status = {"state": "sensing", "throughput": {"pps": 1000.0 * (i + 1), "mbps": 8.0},
                      "system": {"cpu_percent": 10.0 + i, "memory": {"used_percent": 40.0}},
                      "interfaces": [{"name": "eth1", "dropped": 5 * i}]}  # fmt: skip
            r = httpx.post(f"{h.url}/api/v1/agent/heartbeat", json={"status": status},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert r.status_code == 200, r.text
        yield h


def errors_into(errors: list[str]) -> Any:
    """A page's listener keeping its script errors and console errors (CSP refusals, 404s)."""

    def keep(event: Any) -> None:
        if getattr(event, "type", "error") == "error":
            errors.append(f"{getattr(event, 'text', event)} {getattr(event, 'location', '')}")

    return keep


def wait_js(page: Any, expression: str, timeout: float = 30) -> None:
    """Poll `expression` in the page (Playwright's wait_for_function evaluates a string,
    which the hub's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.2)


def shoot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def rows(page: Any) -> list[dict[str, str]]:
    heads = [h.inner_text().strip(" ▲▼") for h in page.query_selector_all("#assets thead th")]
    return [dict(zip(heads, (c.inner_text() for c in r.query_selector_all("td")), strict=True))
            for r in page.query_selector_all("#assets tbody tr")]  # fmt: skip


def test_every_page_after_an_upload(hub: HubProcess, artifacts: Path) -> None:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width, height in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", errors_into(errors))
            page.on("console", errors_into(errors))
            page.goto(f"{hub.url}/login")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.click("button:has-text('Log in')")
            assert page.url.endswith("/dashboard")
            page.goto(f"{hub.url}/dashboard?span=all")  # the captures span years
            check_dashboard(page)
            shoot(page, artifacts, f"dashboard-{width}")
            page.click("header a:has-text('Assets')")
            check_inventory(page)
            shoot(page, artifacts, f"assets-{width}")
            page.goto(f"{hub.url}/assets?device_type=switch")
            switches = rows(page)
            assert {r["Hostname"] for r in switches} >= {"s1", "s2", "summit300-48"}
            assert all(r["IP"] == "(no IP)" for r in switches)
            assert all(r["Last seen"].strip(" –-") for r in switches)  # when they spoke LLDP or CDP
            page.click("#assets a:has-text('(no IP)') >> nth=0")
            assert "LLDP" in page.inner_text("#evidence").upper() or "CDP" in page.inner_text("#evidence").upper()
            assert page.query_selector_all("#predictions tbody tr")
            assert "No traffic record names this asset" in page.inner_text("main")  # not empty tables
            shoot(page, artifacts, f"asset-switch-{width}")
            page.goto(f"{hub.url}/map")
            wait_js(page, "window.hubMap && window.hubMap.nodes().length > 0")
            assert page.evaluate("window.hubMap.edges().length") > 0
            assert page.query_selector_all("#map-flows tbody tr")
            shoot(page, artifacts, f"map-{width}")
            page.click("header a:has-text('Traffic')")
            page.wait_for_selector(".uplot canvas")
            shoot(page, artifacts, f"traffic-{width}")
            page.goto(f"{hub.url}/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            assert "/api/v1/assets" in page.inner_text(".swagger-ui")
            assert not errors, errors  # nothing the CSP refused, no script error
            page.close()
        browser.close()
    publish(artifacts)


def check_dashboard(page: Any) -> None:
    """Six charts, each on a time axis whose points are evenly spaced (linear, empty
    buckets present) with a y axis naming its unit."""
    wait_js(page, "window.hubCharts && window.hubCharts.length >= 6")  # with the heartbeats'
    charts = page.evaluate(
        "window.hubCharts.map(c => ({kind: c.kind, x: c.u.axes[0].label, y: c.u.axes[1].label,"
        " times: Array.from(c.u.data[0]), time: c.u.scales.x.time}))"
    )
    by_kind = {c["kind"]: c for c in charts}
    assert {"traffic", "assets"} <= set(by_kind)
    assert by_kind["traffic"]["y"] == "bytes/s" and by_kind["assets"]["y"] == "assets"
    for c in charts:
        steps = {b - a for a, b in zip(c["times"], c["times"][1:], strict=False)}
        assert c["time"] and c["x"].startswith("time") and len(steps) == 1, c["kind"]
    overflow = page.evaluate(
        "Array.from(document.querySelectorAll('[data-chart]')).filter(el => {"
        " const u = el.querySelector('.uplot');"
        " return u && u.getBoundingClientRect().right > el.getBoundingClientRect().right; }).length"
    )
    assert overflow == 0  # every chart within its card
    assert "1 sensor ·" in page.inner_text("main")  # one sensor uploaded them all
    assert page.query_selector_all("#by-device_type tr td")
    assert "switch" in page.inner_text("#by-device_type")


def check_inventory(page: Any) -> None:
    listed = rows(page)
    by_ip = {r["IP"]: r for r in listed}
    win7 = by_ip["192.168.69.10"]  # ERSPAN/GRE: a Windows 7 workstation of the domain
    assert win7["OS"].startswith("Windows 7") and "VMware" in win7["Vendor"] and "workstation" in win7["Device type"]
    assert win7["Sensors"] == "laptop-capture"
    assert any(r["Device type"].startswith("PLC") and r["Vendor"] == "Siemens" for r in listed)  # S7comm
    assert any(r["Hostname"] == "desktop-2aefm7g" and r["OS"].startswith("Windows 10") for r in listed)  # SMB
    page.fill("input[name=q]", "Windows")
    page.click("button:has-text('Filter')")
    assert rows(page) and all("Windows" in r["OS"] for r in rows(page))


def publish(artifacts: Path) -> None:
    """With NPS_PUBLISH_SCREENSHOTS=1, the 1440-pixel screenshots into docs/images/hub
    (the README and docs/hub.md show them); a test run otherwise changes no tracked file."""
    if os.environ.get("NPS_PUBLISH_SCREENSHOTS") != "1":
        return
    target = REPO / "docs" / "images" / "hub"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("dashboard", "assets", "asset-switch", "map", "traffic"):
        shutil.copyfile(artifacts / f"{name}-1440.png", target / f"{name}.png")


def test_destructive_actions_ask_first(hub: HubProcess, tmp_path: Path) -> None:
    """Deregister on the sensors list: dismissed, nothing is sent; confirmed, it is."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{hub.url}/login")
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button:has-text('Log in')")
        page.goto(f"{hub.url}/sensors")
        asked: list[str] = []

        def answer(dialog: Any, accept: bool) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", lambda d: answer(d, False))
        page.click("tr[data-sensor='laptop-capture'] button:has-text('Delete assets')")
        assert asked and "cannot be undone" in asked[-1]
        assert hub.api().get("/api/v1/assets")["total"] > 0
        page.once("dialog", lambda d: answer(d, False))
        page.click("tr[data-sensor='laptop-capture'] button:has-text('Deregister')")
        assert "Deregister laptop-capture?" in asked[-1]
        assert "sent to" not in page.inner_text("main")
        assert hub.api().sensor(1)["status"] != "Deregistered"
        page.once("dialog", lambda d: answer(d, True))
        page.click("tr[data-sensor='laptop-capture'] button:has-text('Deregister')")
        page.wait_for_selector("text=Deregister: sent to laptop-capture")
        assert len(asked) == 3
        browser.close()
