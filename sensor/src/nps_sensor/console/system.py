"""What the console asks of the machine: reload the network, check an address, restart
the services, reboot, power off, open a root shell.

On the appliance (`--root /`) these are systemd's and iproute2's commands. Against a
test root they go to a command the caller names (`CMD ACTION ARGS...`), so a test sees
what was requested and decides whether an address "arrived"; without one, nothing runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable


def _run(*cmd: str) -> bool:
    try:
        return subprocess.run(cmd, check=False, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def addresses(interface: str = "") -> list[str]:
    """IPv4 addresses with prefix (`10.0.0.5/24`) of an interface, or of every interface but loopback."""
    cmd = ["ip", "-o", "-4", "addr", "show"] + (["dev", interface] if interface else [])
    out = ""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] != "lo":
            found.append(f"{parts[1]} {parts[3]}" if not interface else parts[3])
    return found


class System:
    """The appliance itself."""

    def addresses(self, interface: str = "") -> list[str]:
        return addresses(interface)

    def reload_network(self, interface: str) -> bool:
        return _run("networkctl", "reload") and _run("networkctl", "reconfigure", interface)

    def has_address(self, interface: str, address: str) -> bool:
        return any(a.split("/")[0] == address for a in addresses(interface))

    def restart_services(self) -> bool:
        return _run("systemctl", "try-restart", "nps-sensor.service", "nps-uplink.service")

    def start_uplink(self) -> bool:
        # Restart: a new registration replaces the credential a running uplink holds.
        return _run("systemctl", "restart", "nps-uplink.service")

    def reboot(self) -> bool:
        return _run("systemctl", "reboot")

    def poweroff(self) -> bool:
        return _run("systemctl", "poweroff")

    def shell(self) -> None:
        subprocess.run(["/bin/bash", "--login"], check=False)


class CommandSystem(System):
    """Every request goes to `command ACTION ARGS...` (a test's recorder); exit 0 is success."""

    def __init__(self, command: str) -> None:
        self.command = command

    def _ask(self, *args: str) -> bool:
        return _run(self.command, *args)

    def addresses(self, interface: str = "") -> list[str]:
        try:
            cmd = [self.command, "addresses", *([interface] if interface else [])]
            out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [line.strip() for line in out.splitlines() if line.strip()]

    def reload_network(self, interface: str) -> bool:
        return self._ask("reload-network", interface)

    def has_address(self, interface: str, address: str) -> bool:
        return self._ask("has-address", interface, address)

    def restart_services(self) -> bool:
        return self._ask("restart-services")

    def start_uplink(self) -> bool:
        return self._ask("start-uplink")

    def reboot(self) -> bool:
        return self._ask("reboot")

    def poweroff(self) -> bool:
        return self._ask("poweroff")

    def shell(self) -> None:
        self._ask("shell")


class NoSystem(System):
    """A test root without a command: the files change, the machine does not."""

    def addresses(self, interface: str = "") -> list[str]:
        return []

    def reload_network(self, interface: str) -> bool:
        return True

    def has_address(self, interface: str, address: str) -> bool:
        return True

    def restart_services(self) -> bool:
        return True

    def start_uplink(self) -> bool:
        return True

    def reboot(self) -> bool:
        return False

    def poweroff(self) -> bool:
        return False

    def shell(self) -> None:
        return None


def wait_for_address(
    check: Callable[[], bool], seconds: float, clock: Callable[[], float] = time.monotonic, every: float = 0.5
) -> bool:
    """True as soon as `check` is; False once `seconds` passed without it."""
    deadline = clock() + seconds
    while True:
        if check():
            return True
        if clock() >= deadline:
            return False
        time.sleep(every)
