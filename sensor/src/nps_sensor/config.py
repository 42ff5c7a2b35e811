"""The sensor's configuration file (YAML), checked line by line.

Every mistake is reported as `FILE:LINE: where: problem`, before anything runs.
Without a file the defaults apply: the private and link-local ranges (10/8,
172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10) are one inventoried group,
reports every 5 and 30 minutes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nps_sensor.errors import ConfigError

if TYPE_CHECKING:
    import yaml

V4_MAPPED = 0xFFFF << 32

# The private ranges, plus IPv4 link-local (169.254/16, the IPv4 twin of fe80::/10):
# hosts without a DHCP lease live there and are as local as any.
DEFAULT_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10")


@dataclass(frozen=True)
class AddressRange:
    """Inclusive range in the sensor's 128-bit address space (IPv4 as ::ffff:a.b.c.d)."""

    start: int
    end: int
    text: str

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, ip: int) -> bool:
        return self.start <= ip <= self.end


@dataclass
class Group:
    name: str
    inventory: bool
    ranges: list[AddressRange]


@dataclass
class Monitor:
    name: str
    ranges: list[AddressRange]
    domains: list[str]  # lower case; "*.example.com" matches subdomains


@dataclass
class Reporting:
    new_assets: float = 300.0  # seconds: window for newly seen assets
    updates: float = 1800.0  # seconds: window for updates of known ones


@dataclass
class FlowSettings:
    max_flows: int = 500_000
    idle_timeout: float = 300.0


@dataclass
class SniffingInterface:
    name: str
    mode: str = "DEFAULT"  # or "ERSPAN": the interface has an address, ERSPAN arrives there


DEFAULT_SPOOL = "/var/lib/nps-sensor/spool"
DEFAULT_STATUS = "127.0.0.1:8470"


@dataclass
class Sensing:
    """The live service's settings (`nps-sensor run`)."""

    interfaces: list[SniffingInterface] = field(default_factory=list)
    workers: int = 0  # 0: one per core left after the control process
    ring_mb: int = 64  # receive ring per interface and worker
    spool_dir: str = DEFAULT_SPOOL
    spool_max_mb: int = 1024
    status: str = DEFAULT_STATUS  # host:port of the local status endpoint


PROXY_AUTH = ("none", "basic", "ntlm")
PROXY_KEYS = {
    "NPS_PROXY_ADDRESS": "address",
    "NPS_PROXY_PORT": "port",
    "NPS_PROXY_AUTH": "auth",
    "NPS_PROXY_USER": "user",
    "NPS_PROXY_PASSWORD": "password",
}


@dataclass
class Proxy:
    """The HTTP proxy towards the management hub, from the root-only file `proxy.file` names.

    The credentials live in that file (mode 0600), not in the configuration, which
    more people may read; values are taken verbatim after the first `=`.
    """

    address: str
    port: int
    auth: str = "none"  # or "basic", "ntlm"
    user: str = ""
    password: str = field(default="", repr=False)
    source: str = ""


@dataclass
class Discovery:
    """Discovery's settings: off leaves the engine alone (flows and addresses only)."""

    enabled: bool = True
    data_dir: str = ""  # fingerprint databases; empty: $NPS_DATA_DIR, else /usr/share/nps-sensor/data


@dataclass
class Duplicates:
    """How far apart two sightings of one packet may be for the second to be a copy
    (seconds; see nps_sensor.dedupe and docs/engine.md for the trade-off)."""

    window: float = 0.01  # a copy that came another way (other TTL, VLAN, tunnel, MAC)
    identical_window: float = 0.0001  # a copy identical in every field, its path included


@dataclass
class Config:
    internal: list[Group] = field(default_factory=lambda: [default_group()])
    excluded: list[AddressRange] = field(default_factory=list)
    excluded_macs: set[int] = field(default_factory=set)
    monitor: list[Monitor] = field(default_factory=list)
    reporting: Reporting = field(default_factory=Reporting)
    flows: FlowSettings = field(default_factory=FlowSettings)
    duplicates: Duplicates = field(default_factory=Duplicates)
    sensing: Sensing = field(default_factory=Sensing)
    discovery: Discovery = field(default_factory=Discovery)
    proxy: Proxy | None = None
    source: str = "(defaults)"


