"""`nps-sensor register --hub URL`: trade a personalization code for the sensor's own credential.

The code is read from a file, standard input or a prompt, never from the command
line (it would show in `ps`). The hub's certificate can be pinned with `--ca` (the
certificate) or `--fingerprint` (its SHA-256): the registration and every later
connection trust that certificate only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nps_sensor import __version__
from nps_sensor.errors import SensorError
from nps_sensor.pinning import FINGERPRINT
from nps_sensor.pinning import fingerprint as normalized
from nps_sensor.uplink import state
from nps_sensor.uplink.client import HubClient, inspecting_context
from nps_sensor.uplink.proxy import ProxySettings


def facts(hub: str) -> dict[str, str]:
    """What the hub shows about this appliance: model, version, management addresses and MAC."""
    out = {"version": __version__, "hostname": socket.gethostname(), "model": _model()}
    host = urlsplit(hub).hostname or ""
    ipv4 = _local_address(socket.AF_INET, host)
    out["mgmt_ipv4"] = ipv4
    iface = _interface_of(ipv4)
    out["mac"] = _read(f"/sys/class/net/{iface}/address") if iface else ""
    out["mgmt_ipv6"] = _ipv6_of(iface) if iface else ""
    return out


def _model() -> str:
    vendor = _read("/sys/class/dmi/id/sys_vendor")
    product = _read("/sys/class/dmi/id/product_name")
    return " ".join(x for x in (vendor, product) if x) or "unknown"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _local_address(family: int, host: str) -> str:
    """The source address towards the hub (connect() on UDP sends nothing)."""
    try:
        infos = socket.getaddrinfo(host, 443, family, socket.SOCK_DGRAM)
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(infos[0][4])
            return str(s.getsockname()[0])
    except OSError:
        return ""


def _interface_of(ipv4: str) -> str:
    if not ipv4:
        return ""
    try:
        import fcntl
        import struct

        for _, name in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                if socket.inet_ntoa(raw[20:24]) == ipv4:
                    return name
    except OSError:
        pass
    return ""


def _ipv6_of(iface: str) -> str:
    """The interface's first global IPv6 address (/proc/net/if_inet6, scope 00)."""
    for line in _read("/proc/net/if_inet6").splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[5] == iface and parts[3] == "00":
            h = parts[0]
            return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(h))
    return ""


def read_code(code_file: str | None, stdin: Any, prompt: bool) -> str:
    if code_file:
        try:
            text = Path(code_file).read_text()
        except OSError as e:
            raise SensorError(f"{code_file}: cannot read the personalization code: {e.strerror}") from None
    elif prompt:
        import getpass

        text = getpass.getpass("personalization code (14 digits): ")
    else:
        text = stdin.readline()
    code = "".join(c for c in text if c.isdigit() or c.isalpha())
    if not code:
        raise SensorError("no personalization code given (it is shown on the hub when the sensor is created)")
    return code


def pinned(hub: str, fingerprint: str, proxy: ProxySettings | None = None) -> str:
    """The hub's certificate (PEM) if its SHA-256 is `fingerprint`, from a connection on
    which nothing is sent but a health check; from then on it is trusted as with --ca.

    A fingerprint is what fits in a deployment property or is read out over the phone;
    the certificate itself does not."""
    want = normalized(fingerprint)
    if not FINGERPRINT.match(want):
        raise SensorError(f"fingerprint {fingerprint!r}: the SHA-256 of the hub's certificate, 64 hex digits")
    with HubClient(hub, proxy=proxy, context=inspecting_context()) as client:
        der = client.certificate()
    seen = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(seen, want):
        raise SensorError(
            f"the hub's certificate did not verify: {hub} shows SHA-256 {_colons(seen)}, not the pinned "
            f"{_colons(want)} (another hub, or an SSL-inspecting proxy on the way); nothing was sent to it"
        )
    return ssl.DER_cert_to_PEM_cert(der)


def _colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()


def register(
    hub: str,
    code: str,
    state_path: str,
    ca_file: str | None = None,
    proxy: ProxySettings | None = None,
    fingerprint: str | None = None,
) -> state.HubState:
    ca_pem = ""
    if ca_file:
        try:
            ca_pem = Path(ca_file).read_text()
        except OSError as e:
            raise SensorError(f"{ca_file}: cannot read the hub's certificate: {e.strerror}") from None
    elif fingerprint:
        ca_pem = pinned(hub, fingerprint, proxy)
    with HubClient(hub, ca_pem=ca_pem, proxy=proxy) as client:
        # A Retry stays one (the hub unreachable for now): a caller at boot tries again later.
        body = client.post("/api/v1/agent/register", json={"code": code, "facts": facts(hub)})
    try:
        new = state.HubState(
            hub=client.hub,
            token=str(body["token"]),
            sensor_id=int(body["sensor"]["id"]),
            name=str(body["sensor"]["name"]),
            ca_pem=ca_pem,
            heartbeat_interval=float(body.get("heartbeat_interval", 30)),
        )
    except (KeyError, TypeError, ValueError):
        raise SensorError(f"the hub at {hub} answered the registration with something unexpected") from None
    try:
        state.save(state_path, new)
    except OSError as e:
        raise SensorError(f"{state_path}: cannot store the registration: {e.strerror} (run as root)") from None
    return new
