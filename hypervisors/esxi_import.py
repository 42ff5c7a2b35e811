"""Importing the OVA: import spec, vApp import, HTTP NFC lease, disk upload.

What trips the other tools up is handled here, each on purpose:

- every network of the descriptor must be mapped (vSphere and the simulator fall
  back silently to some network), and every property given must be one the
  descriptor declares (vSphere ignores an unknown key: the value is silently lost);
- the import spec's errors fail the deploy, its warnings are shown (or fail it);
- the lease is waited for until ready or in error, and its error is the message;
- the lease is kept alive with HttpNfcLeaseProgress every few seconds from its own
  thread, whatever the upload does (a slow datastore must not expire it);
- `*` in a device URL is the host we are connected to; the disks are streamed out
  of the tar with a Content-Length, with a progress bar;
- any failure aborts the lease (and removes what the import created); the lease
  is completed only after every upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
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

                    _upload(session, device, item, ova, advance)
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


def _upload(
    session: Session,
    device: vim.HttpNfcLease.DeviceUrl,
    item: vim.OvfManager.FileItem,
    ova: Ova,
    advance: Callable[[int], None],
) -> None:
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
    conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=context, blocksize=_BLOCK)
    try:
        conn.connect()
        if pinned:
            cert = conn.sock.getpeercert(binary_form=True) if isinstance(conn.sock, ssl.SSLSocket) else None
            algorithm = "sha256" if len(pinned) == 64 else "sha1"  # vSphere gives SHA-1; allow for SHA-256
            if cert is None or hashlib.new(algorithm, cert).hexdigest() != pinned:
                raise DeployError(
                    f"uploading {item.path} to {url.hostname} refused: the host's TLS certificate is not the one "
                    "vCenter gives the thumbprint of (someone in between?)"
                )
        sent: OSError | None = None
        with open(ova.path, "rb") as f:
            f.seek(member.offset)
            try:
                conn.request(
                    "PUT" if item.create else "POST",
                    url.path + (f"?{url.query}" if url.query else ""),
                    body=cast(BinaryIO, _Slice(f, member.size, advance)),
                    headers={
                        "Content-Type": "application/x-vnd.vmware-streamVmdk",
                        "Content-Length": str(member.size),
                        "Connection": "close",
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
            raise DeployError(
                f"uploading {item.path} to {url.hostname} failed: HTTP {response.status} {response.reason}"
            )
    except (OSError, http.client.HTTPException) as exc:
        raise DeployError(f"uploading {item.path} to {url.hostname} failed: {exc}") from None
    finally:
        conn.close()