def default_group() -> Group:
    return Group("Default", True, [parse_range(r) for r in DEFAULT_RANGES])


def address_int(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return V4_MAPPED | int(addr) if addr.version == 4 else int(addr)


def parse_range(text: str) -> AddressRange:
    """An address, a CIDR block or `first-last`; ValueError says what is wrong."""
    text = text.strip()
    if "-" in text and "/" not in text:
        a, _, b = text.partition("-")
        first, last = ipaddress.ip_address(a.strip()), ipaddress.ip_address(b.strip())
        if first.version != last.version:
            raise ValueError(f"{text!r} mixes IPv4 and IPv6")
        if int(last) < int(first):
            raise ValueError(f"{text!r} ends before it starts")
        return AddressRange(address_int(first), address_int(last), text)
    net = ipaddress.ip_network(text, strict=False)
    return AddressRange(address_int(net.network_address), address_int(net.broadcast_address), text)


def parse_mac(text: str) -> int:
    digits = text.replace(":", "").replace("-", "").replace(".", "").lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"{text!r} is not a MAC address (like 00:11:22:33:44:55)")
    return int(digits, 16)


# --- reading the file ------------------------------------------------------------


class _Reader:
    """Walks the YAML node tree so that every error can name its line."""

    def __init__(self, path: str) -> None:
        import yaml  # only when a file is read: a run on the defaults starts faster

        self.yaml = yaml
        self.path = path
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {where}: {problem}")

    def mapping(self, node: yaml.Node, where: str, allowed: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, self.yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping (key: value lines)")
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            key = self.scalar(k, where)
            if not isinstance(key, str) or key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(k, where, f"unknown key {key!r} (allowed: {known})")
            if key in out:
                raise self.fail(k, where, f"key {key!r} given twice")
            out[key] = v
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, self.yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, self.yaml.ScalarNode):
            raise self.fail(node, where, "expected a single value")
        return self.constructor.construct_object(node)

    def text(self, node: yaml.Node, where: str) -> str:
        value = self.scalar(node, where)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, where, f"expected a non-empty text, got {value!r}")
        return value.strip()

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            raise self.fail(node, where, f"expected true or false, got {value!r}")
        return value

    def number(self, node: yaml.Node, where: str, low: float, high: float) -> float:
        value = self.scalar(node, where)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, where, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(node, where, f"{value} is outside {low:g}..{high:g}")
        return float(value)

    def ranges(self, node: yaml.Node, where: str) -> list[AddressRange]:
        out = []
        for i, item in enumerate(self.sequence(node, where)):
            text = str(self.scalar(item, f"{where}[{i}]"))
            try:
                out.append(parse_range(text))
            except ValueError as e:
                raise self.fail(item, f"{where}[{i}]", f"{e} (expected an address, CIDR or first-last)") from None
        return out


TOP_LEVEL = {
    "internal",
    "excluded",
    "monitor_external",
    "reporting",
    "flows",
    "duplicates",
    "sensing",
    "discovery",
    "proxy",
}
MODES = ("DEFAULT", "ERSPAN")


