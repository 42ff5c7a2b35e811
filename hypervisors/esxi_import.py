"""Importing the OVA: import spec, vApp import, HTTP NFC lease, disk upload.

What trips the other tools up is handled here, each on purpose:

- every network of the descriptor must be mapped (vSphere and the simulator fall
  back silently to some network), and every property given must be one the
  descriptor declares (vSphere ignores an unknown key: the value is silently lost);
- the import spec's errors fail the deploy, its warnings are shown (or fail it);
- the lease is waited for until ready or in error, and its error is the message;
- the lease is kept alive with HttpNfcLeaseProgress every few seconds from its own
  thread, whatever the upload does (a slow datastore must not expire it);
- `*` in a device URL is the host we are connected to; through vCenter the URL names
  the ESXi host itself, which this machine must resolve and reach on its port: that
  is checked before the first byte, with a clear line if it cannot;
- the files are streamed out of the tar with a Content-Length and a progress bar; a
  PUT carries `Overwrite: t`, as ovftool and govc send it;
- uploads end: a connect time-out, and a stall detector (the socket's time-out: no
  block accepted, or no answer, for `stall` seconds) that fails the upload naming the
  host, the bytes sent and the cause;
- any failure aborts the lease with its cause (and removes what the import created);
  the lease is completed only after every upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from pyVmomi import vim, vmodl

from .esxi_connect import Session, fault_text, wait_task
from .esxi_errors import DeployError
from .esxi_ova import Ova, progress_bar

log = logging.getLogger(__name__)

LEASE_READY_TIMEOUT = 300.0
KEEPALIVE_SECONDS = 5.0
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """How long an upload may wait: to connect, and without progress (a stall)."""

    connect: float = 30.0
    stall: float = 120.0


DEFAULT_LIMITS = UploadLimits()


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how: the parameters of CreateImportSpec, by name."""

    name: str
    deployment_option: str
    network_map: Mapping[str, vim.Network]  # OVF network name -> vSphere network
    properties: Mapping[str, str]
    thin: bool = True


def import_spec_params(request: ImportRequest) -> vim.OvfManager.CreateImportSpecParams:
    """The CreateImportSpec parameters (kept apart so that the tests can check what is sent)."""
    return vim.OvfManager.CreateImportSpecParams(
        entityName=request.name,
        deploymentOption=request.deployment_option,
        diskProvisioning="thin" if request.thin else "thick",
        networkMapping=[
            vim.OvfManager.NetworkMapping(name=ovf_name, network=network)
            for ovf_name, network in request.network_map.items()
        ],
        propertyMapping=[vim.KeyValue(key=k, value=v) for k, v in request.properties.items()],
    )


def import_ova(
    session: Session,
    ova: Ova,
    request: ImportRequest,
    *,
    pool: vim.ResourcePool,
    datastore: vim.Datastore,
    host: vim.HostSystem | None,
    folder: vim.Folder | None,
    fail_on_warnings: bool = False,
    say: Callable[[str], None] = print,
    quiet: bool = False,
    limits: UploadLimits = DEFAULT_LIMITS,
) -> vim.VirtualMachine:
    """Import `ova` as `request.name`; the new VM (powered off), or DeployError with nothing left behind."""
    result = session.content.ovfManager.CreateImportSpec(
        ovfDescriptor=ova.descriptor, resourcePool=pool, datastore=datastore, cisp=import_spec_params(request)
    )
    if result.error:
        raise DeployError("the host refused the OVF: " + "; ".join(fault_text(e) for e in result.error))
    for warning in result.warning or []:
        if fail_on_warnings:
            raise DeployError(f"the host warns about the OVF (--fail-on-warnings): {fault_text(warning)}")
        say(f"warning from the host: {fault_text(warning)}")
    if result.importSpec is None:
        raise DeployError("the host returned no import spec for the OVF")
    items = {item.deviceId: item for item in result.fileItem or []}
    for item in items.values():
        if item.path not in ova.members:
            raise DeployError(f"{ova.path}: the descriptor references {item.path}, which the OVA does not hold")

    try:
        lease = pool.ImportVApp(spec=result.importSpec, folder=folder, host=host)
    except vmodl.MethodFault as exc:
        raise DeployError(f"importing {request.name} failed: {fault_text(exc)}") from None
    try:
        _wait_ready(lease, request.name)
        vm = cast(vim.VirtualMachine, lease.info.entity)  # read now: a completed lease is gone
        uploads = [(device, items[device.importKey]) for device in lease.info.deviceUrl if device.importKey in items]
        missing = set(items) - {d.importKey for d, _ in uploads}
        if missing:
            raise DeployError(f"the host's lease has no upload URL for {', '.join(sorted(missing))}")
        total = sum(ova.members[item.path].size for _, item in uploads)
        for where in sorted({_host_port(device_url(d.url, session)) for d, _ in uploads}):
            _reachable(where, limits.connect, vcenter=session.is_vcenter)
        keepalive = _KeepAlive(lease, total)
        keepalive.start()
        try:
            with progress_bar() as bar:
                for device, item in uploads:
                    member = ova.members[item.path]
                    task = bar.add_task(f"uploading {item.path}", total=member.size, visible=not quiet)

                    def advance(n: int, task: Any = task) -> None:
                        bar.advance(task, n)
                        keepalive.sent += n

                    _upload(session, device, item, ova, advance, limits, (keepalive.sent, total))
        finally:
            keepalive.stop()
        lease.HttpNfcLeaseProgress(percent=100)
        lease.HttpNfcLeaseComplete()
    except BaseException as exc:
        _abort(lease, exc)
        raise
    return vm


