"""What the console asks of the machine: list its network interfaces, reload the network,
check an address, restart the services, reboot, power off, check root's password, open
a root shell.

On the appliance (`--root /`) these are systemd's, iproute2's and PAM's. Against a test
root they go to a command the caller names (`CMD ACTION ARGS...`, a password on its
standard input, never in its arguments), so a test sees what was requested and decides
whether an address "arrived" or a password is right; without one, nothing runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pam  # type: ignore[import-untyped]

SYS_NET = Path("/sys/class/net")


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


def interfaces(sys_net: Path = SYS_NET) -> list[str]:
    """The machine's Ethernet NICs by name, in `ip -o link`'s order.

    Only links with a device behind them: the kernel's own virtual links (ifb, the
    fallback gretap0/erspan0 that loading ip_gre creates, veth, bridges) are nothing a
    mirror port is wired to.
    """
    out = ""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        out = subprocess.run(
            ["ip", "-o", "link", "show"], check=False, capture_output=True, text=True, timeout=10
        ).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or "link/ether" not in parts:
            continue
        name = parts[1].rstrip(":").split("@")[0]
        if name != "lo" and (sys_net / name / "device").exists():
            found.append(name)
    return found


class System:
    """The appliance itself."""

    def addresses(self, interface: str = "") -> list[str]:
        return addresses(interface)

    def interfaces(self) -> list[str]:
        return interfaces()

    def reload_network(self, interface: str) -> bool:
        return _run("networkctl", "reload") and _run("networkctl", "reconfigure", interface)

    def has_address(self, interface: str, address: str) -> bool:
        return any(a.split("/")[0] == address for a in addresses(interface))

    def has_any_address(self, interface: str) -> bool:
        """Whether DHCP has given the interface an address (whichever the server chose)."""
        return bool(self.addresses(interface))

    def restart_services(self) -> bool:
        return _run("systemctl", "try-restart", "nps-sensor.service", "nps-uplink.service")

    def start_uplink(self) -> bool:
        # Restart: a new registration replaces the credential a running uplink holds.
        return _run("systemctl", "restart", "nps-uplink.service")

    def reboot(self) -> bool:
        return _run("systemctl", "reboot")

    updater = "/opt/nps-sensor/bin/nps-sensor"  # the running version's (render.VENV)

    def update(self, bundle: str) -> tuple[int, str]:
        """`nps-sensor appliance update BUNDLE` (in a unit of its own): its exit status and last line."""
        cmd = [self.updater, "appliance", "update", bundle]
        try:
            done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            return 2, f"the updater did not run: {e}"
        # The outcome is the last line: on standard output when it worked, else on standard
        # error (where the progress lines go too).
        said = done.stdout if done.returncode == 0 else done.stderr
        lines = [line for line in said.splitlines() if line.strip()]
        return done.returncode, lines[-1].removeprefix("nps-sensor: ") if lines else f"exit {done.returncode}"

    def poweroff(self) -> bool:
        return _run("systemctl", "poweroff")

    def authenticate(self, user: str, password: str) -> bool:
        """PAM's "login" service decides, as at a login prompt: any hash scheme, a locked
        or expired account, and whatever else the image's PAM stack says, without this
        code reading /etc/shadow itself (Python's crypt module is gone in 3.13).

        Anything PAM cannot do (no libpam, a NUL in the password) is a refusal."""
        try:
            return bool(pam.PamAuthenticator().authenticate(user, password, service="login", resetcreds=False))
        except (OSError, AttributeError, ValueError, TypeError):
            return False

    def shell(self) -> None:
        """root's login shell set up as login(1) would: the console runs as a service,
        which has no HOME, USER or a login's PATH."""
        env = {
            "HOME": "/root",
            "USER": "root",
            "LOGNAME": "root",
            "SHELL": "/bin/bash",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM": os.environ.get("TERM", "linux"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        home = "/root" if os.path.isdir("/root") else "/"
        # Standard error to the terminal too: the service's goes to the journal, and bash
        # writes its prompt and what is typed there.
        subprocess.run(["/bin/bash", "--login"], check=False, env=env, cwd=home, stderr=subprocess.STDOUT)


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

    def interfaces(self) -> list[str]:
        try:
            out = subprocess.run(
                [self.command, "interfaces"], check=False, capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [line.strip() for line in out.splitlines() if line.strip() and line.strip() != "lo"]

    def authenticate(self, user: str, password: str) -> bool:
        # The password goes on standard input, one line: process arguments are readable by every user.
        try:
            r = subprocess.run(
                [self.command, "authenticate", user],
                input=password + "\n",
                check=False,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0

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

    def update(self, bundle: str) -> tuple[int, str]:
        try:
            done = subprocess.run([self.command, "update", bundle], check=False, capture_output=True, text=True)
        except OSError as e:
            return 2, str(e)
        return done.returncode, (done.stdout or done.stderr).strip()

    def poweroff(self) -> bool:
        return self._ask("poweroff")

    def shell(self) -> None:
        self._ask("shell")


class NoSystem(System):
    """A test root without a command: the files change, the machine does not."""

    def addresses(self, interface: str = "") -> list[str]:
        return []

    def interfaces(self) -> list[str]:
        return []

    def authenticate(self, user: str, password: str) -> bool:
        return False

    def reload_network(self, interface: str) -> bool:
        return True

    def has_address(self, interface: str, address: str) -> bool:
        return True

    def has_any_address(self, interface: str) -> bool:
        return True

    def restart_services(self) -> bool:
        return True

    def start_uplink(self) -> bool:
        return True

    def reboot(self) -> bool:
        return False

    def update(self, bundle: str) -> tuple[int, str]:
        return 2, "not on an appliance (a test root without a system command)"

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