def load(path: str | None) -> Config:
    """Read and check the configuration; None gives the defaults."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    return parse(text, path)


def parse(text: str, path: str = "<config>") -> Config:
    r = _Reader(path)
    yaml = r.yaml
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 0
        raise ConfigError(f"{path}:{line}: not valid YAML: {e.problem}") from None
    cfg = Config(source=path)
    if root is None:
        return cfg
    top = r.mapping(root, "top level", TOP_LEVEL)
    if "internal" in top:
        nodes = r.sequence(top["internal"], "internal")
        cfg.internal = [_group(r, g, f"internal[{i}]") for i, g in enumerate(nodes)]
        names = [g.name for g in cfg.internal]
        for i, g in enumerate(cfg.internal):
            if names.index(g.name) != i:
                raise r.fail(nodes[i], f"internal[{i}]", f"group name {g.name!r} used twice")
    if "excluded" in top:
        ex = r.mapping(top["excluded"], "excluded", {"ips", "macs"})
        if "ips" in ex:
            cfg.excluded = r.ranges(ex["ips"], "excluded.ips")
        for i, m in enumerate(r.sequence(ex["macs"], "excluded.macs") if "macs" in ex else []):
            try:
                cfg.excluded_macs.add(parse_mac(str(r.scalar(m, f"excluded.macs[{i}]"))))
            except ValueError as e:
                raise r.fail(m, f"excluded.macs[{i}]", str(e)) from None
    if "monitor_external" in top:
        items = r.sequence(top["monitor_external"], "monitor_external")
        cfg.monitor = [_monitor(r, m, f"monitor_external[{i}]") for i, m in enumerate(items)]
    if "reporting" in top:
        rep = r.mapping(top["reporting"], "reporting", {"new_assets_window", "updates_window"})
        if "new_assets_window" in rep:
            cfg.reporting.new_assets = r.number(rep["new_assets_window"], "reporting.new_assets_window", 1, 86400)
        if "updates_window" in rep:
            cfg.reporting.updates = r.number(rep["updates_window"], "reporting.updates_window", 1, 86400)
    if "flows" in top:
        fl = r.mapping(top["flows"], "flows", {"max_flows", "idle_timeout"})
        if "max_flows" in fl:
            cfg.flows.max_flows = int(r.number(fl["max_flows"], "flows.max_flows", 1000, 100_000_000))
        if "idle_timeout" in fl:
            cfg.flows.idle_timeout = r.number(fl["idle_timeout"], "flows.idle_timeout", 1, 86400)
    if "duplicates" in top:
        du = r.mapping(top["duplicates"], "duplicates", {"window_ms", "identical_window_ms"})
        if "window_ms" in du:
            cfg.duplicates.window = r.number(du["window_ms"], "duplicates.window_ms", 0, 10_000) / 1000
        if "identical_window_ms" in du:
            limit = "duplicates.identical_window_ms"
            cfg.duplicates.identical_window = r.number(du["identical_window_ms"], limit, 0, 10_000) / 1000
    if "sensing" in top:
        cfg.sensing = _sensing(r, top["sensing"])
    if "discovery" in top:
        di = r.mapping(top["discovery"], "discovery", {"enabled", "data_dir"})
        if "enabled" in di:
            cfg.discovery.enabled = r.boolean(di["enabled"], "discovery.enabled")
        if "data_dir" in di:
            cfg.discovery.data_dir = r.text(di["data_dir"], "discovery.data_dir")
    if "proxy" in top:
        cfg.proxy = _proxy(r, top["proxy"])
    return cfg


def _proxy(r: _Reader, node: yaml.Node) -> Proxy:
    m = r.mapping(node, "proxy", {"file"})
    if "file" not in m:
        raise r.fail(node, "proxy", "missing 'file' (the root-only file with the proxy's address and credentials)")
    name = r.text(m["file"], "proxy.file")
    path = Path(r.path).parent / name if not Path(name).is_absolute() else Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise r.fail(m["file"], "proxy.file", f"{path}: cannot read: {e.strerror or e}") from None
    return parse_proxy(text, str(path))


def proxy_values(text: str, path: str = "<proxy>") -> dict[str, str]:
    """The proxy file's `NPS_PROXY_ADDRESS=...` lines (PORT, AUTH, USER, PASSWORD likewise)
    as {address, port, auth, user, password}: one reading of the format for the service
    and the uplink. The password is kept as written: spaces can be part of it."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or key not in PROXY_KEYS:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE with a key among {', '.join(PROXY_KEYS)}")
        if PROXY_KEYS[key] in values:
            raise ConfigError(f"{path}:{number}: {key}: given twice")
        values[PROXY_KEYS[key]] = value if key == "NPS_PROXY_PASSWORD" else value.strip()
    return values


