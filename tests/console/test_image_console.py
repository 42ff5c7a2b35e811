"""The appliance's console where an operator meets it first: the serial line of the
booted image (QEMU, ESXi-like hardware), in a real terminal (tmux attached to the VM's
ttyS0 through tests/serial_bridge.py). The test personalizes the appliance through the
menu against a real hub on the host, which the VM reaches through QEMU's user network
at 10.0.2.2, checks that the hub then hears from the appliance's uplink, and opens the
root shell through the menu (the password checked by the appliance's own PAM).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.hublab import HubProcess
from tests.support.terminal import Screen
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

BRIDGE = Path(__file__).resolve().parents[1] / "support" / "serial_bridge.py"
HOST = "10.0.2.2"  # the host's loopback, seen from QEMU's user network
CA = "/etc/nps-sensor/hub-ca.pem"
ROOT_PASSWORD = "Console-root-9"
VCS1 = "tr -cd '[:print:]' < /dev/vcs1"  # tty1's text; its box drawing is in the VGA code page


def test_personalization_through_the_serial_console(appliance_dist: Path, tmp_path: Path) -> None:
    missing = [t for t in ("tmux", "openssl") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} needed: the terminal, the hub's certificate (./bootstrap)")
    from nps_image.qemu import booted, extract_disk

    disk = extract_disk(appliance_dist, "nps-sensor", "0.0.0-test", "vmdk", tmp_path / "disk")
    (tmp_path / "hub").mkdir()
    hub = HubProcess(tmp_path / "hub", also_known_as=(HOST,))
    hub.start()
    screen: Screen | None = None
    try:
        api = hub.api()
        sensor_id, code = api.create_sensor("serial-1", "rack 9")
        assert hub.cert is not None
        with booted(disk, "vmdk", {"hostname": "nps-serial-1"}, tmp_path / "vm") as vm:
            vm.wait_ssh()

            def units() -> list[str]:
                names = ("nps-console@ttyS0", "nps-console@tty1", "serial-getty@ttyS0", "getty@tty1")
                out: str = vm.ssh("systemctl", "is-active", *names, check=False)
                return out.split()

            wait_for(lambda: units()[:2] == ["active", "active"], 120, every=2, why="the console on ttyS0 and tty1")
            assert units()[2:] == ["inactive", "inactive"], "a login prompt runs beside the console"
            assert "agetty" not in vm.ssh("ps", "-eo", "comm", check=False)
            # The VGA screen shows the menu too (as the hypervisor's console shows it).
            on_tty1 = "Personalize this scanner"
            wait_for(lambda: on_tty1 in vm.ssh("sudo", "sh", "-c", VCS1, check=False), 60, every=2, why="tty1's menu")
            # The hub's certificate where the operator would have put it (not a secret).
            vm.ssh("sudo", "sh", "-c", f"cat > {CA} <<'PEM'\n{hub.cert.read_text()}PEM")

            bridge_log = tmp_path / "bridge.log"
            screen = Screen(tmp_path, f"{sys.executable} {BRIDGE} {vm.serial_port} 2>{bridge_log}")
            # The menu was drawn before the terminal attached: Ctrl-L until it is redrawn
            # (a key sent before the bridge's raw mode is set is the pane's own, and lost).
            deadline = time.monotonic() + 120
            while True:
                screen.keys("C-l")
                try:
                    shown = screen.wait("Main menu", "Personalize this scanner", "System Shutdown", timeout=5)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        said = bridge_log.read_text()
                        raise AssertionError(f"no menu on the serial line; the bridge said: {said}") from None
            assert "nps-serial-1" in shown and "login:" not in shown
            screen.save("serial-main-menu")

            screen.menu(0)
            screen.wait("Personalize this scanner", "Hub URL", "Not registered yet.")
            screen.type(f"https://{HOST}:{hub.port}")
            screen.keys("Tab")
            screen.type(code)
            screen.keys("Tab")
            screen.type(CA)
            screen.keys("Tab", "Enter")
            shown = screen.wait("Appliance registration completed successfully", timeout=180)
            assert code not in shown
            screen.save("serial-personalize-done")

            # The registration is the appliance's own: its uplink now reports to the hub.
            # (the hostname came with the registration; only the uplink sends heartbeats)
            wait_for(lambda: api.sensor(sensor_id)["last_heartbeat"], 240, every=2, why="the uplink's heartbeat")
            assert api.sensor(sensor_id)["hostname"] == "nps-serial-1"
            details = api.sensor(sensor_id)
            assert details["registered"] and details["status"] in ("Paused", "Sensing")
            assert vm.ssh("systemctl", "is-active", "nps-uplink", check=False).strip() == "active"
            state = vm.ssh("sudo", "stat", "-c", "%a %U", "/var/lib/nps-sensor/hub.json").strip()
            assert state == "600 root"
            # Root's shell through the menu, the password checked by the appliance's PAM.
            hashed = subprocess.run(
                ["openssl", "passwd", "-6", "-stdin"], input=ROOT_PASSWORD, capture_output=True, text=True, check=True
            ).stdout.strip()
            vm.ssh("sudo", "usermod", "-p", hashed, "root")
            screen.keys("Escape")
            screen.menu(7)
            screen.wait("Root password")
            screen.type("not-the-password")
            screen.keys("Tab", "Enter")
            screen.wait("Wrong password", timeout=60)
            screen.keys("Up")
            screen.type(ROOT_PASSWORD)
            screen.keys("Tab", "Enter")
            screen.wait("root@nps-serial-1", timeout=60)
            screen.type("echo shell-of-$(id -un)")
            screen.keys("Enter")
            screen.wait("shell-of-root")
            screen.save("serial-root-shell")
            screen.type("exit")
            screen.keys("Enter")
            screen.wait("Main menu", "Personalize this scanner", timeout=60)
            # The code went nowhere it could be read back: not the journal, not the serial log.
            journal = vm.ssh("sudo", "journalctl", "-b", "--no-pager", check=False)
            serial = (tmp_path / "vm" / "serial.log").read_text(errors="replace")
            assert code not in journal and code not in serial
            assert ROOT_PASSWORD not in journal and ROOT_PASSWORD not in serial
    finally:
        if screen is not None:
            screen.close()
        hub.stop()
