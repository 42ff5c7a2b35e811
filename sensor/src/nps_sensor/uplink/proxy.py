"""The way out to the hub: direct, or through an HTTP proxy (no authentication, Basic or NTLM).

The appliance's proxy settings live in a root-only file of `NPS_PROXY_*=value` lines
(the first boot, the console and the Ansible roles write it). A SOCKS proxy is
refused: the hub is reached with HTTPS through an HTTP proxy's CONNECT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from nps_sensor.config import PROXY_AUTH, proxy_values
from nps_sensor.errors import SensorError

DEFAULT_PROXY_FILE = "/etc/nps-sensor/proxy.env"


@dataclass
class ProxySettings:
    address: str
    port: int
    auth: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    def url(self) -> str:
        """The proxy URL for httpx (credentials inside: never log it)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        if self.auth == "basic":
            return f"http://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{host}:{self.port}"
        return f"http://{host}:{self.port}"


def parse(text: str, source: str) -> ProxySettings | None:
    """The proxy file (read as the service reads it), None when it names no proxy."""
    values = proxy_values(text, source)
    address = values.get("address", "")
    if not address:
        return None
    return check(
        address,
        values.get("port", ""),
        values.get("auth", "none") or "none",
        values.get("user", ""),
        values.get("password", ""),
        source,
    )


def check(address: str, port: str | int, auth: str, user: str, password: str, source: str) -> ProxySettings:
    scheme, sep, rest = address.partition("://")
    if sep:
        if scheme.lower().startswith("socks"):
            raise SensorError(
                f"{source}: {address} is a SOCKS proxy; the sensor reaches the hub over HTTPS through an HTTP "
                "proxy (CONNECT): configure an HTTP proxy"
            )
        if scheme.lower() not in ("http",):
            raise SensorError(f"{source}: proxy {address}: give the proxy's host name or address (an HTTP proxy)")
        address = rest.rstrip("/")
        if ":" in address and not address.startswith("[") and not port:
            address, _, port = address.rpartition(":")
    try:
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError
    except ValueError:
        raise SensorError(f"{source}: proxy port {port!r}: a number from 1 to 65535") from None
    auth = auth.lower()
    if auth not in PROXY_AUTH:
        raise SensorError(f"{source}: proxy authentication {auth!r}: none, basic or ntlm")
    if auth != "none" and not user:
        raise SensorError(f"{source}: {auth} proxy authentication needs NPS_PROXY_USER (DOMAIN\\user for NTLM)")
    return ProxySettings(address.strip("[]"), number, auth, user, password)


def load(path: str | None) -> ProxySettings | None:
    """The proxy file's settings; None without a file (no proxy)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SensorError(f"{path}: cannot read the proxy settings: {e.strerror} (run as root)") from None
    return parse(text, path)
