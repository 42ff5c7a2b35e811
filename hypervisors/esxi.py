"""Deploy the sensor appliance to VMware ESXi or vCenter, in one idempotent step.

`deploy()` brings vSphere to what was asked, whatever it finds: the capture path
(sniffing port group with VLAN 4095 and an open security policy, on it and its
vSwitch), the VM imported from the OVA (thin disk, both networks mapped, the OVF
properties, the throughput profile), sized, with its sniffing NICs, powered on.
Run again, it finds nothing to change and says so; a VM that exists with other
settings is reconciled, never duplicated. It plans first (reading only), then
applies: `dry_run` prints the plan and stops.

The day-2 doors share the same steps: `resize()` (guest shutdown with a time-out,
power off as the fallback, reconfigure, power on), `set_nics()` (sniffing VMXNET3
adapters added or removed; the appliance aggregates them) and `status()`.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from pyVmomi import vim, vmodl

from nps_image.ovf import MANAGEMENT_NETWORK, NS, SNIFFING_NETWORK, properties
from nps_image.sizing import DEFAULT_MBPS, Profile, profile_for

from .esxi_cli import PASSWORD_ENV, SECRET_ENV
from .esxi_connect import Endpoint, Session, connect, fault_text, listing, named, pick, wait_task
from .esxi_errors import DeployError
from .esxi_import import ImportRequest, import_ova
from .esxi_network import CapturePath, capture_status, capture_steps, dv_capture_steps, find_dvportgroup
from .esxi_ova import Ova, open_ova, verify
from .esxi_plan import Step, execute

__all__ = [
    "PASSWORD_ENV",
    "SECRET_ENV",
    "CapturePath",
    "DeployError",
    "Deployment",
    "Endpoint",
    "Placement",
    "deploy",
    "resize",
    "set_nics",
    "status",
]

# Secret OVF properties: never shown, never logged, never taken as arguments (esxi_cli).
SECRET_KEYS = frozenset(SECRET_ENV)
SHUTDOWN_TIMEOUT = 120.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class Placement:
    """Where the VM goes, by the names vSphere shows; empty means "the only one there is"."""

    datacenter: str = ""
    cluster: str = ""
    host: str = ""
    resource_pool: str = ""
    folder: str = ""
    datastore: str = ""


@dataclass(frozen=True)
class Deployment:
    """Everything `deploy()` is asked for. Property values never show in a repr."""

    ova: Path
    name: str = "nps-sensor"
    placement: Placement = Placement()
    management_network: str = "VM Network"
    capture: CapturePath = field(default_factory=CapturePath)
    throughput: int = DEFAULT_MBPS
    sniffing_nics: int = 1
    reserve: bool = False  # full CPU and memory reservations: a sensor on shared cores drops packets
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)
    thin: bool = True
    fail_on_warnings: bool = False
    reconcile: bool = True
    power_on: bool = True
    shutdown_timeout: float = SHUTDOWN_TIMEOUT


@dataclass
class Target:
    """The placement resolved to objects."""

    datacenter: vim.Datacenter
    host: vim.HostSystem
    pool: vim.ResourcePool
    folder: vim.Folder | None  # None on a standalone ESXi host, which takes no folder


def shown(key: str, value: str) -> str:
    """A property as a plan shows it: secrets hidden."""
    return f"{key}=(secret, given)" if key in SECRET_KEYS and value else f"{key}={value!r}"


# --- resolving names ---------------------------------------------------------------------


def _datacenter(session: Session, name: str) -> vim.Datacenter:
    return pick(named(session, session.content.rootFolder, vim.Datacenter), name, "datacenter", "--datacenter")


def resolve(session: Session, placement: Placement) -> Target:
    """The objects the placement names; DeployError listing the available ones for a missing name."""
    dc = _datacenter(session, placement.datacenter)
    where = f"in datacenter {dc.name}"
    hosts = named(session, dc.hostFolder, vim.HostSystem)
    if placement.host:
        host = pick(hosts, placement.host, "host", "--host", where)
        compute = host.parent
    else:
        computes = named(session, dc.hostFolder, vim.ComputeResource)
        if placement.cluster:
            clusters = {n: c for n, c in computes.items() if isinstance(c, vim.ClusterComputeResource)}
            compute = pick(clusters, placement.cluster, "cluster", "--cluster", where)
        else:
            compute = pick(computes, "", "host or cluster", "--cluster or --host", where, "hosts and clusters")
        members = sorted(compute.host, key=lambda h: str(h.name))
        # A sensor belongs on the host whose uplink carries the mirror: in a cluster,
        # the first host unless --host says which.
        if not members:
            raise DeployError(f"{compute.name} has no host")
        host = members[0]
    pool = compute.resourcePool
    if placement.resource_pool:
        pools = named(session, compute.resourcePool, vim.ResourcePool)
        pools.setdefault(str(compute.resourcePool.name), compute.resourcePool)
        pool = pick(pools, placement.resource_pool, "resource pool", "--resource-pool", f"in {compute.name}")
    folder: vim.Folder | None = None
    if session.is_vcenter:
        folder = dc.vmFolder
        if placement.folder:
            folders = named(session, dc.vmFolder, vim.Folder)
            folder = pick(folders, placement.folder, "VM folder", "--folder", where)
    elif placement.folder:
        raise DeployError("--folder needs vCenter: a standalone ESXi host has no VM folders")
    return Target(dc, host, pool, folder)


def datastore(host: vim.HostSystem, name: str) -> vim.Datastore:
    found = {str(ds.name): ds for ds in host.datastore}
    return pick(found, name, "datastore", "--datastore", f"on host {host.name}")


def network(session: Session, target: Target, name: str) -> vim.Network:
    """A network (standard or distributed port group) the host sees, by name."""
    found = {str(n.name): n for n in target.host.network}
    if name not in found:
        # The simulator does not attach new port groups to the host; vSphere does.
        found.update(named(session, target.datacenter.networkFolder, vim.Network))
    if name not in found:
        raise DeployError(f"network {name!r} not found on host {target.host.name}; available: {listing(found)}")
    return found[name]


def find_vm(session: Session, target_dc: vim.Datacenter, name: str) -> vim.VirtualMachine | None:
    return named(session, target_dc.vmFolder, vim.VirtualMachine).get(name)


# --- the OVA's descriptor ----------------------------------------------------------------


def ovf_networks(ova: Ova) -> list[str]:
    doc = etree.fromstring(ova.descriptor.encode())
    return [str(n.get(f"{{{NS['ovf']}}}name")) for n in doc.iter(f"{{{NS['ovf']}}}Network")]


def ovf_configurations(ova: Ova) -> list[str]:
    doc = etree.fromstring(ova.descriptor.encode())
    return [str(c.get(f"{{{NS['ovf']}}}id")) for c in doc.iter(f"{{{NS['ovf']}}}Configuration")]


def check_properties(ova: Ova, values: Mapping[str, str]) -> None:
    """Every key must be one the descriptor declares (vSphere drops unknown ones without a word),
    and the values must be ones the appliance's first boot accepts."""
    declared = properties(ova.descriptor.encode())
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise DeployError(
            f"unknown OVF propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"the OVA declares: {listing(declared)}"
        )
    from nps_sensor.appliance.firstboot import settings_from
    from nps_sensor.appliance.settings import SettingsError

    try:
        # The first boot sees the descriptor's defaults for what is not given.
        defaults = {k: str(p.get(f"{{{NS['ovf']}}}value", "")) for k, p in declared.items()}
        settings_from({**defaults, **values}).check()
    except SettingsError as exc:
        raise DeployError(f"OVF properties: {exc}") from None


