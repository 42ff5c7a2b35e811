"""The hub's OpenAPI fuzzed by schemathesis (its own command-line tool, against the hub
as its own process): no request, however malformed, gets a 500. Once with a user's
session over the user endpoints, once with a sensor's credential over the agent's.
The credentials reach schemathesis through the environment, not its arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.hublab import HubProcess
from tests.hub.test_hub import register_typed

ST = Path(sys.executable).parent / "st"
pytestmark = pytest.mark.slow

if not ST.exists():
    pytest.skip("schemathesis is not installed (./bootstrap)", allow_module_level=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    # No limits on failed logins and registrations here: the fuzzer fails hundreds, which
    # would lock the admin out of the next test (test_hub_admin.py checks the limits).
    h = HubProcess(
        tmp_path_factory.mktemp("hub"), tls=False, env={"NPS_HUB_LOGIN_LIMIT": "0", "NPS_HUB_CODE_LIMIT": "0"}
    )
    h.start()
    try:
        yield h
    finally:
        h.stop()


def fuzz(hub: HubProcess, workdir: Path, token: str, *select: str) -> subprocess.CompletedProcess[str]:
    config = workdir / "schemathesis.toml"
    config.write_text('headers = { Authorization = "Bearer ${HUB_TOKEN}" }\n')
    return subprocess.run(
        [str(ST), "--config-file", str(config), "run", f"{hub.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--workers", "1", "--no-color", "--seed", "1", *select],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=workdir,
        env={**os.environ, "HUB_TOKEN": token},
    )  # fmt: skip


def test_user_endpoints_never_answer_500(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, _ = api.create_sensor("fuzzed")
    token = api.http.headers["Authorization"].removeprefix("Bearer ")
    # Logging out would end the session the fuzzer uses; agent endpoints have their own run.
    out = fuzz(hub, tmp_path, token, "--exclude-path", "/api/v1/logout", "--exclude-path-regex", "^/api/v1/agent/")
    assert out.returncode == 0, out.stdout[-4000:]
    assert "passed" in out.stdout and "Server error" not in out.stdout
    assert "Authentication failed" not in out.stdout  # the session held: the endpoints were really reached
    assert "Traceback" not in hub.log.read_text()
    _ = sid


def test_agent_endpoints_never_answer_500(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("fuzzing-sensor")
    state = tmp_path / "hub.json"
    reg = register_typed(hub, code, state)
    assert reg.returncode == 0, reg.stderr
    token = json.loads(state.read_text())["token"]
    out = fuzz(hub, tmp_path, token, "--include-path-regex", "^/api/v1/agent/")
    assert out.returncode == 0, out.stdout[-4000:]
    assert "Server error" not in out.stdout
    assert "Traceback" not in hub.log.read_text()
