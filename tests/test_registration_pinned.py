"""Registration without the hub's certificate file: pinned by its SHA-256 fingerprint
(what fits in a deployment property), and registration from what the deployment gave
(`nps-sensor appliance register`, run by nps-register.service at boot). Against a real
`nps-hub serve` on loopback with a self-signed certificate no authority vouches for.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.hublab import HubProcess, free_port
from nps_sensor.appliance.registration import EX_TEMPFAIL, run
from nps_sensor.appliance.render import files, write
from nps_sensor.appliance.settings import Settings
from nps_sensor.errors import SensorError
from nps_sensor.uplink.register import register
from tests.test_hub import sensor_cmd

if shutil.which("openssl") is None:
    pytest.skip("openssl is needed to make the hub's test certificate", allow_module_level=True)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with HubProcess(tmp_path) as h:
        yield h


def fingerprint(hub: HubProcess) -> str:
    assert hub.cert is not None
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest()


def colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i : i + 2] for i in range(0, 64, 2)).upper()


def test_a_fingerprint_pins_the_hub_and_a_wrong_one_sends_nothing(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("pinned-1")
    code_file = tmp_path / "code"
    code_file.write_text(code)
    code_file.chmod(0o600)
    args = ["register", "--hub", hub.url, "--code-file", str(code_file), "--state", str(tmp_path / "hub.json")]

    other = "00" * 32
    r = sensor_cmd(*args, "--fingerprint", colons(other))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "did not verify" in r.stderr and colons(fingerprint(hub)) in r.stderr and "nothing was sent" in r.stderr
    assert not (tmp_path / "hub.json").exists()

    # The code was not spent on the wrong certificate: it still registers, pinned by the right one.
    r = sensor_cmd(*args, "--fingerprint", colons(fingerprint(hub)))  # as people copy it: colons, capitals
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "hub.json").read_text())
    assert saved["ca_pem"].strip() == hub.cert.read_text().strip() if hub.cert else False

    r = sensor_cmd(*args, "--fingerprint", "not-hex")
    assert r.returncode == 2 and "64 hex digits" in r.stderr
    r = sensor_cmd(*args, "--fingerprint", other, "--ca", str(hub.cert))
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_without_a_pin_a_self_signed_hub_is_refused(hub: HubProcess, tmp_path: Path) -> None:
    _, code = hub.api().create_sensor("unpinned-1")
    with pytest.raises(SensorError, match=r"certificate .* did not verify"):
        register(hub.url, code, str(tmp_path / "hub.json"))


def deployed_root(where: Path, hub_url: str, code: str, pin: str) -> Path:
    root = where / "root"
    s = Settings(registration_hub=hub_url, registration_code=code, registration_fingerprint=pin)
    write(root, files(s))
    return root


def test_registration_from_the_deployment(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    sid, code = api.create_sensor("deployed-1")
    root = deployed_root(tmp_path, hub.url, code, fingerprint(hub))
    assert (root / "etc/nps-sensor/hub.env").read_text().count(hub.url) == 1
    assert run(root) == 0
    state = root / "var/lib/nps-sensor/hub.json"
    assert state.stat().st_mode & 0o777 == 0o600 and json.loads(state.read_text())["sensor_id"] == sid
    assert not (root / "etc/nps-sensor/registration").exists()  # a code works once: gone once used
    assert run(root) == 0  # registered already: nothing to do
    assert api.sensor(sid)["status"] == "Paused"


def test_registration_from_the_deployment_retries_or_stops(hub: HubProcess, tmp_path: Path) -> None:
    _, code = hub.api().create_sensor("deployed-2")
    # The hub not reachable (yet): EX_TEMPFAIL, which the service retries; the code is kept.
    unreachable = deployed_root(tmp_path / "a", f"https://127.0.0.1:{free_port()}", code, "")
    assert run(unreachable) == EX_TEMPFAIL
    assert (unreachable / "etc/nps-sensor/registration").exists()
    # A code the hub refuses: an error (exit 2 from the command), not retried.
    wrong = "12345678901234" if code != "12345678901234" else "43210987654321"
    refused = deployed_root(tmp_path / "b", hub.url, wrong, fingerprint(hub))
    with pytest.raises(SensorError, match="personalization code not recognised"):
        run(refused)
    # Nothing from the deployment: one line saying where to register instead.
    bare = tmp_path / "c"
    write(bare, files(Settings()))
    with pytest.raises(SensorError, match="register at the console"):
        run(bare)


def test_deployment_settings_are_checked() -> None:
    from nps_sensor.appliance.settings import SettingsError

    for hub_url, pin, field in (
        ("http://hub.example.org", "", "registration_hub"),
        ("hub.example.org", "", "registration_hub"),
        ("https://hub.example.org", "abc", "registration_fingerprint"),
    ):
        with pytest.raises(SettingsError) as e:
            Settings(registration_hub=hub_url, registration_fingerprint=pin).check()
        assert e.value.field == field
