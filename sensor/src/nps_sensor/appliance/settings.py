"""The appliance's own settings: management network, proxy, sniffing interfaces, identity.

One model with one set of checks for every door that changes them: the first boot
(OVF properties), the console and the Ansible roles. A bad value is rejected with
the field's name and what is allowed, before anything on the system changes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nps_sensor.appliance.updates_os import Updates
from nps_sensor.appliance.updates_os import check as check_updates
from nps_sensor.config import PROXY_AUTH
from nps_sensor.pinning import FINGERPRINT

MODES = ("DEFAULT", "ERSPAN")
HOSTNAME = re.compile(r"^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$")
CODE = re.compile(r"^\d{14}$")


class SettingsError(ValueError):
    """A setting is invalid: the message names it and says what is allowed.

    `field` is the setting's dotted name (`management.gateway`): the Ansible roles map
    it to their variable's name, so that a failure names what the user wrote.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Management:
    interface: str = "eth0"
    mode: str = "dhcp"  # or "static"
    address: str = ""
    netmask: str = ""
    gateway: str = ""
    dns: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> int:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen


@dataclass
class Proxy:
    address: str = ""  # empty: no proxy
    port: int = 0
    auth: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.address)


@dataclass
class Sniffing:
    name: str
    mode: str = "DEFAULT"
    address: str = ""  # ERSPAN mode only
    netmask: str = ""

    @property
    def prefix(self) -> int:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen


@dataclass
class Settings:
    hostname: str = "nps-sensor"
    management: Management = field(default_factory=Management)
    proxy: Proxy = field(default_factory=Proxy)
    sniffing: list[Sniffing] = field(default_factory=lambda: [Sniffing("eth1")])
    registration_code: str = field(default="", repr=False)
    registration_hub: str = ""  # the hub the deployment names: registration at boot, no console needed
    registration_fingerprint: str = ""  # the hub's certificate, pinned by its SHA-256
    ssh_keys: list[str] = field(default_factory=list)
    updates: Updates = field(default_factory=Updates)  # Debian's security updates (updates_os)

    def check(self) -> None:
        """Raise SettingsError on the first invalid value."""
        if not HOSTNAME.match(self.hostname):
            raise SettingsError(f"hostname {self.hostname!r}: letters, digits and '-', 1 to 63 characters", "hostname")
        _check_management(self.management)
        _check_proxy(self.proxy)
        check_updates(self.updates)
        names = [s.name for s in self.sniffing]
        if len(set(names)) != len(names):
            raise SettingsError("sniffing: an interface is listed twice", "sniffing")
        if self.management.interface in names:
            raise SettingsError(f"sniffing: {self.management.interface} is the management interface", "sniffing")
        for s in self.sniffing:
            if s.mode not in MODES:
                raise SettingsError(
                    f"sniffing {s.name}: mode {s.mode!r} is not one of {', '.join(MODES)}", "sniffing.mode"
                )
            if s.mode == "ERSPAN":
                _address(f"sniffing {s.name} address", s.address, "sniffing.address")
                _netmask(f"sniffing {s.name} netmask", s.netmask, "sniffing.netmask")
        if self.registration_code and not CODE.match(self.registration_code):
            raise SettingsError("registration code: exactly 14 digits", "registration_code")
        if self.registration_hub:
            parts = urlsplit(self.registration_hub)
            if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in self.registration_hub):
                raise SettingsError(
                    f"registration hub {self.registration_hub!r}: the hub's address, like https://hub.example.org",
                    "registration_hub",
                )
        if self.registration_fingerprint and not FINGERPRINT.match(self.registration_fingerprint):
            raise SettingsError(
                "registration fingerprint: the SHA-256 of the hub's certificate, 64 hex digits (colons allowed)",
                "registration_fingerprint",
            )
        for key in self.ssh_keys:
            if not re.match(r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$", key.strip()):
                raise SettingsError("ssh key: one public key per line, like 'ssh-ed25519 AAAA... comment'", "ssh_keys")


def _address(name: str, value: str, where: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise SettingsError(f"{name}: {value!r} is not an IPv4 address", where) from None


def _netmask(name: str, value: str, where: str) -> int:
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError:
        raise SettingsError(f"{name}: {value!r} is not a netmask (like 255.255.255.0 or 24)", where) from None


def _check_management(m: Management) -> None:
    if m.mode not in ("dhcp", "static"):
        raise SettingsError(f"management mode {m.mode!r}: dhcp or static", "management.mode")
    if m.mode == "dhcp":
        return
    address = _address("management address", m.address, "management.address")
    prefix = _netmask("management netmask", m.netmask, "management.netmask")
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    if prefix < 31 and address in (network.network_address, network.broadcast_address):
        raise SettingsError(
            f"management address {address} is the network or broadcast address of {network}", "management.address"
        )
    gateway = _address("management gateway", m.gateway, "management.gateway")
    if gateway not in network:
        raise SettingsError(
            f"management gateway {gateway} is outside {network}: it must be on the subnet", "management.gateway"
        )
    if gateway == address:
        raise SettingsError("management gateway: it cannot be the appliance's own address", "management.gateway")
    if not m.dns:
        raise SettingsError("management DNS1: required with a static address", "management.dns")
    for i, server in enumerate(m.dns[:2]):
        _address(f"management DNS{i + 1}", server, "management.dns")


def _check_proxy(p: Proxy) -> None:
    if not p.enabled:
        return
    if p.address.lower().startswith("socks"):
        raise SettingsError("proxy address: SOCKS proxies are not supported (an HTTP proxy is)", "proxy.address")
    if not re.match(r"^[A-Za-z0-9.-]+$", p.address):
        raise SettingsError(
            f"proxy address {p.address!r}: a host name or IPv4 address, without scheme", "proxy.address"
        )
    if not 1 <= p.port <= 65535:
        raise SettingsError(f"proxy port {p.port}: 1 to 65535", "proxy.port")
    if p.auth not in PROXY_AUTH:
        raise SettingsError(f"proxy auth {p.auth!r}: one of {', '.join(PROXY_AUTH)}", "proxy.auth")
    if p.auth != "none" and not (p.user and p.password):
        raise SettingsError(
            f"proxy auth {p.auth}: needs a user and a password", "proxy.password" if p.user else "proxy.user"
        )
    for name, value in (("user", p.user), ("password", p.password)):
        # One line per value in the root-only file the sensor reads.
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise SettingsError(
                f"proxy {name}: control characters (line breaks, tabs) are not allowed", f"proxy.{name}"
            )
