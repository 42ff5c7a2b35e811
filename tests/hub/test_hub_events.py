"""Events and their e-mail: the hub (its own process) mails a local SMTP server
(aiosmtpd, started by the test) when a sensor needs a reboot, has an unsupported
sniffing NIC driver, stops reporting while sensing, or stops calling in."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import SENSOR_BIN, HubProcess, free_port
from nps_sensor.live.status import StatusServer
from tests.support.waiting import wait_for

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed (./bootstrap)")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [m["Subject"] for _, m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_events_are_kept_and_mailed(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    hub = HubProcess(
        tmp_path,
        tls=False,
        env={
            "NPS_HUB_SMTP": f"127.0.0.1:{port}",
            "NPS_HUB_SMTP_FROM": "hub@example.com",
            "NPS_HUB_SWEEP": "1",
            "NPS_HUB_OFFLINE_AFTER": "6",
            "NPS_HUB_REPORTING_STOPPED_AFTER": "3",
        },
    )
    hub.start()
    state: dict[str, Any] = {
        "state": "sensing",
        "reboot_required": True,
        "interfaces": [{"name": "eth1", "mode": "DEFAULT", "driver": "e1000", "driver_supported": False}],
    }
    status_port = free_port()

    def set_state(value: str) -> None:
        state["state"] = value

    local = StatusServer(
        f"127.0.0.1:{status_port}",
        lambda: dict(state),
        {"pause": lambda: set_state("paused"), "resume": lambda: set_state("sensing"), "reload": lambda: None},
    )
    local.start()
    try:
        api = hub.api()
        assert api.http.put("/api/v1/configuration", json={"general": {"recipients": ["ops@example.com"]}}).is_success
        sid, code = api.create_sensor("crane-1", "quay 4")
        where = tmp_path / "s"
        where.mkdir()
        (where / "code").write_text(code)
        reg = subprocess.run(
            [str(SENSOR_BIN), "register", "--hub", hub.url, "--code-file", str(where / "code"),
             "--state", str(where / "hub.json"), "--proxy-file", "-"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert reg.returncode == 0, reg.stderr
        cfg = where / "sensor.yaml"
        cfg.write_text(f"sensing:\n  spool: {{directory: {where / 'spool'}}}\n  status: 127.0.0.1:{status_port}\n")

        def uplink() -> None:
            out = subprocess.run(
                [str(SENSOR_BIN), "uplink", "--once", "--config", str(cfg), "--state", str(where / "hub.json"),
                 "--proxy-file", "-"],
                capture_output=True, text=True, check=False, timeout=120, env={**os.environ},
            )  # fmt: skip
            assert out.returncode == 0, out.stderr

        api.act(sid, "start")
        uplink()
        wait_for(lambda: len(inbox.messages) >= 2)
        assert sorted(inbox.subjects()[:2]) == [
            "[nps-hub] Driver Change Required: sensor crane-1",
            "[nps-hub] Reboot Required: sensor crane-1",
        ]
        rcpt, first = inbox.messages[0]
        assert rcpt == ["ops@example.com"] and first["From"] == "hub@example.com"
        driver = next(m for _, m in inbox.messages if "Driver" in m["Subject"])
        assert "eth1 (e1000)" in driver.get_content()

        # Sensing, but no report comes: Asset Reporting Stopped; then no heartbeat: Not Connected.
        wait_for(lambda: any("Asset Reporting Stopped" in s for s in inbox.subjects()))
        wait_for(lambda: any("Not Connected" in s for s in inbox.subjects()), timeout=90)
        assert api.sensor(sid)["status"] == "Not Connected"

        state["reboot_required"] = False
        uplink()
        kinds = {(e["kind"], e["open"]) for e in api.get("/api/v1/events", params={"sensor": sid})}
        assert ("Reboot Required", False) in kinds and ("Not Connected", False) in kinds
        assert ("Driver Change Required", True) in kinds
        driver_event = next(e for e in api.get("/api/v1/events") if e["kind"] == "Driver Change Required")
        assert driver_event["count"] >= 2 and driver_event["first"] < driver_event["last"]
        assert len([s for s in inbox.subjects() if "Reboot" in s]) == 1  # mailed once
    finally:
        local.stop()
        hub.stop()


def test_a_lost_link_is_read_from_the_typed_status() -> None:
    """Issue 21's rule on issue 14's validated heartbeat: the status as the live service
    gives it (link, since, counters beside the typed fields) names the lost links, and
    so does the status the hub kept, which the sweep reads back."""
    from pydantic import ValidationError

    from nps_hub import events, schema

    body = {
        "state": "sensing",
        "interfaces": [
            {
                "name": "ens192",
                "mode": "SPAN",
                "link": "down",
                "since": "2026-12-05T04:00:00+00:00",
                "capturing": False,
            },
            {"name": "ens224", "mode": "SPAN", "link": "up", "since": None, "capturing": True},
            {"name": "ens256", "mode": "SPAN", "link": "missing", "since": None, "capturing": False},
        ],
    }
    status = schema.Status.model_validate(body)
    assert events.links_lost(status) == ["ens192 down", "ens256 missing"]
    kept = events.stored(status.model_dump(exclude_none=True))
    assert kept is not None and events.links_lost(kept) == ["ens192 down", "ens256 missing"]
    assert events.stored({"interfaces": "not a list"}) is None and events.stored(None) is None
    with pytest.raises(ValidationError):
        schema.Status.model_validate({"interfaces": [{"name": "ens192", "link": "down\x1b[2J"}]})
