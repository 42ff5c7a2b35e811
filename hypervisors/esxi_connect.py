"""Connecting to ESXi or vCenter, and finding inventory objects by name.

TLS is verified by default (the system's CA store, or `ca_bundle`); `insecure` turns
verification off and the caller warns. The password is taken as a value, never
from a command line: the task reads it from the environment or a prompt.

Objects are looked up by name through container views, not by walking parent
links from the datacenter: the names a user types are the names vSphere shows,
and a missing one is reported with the ones that exist.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from .esxi_errors import DeployError

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect. `password` never shows in a repr."""

    server: str  # host, host:port or https://host[:port][/sdk]
    user: str
    password: str = field(repr=False)
    ca_bundle: Path | None = None
    insecure: bool = False

    @property
    def host(self) -> str:
        return urlsplit(self._url()).hostname or self.server

    @property
    def port(self) -> int:
        return urlsplit(self._url()).port or 443

    @property
    def netloc(self) -> str:
        """host:port, the way it replaces `*` in the lease's device URLs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _url(self) -> str:
        return self.server if "://" in self.server else f"https://{self.server}"


def ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """Verified TLS unless `insecure`; DeployError if the CA bundle cannot be read."""
    if endpoint.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=str(endpoint.ca_bundle) if endpoint.ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        raise DeployError(f"--ca-bundle {endpoint.ca_bundle}: cannot be read as PEM certificates ({exc})") from None


@dataclass
class Session:
    """A logged-in connection: the service content and what the deployer needs from it."""

    endpoint: Endpoint
    si: vim.ServiceInstance
    content: vim.ServiceInstanceContent
    context: ssl.SSLContext

    @property
    def is_vcenter(self) -> bool:
        return bool(self.content.about.apiType == "VirtualCenter")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the session may already be gone; nothing to tidy then
            Disconnect(self.si)


def connect(endpoint: Endpoint) -> Session:
    """Log in; every way this fails is one DeployError line naming the cause and the fix."""
    ctx = ssl_context(endpoint)
    where = endpoint.netloc
    try:
        si = SmartConnect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            pwd=endpoint.password,
            sslContext=ctx,
            httpConnectionTimeout=60,
        )
    except vim.fault.InvalidLogin:
        raise DeployError(
            f"{where}: login failed for {endpoint.user!r}: wrong user name or password (NPS_VSPHERE_PASSWORD)"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeployError(f"{where}: {tls_advice(exc, endpoint)}") from None
    except (ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError, http.client.HTTPException) as exc:
        raise DeployError(f"{where}: cannot reach the vSphere API ({exc}); check the host name and port") from None
    except vmodl.MethodFault as exc:
        raise DeployError(f"{where}: login failed: {fault_text(exc)}") from None
    except OSError as exc:
        raise DeployError(f"{where}: cannot reach the vSphere API ({exc.strerror or exc})") from None
    return Session(endpoint, si, si.RetrieveContent(), ctx)


# OpenSSL's X509_V_ERR_* codes that need their own advice.
_HOSTNAME_MISMATCH = {62, 64}  # hostname, IP address
_NOT_YET_OR_EXPIRED = {9, 10}
_WEAK = {66, 67, 68}  # EE key too small, CA key too small, CA digest too weak


def tls_advice(exc: ssl.SSLCertVerificationError, endpoint: Endpoint) -> str:
    """Why the certificate was refused and what fixes it: the advice fits the failure."""
    code, message = exc.verify_code, exc.verify_message
    if code in _HOSTNAME_MISMATCH:
        return (
            f"the server's TLS certificate is not for {endpoint.host!r} ({message}): connect by a name its "
            "certificate carries (its subjectAltName), or give the host a certificate for this name; a CA "
            "bundle does not change this"
        )
    if code in _NOT_YET_OR_EXPIRED:
        return f"the server's TLS certificate is {message}: renew it, or check this machine's and the host's clocks"
    if code in _WEAK:
        return (
            f"the server's TLS certificate is refused as too weak ({message}): replace it with a 2048-bit RSA or "
            "an EC key signed with SHA-256, or --insecure to skip the check"
        )
    if endpoint.ca_bundle is not None:
        return (
            f"the server's TLS certificate is not trusted ({message}): it is not signed by a CA in "
            f"{endpoint.ca_bundle}; give the CA that signed it (the host's or vCenter's root CA) with --ca-bundle"
        )
    return (
        f"the server's TLS certificate is not trusted ({message}): give its CA with --ca-bundle FILE, "
        "or --insecure to skip the check"
    )


def fault_text(exc: object) -> str:
    """A vSphere fault as one line: its message, else its type."""
    msg = getattr(exc, "msg", None) or getattr(exc, "localizedMessage", None)
    if not msg and isinstance(exc, vmodl.MethodFault):
        msg = exc.faultMessage[0].message if exc.faultMessage else ""
    return str(msg or type(exc).__name__.rsplit(".", 1)[-1]).replace("\n", " ")


def named(session: Session, root: vim.ManagedEntity, kind: type[T]) -> dict[str, T]:
    """Every object of `kind` below `root` by name, read in one property collector call."""
    content = session.content
    view = content.viewManager.CreateContainerView(root, [kind], True)
    try:
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[
                vmodl.query.PropertyCollector.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[
                        vmodl.query.PropertyCollector.TraversalSpec(
                            name="view", path="view", skip=False, type=vim.view.ContainerView
                        )
                    ],
                )
            ],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=kind, pathSet=["name"])],
        )
        found: dict[str, T] = {}
        for obj in content.propertyCollector.RetrieveContents([spec]):
            for prop in obj.propSet:
                found.setdefault(str(prop.val), cast(T, obj.obj))
        return found
    finally:
        view.Destroy()


def pick(found: Mapping[str, T], wanted: str, kind: str, option: str, where: str = "", kinds: str = "") -> T:
    """The object named `wanted`, or the only one when none is named; else a DeployError listing them."""
    at = f" {where}" if where else ""
    if wanted:
        if wanted in found:
            return found[wanted]
        raise DeployError(f"{kind} {wanted!r} not found{at}; available: {listing(found)}")
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise DeployError(f"no {kind}{at}")
    raise DeployError(f"several {kinds or kind + 's'}{at}: {listing(found)}; choose one with {option}")


def listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def wait_task(task: vim.Task, what: str, timeout: float = 600.0) -> Any:
    """Wait for a vSphere task; DeployError with its fault when it fails."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        info = task.info
        if info.state == vim.TaskInfo.State.success:
            return info.result
        if info.state == vim.TaskInfo.State.error:
            raise DeployError(f"{what} failed: {fault_text(info.error) if info.error else 'unknown error'}")
        if time.monotonic() > deadline:
            raise DeployError(f"{what}: no answer from vSphere after {timeout:.0f} s")
        time.sleep(0.1)
