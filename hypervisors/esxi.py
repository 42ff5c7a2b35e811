"""Deploy the sensor appliance to VMware ESXi or vCenter, in one idempotent step.

`deploy()` brings vSphere to what was asked, whatever it finds: the capture path
(the sniffing port group with VLAN 4095 and its own open security policy), the VM
imported from the OVA (thin disk, both networks mapped, the OVF properties, the
throughput profile), sized, with its sniffing NICs, its OVF environment where vCenter
does not build one, kept on its host in a cluster, powered on. It plans first
(reading only), then applies: `dry_run` prints the plan and stops. Run again, it finds
nothing to change and says so; a VM that exists is reconciled, never duplicated, and
changes only where an option asks: its size, NIC count, port groups and power state
are kept when the options are left out (`None`).

The day-2 doors share the same steps: `resize()` (guest shutdown with a time-out,
power off as the fallback, reconfigure, power on), `set_nics()` (sniffing VMXNET3
adapters added or removed; the appliance aggregates them) and `status()`.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from pyVmomi import vim, vmodl

from nps_image.ovf import MANAGEMENT_NETWORK, SNIFFING_NETWORK
from nps_image.sizing import DEFAULT_MBPS, Profile, profile_for

from . import esxi_ovfenv as ovfenv
from .esxi_cli import PASSWORD_ENV, SECRET_ENV
from .esxi_connect import Endpoint, Session, connect, fault_text, listing, named
from .esxi_errors import DeployError
from .esxi_import import ImportRequest, UploadLimits, import_ova
from .esxi_network import (
    CapturePath,
    capture_status,
    capture_steps,
    dv_capture_steps,
    find_dvportgroup,
    find_portgroup,
)
from .esxi_ova import (
    Ova,
    check_properties,
    disk_bytes,
    open_ova,
    ovf_configurations,
    ovf_networks,
    property_fixes,
    verify,
)
from .esxi_place import (
    Placement,
    Target,
    check_capacity,
    datacenter,
    datastore,
    find_vm,
    network,
    pin_record,
    pin_steps,
    pinned_host,
    resolve,
)
from .esxi_plan import Step, execute
from .esxi_vm import (
    dv_names,
    nic_network,
    nic_steps,
    power_on,
    reconfigure,
    sizing_steps,
    vm_nics,
)

__all__ = [
    "PASSWORD_ENV",
    "SECRET_ENV",
    "CapturePath",
    "DeployError",
    "Deployment",
    "Endpoint",
    "Placement",
    "UploadLimits",
    "deploy",
    "ovf_configurations",
    "ovf_networks",
    "property_fixes",
    "resize",
    "set_nics",
    "status",
]

# Secret OVF properties: never shown, never logged, never taken as arguments (esxi_cli).
SECRET_KEYS = frozenset(SECRET_ENV)
SHUTDOWN_TIMEOUT = 120.0
ANYWHERE = Placement()  # the only datacenter, cluster or host there is
UPLOAD_LIMITS = UploadLimits()
DEFAULT_MANAGEMENT = "VM Network"
DEFAULT_SNIFFING_NICS = 1

Say = Callable[[str], None]


@dataclass(frozen=True)
class Deployment:
    """Everything `deploy()` is asked for. Property values never show in a repr.

    None means "not asked": a new VM gets the default (VM Network, the default capture
    path, 1000 Mbit/s, one sniffing NIC, powered on), an existing VM keeps what it has.
    """

    ova: Path
    name: str = "nps-sensor"
    placement: Placement = ANYWHERE
    management_network: str | None = None
    capture: CapturePath | None = None
    throughput: int | None = None
    sniffing_nics: int | None = None
    reserve: bool = False  # full CPU and memory reservations: a sensor on shared cores drops packets
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)
    thin: bool = True
    fail_on_warnings: bool = False
    reconcile: bool = True
    power_on: bool | None = None
    shutdown_timeout: float = SHUTDOWN_TIMEOUT
    upload: UploadLimits = UPLOAD_LIMITS


def shown(key: str, value: str) -> str:
    """A property as a plan shows it: secrets hidden."""
    return f"{key}=(secret, given)" if key in SECRET_KEYS and value else f"{key}={value!r}"


# --- the doors ---------------------------------------------------------------------------


@contextmanager
def connected(endpoint: Endpoint) -> Iterator[Session]:
    """A session for the block; what vSphere or the network throws at it becomes one DeployError line."""
    session = connect(endpoint)
    try:
        yield session
    except vmodl.MethodFault as exc:
        raise DeployError(f"{endpoint.netloc}: vSphere refused a request: {fault_text(exc)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeployError(f"{endpoint.netloc}: the connection failed: {exc}") from None
    finally:
        session.close()


def deploy(
    endpoint: Endpoint, deployment: Deployment, *, dry_run: bool = False, say: Say = print, quiet: bool = False
) -> bool:
    """Bring vSphere to `deployment`; True if anything changed (or would, with `dry_run`)."""
    if deployment.sniffing_nics is not None and deployment.sniffing_nics < 1:
        raise DeployError("--sniffing-nics: at least 1")
    try:
        profile = profile_for(deployment.throughput) if deployment.throughput is not None else None
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    ova = open_ova(deployment.ova)
    verify(ova, quiet=quiet)
    try:
        etree.fromstring(ova.descriptor.encode())
    except etree.XMLSyntaxError as exc:
        raise DeployError(
            f"{ova.path}: {ova.descriptor_name} line {exc.lineno}: not well-formed XML ({exc.msg})"
        ) from None
    check_properties(ova, deployment.properties)
    unmapped = [n for n in ovf_networks(ova) if n not in (MANAGEMENT_NETWORK, SNIFFING_NETWORK)]
    if unmapped:
        raise DeployError(
            f"the OVF's network(s) {', '.join(unmapped)} would not be mapped: this deployer maps "
            f"{MANAGEMENT_NETWORK!r} and {SNIFFING_NETWORK!r} only"
        )
    with connected(endpoint) as session:
        target = resolve(session, deployment.placement)
        vm = find_vm(session, target.datacenter, deployment.name)
        if vm is not None and not deployment.reconcile:
            raise DeployError(
                f"a VM named {deployment.name!r} exists in {target.datacenter.name} and "
                "--no-reconcile leaves it alone: choose another --name, or drop --no-reconcile"
            )
        if vm is None:
            steps = _new_vm_steps(session, target, ova, deployment, profile or profile_for(DEFAULT_MBPS), say, quiet)
        else:
            steps = _existing_vm_steps(session, target, vm, deployment, profile, say)
        return execute(steps, dry_run=dry_run, subject=deployment.name, say=say)


def _capture_steps(session: Session, target: Target, capture: CapturePath) -> list[Step]:
    if capture.dvswitch or find_dvportgroup(session, target.datacenter, capture.portgroup):
        return dv_capture_steps(session, target.datacenter, capture)
    return capture_steps(target.host, capture)


def _vm_capture(session: Session, target: Target, vm: vim.VirtualMachine) -> CapturePath:
    """The capture path an existing VM's sniffing NICs use: kept when no option names one."""
    nics = vm_nics(vm)[1:]
    if not nics:
        return CapturePath()
    name = nic_network(nics[0], dv_names(session, target.datacenter))
    if find_dvportgroup(session, target.datacenter, name):
        return CapturePath(portgroup=name)
    pg = find_portgroup(target.host, name)
    return CapturePath(portgroup=name, vswitch=pg.spec.vswitchName) if pg else CapturePath(portgroup=name)


