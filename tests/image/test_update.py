"""In-place updates, fast: `inv image.bundle`'s writer, the appliance's reader and updater,
in a directory laid out as the image lays out its root (tests/image/test_update_appliance.py
does it for real in the booted image).

The machine is a stand-in (`FakeHost`): installing a version makes its folder and the
scripts pip would; its services answer as the version /opt/nps-sensor points at,
unless that version's wheel was built to fail. The bundles are real: written by
`build_bundle`, signed by a throwaway key, read by the appliance's code.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from nps_image.bundle import build_bundle
from nps_image.signing import Signer, load
from nps_sensor.appliance import update, update_health, update_layout
from nps_sensor.appliance.update_bundle import BundleError
from tests.support import pki

EPOCH = 1_767_225_600
KEPT = {  # what no update may touch: registration, configuration, spool
    "var/lib/nps-sensor/hub.json": '{"hub": "https://hub:8443", "token": "s3cret"}',
    "etc/nps-sensor/sensor.yaml": "sensing:\n  interfaces: [eth1]\n",
    "etc/nps-sensor/proxy.env": "NPS_PROXY_ADDRESS=proxy\n",
    "var/lib/nps-sensor/spool/00000001-report.json": '{"assets": []}\n',
}


class FakeHost:
    """The appliance's systemd and sensing service, as far as the update can see them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.restarts: list[tuple[str, ...]] = []
        self.commands: list[list[str]] = []

    def _dir(self, appliance_path: str) -> Path:
        return self.root / appliance_path.lstrip("/")

    def run(self, cmd: Sequence[str]) -> str:
        self.commands.append(list(cmd))
        if cmd[1:3] == ["-m", "venv"]:
            (self._dir(cmd[3]) / "bin").mkdir(parents=True)
        elif cmd[0].endswith("/bin/pip"):
            wanted = cmd[-1].split("==")[1]
            links = Path(next(c for c in cmd if c.startswith("--find-links=")).split("=", 1)[1])
            (wheel,) = links.glob(f"nps_sensor-{wanted}-*.whl")
            target = self._dir(cmd[0]).parent.parent
            (target / "bin/nps-sensor").write_text(f"nps-sensor {wanted}\n")
            if wheel.read_bytes() == b"broken":
                (target / "broken").touch()
        elif cmd[-1] == "--version":
            return self._dir(cmd[0]).read_text()
        return ""

    def _running(self) -> Path:
        return self.root / "opt/nps-sensor-versions" / update_layout.running(self.root)

    def unit(self, name: str) -> dict[str, str]:
        if (self._running() / "broken").exists() and name == update_health.SENSOR:
            return {"ActiveState": "activating", "SubState": "auto-restart", "ExecMainStatus": "1"}
        return {"ActiveState": "active", "SubState": "running", "NRestarts": "0"}

    def restart(self, *units: str) -> None:
        self.restarts.append(units)

    def status(self) -> dict[str, Any] | None:
        if (self._running() / "broken").exists():
            return None
        return {"state": "sensing", "version": self._running().name, "workers": 1}

    def sleep(self, seconds: float) -> None:
        pass


def image_root(root: Path, version: str = "0.1.0", key: Signer | None = None) -> Path:
    """A root laid out as the image's: the version, the link, the release key, the state."""
    target = root / "opt/nps-sensor-versions" / version
    (target / "bin").mkdir(parents=True)
    (target / "bin/nps-sensor").write_text(f"nps-sensor {version}\n")
    (target / ".installed").write_text("{}\n")
    (root / "opt/nps-sensor").symlink_to(f"nps-sensor-versions/{version}")
    if key is not None:
        (root / "usr/share/nps-sensor").mkdir(parents=True)
        (root / "usr/share/nps-sensor/release-key.pem").write_bytes(key.public_key_pem())
    for name, text in KEPT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def kept(root: Path) -> dict[str, str]:
    return {name: (root / name).read_text() for name in KEPT}


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    ca = pki.make(tmp_path_factory.mktemp("pki"))
    return load(ca.key, ca.chain)


