"""Zero-touch registration: the deployment's OVF properties name the hub, the code and the
hub certificate's fingerprint; the booted image (QEMU, ESXi-like hardware) registers by
itself once its network is up (nps-register.service) and its uplink reports to the hub,
a real `nps-hub serve` on the host reached at 10.0.2.2 through QEMU's user network.
On the same boot, `inv appliance.check` verifies it over SSH (one boot: about 2 minutes
under TCG, 3 or more while other work shares the CPU).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hublab import HubProcess
from nps_image.qemu import VM, send_until_seen, wait_capturing
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

HOST = "10.0.2.2"  # the host's loopback, seen from QEMU's user network
ROOT = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).parent / "inv")


def test_the_appliance_registers_itself_from_its_ovf_properties(appliance_dist: Path, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed: the hub's certificate (./bootstrap)")
    from nps_image.qemu import booted, extract_disk

    disk = extract_disk(appliance_dist, "nps-sensor", "0.0.0-test", "vmdk", tmp_path / "disk")
    (tmp_path / "hub").mkdir()
    with HubProcess(tmp_path / "hub", also_known_as=(HOST,)) as hub:
        api = hub.api()
        sensor_id, code = api.create_sensor("zero-touch-1", "rack 2")
        assert hub.cert is not None
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest().upper()
        properties = {
            "hostname": "nps-zero-1",
            "registration.hub": f"https://{HOST}:{hub.port}",
            "registration.code": f"{code[:7]} {code[7:]}",  # as read out: spaces are ignored
            "registration.fingerprint": ":".join(pin[i : i + 2] for i in range(0, 64, 2)),
        }
        with booted(disk, "vmdk", properties, tmp_path / "vm") as vm:
            vm.wait_ssh()
            try:
                wait_for(lambda: api.sensor(sensor_id)["last_heartbeat"], 240, every=3, why="a heartbeat")
            except AssertionError as e:
                log = vm.ssh("sudo", "journalctl", "-b", "-u", "nps-register", "-u", "nps-uplink", check=False)
                raise AssertionError(f"{e} from the appliance at the hub:\n{log}") from None
            details = api.sensor(sensor_id)
            assert details["hostname"] == "nps-zero-1"  # the OVF hostname, applied before it registered
            assert details["registered"] and details["status"] in ("Paused", "Sensing")
            assert vm.ssh("systemctl", "is-active", "nps-uplink", check=False).strip() == "active"
            assert vm.ssh("sudo", "stat", "-c", "%a", "/var/lib/nps-sensor/hub.json").strip() == "600"
            # The code is spent and gone; it is in no log.
            where = "test -e /etc/nps-sensor/registration && echo present || echo gone"
            assert vm.ssh("sudo", "sh", "-c", where).strip() == "gone"
            journal = vm.ssh("sudo", "journalctl", "-b", "--no-pager", check=False)
            assert code not in journal and properties["registration.code"] not in journal
            assert "registered with" in journal
            _appliance_check(vm, api, sensor_id, tmp_path)


def _inv_check(vm: VM, known_hosts: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INV, "appliance.check", "--host", "127.0.0.1", "--port", str(vm.ssh_port), "--key", str(vm.key),
         "--known-hosts", str(known_hosts), *more],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip


def _journal(vm: VM) -> str:
    """The sensor's and the uplink's log of this boot, for a failure's message."""
    log: str = vm.ssh("sudo", "journalctl", "-b", "--no-pager", "-n", "80", "-u", "nps-sensor", "-u", "nps-uplink",
                      check=False)  # fmt: skip
    return log


def _appliance_check(vm: VM, api: Any, sensor_id: int, tmp_path: Path) -> None:
    """`inv appliance.check` on the same boot: sensing, with the frames this test sends;
    the host key recorded on first use, and a changed one refused in one line."""
    from nps_sensor.synth.traffic import generate

    api.act(sensor_id, "start")
    wait_for(lambda: api.sensor(sensor_id)["status"] == "Sensing", 120, every=3, why="the hub's start")
    if not wait_capturing(vm, time.monotonic() + 180):
        raise AssertionError(f"the appliance is not capturing 180 s after the hub's start:\n{_journal(vm)}")
    frames = [f for _, f in generate(2000, seed=5)]
    # QEMU's socket backend under software emulation loses some of a burst before the
    # guest sees it (a sixth here): the check waits for half of what was sent.
    want = len(frames) // 2
    sent = send_until_seen(vm, frames, want)
    known_hosts = tmp_path / "known_hosts"
    ok = _inv_check(vm, known_hosts, "--wait", "120", "--packets", str(want))
    assert ok.returncode == 0, ok.stdout + ok.stderr + _journal(vm)
    assert "sensing" in ok.stdout.splitlines()[0] and "NOT" not in ok.stdout
    assert "promiscuous yes, receive offloads off yes" in ok.stdout
    assert "registration: https://10.0.2.2:" in ok.stdout and "as sensor 'zero-touch-1'" in ok.stdout
    received = int(re.search(r"(\d+) packets, (\d+) dropped", ok.stdout)[1])  # type: ignore[index]
    assert want <= received <= sent
    recorded = known_hosts.read_text().split()
    assert recorded[0] == f"[127.0.0.1]:{vm.ssh_port}"
    # Another key of the same type in place of the recorded one: the appliance is refused.
    other = tmp_path / "other"
    kind = {"ssh-ed25519": "ed25519", "ecdsa-sha2-nistp256": "ecdsa", "ssh-rsa": "rsa"}[recorded[1]]
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(other)], check=True)
    known_hosts.write_text(f"{recorded[0]} {other.with_suffix('.pub').read_text().split()[0]} "
                           f"{other.with_suffix('.pub').read_text().split()[1]}\n")  # fmt: skip
    refused = _inv_check(vm, known_hosts)
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "host key changed" in refused.stderr