def _existing_vm_steps(
    session: Session,
    target: Target,
    vm: vim.VirtualMachine,
    deployment: Deployment,
    profile: Profile | None,
    say: Say,
) -> list[Step]:
    """What brings an existing VM to what the options ask; the rest is kept."""
    if vm.runtime.host is not None and vm.runtime.host != target.host:
        say(f"note: VM {vm.name} runs on {vm.runtime.host.name}, not {target.host.name}: its capture path is there")
        target.host = vm.runtime.host  # the capture path goes where the VM runs
    capture = deployment.capture or _vm_capture(session, target, vm)
    steps = _capture_steps(session, target, capture)
    if profile is not None:
        check_capacity(target.host, profile)
    sizing, cycles = sizing_steps(vm, target.host, profile, deployment.reserve, deployment.shutdown_timeout, say)
    steps += sizing
    steps += nic_steps(
        session, target, vm, deployment.management_network or "", capture.portgroup, deployment.sniffing_nics
    )
    steps += pin_steps(target, vm.name, lambda: vm, vm_now=True)
    if pinned_host(vm) is None:
        record = vim.vm.ConfigSpec(extraConfig=[pin_record(target.host)])
        steps.append(
            Step(
                f"VM {vm.name}: record its host {target.host.name} (status reports a move)",
                lambda: reconfigure(vm, record, f"recording the host of {vm.name}"),
            )
        )
    running = vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOn
    if (deployment.power_on and (cycles or not running)) or (deployment.power_on is None and cycles and running):
        steps.append(Step(f"VM {vm.name}: power on", lambda: power_on(vm)))
    return steps


