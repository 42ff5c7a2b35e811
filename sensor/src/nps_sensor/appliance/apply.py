"""Change a running appliance's settings: the door the Ansible roles (and scripts) use.

The settings the appliance has now are read back from the files they made (the files
are the one source of truth: there is no state file to drift from them); the sections
asked for replace theirs; the whole is checked and written through `render.files` and
`render.write`, the same functions as the image build and the first boot, so every
door writes the same bytes. With `check` nothing is written and the outcome says what
would change. Reloading networkd and restarting the sensor is the caller's part (the
roles' handlers): the outcome says which interfaces and services it concerns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nps_sensor.appliance import updates_os
from nps_sensor.appliance.render import (
    HUB_ENV,
    NETWORK_DIR,
    PROXY_ENV,
    REGISTRATION,
    SENSOR_YAML,
    File,
    files,
    kept_classification,
    owners,
    stale,
    write,
)
from nps_sensor.appliance.settings import Management, Proxy, Settings, SettingsError, Sniffing

SECRET = "********"
MANAGEMENT_FILE = f"{NETWORK_DIR}/10-management.network"
SECTIONS: dict[str, set[str]] = {
    "hostname": set(),
    "management": {"interface", "mode", "address", "netmask", "gateway", "dns"},
    "proxy": {"enabled", "address", "port", "auth", "user", "password"},
    "sniffing": {"name", "mode", "address", "netmask"},
    "updates": {"mirror", "security_mirror", "schedule", "reboot_window"},
}


@dataclass
class Change:
    path: str
    before: str  # "" when the file is new; secrets masked
    after: str  # "" when the file goes away; secrets masked


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    reconfigure: list[str] = field(default_factory=list)  # interfaces whose networkd files changed
    restart_sensor: bool = False  # the sensor's configuration changed
    reload_systemd: bool = False  # a unit or timer changed (the update schedule, the maintenance window)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "changes": [c.__dict__ for c in self.changes],
            "reconfigure": self.reconfigure,
            "restart_sensor": self.restart_sensor,
            "reload_systemd": self.reload_systemd,
        }


def _read(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return ""


def _network_keys(text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a systemd-networkd file, every value of each key."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and not line.lstrip().startswith(("#", ";", "[")):
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _netmask(prefix: str) -> str:
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


def current(root: Path = Path("/")) -> Settings:
    """The settings the files under `root` say the appliance has."""
    import yaml

    from nps_sensor.config import parse_proxy
    from nps_sensor.errors import ConfigError

    s = Settings()
    s.hostname = _read(root / "etc/hostname").strip() or s.hostname
    keys = _network_keys(_read(root / MANAGEMENT_FILE.lstrip("/")))
    if keys.get("Name"):
        s.management.interface = keys["Name"][0]
    if keys.get("Address"):
        address, _, prefix = keys["Address"][0].partition("/")
        s.management = Management(
            s.management.interface,
            "static",
            address,
            _netmask(prefix or "32"),
            (keys.get("Gateway") or [""])[0],
            keys.get("DNS", []),
        )
    try:
        doc = yaml.safe_load(_read(root / SENSOR_YAML.lstrip("/"))) or {}
    except yaml.YAMLError as e:
        raise SettingsError(f"{SENSOR_YAML}: not valid YAML ({e}); fix or remove it", "sniffing") from None
    sensing = doc.get("sensing") if isinstance(doc, dict) else None
    if isinstance(sensing, dict) and isinstance(sensing.get("interfaces"), list):
        s.sniffing = []
        for item in sensing["interfaces"]:
            name, mode = (item, "DEFAULT") if isinstance(item, str) else (item.get("name"), item.get("mode", "DEFAULT"))
            iface = Sniffing(str(name), str(mode).upper())
            if iface.mode == "ERSPAN":
                net = _network_keys(_read(root / NETWORK_DIR.lstrip("/") / f"20-sniffing-{name}.network"))
                if net.get("Address"):
                    address, _, prefix = net["Address"][0].partition("/")
                    iface.address, iface.netmask = address, _netmask(prefix or "32")
            s.sniffing.append(iface)
    proxy_text = _read(root / PROXY_ENV.lstrip("/"))
    if proxy_text:
        try:
            p = parse_proxy(proxy_text, PROXY_ENV)
        except ConfigError as e:
            raise SettingsError(f"{e}; the proxy settings replace it", "proxy") from None
        s.proxy = Proxy(p.address, p.port, p.auth, p.user, p.password)
    s.registration_code = _read(root / REGISTRATION.lstrip("/")).strip()
    hub = dict(
        line.split("=", 1) for line in _read(root / HUB_ENV.lstrip("/")).splitlines() if "=" in line and line[0] != "#"
    )
    s.registration_hub, s.registration_fingerprint = hub.get("NPS_HUB_URL", ""), hub.get("NPS_HUB_FINGERPRINT", "")
    s.updates = updates_os.read(root)
    return s


def _text(section: str, key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise SettingsError(f"{section} {key}: expected a text, got {value!r}", f"{section}.{key}")
    return str(value).strip()


def _keys(section: str, given: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise SettingsError(f"{section}: expected a mapping, got {given!r}", section)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise SettingsError(
            f"{section}: unknown setting {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})", section
        )
    return given


def merge(settings: Settings, request: dict[str, Any]) -> Settings:
    """The sections in `request` (hostname, management, proxy, sniffing) over `settings`,
    checked: SettingsError names the first bad value's field."""
    unknown = sorted(set(request) - set(SECTIONS))
    if unknown:
        raise SettingsError(f"unknown section {unknown[0]!r} (allowed: {', '.join(SECTIONS)})", unknown[0])
    if "hostname" in request:
        settings.hostname = _text("hostname", "", request["hostname"]) or settings.hostname
    if "management" in request:
        m = _keys("management", request["management"], SECTIONS["management"])
        dns = m.get("dns") or []
        if not isinstance(dns, list):
            raise SettingsError(f"management dns: expected a list of addresses, got {dns!r}", "management.dns")
        settings.management = Management(
            _text("management", "interface", m.get("interface")) or settings.management.interface,
            _text("management", "mode", m.get("mode", "dhcp")).lower(),
            _text("management", "address", m.get("address")),
            _text("management", "netmask", m.get("netmask")),
            _text("management", "gateway", m.get("gateway")),
            [_text("management", "dns", d) for d in dns if d],
        )
    if "proxy" in request:
        p = _keys("proxy", request["proxy"], SECTIONS["proxy"])
        enabled = p.get("enabled", True)
        if enabled and not p.get("address"):
            raise SettingsError("proxy address: required when the proxy is enabled", "proxy.address")
        if enabled:
            port = p.get("port", 0)
            if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit():
                raise SettingsError(f"proxy port {port!r}: a number from 1 to 65535", "proxy.port")
            password = p.get("password") or ""
            if not isinstance(password, str):
                raise SettingsError("proxy password: expected a text", "proxy.password")
            settings.proxy = Proxy(
                _text("proxy", "address", p.get("address")),
                int(port),
                _text("proxy", "auth", p.get("auth", "none")).lower() or "none",
                _text("proxy", "user", p.get("user")),
                password,
            )
        else:
            settings.proxy = Proxy()
    if "sniffing" in request:
        items = request["sniffing"]
        if not isinstance(items, list):
            raise SettingsError(f"sniffing: expected a list of interfaces, got {items!r}", "sniffing")
        settings.sniffing = []
        for item in items:
            i = _keys("sniffing", item, SECTIONS["sniffing"])
            name = _text("sniffing", "name", i.get("name"))
            if not name or len(name) > 15 or "/" in name or " " in name:
                raise SettingsError(f"sniffing name {name!r}: an interface name (like eth1)", "sniffing.name")
            mode = _text("sniffing", "mode", i.get("mode", "DEFAULT")).upper()
            address = _text("sniffing", "address", i.get("address")) if mode == "ERSPAN" else ""
            netmask = _text("sniffing", "netmask", i.get("netmask")) if mode == "ERSPAN" else ""
            settings.sniffing.append(Sniffing(name, mode, address, netmask))
    if "updates" in request:
        u = _keys("updates", request["updates"], SECTIONS["updates"])
        current_updates = settings.updates
        settings.updates = updates_os.Updates(
            *(
                _text("updates", key, u.get(key)) if key in u else getattr(current_updates, key)
                for key in ("mirror", "security_mirror", "schedule", "reboot_window")
            )
        )
    settings.check()
    return settings


