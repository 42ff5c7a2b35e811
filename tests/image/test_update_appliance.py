"""In-place updates and security updates in the booted appliance, against a hub on the host.

One boot (QEMU, ESXi-like hardware, TCG: the slow part) for every case, in order:

1. a bundle of a newer version (0.1.1) is applied, through the Ansible role: the service
   reports 0.1.1 to the hub;
2. a bundle whose sensing service exits at once (0.1.2) fails its health check and is
   rolled back to 0.1.1 by itself;
3. a bundle signed by another key (0.1.3) is refused before anything changes: this one
   goes through the hub (uploaded, handed over with the update quick action, fetched
   by the sensor, refused there), and the hub's command fails with the reason;

and after each, the registration (hub.json, byte for byte, and the hub still hearing
from the same sensor), the configuration (/etc/nps-sensor) and the spool (a file placed
there) are as they were. Then the security updates: unattended-upgrades, its timer and
apt's proxy are in place (checked, not run against the internet), and "Reboot Required"
reaches the hub when /run/reboot-required appears.

The bundles are built on the host, as `inv image.bundle` builds them, from copies of the
sensor's sources with the version stamped (and, for 2., `nps-sensor run` sabotaged).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import HubProcess
from tests.support import pki
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

HOST = "10.0.2.2"  # the host's loopback, seen from QEMU's user network
REPO = Path(__file__).resolve().parents[2]
EPOCH = 1_767_225_600
# Registration, configuration, spool: what every case must leave as it was. The
# registration is the credential and the hub it is for (hub.json also keeps the commands
# run, which the hub's update adds to).
REGISTRATION = (
    "import hashlib, json; d = json.load(open('/var/lib/nps-sensor/hub.json')); "
    "print(hashlib.sha256(json.dumps([d[k] for k in ('hub', 'token', 'sensor_id', 'ca_pem')]).encode()).hexdigest())"
)
KEPT = (
    "sudo", "sh", "-c",
    f'sha256sum /etc/nps-sensor/* /var/lib/nps-sensor/spool/k*; python3 -c "{REGISTRATION}"',
)  # fmt: skip


def sensor_wheel(out: Path, version: str, work: Path, sabotage: bool = False) -> None:
    """The sensor alone, at `version`, as a wheel in `out` (its libraries are already there)."""
    from nps_image.build import build_debris, stamp

    source = work / f"sensor-{version}"
    shutil.copytree(REPO / "sensor", source, ignore=build_debris)
    stamp(source, version)
    if sabotage:  # the service starts, and exits with status 3: what a broken release does
        cli = source / "src/nps_sensor/cli.py"
        head = "def _run(args: argparse.Namespace) -> int:\n"
        text = cli.read_text().replace(head, head + "    return 3\n")
        assert "return 3" in text
        cli.write_text(text)
    for old in out.glob("nps_sensor-*.whl"):
        old.unlink()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
    )


def bundles(work: Path, release: Any) -> dict[str, Path]:
    from nps_image.build import wheels
    from nps_image.bundle import build_bundle
    from nps_image.signing import load

    good = wheels(work / "cache", EPOCH, "0.1.1")
    signer = load(release.key, release.chain)
    made = {"good": build_bundle(good, "nps-sensor", "0.1.1", work / "dist", signer, EPOCH)}
    sensor_wheel(good, "0.1.2", work, sabotage=True)
    made["broken"] = build_bundle(good, "nps-sensor", "0.1.2", work / "dist", signer, EPOCH)
    other = pki.make(work / "other-pki", name="not the release")
    sensor_wheel(good, "0.1.3", work)
    made["other key"] = build_bundle(good, "nps-sensor", "0.1.3", work / "dist", load(other.key, other.chain), EPOCH)
    return made


def test_updates_in_the_booted_appliance(appliance_dist: Path, release_pki: Any, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed: the hub's certificate (./bootstrap)")
    from nps_image.qemu import booted, extract_disk

    disk = extract_disk(appliance_dist, "nps-sensor", "0.0.0-test", "vmdk", tmp_path / "disk")
    (tmp_path / "hub").mkdir()
    # Heartbeats every 5 s instead of 30: each case waits for one from the new version.
    with HubProcess(tmp_path / "hub", also_known_as=(HOST,), env={"NPS_HUB_HEARTBEAT": "5"}) as hub:
        api = hub.api()
        sensor_id, code = api.create_sensor("update-1", "rack 3")
        assert hub.cert is not None
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest()
        properties = {
            "hostname": "nps-update-1",
            "registration.hub": f"https://{HOST}:{hub.port}",
            "registration.code": code,
            "registration.fingerprint": pin,
        }
        with booted(disk, "vmdk", properties, tmp_path / "vm") as vm:
            clock = Clock()
            made = bundles(tmp_path / "bundles", release_pki)  # while the VM boots
            clock("bundles built")
            vm.wait_ssh()
            try:
                wait_for(lambda: api.sensor(sensor_id)["last_heartbeat"], 300, every=3, why="a heartbeat")
                api.act(sensor_id, "start")
                wait_for(lambda: api.sensor(sensor_id)["status"] == "Sensing", 180, every=3, why="sensing")
                clock("booted, registered, sensing")
                _cases(vm, api, sensor_id, made, clock)
                _security_updates(vm, api, sensor_id)
                clock("security updates checked")
            except (AssertionError, subprocess.SubprocessError) as e:
                log = vm.ssh("sudo", "journalctl", "-b", "--no-pager", "-n", "300", check=False)
                raise AssertionError(f"{e}\n--- the appliance's journal ---\n{log}") from None


def _ssh(vm: Any, command: str, stdin: str = "", timeout: float = 900) -> Any:
    """A command line in the VM with its exit status, output and errors (VM.ssh gives the output)."""
    return vm.remote().shell(command, timeout=timeout, stdin=stdin.encode() if stdin else None)


def _update(vm: Any, bundle: Path) -> tuple[int, str]:
    vm.copy(bundle, f"/tmp/{bundle.name}")
    done = _ssh(vm, f"sudo /opt/nps-sensor/bin/nps-sensor appliance update /tmp/{bundle.name}")
    return done.code, done.stdout + done.stderr


def _ansible(vm: Any, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The updates role (roles/updates) against the VM, as `inv configure` runs roles."""
    work = Path(vm.work)
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_port": vm.ssh_port,
        "ansible_user": "nps-admin",
        "ansible_ssh_private_key_file": str(vm.key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        **variables,
    }
    (work / "hosts.yml").write_text(json.dumps({"sensors": {"hosts": {"sensor-1": host}}}))
    play: list[dict[str, Any]] = [{"name": "Update", "hosts": "sensors", "gather_facts": False, "become": True}]
    play[0]["roles"] = ["nps.appliance.updates"]
    (work / "update.yml").write_text(json.dumps(play))
    from tasks.settings import ansible_env  # the collection nps.appliance is this checkout

    env = {**ansible_env(), "ANSIBLE_NOCOLOR": "1", "HOME": str(work)}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(playbook), "-v", "-i", str(work / "hosts.yml"), str(work / "update.yml")],
        capture_output=True, text=True, timeout=1200, check=False, env=env, cwd=REPO,
    )  # fmt: skip