def property_fixes(vapp: vim.vApp.VmConfigInfo | None, values: Mapping[str, str]) -> dict[str, vim.vApp.PropertySpec]:
    """The vApp property edits, by key, that make the VM's values the ones asked for; [] when they are.

    vSphere applies the property mapping of the import spec, except when it does not (a
    key it does not match, an older host): the imported VM is read back and corrected.
    The simulator keeps the mapping in extraConfig and has no vApp configuration (None).
    """
    if vapp is None:
        return {}
    by_key = {".".join(p for p in (prop.classId, prop.id, prop.instanceId) if p): prop for prop in vapp.property}
    return {
        k: vim.vApp.PropertySpec(operation="edit", info=vim.vApp.PropertyInfo(key=by_key[k].key, value=v))
        for k, v in values.items()
        if k in by_key and (by_key[k].value or "") != v
    }


# --- the VM's steps ------------------------------------------------------------------------


def _nics(vm: vim.VirtualMachine) -> list[vim.vm.device.VirtualEthernetCard]:
    devices = vm.config.hardware.device
    return [d for d in devices if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def _dv_names(session: Session, dc: vim.Datacenter) -> dict[str, str]:
    """Distributed port group names by key: a NIC on one names its port group by key."""
    if not session.is_vcenter:
        return {}
    return {
        str(pg.key): name for name, pg in named(session, dc.networkFolder, vim.dvs.DistributedVirtualPortgroup).items()
    }


def _nic_network(nic: vim.vm.device.VirtualEthernetCard, dv_names: Mapping[str, str]) -> str:
    backing = nic.backing
    if isinstance(backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
        return str(backing.deviceName or (backing.network.name if backing.network else ""))
    if isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
        key = str(backing.port.portgroupKey)
        return dv_names.get(key, f"distributed port group {key}")
    return ""


def _backing(net: vim.Network) -> vim.vm.device.VirtualDevice.BackingInfo:
    if isinstance(net, vim.dvs.DistributedVirtualPortgroup):
        port = vim.dvs.PortConnection(portgroupKey=net.key, switchUuid=net.config.distributedVirtualSwitch.uuid)
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=net.name, network=net)


def _reconfigure(vm: vim.VirtualMachine, spec: vim.vm.ConfigSpec, what: str) -> None:
    try:
        task = vm.ReconfigVM_Task(spec=spec)
    except vmodl.MethodFault as exc:
        raise DeployError(f"{what}: vSphere refused it: {fault_text(exc)}") from None
    wait_task(task, what)


def power_off(vm: vim.VirtualMachine, timeout: float, say: Say) -> None:
    """Shut the guest down cleanly; power off when the tools are not there or it takes too long."""
    if vm.runtime.powerState != vim.VirtualMachine.PowerState.poweredOn:
        return
    try:
        vm.ShutdownGuest()
    except vmodl.MethodFault as exc:
        say(f"  guest shutdown not possible ({fault_text(exc)}): powering off")
    else:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOff:
                return
            time.sleep(0.5)
        say(f"  the guest did not shut down within {timeout:.0f} s: powering off")
    if vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOn:
        wait_task(vm.PowerOffVM_Task(), f"powering {vm.name} off")


def power_on(vm: vim.VirtualMachine) -> None:
    if vm.runtime.powerState != vim.VirtualMachine.PowerState.poweredOn:
        wait_task(vm.PowerOnVM_Task(), f"powering {vm.name} on")


def sizing_steps(
    vm: vim.VirtualMachine, host: vim.HostSystem, profile: Profile, reserve: bool, timeout: float, say: Say
) -> tuple[list[Step], bool]:
    """The resize (with the power cycle it needs) and the reservations; (steps, powers the VM off)."""
    hw = vm.config.hardware
    steps: list[Step] = []
    cpu_mhz = int(host.summary.hardware.cpuMhz or 0) * profile.vcpus
    resize = hw.numCPU != profile.vcpus or hw.memoryMB != profile.memory_mib
    reservations = reserve and (
        not vm.config.memoryReservationLockedToMax or (vm.config.cpuAllocation.reservation or 0) < cpu_mhz
    )
    if not (resize or reservations):
        return steps, False
    spec = vim.vm.ConfigSpec()
    parts = []
    if resize:
        spec.numCPUs = profile.vcpus
        spec.memoryMB = profile.memory_mib  # MiB, a multiple of 1024: vSphere wants multiples of 4
        parts.append(f"{hw.numCPU} -> {profile.vcpus} vCPU, {hw.memoryMB} -> {profile.memory_mib} MB")
    if reserve:
        spec.memoryReservationLockedToMax = True
        spec.cpuAllocation = vim.ResourceAllocationInfo(reservation=cpu_mhz)
        parts.append(f"reserve all memory and {cpu_mhz} MHz of CPU")
    cycle = resize and vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOn

    def apply() -> None:
        if cycle:
            power_off(vm, timeout, say)
        _reconfigure(vm, spec, f"resizing {vm.name}")

    note = f" (guest shutdown, power off after {timeout:.0f} s)" if cycle else ""
    steps.append(Step(f"VM {vm.name}: {'; '.join(parts)}{note}", apply))
    return steps, cycle


def nic_steps(
    session: Session, target: Target, vm: vim.VirtualMachine, management: str, portgroup: str, count: int
) -> list[Step]:
    """Management on NIC 1; `count` sniffing VMXNET3 adapters after it, all on `portgroup`."""
    nics = _nics(vm)
    steps: list[Step] = []
    dv = _dv_names(session, target.datacenter)

    def reconnect(nic: vim.vm.device.VirtualEthernetCard, net_name: str, label: str) -> Step:
        def apply() -> None:
            nic.backing = _backing(network(session, target, net_name))
            change = vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic)
            _reconfigure(vm, vim.vm.ConfigSpec(deviceChange=[change]), f"reconnecting {label} of {vm.name}")

        return Step(f"VM {vm.name}: {label} {_nic_network(nic, dv) or '(none)'} -> {net_name}", apply)

    if nics and _nic_network(nics[0], dv) != management:
        steps.append(reconnect(nics[0], management, "management NIC"))
    sniffing = nics[1:]
    for i, nic in enumerate(sniffing[:count]):
        if _nic_network(nic, dv) != portgroup:
            steps.append(reconnect(nic, portgroup, f"sniffing NIC {i + 1}"))
    if len(sniffing) < count:
        add = count - len(sniffing)

        def add_nics() -> None:
            net = network(session, target, portgroup)
            changes = [
                vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.VirtualVmxnet3(
                        key=-100 - i,
                        backing=_backing(net),
                        addressType="generated",
                        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                            startConnected=True, connected=True, allowGuestControl=True
                        ),
                    ),
                )
                for i in range(add)
            ]
            _reconfigure(vm, vim.vm.ConfigSpec(deviceChange=changes), f"adding sniffing NICs to {vm.name}")

        steps.append(Step(f"VM {vm.name}: add {add} sniffing VMXNET3 NIC(s) on {portgroup}", add_nics))
    elif len(sniffing) > count:
        extra = sniffing[count:]

        def remove_nics() -> None:
            changes = [vim.vm.device.VirtualDeviceSpec(operation="remove", device=nic) for nic in extra]
            _reconfigure(vm, vim.vm.ConfigSpec(deviceChange=changes), f"removing sniffing NICs from {vm.name}")

        labels = ", ".join(str(n.deviceInfo.label if n.deviceInfo else n.key) for n in extra)
        steps.append(Step(f"VM {vm.name}: remove {len(extra)} sniffing NIC(s) ({labels})", remove_nics))
    return steps