def _mask(path: str, text: str) -> str:
    if path == REGISTRATION and text:
        return SECRET + "\n"
    if path == updates_os.APT_PROXY:  # the proxy's URL with its password
        return re.sub(r":[^:@/]*@", f":{SECRET}@", text)
    if path == PROXY_ENV:
        return "".join(
            f"NPS_PROXY_PASSWORD={SECRET}\n" if line.startswith("NPS_PROXY_PASSWORD=") else line + "\n"
            for line in text.splitlines()
        )
    return text


def plan(root: Path, wanted: dict[str, File]) -> list[Change]:
    """What writing `wanted` under `root` changes (the comparison `render.write` makes)."""
    changes = []
    for path, f in sorted(wanted.items()):
        target = root / path.lstrip("/")
        before = None
        with contextlib.suppress(OSError):
            data = target.read_bytes()
            if data == f.content.encode() and (target.stat().st_mode & 0o777) == f.mode:
                continue
            before = data.decode("utf-8", "replace")
        b, a = _mask(path, before or ""), _mask(path, f.content)
        if before is not None and b == a and before != f.content:
            a += "# (a secret changed)\n"
        changes.append(Change(path, b, a))
    for p in stale(root, wanted):
        path = "/" + str(p.relative_to(root))
        changes.append(Change(path, _mask(path, _read(p)), ""))
    return changes