def _wait_ready(lease: vim.HttpNfcLease, name: str) -> None:
    deadline = time.monotonic() + LEASE_READY_TIMEOUT
    while True:
        state = lease.state
        if state == vim.HttpNfcLease.State.ready:
            return
        if state == vim.HttpNfcLease.State.error:
            raise DeployError(f"importing {name} failed: the host's lease is in error: {fault_text(lease.error)}")
        if state == vim.HttpNfcLease.State.done:
            raise DeployError(f"importing {name} failed: the host ended the lease before the upload")
        if time.monotonic() > deadline:
            raise DeployError(f"importing {name}: the lease was not ready after {LEASE_READY_TIMEOUT:.0f} s")
        time.sleep(0.2)


def _abort(lease: vim.HttpNfcLease, exc: BaseException) -> None:
    """Give the lease up and remove the half-imported VM (vSphere does; the simulator does not)."""
    entity = None
    with contextlib.suppress(Exception):  # an errored lease may have no info; the abort still matters
        entity = lease.info.entity if lease.info else None
    try:
        fault = exc if isinstance(exc, vmodl.MethodFault) else vmodl.fault.SystemError(reason=str(exc)[:200])
        lease.HttpNfcLeaseAbort(fault=fault)
    except Exception as abort_exc:  # the lease may already be gone
        log.debug("lease abort: %s", fault_text(abort_exc))
    if entity is None:
        return
    try:
        if entity.runtime.powerState == vim.VirtualMachine.PowerState.poweredOff:
            wait_task(entity.Destroy_Task(), "removing the half-imported VM", timeout=120)
    except (vmodl.fault.ManagedObjectNotFound, DeployError):
        pass
    except Exception as cleanup_exc:  # best effort: the original failure is what the user needs
        log.debug("cleanup after a failed import: %s", fault_text(cleanup_exc))