def vm_steps(session: Session, target: Target, vm: vim.VirtualMachine, deployment: Deployment, say: Say) -> list[Step]:
    """What brings an existing VM to the deployment: size, NICs, power."""
    profile = profile_for(deployment.throughput)
    steps, cycles = sizing_steps(vm, target.host, profile, deployment.reserve, deployment.shutdown_timeout, say)
    steps += nic_steps(
        session,
        target,
        vm,
        deployment.management_network,
        deployment.capture.portgroup,
        deployment.sniffing_nics,
    )
    if deployment.power_on and (cycles or vm.runtime.powerState != vim.VirtualMachine.PowerState.poweredOn):
        steps.append(Step(f"VM {vm.name}: power on", lambda: power_on(vm)))
    return steps


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
    if deployment.sniffing_nics < 1:
        raise DeployError("--sniffing-nics: at least 1")
    try:
        profile = profile_for(deployment.throughput)
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
        if vm is not None and vm.runtime.host is not None:
            target.host = vm.runtime.host  # the capture path goes where the VM runs (vMotion may have moved it)
        mgmt = network(session, target, deployment.management_network)
        capture = deployment.capture
        if capture.dvswitch or find_dvportgroup(session, target.datacenter, capture.portgroup):
            steps = dv_capture_steps(session, target.datacenter, capture)
        else:
            steps = capture_steps(target.host, capture)
        if vm is None:
            steps += _import_steps(session, target, ova, deployment, profile, mgmt, say, quiet)
        else:
            steps += vm_steps(session, target, vm, deployment, say)
        return execute(steps, dry_run=dry_run, subject=deployment.name, say=say)