def apply(request: dict[str, Any], root: Path = Path("/"), check: bool = False) -> Outcome:
    """Apply the sections of `request` to the appliance under `root` (nothing if `check`)."""
    settings = current(root)
    old_sniffing = [s.name for s in settings.sniffing]
    settings = merge(settings, request)
    wanted = files(settings, classification=kept_classification(root), **_sizes(root))
    changes = plan(root, wanted)
    if not check and changes:
        write(root, wanted, owners(root))
    paths = {c.path for c in changes}
    reconfigure: list[str] = []
    if MANAGEMENT_FILE in paths:
        reconfigure.append(settings.management.interface)
    link_changed = f"{NETWORK_DIR}/20-sniffing.link" in paths
    for name in dict.fromkeys([*old_sniffing, *(s.name for s in settings.sniffing)]):
        if link_changed or f"{NETWORK_DIR}/20-sniffing-{name}.network" in paths:
            reconfigure.append(name)
    units = any(p.startswith("/etc/systemd/system/") for p in paths)
    return Outcome(changes, reconfigure, SENSOR_YAML in paths or PROXY_ENV in paths, units)


def _sizes(root: Path) -> dict[str, int]:
    """The ring and spool sizes the sensor configuration has now (kept across rewrites)."""
    import yaml

    out = {}
    with contextlib.suppress(yaml.YAMLError, AttributeError, TypeError, ValueError):
        sensing = (yaml.safe_load(_read(root / SENSOR_YAML.lstrip("/"))) or {}).get("sensing") or {}
        if "ring_mb" in sensing:
            out["ring_mb"] = int(sensing["ring_mb"])
        if "max_mb" in (sensing.get("spool") or {}):
            out["spool_mb"] = int(sensing["spool"]["max_mb"])
    return out