def bundle(directory: Path, version: str, signer: Signer, broken: bool = False) -> Path:
    wheels = directory / f"wheels-{version}"
    wheels.mkdir(parents=True)
    (wheels / f"nps_sensor-{version}-py3-none-any.whl").write_bytes(b"broken" if broken else os.urandom(64))
    (wheels / "numpy-2.3.1-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(os.urandom(64))
    built: Path = build_bundle(wheels, "nps-sensor", version, directory / "dist", signer, EPOCH)
    return built


def test_a_newer_bundle_is_installed_beside_switched_to_and_kept(tmp_path: Path, signer: Signer) -> None:
    root = image_root(tmp_path / "root", key=signer)
    before = kept(root)
    host = FakeHost(root)
    outcome = update.update(bundle(tmp_path, "0.2.0", signer), host, root)
    assert (outcome.state, outcome.version, outcome.message) == ("done", "0.2.0", "updated from 0.1.0 to 0.2.0")
    assert os.readlink(root / "opt/nps-sensor") == "nps-sensor-versions/0.2.0"
    assert update_layout.versions(root) == ["0.1.0", "0.2.0"]  # the one to roll back to stays
    assert host.restarts == [(update_health.SENSOR, update_health.UPLINK)]
    assert update.journal(root) | {"at": None} == {
        "state": "done", "previous": "0.1.0", "version": "0.2.0", "command": None, "at": None,
    }  # fmt: skip
    assert not (root / "var/lib/nps-sensor/update.trial").exists()
    assert kept(root) == before
    # Installed from the bundle's wheels only (no index), then asked its version.
    pip = next(c for c in host.commands if c[0].endswith("/bin/pip"))
    assert "--no-index" in pip and pip[-1] == "nps-sensor==0.2.0"
    # The next update keeps the one before it and removes the oldest.
    update.update(bundle(tmp_path / "b", "0.3.0", signer), host, root)
    assert update_layout.versions(root) == ["0.2.0", "0.3.0"]


def test_a_bundle_that_fails_its_health_check_is_rolled_back(tmp_path: Path, signer: Signer) -> None:
    root = image_root(tmp_path / "root", key=signer)
    before = kept(root)
    host = FakeHost(root)
    outcome = update.update(bundle(tmp_path, "0.2.0", signer, broken=True), host, root)
    assert (outcome.state, outcome.version) == ("rolled back", "0.1.0")
    assert outcome.message == (
        "0.2.0 failed its health check (nps-sensor.service exited (status 1)); rolled back to 0.1.0"
    )
    assert os.readlink(root / "opt/nps-sensor") == "nps-sensor-versions/0.1.0"
    assert update_layout.versions(root) == ["0.1.0"]  # the failed version is gone
    assert len(host.restarts) == 2  # into the new version, and back
    entry = update.journal(root)
    assert (entry["state"], entry["version"], entry["previous"]) == ("rolled back", "0.1.0", "0.2.0")
    assert kept(root) == before


def test_a_service_that_never_answers_is_rolled_back_at_the_deadline(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = image_root(tmp_path / "root", key=signer)
    host = FakeHost(root)
    monkeypatch.setattr(host, "status", lambda: {"state": "sensing", "version": "0.1.0", "workers": 1})
    monkeypatch.setattr(update_health, "TIMEOUT", 0.0)
    outcome = update.update(bundle(tmp_path, "0.2.0", signer), host, root)
    assert outcome.state == "rolled back"
    assert "still waiting for the sensing service to answer as 0.2.0" in outcome.message


def test_a_bundle_signed_by_another_key_is_refused_and_nothing_changes(tmp_path: Path, signer: Signer) -> None:
    root = image_root(tmp_path / "root", key=signer)
    other = pki.make(tmp_path / "other", name="not the release")
    host = FakeHost(root)
    with pytest.raises(BundleError, match="its signature is not the release key's"):
        update.update(bundle(tmp_path, "0.2.0", load(other.key, other.chain)), host, root)
    assert update_layout.versions(root) == ["0.1.0"] and host.restarts == [] and host.commands == []
    assert update.journal(root)["state"] == "refused"
    assert not (root / "var/lib/nps-sensor/updates/unpacked").exists()


def repack(source: Path, out: Path, change: Any) -> Path:
    """The bundle's members, changed by `change(list of (TarInfo, bytes))`, written again."""
    with tarfile.open(source) as tar:
        members = [(i, tar.extractfile(i).read()) for i in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in change(members):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _flip_last(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    info, data = members[-1]
    return [*members[:-1], (info, data[:-1] + bytes([data[-1] ^ 1]))]


def _extra(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [*members, (tarfile.TarInfo("wheels/evil-1.0-py3-none-any.whl"), b"x")]


def _manifest_last(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [*members[2:], *members[:2]]


def _cut(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return members[:-1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_flip_last, "does not match its manifest's SHA-256"),
        (_extra, "'wheels/evil-1.0-py3-none-any.whl' is not in its manifest"),
        (_manifest_last, "not an update bundle: bundle.json should come next"),
        (_cut, "is in its manifest but not in the bundle"),
    ],
)
def test_an_altered_bundle_is_refused(tmp_path: Path, signer: Signer, change: Any, reason: str) -> None:
    root = image_root(tmp_path / "root", key=signer)
    altered = repack(bundle(tmp_path, "0.2.0", signer), tmp_path / "altered.tar", change)
    with pytest.raises(BundleError, match=reason):
        update.update(altered, FakeHost(root), root)
    assert update_layout.versions(root) == ["0.1.0"]


def test_a_signed_manifest_still_has_to_be_well_formed(tmp_path: Path, signer: Signer) -> None:
    """A release key's signature does not make `../` a file name."""
    root = image_root(tmp_path / "root", key=signer)
    good = bundle(tmp_path, "0.2.0", signer)

    def escape(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        doc = json.loads(members[0][1])
        doc["files"]["wheels/../../etc/shadow"] = {"sha256": "0" * 64, "size": 1}
        head = json.dumps(doc).encode()
        return [(members[0][0], head), (members[1][0], signer.sign(head)), *members[2:]]

    with pytest.raises(BundleError, match=r"'wheels/\.\./\.\./etc/shadow' is not a wheel's path"):
        update.update(repack(good, tmp_path / "escape.tar", escape), FakeHost(root), root)


def test_versions_are_compared_and_only_newer_ones_installed(tmp_path: Path, signer: Signer) -> None:
    root = image_root(tmp_path / "root", version="0.3.0", key=signer)
    host = FakeHost(root)
    with pytest.raises(BundleError, match=r"version 0\.3\.0 is the one running"):
        update.update(bundle(tmp_path / "same", "0.3.0", signer), host, root)
    older = bundle(tmp_path / "older", "0.2.0", signer)
    with pytest.raises(BundleError, match=r"older than the running 0.3.0 \(--downgrade"):
        update.update(older, host, root)
    assert update.update(older, host, root, downgrade=True).version == "0.2.0"
    newer = bundle(tmp_path / "rc", "0.10.0rc1", signer)  # PEP 440: 0.10 is newer than 0.2, as pip says
    assert update.update(newer, host, root).version == "0.10.0rc1"


def test_an_update_cut_short_by_a_restart_is_rolled_back_at_boot(tmp_path: Path, signer: Signer) -> None:
    root = image_root(tmp_path / "root", key=signer)
    host = FakeHost(root)

    def power_cut(*units: str) -> None:
        raise SystemExit("the machine went away")  # not an Exception: the trial's own rollback does not run

    host.restart = power_cut  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        update.update(bundle(tmp_path, "0.2.0", signer), host, root)
    assert os.readlink(root / "opt/nps-sensor") == "nps-sensor-versions/0.2.0"
    assert update.journal(root)["state"] == "trial"
    said = update.recover(root)
    assert said == "0.2.0 did not finish its health check (the appliance restarted during the health check); " + (
        "rolled back to 0.1.0"
    )
    assert os.readlink(root / "opt/nps-sensor") == "nps-sensor-versions/0.1.0"
    assert update_layout.versions(root) == ["0.1.0"]
    assert update.recover(root) == "no update was in its trial"


def test_what_cannot_be_updated_says_why(tmp_path: Path, signer: Signer) -> None:
    unsigned = image_root(tmp_path / "unsigned")
    with pytest.raises(BundleError, match=r"this appliance has no release key .* its image was built unsigned"):
        update.update(bundle(tmp_path / "a", "0.2.0", signer), FakeHost(unsigned), unsigned)
    old = tmp_path / "old"
    (old / "opt/nps-sensor/bin").mkdir(parents=True)  # the sensor in a plain folder: images before updates
    with pytest.raises(BundleError, match="predates in-place updates; deploy the new release's OVA"):
        update.update(bundle(tmp_path / "b", "0.2.0", signer), FakeHost(old), old)


def test_one_update_at_a_time(tmp_path: Path, signer: Signer) -> None:
    import fcntl

    root = image_root(tmp_path / "root", key=signer)
    lock = root / "run/lock/nps-sensor-update.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BundleError, match="another update is running"):
            update.update(bundle(tmp_path, "0.2.0", signer), FakeHost(root), root)


def test_the_uplink_must_reach_the_hub_again_if_it_did(tmp_path: Path, signer: Signer) -> None:
    """Before, the uplink's heartbeat file was fresh: the new version must send one too."""
    root = image_root(tmp_path / "root", key=signer)
    beat = root / "var/lib/nps-sensor/uplink.json"
    beat.write_text(json.dumps({"version": "0.1.0", "at": dt.datetime.now(dt.UTC).isoformat()}))
    host = FakeHost(root)
    was = update_health.before(host, root)
    assert was.reaching_hub
    since = dt.datetime.now(dt.UTC)
    reason = update_health.check(host, root, was, "0.1.0", since, timeout=0)
    assert reason == "after 0 s still waiting for a heartbeat to the hub from 0.1.0"
    beat.write_text(json.dumps({"version": "0.1.0", "at": dt.datetime.now(dt.UTC).isoformat()}))
    assert update_health.check(host, root, was, "0.1.0", since, timeout=0) == ""


def test_the_command_line_says_what_it_cannot_do_in_one_line() -> None:
    import subprocess

    from tests.conftest import sensor_command

    for args, said in (
        (["--status"], "nps-sensor: /opt/nps-sensor is not a link to a version"),  # this host is no appliance
        (["/nonexistent/bundle.tar"], "nps-sensor: /nonexistent/bundle.tar: no such bundle"),
        ([], "nps-sensor: give the bundle to install (or --status, --recover)"),
    ):
        done = subprocess.run(
            [*sensor_command(), "appliance", "update", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 2 and done.stderr.startswith(said) and done.stderr.count("\n") == 1, done.stderr


def test_the_console_shows_the_updaters_outcome_not_its_progress(tmp_path: Path) -> None:
    from nps_sensor.console.system import System

    updater = tmp_path / "updater"
    updater.write_text(
        "#!/bin/sh\necho installing 0.2.0 >&2\n"
        'case "$3" in *good*) echo "updated from 0.1.0 to 0.2.0"; echo "0.2.0 works" >&2 ;;\n'
        '  *) echo "nps-sensor: 0.2.0 failed its health check (x); rolled back to 0.1.0" >&2; exit 1 ;; esac\n'
    )
    updater.chmod(0o755)
    system = System()
    system.updater = str(updater)
    assert system.update("/tmp/good.tar") == (0, "updated from 0.1.0 to 0.2.0")
    assert system.update("/tmp/bad.tar") == (1, "0.2.0 failed its health check (x); rolled back to 0.1.0")