def _import_steps(
    session: Session,
    target: Target,
    ova: Ova,
    deployment: Deployment,
    profile: Profile,
    mgmt: vim.Network,
    say: Say,
    quiet: bool,
) -> list[Step]:
    ds = datastore(target.host, deployment.placement.datastore)
    option = profile.id if profile.id in ovf_configurations(ova) else ""
    props = ", ".join(shown(k, v) for k, v in deployment.properties.items()) or "the OVA's defaults"
    networks = f"{MANAGEMENT_NETWORK} -> {mgmt.name}, {SNIFFING_NETWORK} -> {deployment.capture.portgroup}"
    created: list[vim.VirtualMachine] = []

    def run_import() -> None:
        request = ImportRequest(
            name=deployment.name,
            deployment_option=option,
            network_map={
                MANAGEMENT_NETWORK: mgmt,
                SNIFFING_NETWORK: network(session, target, deployment.capture.portgroup),
            },
            properties=dict(deployment.properties),
            thin=deployment.thin,
        )
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
        )
        created.append(vm)
        fixes = property_fixes(vm.config.vAppConfig, deployment.properties)
        if fixes:
            say(f"  the host did not apply the OVF properties {', '.join(sorted(fixes))}: setting them")
            spec = vim.vm.ConfigSpec(vAppConfig=vim.vApp.VmConfigSpec(property=list(fixes.values())))
            _reconfigure(vm, spec, f"setting the OVF properties of {vm.name}")

    def finish() -> None:
        # The imported VM, brought to the rest of the deployment (size, NICs, power) like an existing one;
        # this step's line already says what that is.
        for step in vm_steps(session, target, created[0], deployment, say):
            step.run()

    after = []
    if deployment.sniffing_nics > 1:
        after.append(f"add {deployment.sniffing_nics - 1} sniffing NIC(s)")
    if deployment.reserve:
        after.append("reserve CPU and memory")
    if deployment.power_on:
        after.append("power on")
    return [
        Step(
            f"import {ova.path.name} as VM {deployment.name} on {target.host.name}: datastore {ds.name} "
            f"({'thin' if deployment.thin else 'thick'}), profile {profile.label}, networks {networks}, "
            f"properties {props}",
            run_import,
        ),
        Step(f"VM {deployment.name}: {', '.join(after) or 'leave powered off'}", finish),
    ]