class _KeepAlive(threading.Thread):
    """HttpNfcLeaseProgress every few seconds, so that the lease never times out during the upload."""

    def __init__(self, lease: vim.HttpNfcLease, total: int) -> None:
        super().__init__(name="nfc-lease-keepalive", daemon=True)
        self.lease = lease
        self.total = max(total, 1)
        self.sent = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(KEEPALIVE_SECONDS):
            percent = min(99, self.sent * 100 // self.total)
            try:
                self.lease.HttpNfcLeaseProgress(percent=percent)
            except Exception as exc:  # the upload's own failure will say more
                log.debug("lease keepalive: %s", fault_text(exc))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


class _Slice:
    """A window of the OVA file, read by http.client in blocks, counted as it goes."""

    def __init__(self, f: BinaryIO, size: int, advance: Callable[[int], None]) -> None:
        self.f = f
        self.left = size
        self.advance = advance

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        self.advance(len(data))
        return data


def device_url(url: str, session: Session) -> str:
    """The upload URL with `*` (the host answering the API, as ESXi writes it) replaced."""
    parts = urlsplit(url)
    if parts.hostname == "*":
        return parts._replace(netloc=session.endpoint.netloc).geturl()
    return url


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


def _reachable(where: tuple[str, int], timeout: float, vcenter: bool) -> None:
    """DeployError before any byte is sent when the upload's host cannot be resolved or reached."""
    host, port = where
    whose = " (vCenter sends the disk straight to the ESXi host)" if vcenter else ""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except socket.gaierror as exc:
        raise DeployError(
            f"the upload goes to {host}:{port}{whose}, whose name this machine cannot resolve ({exc.strerror}): "
            "add it to DNS or /etc/hosts"
        ) from None
    except OSError as exc:
        cause = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise DeployError(
            f"the upload goes to {host}:{port}{whose}, which this machine cannot reach ({cause}): "
            f"open HTTPS ({port}) from here to it"
        ) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _upload(
    session: Session,
    device: vim.HttpNfcLease.DeviceUrl,
    item: vim.OvfManager.FileItem,
    ova: Ova,
    advance: Callable[[int], None],
    limits: UploadLimits,
    progress: tuple[int, int],
) -> None:
    """One file to the host: connect within `limits.connect`, fail after `limits.stall` without progress."""
    url = urlsplit(device_url(device.url, session))
    context = session.context
    pinned = ""
    if urlsplit(device.url).hostname != "*" and device.sslThumbprint and not session.endpoint.insecure:
        # A host behind vCenter: its certificate is pinned by the lease's thumbprint.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        pinned = device.sslThumbprint.replace(":", "").lower()
    member = ova.members[item.path]
    where = f"{url.hostname}:{url.port or 443}"
    before, total = progress
    counted = _Counted(advance)
    conn = http.client.HTTPSConnection(
        url.hostname or "", url.port or 443, context=context, blocksize=_BLOCK, timeout=limits.connect
    )
    try:
        conn.connect()
        conn.sock.settimeout(limits.stall)  # from now on, the stall detector
        if pinned:
            cert = conn.sock.getpeercert(binary_form=True) if isinstance(conn.sock, ssl.SSLSocket) else None
            algorithm = "sha256" if len(pinned) == 64 else "sha1"  # vSphere gives SHA-1; allow for SHA-256
            if cert is None or hashlib.new(algorithm, cert).hexdigest() != pinned:
                raise DeployError(
                    f"uploading {item.path} to {where} refused: the host's TLS certificate is not the one "
                    "vCenter gives the thumbprint of (someone in between?)"
                )
        sent: OSError | None = None
        with open(ova.path, "rb") as f:
            f.seek(member.offset)
            try:
                conn.request(
                    "PUT" if item.create else "POST",
                    url.path + (f"?{url.query}" if url.query else ""),
                    body=cast(BinaryIO, _Slice(f, member.size, counted)),
                    headers={
                        "Content-Type": "application/x-vnd.vmware-streamVmdk",
                        "Content-Length": str(member.size),
                        "Connection": "close",
                        **({"Overwrite": "t"} if item.create else {}),
                    },
                )
            except OSError as exc:
                sent = exc  # the host may have answered (404, 403) and closed before taking it all
        try:
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            if sent is not None:
                raise sent from None
            raise
        response.read()
        if response.status not in (200, 201):
            raise DeployError(f"uploading {item.path} to {where} failed: HTTP {response.status} {response.reason}")
    except TimeoutError:
        done = before + counted.n
        stage = "no answer" if counted.n >= member.size else "no bytes accepted"
        raise DeployError(
            f"uploading {item.path} to {where} stalled: {stage} for {limits.stall:.0f} s after {_mb(done)} of "
            f"{_mb(total)} sent; the import is aborted"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        cause = _cause(exc)
        raise DeployError(
            f"uploading {item.path} to {where} failed after {_mb(before + counted.n)} of {_mb(total)} sent: {cause}"
        ) from None
    finally:
        conn.close()


class _Counted:
    """The bytes handed to the connection, for the progress bar and for the failure's line."""

    def __init__(self, advance: Callable[[int], None]) -> None:
        self.advance = advance
        self.n = 0

    def __call__(self, n: int) -> None:
        self.n += n
        self.advance(n)


def _cause(exc: BaseException) -> str:
    """What cut a connection, in words: OpenSSL's "EOF occurred in violation of protocol" is a close."""
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return f"the host closed the connection ({exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    return str(exc)
