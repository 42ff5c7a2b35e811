"""Zero-touch registration: the deployment's OVF properties name the hub, the code and the
hub certificate's fingerprint; the booted image (QEMU, ESXi-like hardware) registers by
itself once its network is up (nps-register.service) and its uplink reports to the hub,
a real `nps-hub serve` on the host reached at 10.0.2.2 through QEMU's user network.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
from pathlib import Path

import pytest

from benchmarks.hublab import HubProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

HOST = "10.0.2.2"  # the host's loopback, seen from QEMU's user network


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