def _new_vm_steps(
    session: Session,
    target: Target,
    ova: Ova,
    deployment: Deployment,
    profile: Profile,
    say: Say,
    quiet: bool,
) -> list[Step]:
    """The capture path, then the import and what follows it, checked against the host first."""
    capture = deployment.capture or CapturePath()
    ds = datastore(target.host, deployment.placement.datastore)
    check_capacity(target.host, profile, ds, disk_bytes(ova, deployment.thin), swap=not deployment.reserve)
    mgmt = network(session, target, deployment.management_network or DEFAULT_MANAGEMENT)
    return _capture_steps(session, target, capture) + _import_steps(
        session, target, ova, deployment, profile, capture, mgmt, ds, say, quiet
    )


def _import_steps(
    session: Session,
    target: Target,
    ova: Ova,
    deployment: Deployment,
    profile: Profile,
    capture: CapturePath,
    mgmt: vim.Network,
    ds: vim.Datastore,
    say: Say,
    quiet: bool,
) -> list[Step]:
    name = deployment.name
    option = profile.id if profile.id in ovf_configurations(ova) else ""
    props = ", ".join(shown(k, v) for k, v in deployment.properties.items()) or "the OVA's defaults"
    networks = f"{MANAGEMENT_NETWORK} -> {mgmt.name}, {SNIFFING_NETWORK} -> {capture.portgroup}"
    upload = (
        f"the disk goes straight to ESXi host {target.host.name} (port 443; this machine needs DNS and HTTPS to it)"
        if session.is_vcenter
        else f"the disk goes to {session.endpoint.netloc}"
    )
    created: list[vim.VirtualMachine] = []

    def run_import() -> None:
        request = ImportRequest(
            name=name,
            deployment_option=option,
            network_map={MANAGEMENT_NETWORK: mgmt, SNIFFING_NETWORK: network(session, target, capture.portgroup)},
            properties=dict(deployment.properties),
            thin=deployment.thin,
        )
        created.append(_import(session, target, ova, request, deployment, ds, say, quiet))

    def shape() -> None:
        # The imported VM, brought to the rest of the deployment (size, NICs) like an existing one.
        steps, _ = sizing_steps(created[0], target.host, profile, deployment.reserve, deployment.shutdown_timeout, say)
        count = deployment.sniffing_nics or DEFAULT_SNIFFING_NICS
        steps += nic_steps(session, target, created[0], mgmt.name, capture.portgroup, count)
        for step in steps:
            step.run()

    def environment() -> None:
        _write_environment(session, target, ova, deployment.properties, option, created[0], say)

    after = []
    count = deployment.sniffing_nics or DEFAULT_SNIFFING_NICS
    if count > 1:
        after.append(f"add {count - 1} sniffing NIC(s)")
    if deployment.reserve:
        after.append("reserve CPU and memory")
    transport = _transport_text(session.is_vcenter)

    def import_shaped() -> None:
        run_import()
        if not after:
            shape()  # nothing the plan names, but the same check as for an existing VM

    steps = [
        Step(
            f"import {ova.path.name} as VM {name} on {target.host.name}: datastore {ds.name} "
            f"({'thin' if deployment.thin else 'thick'}), profile {profile.label}, networks {networks}, "
            f"properties {props}; {upload}",
            import_shaped,
        ),
    ]
    if after:
        steps.append(Step(f"VM {name}: {', '.join(after)}", shape))
    steps.append(Step(f"VM {name}: OVF environment: {transport}", environment))
    steps += pin_steps(target, name, lambda: created[0], vm_now=False)
    if deployment.power_on is not False:
        steps.append(Step(f"VM {name}: power on", lambda: power_on(created[0])))
    return steps


def _import(
    session: Session,
    target: Target,
    ova: Ova,
    request: ImportRequest,
    deployment: Deployment,
    ds: vim.Datastore,
    say: Say,
    quiet: bool,
) -> vim.VirtualMachine:
    """The import, then what vSphere did not apply of it and the host the VM was placed on."""
    vm = import_ova(
        session,
        ova,
        request,
        pool=target.pool,
        datastore=ds,
        host=target.host,
        folder=target.folder,
        fail_on_warnings=deployment.fail_on_warnings,
        say=say,
        quiet=quiet,
        limits=deployment.upload,
    )
    spec = vim.vm.ConfigSpec(extraConfig=[pin_record(target.host)])
    fixes = property_fixes(vm.config.vAppConfig, deployment.properties)
    if fixes:
        say(f"  the host did not apply the OVF properties {', '.join(sorted(fixes))}: setting them")
        spec.vAppConfig = vim.vApp.VmConfigSpec(property=list(fixes.values()))
    reconfigure(vm, spec, f"setting up {vm.name}")
    return vm


def _transport_text(vcenter: bool) -> str:
    if vcenter:
        return (
            "vCenter builds it at power-on (ISO and guestInfo transports); written into guestinfo.ovfEnv instead "
            "if the imported VM has no vApp options"
        )
    return f"written into {ovfenv.GUESTINFO_KEY} before power-on (a standalone ESXi host builds none)"