class Clock:
    """What each phase took, printed (pytest -s shows it): the test's cost, for the docs."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        print(f"update test: {phase}: {now - self.last:.0f} s", flush=True)
        self.last = now


def _cases(vm: Any, api: Any, sensor_id: int, made: dict[str, Path], clock: Clock) -> None:
    vm.ssh("sudo", "sh", "-c", "echo kept > /var/lib/nps-sensor/spool/keep-me")
    kept = vm.ssh(*KEPT)
    assert "sensor.yaml" in kept and "keep-me" in kept and len(kept.splitlines()[-1]) == 64

    def beats_after(version: str) -> None:
        first = api.sensor(sensor_id)["last_heartbeat"]
        wait_for(
            lambda: api.sensor(sensor_id)["version"] == version and api.sensor(sensor_id)["last_heartbeat"] != first,
            240, every=3, why=f"a heartbeat from {version}",
        )  # fmt: skip

    assert api.sensor(sensor_id)["version"] == "0.1.0"
    run = _ansible(vm, {"updates_bundle": str(made["good"])})  # the roles' door
    assert run.returncode == 0 and "updated from 0.1.0 to 0.1.1" in run.stdout, run.stdout + run.stderr
    beats_after("0.1.1")
    assert api.sensor(sensor_id)["status"] == "Sensing"
    assert vm.ssh(*KEPT) == kept
    clock("1. newer bundle through Ansible")

    status, said = _update(vm, made["broken"])
    assert status == 1, said
    assert "0.1.2 failed its health check (nps-sensor.service exited (status 3)); rolled back to 0.1.1" in said
    assert vm.ssh("readlink", "/opt/nps-sensor").strip() == "nps-sensor-versions/0.1.1"
    beats_after("0.1.1")
    assert vm.ssh(*KEPT) == kept
    clock("2. failing bundle rolled back")

    # Through the hub: uploaded (the hub has no release key: it cannot tell), handed over
    # with a heartbeat, fetched by the sensor, refused there, the command failed with why.
    stored = api.http.post(
        "/api/v1/bundles", content=made["other key"].read_bytes(), headers={"Content-Type": "application/x-tar"}
    )
    assert stored.status_code == 201, stored.text
    cmd = api.post(f"/api/v1/sensors/{sensor_id}/update", {"bundle": stored.json()["id"]})

    def acknowledged() -> dict[str, Any] | None:
        mine = [c for c in api.get(f"/api/v1/sensors/{sensor_id}/commands") if c["id"] == cmd["id"]]
        return mine[0] if mine and mine[0]["state"] != "pending" else None

    wait_for(acknowledged, 600, every=5, why="the update command's acknowledgement")
    done = acknowledged()
    assert done is not None and done["state"] == "failed", done
    assert done["result"].startswith("refused: its signature is not the release key's"), done
    assert vm.ssh("ls", "/opt/nps-sensor-versions").split() == ["0.1.0", "0.1.1"]
    assert vm.ssh(*KEPT) == kept
    journal = json.loads(vm.ssh("cat", "/var/lib/nps-sensor/update.json"))
    assert (journal["state"], journal["version"]) == ("refused", "0.1.1")
    assert api.sensor(sensor_id)["version"] == "0.1.1"
    clock("3. another key's bundle, through the hub, refused")


def _security_updates(vm: Any, api: Any, sensor_id: int) -> None:
    assert "install ok installed" in vm.ssh("dpkg-query", "-W", "-f=${Status}", "unattended-upgrades")
    assert vm.ssh("systemctl", "is-enabled", "apt-daily-upgrade.timer").strip() == "enabled"
    calendar = vm.ssh("systemctl", "show", "-p", "TimersCalendar", "apt-daily-upgrade.timer")
    assert "*-*-* 03:00:00" in calendar, calendar
    periodic = vm.ssh("apt-config", "dump", "APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert "URIs: http://deb.debian.org/debian" in vm.ssh("cat", "/etc/apt/sources.list.d/debian.sources")
    # The appliance's proxy (set as the roles set it), and apt goes through it too.
    proxy_request = {"address": "proxy.example.net", "port": 3128, "auth": "basic", "user": "u", "password": "pw"}
    request = {"proxy": proxy_request, "updates": {"reboot_window": "Sun *-*-* 02:00"}}
    ssh = vm.ssh
    done = _ssh(vm, "sudo /opt/nps-sensor/bin/nps-sensor appliance apply", stdin=json.dumps(request), timeout=120)
    assert done.code == 0, done.stderr
    out = done.stdout
    assert json.loads(out)["reload_systemd"] is True
    proxy = ssh("sudo", "apt-config", "dump", "Acquire::http::Proxy")
    assert 'Acquire::http::Proxy "http://u:pw@proxy.example.net:3128/";' in proxy
    assert ssh("stat", "-c", "%a", "/etc/apt/apt.conf.d/80nps-proxy").strip() == "600"
    ssh("sudo", "systemctl", "daemon-reload")
    ssh("sudo", "systemctl", "start", "nps-reboot-window.timer")
    window = ssh("systemctl", "show", "-p", "TimersCalendar", "nps-reboot-window.timer")
    assert "Sun *-*-* 02:00:00" in window, window
    # A pending reboot (what a kernel update leaves) reaches the hub as an event.
    ssh("sudo", "touch", "/run/reboot-required")

    def reboot_required() -> bool:
        events = api.get(f"/api/v1/events?sensor={sensor_id}&open=true")
        return any(e["kind"] == "Reboot Required" for e in events)

    wait_for(reboot_required, 180, every=3, why="the Reboot Required event")
