"""What each console screen does, apart from the screen: read the settings, change them
through `nps_sensor.appliance.apply` (the Ansible roles' and first boot's code), register
with the hub through `nps_sensor.uplink.register`, and gather the status.

A network change that loses the management address (a static address that does not
appear, DHCP that gives none) is undone: the previous file is written back and the
network reloaded again, so that a typo at the console cannot cut the appliance off.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nps_sensor.appliance.apply import MANAGEMENT_FILE, Outcome, apply, current
from nps_sensor.appliance.render import PROXY_ENV, REGISTRATION, SENSOR_YAML, File, write
from nps_sensor.appliance.settings import CODE, Settings, SettingsError, Sniffing
from nps_sensor.console.system import System, wait_for_address
from nps_sensor.errors import SensorError
from nps_sensor.pinning import FINGERPRINT, fingerprint
from nps_sensor.uplink.state import DEFAULT_STATE

UPDATES = "/var/lib/nps-sensor/updates"  # where an operator copies a bundle (scp) for the console
LABELS = {
    "management.address": "IP address",
    "management.netmask": "Netmask",
    "management.gateway": "Gateway",
    "management.dns": "DNS",
    "management.mode": "Mode",
    "proxy.address": "Proxy address",
    "proxy.port": "Port",
    "proxy.auth": "Authentication",
    "proxy.user": "User",
    "proxy.password": "Password",
    "sniffing": "Sniff on",
    "sniffing.name": "Interface",
    "sniffing.mode": "Mode",
    "sniffing.address": "ERSPAN address",
    "sniffing.netmask": "ERSPAN netmask",
}


class RolledBack(SensorError):
    """The new network settings lost the management address: the previous ones are back."""


@dataclass
class Choice:
    """One line of the sniffing form: the interface's settings, whether the sensor
    sniffs on it now, and whether the machine has it."""

    interface: Sniffing
    chosen: bool
    found: bool


@dataclass
class Console:
    """The appliance under `root`, and the machine's side of it."""

    root: Path
    system: System
    rollback_seconds: float = 30.0

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def settings(self) -> Settings:
        return current(self.root)

    def set_network(self, management: dict[str, Any]) -> str:
        """Apply the management section; roll back if the appliance is left without an
        address: the static one does not appear, or DHCP gives none."""
        target = self.path(MANAGEMENT_FILE)
        before: bytes | None = None
        mode = 0o644
        with contextlib.suppress(OSError):
            before = target.read_bytes()
            mode = target.stat().st_mode & 0o777
        outcome = apply({"management": management}, self.root)
        if not outcome.changed:
            return "Nothing changed."
        s = self.settings().management
        self.system.reload_network(s.interface)
        seconds = self.rollback_seconds
        if s.mode == "static":
            arrived = wait_for_address(lambda: self.system.has_address(s.interface, s.address), seconds)
            why = f"{s.address} did not appear on {s.interface}"
            check = "check the address and the cabling"
        else:
            arrived = wait_for_address(lambda: self.system.has_any_address(s.interface), seconds)
            why = f"no DHCP lease on {s.interface}"
            check = "check the DHCP server and the cabling"
        if not arrived:
            if before is None:
                target.unlink(missing_ok=True)
            else:
                write(self.root, {MANAGEMENT_FILE: File(before.decode("utf-8", "replace"), mode)})
            self.system.reload_network(s.interface)
            raise RolledBack(f"{why} within {seconds:.0f} s: the previous network settings are restored ({check})")
        return _said(outcome, f"Management network: {'static ' + s.address if s.mode == 'static' else 'DHCP'}.")

    def set_proxy(self, proxy: dict[str, Any]) -> str:
        outcome = apply({"proxy": proxy}, self.root)
        if outcome.restart_sensor:
            self.system.restart_services()
        p = self.settings().proxy
        return _said(outcome, f"Proxy: {p.address}:{p.port} ({p.auth})." if p.enabled else "Proxy: none.")

    def sniffing_choices(self) -> list[Choice]:
        """Every interface the sniffing form offers.

        The configured ones first, even one the machine does not report (a NIC removed
        from the VM keeps its settings until someone unticks it), then the machine's
        other NICs; never the management interface: the sensor must not capture its own
        uplink, and the settings refuse it.
        """
        s = self.settings()
        machine = self.system.interfaces()
        # A machine that reports nothing (a test root) cannot say an interface is missing.
        found = set(machine) if machine else {i.name for i in s.sniffing}
        known = {i.name for i in s.sniffing} | {s.management.interface}
        return [Choice(i, True, i.name in found) for i in s.sniffing] + [
            Choice(Sniffing(name), False, True) for name in machine if name not in known
        ]

    def set_sniffing(self, interfaces: list[dict[str, Any]]) -> str:
        """Apply the sniffing section; networkd reloads the interfaces whose files changed
        (an ERSPAN address comes or goes) and the sensor restarts to capture on the new set."""
        if not interfaces:
            # The settings allow none (a template, an image being built); a running sensor does not.
            raise SettingsError("choose at least one interface: the sensor captures nothing without one", "sniffing")
        outcome = apply({"sniffing": interfaces}, self.root)
        for name in outcome.reconfigure:
            self.system.reload_network(name)
        if outcome.restart_sensor:
            self.system.restart_services()
        said = ", ".join(
            f"{i.name} (ERSPAN {i.address}/{i.prefix})" if i.mode == "ERSPAN" else f"{i.name} (DEFAULT)"
            for i in self.settings().sniffing
        )
        return _said(outcome, f"Sniffing on {said}.")

    def register(self, hub: str, code: str, certificate: str = "") -> str:
        """Register with the hub in-process; SensorError says why not and what to check.

        An empty code is the deployment's (OVF property), if it gave one. `certificate`
        pins the hub's certificate: a PEM file, or its SHA-256 fingerprint."""
        from nps_sensor.uplink import proxy
        from nps_sensor.uplink.register import register

        code = code.strip() or self.settings().registration_code
        if not CODE.match(code):
            raise SensorError("the personalization code is exactly 14 digits (shown on the hub for this sensor)")
        if not hub.strip():
            raise SensorError("give the hub's address, like https://hub.example.org")
        pin = certificate.strip()
        digits = fingerprint(pin)
        by_fingerprint = bool(FINGERPRINT.match(digits))
        settings = proxy.load(str(self.path(PROXY_ENV)))
        try:
            register(
                hub.strip(),
                code,
                str(self.path(DEFAULT_STATE)),
                None if by_fingerprint else pin or None,
                settings,
                digits if by_fingerprint else None,
            )
        except SensorError as e:
            reason, check = explain(str(e))
            raise SensorError(f"{reason}: {e}. Check: {check}") from None
        self.path(REGISTRATION).unlink(missing_ok=True)  # a code works once
        self.system.start_uplink()
        return "Appliance registration completed successfully"

    def registration(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path(DEFAULT_STATE).read_text())
            if isinstance(data, dict):
                return {"hub": data.get("hub", ""), "name": data.get("name", ""), "id": data.get("sensor_id", 0)}
        return {}

    def bundles(self) -> tuple[str, list[str]]:
        """The running sensor version, and the bundles waiting in the updates folder (newest
        first), as the appliance names them."""
        from nps_sensor.appliance import update_layout

        folder = self.path(UPDATES)
        tars = sorted(folder.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
        found = [f"{UPDATES}/{p.name}" for p in tars]
        try:
            version = update_layout.running(self.root)
        except SensorError:
            version = "(not updatable in place)"
        return version, found

    def update(self, bundle: str) -> tuple[bool, str]:
        """Install a bundle (whatever the outcome, the console's version may be stale: True
        when it changed)."""
        if not bundle.strip():
            raise SensorError(f"give the bundle's path (copy it into {UPDATES} with scp)")
        status, said = self.system.update(bundle.strip())
        if status == 0:
            return "updated from" in said, said
        raise SensorError(said)

    def status(self) -> dict[str, Any]:
        """The status endpoint's answer, or {"error": why} when the sensor does not answer."""
        from nps_sensor import config
        from nps_sensor.live.status import request

        try:
            address = config.load(str(self.path(SENSOR_YAML))).sensing.status
            return request(address, timeout=2.0)
        except SensorError as e:
            return {"error": str(e)}


def _said(outcome: Outcome, text: str) -> str:
    return f"Applied. {text}" if outcome.changed else "Nothing changed."


def explain(message: str) -> tuple[str, str]:
    """The registration failure's kind, and what to check, from the uplink's message."""
    m = message.lower()
    if "certificate" in m and ("verify" in m or "pem" in m):
        return "certificate not trusted", "give the hub's certificate file, or exempt the hub from SSL inspection"
    if "proxy" in m:
        return "proxy refused", "the proxy's address, port, authentication, user and password (Proxy Configuration)"
    if "code" in m or "hub refused" in m:
        return "wrong code", "the 14 digits shown on the hub for this sensor (a code works once, and expires)"
    if "reach" in m or "no answer" in m or "broke the connection" in m or "hub url" in m:
        return "hub unreachable", "the hub's address, the network settings (gateway, DNS) and the firewall"
    return "registration failed", "the hub's address and its log"


def field_label(e: SettingsError) -> str:
    return LABELS.get(e.field, e.field or "settings")