def _write_environment(
    session: Session,
    target: Target,
    ova: Ova,
    values: Mapping[str, str],
    option: str,
    vm: vim.VirtualMachine,
    say: Say,
) -> None:
    """The OVF environment into `guestinfo.ovfEnv`, unless vCenter builds it at power-on."""
    if ovfenv.vcenter_builds_it(vm, session.is_vcenter):
        transports = ", ".join(vm.config.vAppConfig.ovfEnvironmentTransport)
        say(f"  vCenter builds the OVF environment at each power-on ({transports})")
        return
    dv = dv_names(session, target.datacenter)
    xml = ovfenv.document(
        {**ovfenv.defaults(ova.descriptor.encode()), **values},
        vm_id=str(vm._moId),
        vcenter=session.is_vcenter,
        platform=ovfenv.platform_of(session.content, target.host),
        adapters=ovfenv.adapters_of(vm, [nic_network(n, dv) for n in vm_nics(vm)]),
        deployment_option=option,
    )
    reconfigure(vm, ovfenv.write_spec(xml), f"writing the OVF environment of {vm.name}")


def _existing_vm(session: Session, placement: Placement, name: str) -> tuple[Target, vim.VirtualMachine]:
    dc = datacenter(session, placement.datacenter)
    vm = find_vm(session, dc, name)
    if vm is None:
        vms = named(session, dc.vmFolder, vim.VirtualMachine)
        raise DeployError(f"no VM named {name!r} in datacenter {dc.name}; VMs there: {listing(vms)}")
    host, pool = vm.runtime.host, vm.resourcePool
    if host is None or pool is None:
        raise DeployError(f"VM {name!r} is not on a host (orphaned or inaccessible?)")
    return Target(dc, host, pool, None), vm


def resize(
    endpoint: Endpoint,
    name: str,
    throughput: int,
    *,
    placement: Placement = ANYWHERE,
    reserve: bool = False,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    dry_run: bool = False,
    say: Say = print,
) -> bool:
    """Size the VM for `throughput` (guest shutdown, reconfigure, power on again if it was on)."""
    try:
        profile = profile_for(throughput)
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    with connected(endpoint) as session:
        target, vm = _existing_vm(session, placement, name)
        was_on = vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOn
        check_capacity(target.host, profile)
        steps, cycles = sizing_steps(vm, target.host, profile, reserve, shutdown_timeout, say)
        if cycles and was_on:
            steps.append(Step(f"VM {name}: power on", lambda: power_on(vm)))
        return execute(steps, dry_run=dry_run, subject=name, say=say)


def set_nics(
    endpoint: Endpoint,
    name: str,
    *,
    add: int = 0,
    remove: int = 0,
    count: int | None = None,
    portgroup: str = CapturePath.portgroup,
    management_network: str = "VM Network",
    placement: Placement = ANYWHERE,
    dry_run: bool = False,
    say: Say = print,
) -> bool:
    """Add or remove sniffing VMXNET3 adapters (or set their `count`); at least one stays."""
    with connected(endpoint) as session:
        target, vm = _existing_vm(session, placement, name)
        nics = vm_nics(vm)
        mgmt_name = nic_network(nics[0], dv_names(session, target.datacenter)) if nics else management_network
        current = max(len(nics) - 1, 0)
        wanted = count if count is not None else current + add - remove
        if wanted < 1:
            raise DeployError(f"VM {name} has {current} sniffing NIC(s): at least one must stay")
        steps = nic_steps(session, target, vm, mgmt_name, portgroup, wanted)
        return execute(steps, dry_run=dry_run, subject=name, say=say)


def status(
    endpoint: Endpoint, name: str, *, placement: Placement = ANYWHERE, capture: CapturePath | None = None
) -> dict[str, Any]:
    """The VM and its capture path as vSphere reports them (the path its sniffing NICs use, unless named)."""
    with connected(endpoint) as session:
        target, vm = _existing_vm(session, placement, name)
        capture = capture or _vm_capture(session, target, vm)
        hw = vm.config.hardware
        nics = vm_nics(vm)
        dv = dv_names(session, target.datacenter)
        pinned = pinned_host(vm)
        return {
            "name": vm.name,
            "power": str(vm.runtime.powerState),
            "host": str(target.host.name),
            "deployed_on": pinned,
            "moved": pinned is not None and pinned != str(target.host.name),
            "vcpus": int(hw.numCPU),
            "memory_mb": int(hw.memoryMB),
            "guest_ip": vm.guest.ipAddress if vm.guest else None,
            "management_nic": nic_network(nics[0], dv) if nics else None,
            "sniffing_nics": [nic_network(n, dv) for n in nics[1:]],
            "capture": capture_status(
                target.host, capture, find_dvportgroup(session, target.datacenter, capture.portgroup)
            ),
        }