def parse_proxy(text: str, path: str = "<proxy>") -> Proxy:
    """The proxy file, checked as the service needs it."""
    values = proxy_values(text, path)
    if not values.get("address"):
        raise ConfigError(f"{path}: NPS_PROXY_ADDRESS: missing (the proxy's host name or address)")
    port = values.get("port", "")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{path}: NPS_PROXY_PORT: {port!r} is not a port (1 to 65535)")
    auth = values.get("auth", "none").lower() or "none"
    if auth not in PROXY_AUTH:
        raise ConfigError(f"{path}: NPS_PROXY_AUTH: {auth!r} is not one of {', '.join(PROXY_AUTH)}")
    if auth != "none" and not (values.get("user") and values.get("password")):
        raise ConfigError(f"{path}: NPS_PROXY_AUTH={auth} needs NPS_PROXY_USER and NPS_PROXY_PASSWORD")
    return Proxy(values["address"], int(port), auth, values.get("user", ""), values.get("password", ""), path)


def _sensing(r: _Reader, node: yaml.Node) -> Sensing:
    s = Sensing()
    m = r.mapping(node, "sensing", {"interfaces", "workers", "ring_mb", "spool", "status"})
    for i, item in enumerate(r.sequence(m["interfaces"], "sensing.interfaces") if "interfaces" in m else []):
        where = f"sensing.interfaces[{i}]"
        if isinstance(item, r.yaml.ScalarNode):
            s.interfaces.append(SniffingInterface(r.text(item, where)))
            continue
        it = r.mapping(item, where, {"name", "mode"})
        if "name" not in it:
            raise r.fail(item, where, "missing 'name'")
        name = r.text(it["name"], f"{where}.name")
        if len(name) > 15 or "/" in name or " " in name:
            raise r.fail(it["name"], f"{where}.name", f"{name!r} is not an interface name")
        mode = r.text(it["mode"], f"{where}.mode").upper() if "mode" in it else "DEFAULT"
        if mode not in MODES:
            raise r.fail(it["mode"], f"{where}.mode", f"{mode!r} is not one of {', '.join(MODES)}")
        s.interfaces.append(SniffingInterface(name, mode))
    names = [i.name for i in s.interfaces]
    if len(set(names)) != len(names):
        raise r.fail(m["interfaces"], "sensing.interfaces", "an interface is listed twice")
    if "workers" in m:
        s.workers = int(r.number(m["workers"], "sensing.workers", 0, 256))
    if "ring_mb" in m:
        s.ring_mb = int(r.number(m["ring_mb"], "sensing.ring_mb", 4, 4096))
    if "spool" in m:
        sp = r.mapping(m["spool"], "sensing.spool", {"directory", "max_mb"})
        if "directory" in sp:
            s.spool_dir = r.text(sp["directory"], "sensing.spool.directory")
        if "max_mb" in sp:
            s.spool_max_mb = int(r.number(sp["max_mb"], "sensing.spool.max_mb", 1, 10_000_000))
    if "status" in m:
        text = r.text(m["status"], "sensing.status")
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise r.fail(m["status"], "sensing.status", f"{text!r} is not host:port (like 127.0.0.1:8470)")
        s.status = text
    return s


def _group(r: _Reader, node: yaml.Node, where: str) -> Group:
    g = r.mapping(node, where, {"name", "inventory", "ranges"})
    for required in ("name", "ranges"):
        if required not in g:
            raise r.fail(node, where, f"missing {required!r}")
    inventory = r.boolean(g["inventory"], f"{where}.inventory") if "inventory" in g else True
    return Group(r.text(g["name"], f"{where}.name"), inventory, r.ranges(g["ranges"], f"{where}.ranges"))


def _monitor(r: _Reader, node: yaml.Node, where: str) -> Monitor:
    m = r.mapping(node, where, {"name", "targets"})
    for required in ("name", "targets"):
        if required not in m:
            raise r.fail(node, where, f"missing {required!r}")
    ranges, domains = [], []
    for i, item in enumerate(r.sequence(m["targets"], f"{where}.targets")):
        text = str(r.scalar(item, f"{where}.targets[{i}]")).strip()
        try:
            ranges.append(parse_range(text))
            continue
        except ValueError:
            pass
        name = text.lower().rstrip(".")
        label = name[2:] if name.startswith("*.") else name
        if not label or any(not part or len(part) > 63 for part in label.split(".")) or " " in label:
            raise r.fail(item, f"{where}.targets[{i}]", f"{text!r} is neither an address, a range nor a domain name")
        domains.append(name)
    return Monitor(r.text(m["name"], f"{where}.name"), ranges, domains)
