"""The hub's update quick action, end to end on loopback: a bundle uploaded to a real
`nps-hub serve`, offered to a sensor, handed over with its heartbeat to the real uplink
(`nps-sensor uplink --once`), which fetches it with its own credential and hands it to
the updater; the command is acknowledged once the updater's journal says how it ended.

The updater is a stand-in here (NPS_SENSOR_UPDATE_COMMAND: it records its arguments and
writes the journal as the real one does); tests/image/test_update_appliance.py runs the
real one in the booted image.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from benchmarks.hublab import HubProcess
from nps_image.bundle import build_bundle
from nps_image.signing import Signer, load
from tests.hub.test_hub import register, sensor_config, uplink
from tests.support import pki

if shutil.which("openssl") is None:
    pytest.skip("openssl is needed to make the hub's test certificate", allow_module_level=True)

STAND_IN = """#!/bin/sh
# The updater as the uplink starts it: BUNDLE --detach --command=ID. It records that, and
# ends the update at once, as the real one ends it, in its journal beside the registration.
here="$(dirname "$0")"
echo "$@" > "$here/updater.args"
id="${3#--command=}"
printf '{"state": "done", "previous": "0.1.0", "version": "0.2.0", "command": %s}\\n' "$id" > "$here/a/update.json"
"""


def make_bundle(where: Path, version: str, signer: Signer) -> Path:
    wheels = where / f"wheels-{version}"
    wheels.mkdir(parents=True)
    (wheels / f"nps_sensor-{version}-py3-none-any.whl").write_bytes(os.urandom(256))
    built: Path = build_bundle(wheels, "nps-sensor", version, where / "dist", signer, 1_767_225_600)
    return built


def upload(hub: HubProcess, path: Path) -> httpx.Response:
    api = hub.api()
    headers = {"Content-Type": "application/x-tar"}
    return api.http.post("/api/v1/bundles", content=path.read_bytes(), headers=headers)


def test_a_bundle_reaches_the_sensor_with_its_heartbeat_and_its_outcome_comes_back(tmp_path: Path) -> None:
    release = pki.make(tmp_path / "pki")
    bundle = make_bundle(tmp_path, "0.2.0", load(release.key, release.chain))
    (tmp_path / "hub").mkdir()
    with HubProcess(tmp_path / "hub") as hub:
        api = hub.api()
        sid, code = api.create_sensor("update-1", "rack 5")
        _, other_code = api.create_sensor("update-2", "rack 6")
        assert register(hub, code, tmp_path / "a").returncode == 0
        assert register(hub, other_code, tmp_path / "b").returncode == 0
        cfg_a = sensor_config(tmp_path / "a")
        assert uplink(tmp_path / "a" / "hub.json", cfg_a).returncode == 0
        assert api.sensor(sid)["version"] == "0.1.0"  # what the heartbeat says runs

        stored = upload(hub, bundle)
        assert stored.status_code == 201, stored.text
        kept = stored.json()
        assert (kept["id"], kept["version"], kept["size"]) == (1, "0.2.0", bundle.stat().st_size)
        assert "each sensor checks it" in kept["checked"]
        assert api.get("/api/v1/bundles") == [kept]
        garbage = tmp_path / "garbage.tar"
        garbage.write_bytes(b"not a tar at all" * 100)
        refused = upload(hub, garbage)
        assert refused.status_code == 422 and refused.json()["detail"].startswith("not an update bundle: ")

        cmd = api.post(f"/api/v1/sensors/{sid}/update", {"bundle": 1})
        assert (cmd["action"], cmd["state"]) == ("update:1", "pending")
        # Only the sensor the command is for may fetch the bundle.
        state_b = json.loads((tmp_path / "b" / "hub.json").read_text())
        with httpx.Client(base_url=hub.url, verify=hub.verify) as other:
            got = other.get("/api/v1/agent/bundles/1", headers={"Authorization": f"Bearer {state_b['token']}"})
        assert got.status_code == 404

        stand_in = tmp_path / "updater"
        stand_in.write_text(STAND_IN)
        stand_in.chmod(0o755)
        env = {"NPS_SENSOR_UPDATE_COMMAND": str(stand_in)}
        first = uplink(tmp_path / "a" / "hub.json", cfg_a, env=env)
        assert first.returncode == 0, first.stderr
        fetched = tmp_path / "a" / "updates" / "hub-bundle-1.tar"
        assert fetched.read_bytes() == bundle.read_bytes()
        assert (tmp_path / "updater.args").read_text().split() == [str(fetched), "--detach", f"--command={cmd['id']}"]
        assert api.get(f"/api/v1/sensors/{sid}/commands")[0]["state"] == "pending"  # until the update ends

        second = uplink(tmp_path / "a" / "hub.json", cfg_a, env=env)
        assert second.returncode == 0, second.stderr
        (done,) = [c for c in api.get(f"/api/v1/sensors/{sid}/commands") if c["id"] == cmd["id"]]
        assert (done["state"], done["result"]) == ("done", "updated from 0.1.0 to 0.2.0")


def test_with_the_release_key_the_hub_refuses_another_keys_bundle(tmp_path: Path) -> None:
    release = pki.make(tmp_path / "pki")
    other = pki.make(tmp_path / "other", name="not the release")
    good = make_bundle(tmp_path / "g", "0.2.0", load(release.key, release.chain))
    bad = make_bundle(tmp_path / "b", "0.3.0", load(other.key, other.chain))
    env = {"NPS_HUB_RELEASE_KEY": str(release.chain)}
    (tmp_path / "hub").mkdir()
    with HubProcess(tmp_path / "hub", env=env) as hub:
        refused = upload(hub, bad)
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            "not an update bundle: its signature is not the release key's: a bundle signed by another key, or altered"
        )
        kept = upload(hub, good)
        assert kept.status_code == 201 and kept.json()["checked"].startswith("signature and digests checked")


def test_the_sensors_page_offers_the_update_to_older_sensors(tmp_path: Path) -> None:
    import re

    from benchmarks.hublab import ADMIN_PASSWORD

    release = pki.make(tmp_path / "pki")
    bundle = make_bundle(tmp_path, "0.2.0", load(release.key, release.chain))
    (tmp_path / "hub").mkdir()
    with HubProcess(tmp_path / "hub") as hub:
        api = hub.api()
        sid, code = api.create_sensor("update-1", "rack 5")
        assert register(hub, code, tmp_path / "a").returncode == 0
        assert uplink(tmp_path / "a" / "hub.json", sensor_config(tmp_path / "a")).returncode == 0
        with httpx.Client(base_url=hub.url, verify=hub.verify, follow_redirects=True) as web:
            token = re.search(r'name="csrf" value="([^"]+)"', web.get("/login").text)
            assert token is not None
            web.post("/login", data={"name": "admin", "password": ADMIN_PASSWORD, "csrf": token[1]})
            page = web.get("/sensors").text
            assert "0.1.0" in page and "Update to" not in page  # nothing newer uploaded yet
            assert upload(hub, bundle).status_code == 201
            page = web.get("/sensors").text
            assert '<input type="hidden" name="action" value="update:1">' in page and "Update to 0.2.0" in page
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            done = web.post(f"/sensors/{sid}/action", data={"csrf": csrf[1], "action": "update:1"})
            assert "Update to 0.2.0: sent to update-1 with its next heartbeat" in done.text
        assert api.get(f"/api/v1/sensors/{sid}/commands")[0]["action"] == "update:1"