def _existing_vm(session: Session, placement: Placement, name: str) -> tuple[Target, vim.VirtualMachine]:
    dc = _datacenter(session, placement.datacenter)
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
    placement: Placement = Placement(),
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
    placement: Placement = Placement(),
    dry_run: bool = False,
    say: Say = print,
) -> bool:
    """Add or remove sniffing VMXNET3 adapters (or set their `count`); at least one stays."""
    with connected(endpoint) as session:
        target, vm = _existing_vm(session, placement, name)
        nics = _nics(vm)
        mgmt_name = _nic_network(nics[0], _dv_names(session, target.datacenter)) if nics else management_network
        current = max(len(nics) - 1, 0)
        wanted = count if count is not None else current + add - remove
        if wanted < 1:
            raise DeployError(f"VM {name} has {current} sniffing NIC(s): at least one must stay")
        steps = nic_steps(session, target, vm, mgmt_name, portgroup, wanted)
        return execute(steps, dry_run=dry_run, subject=name, say=say)


def status(
    endpoint: Endpoint, name: str, *, placement: Placement = Placement(), capture: CapturePath | None = None
) -> dict[str, Any]:
    """The VM and its capture path as vSphere reports them."""
    capture = capture or CapturePath()
    with connected(endpoint) as session:
        target, vm = _existing_vm(session, placement, name)
        hw = vm.config.hardware
        nics = _nics(vm)
        dv = _dv_names(session, target.datacenter)
        return {
            "name": vm.name,
            "power": str(vm.runtime.powerState),
            "host": str(target.host.name),
            "vcpus": int(hw.numCPU),
            "memory_mb": int(hw.memoryMB),
            "guest_ip": vm.guest.ipAddress if vm.guest else None,
            "management_nic": _nic_network(nics[0], dv) if nics else None,
            "sniffing_nics": [_nic_network(n, dv) for n in nics[1:]],
            "capture": capture_status(
                target.host, capture, find_dvportgroup(session, target.datacenter, capture.portgroup)
            ),
        }
