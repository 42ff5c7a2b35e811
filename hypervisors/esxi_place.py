"""Where the sensor goes: names resolved to vSphere objects, the host's capacity, the VM kept there.

A sensor belongs on the host whose uplink carries the mirror port: its sniffing port
group exists there only (a standard vSwitch is per host). So the placement is checked
before anything changes: `--host` must be in `--cluster` when both are given, and the
host must hold the profile (logical CPUs, memory) and its datastore the disk and the
swap file, or the power-on would fail after the upload. In a cluster the VM is then
kept on its host: a DRS override (automation disabled for the VM, so DRS never
migrates it) and an HA override (restart priority disabled, so HA does not restart it
on a host without the mirror). The host it was placed on is recorded in the VM's
extraConfig (`nps.capture.host`), so that `status` can say when it moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from pyVmomi import vim

from nps_image.sizing import PROFILES, Profile

from .esxi_connect import Session, listing, named, pick, wait_task
from .esxi_errors import DeployError
from .esxi_plan import Step

PINNED_HOST_KEY = "nps.capture.host"
GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Placement:
    """Where the VM goes, by the names vSphere shows; empty means "the only one there is"."""

    datacenter: str = ""
    cluster: str = ""
    host: str = ""
    resource_pool: str = ""
    folder: str = ""
    datastore: str = ""


@dataclass
class Target:
    """The placement resolved to objects."""

    datacenter: vim.Datacenter
    host: vim.HostSystem
    pool: vim.ResourcePool
    folder: vim.Folder | None  # None on a standalone ESXi host, which takes no folder

    @property
    def cluster(self) -> vim.ClusterComputeResource | None:
        parent = self.host.parent
        return parent if isinstance(parent, vim.ClusterComputeResource) else None


def datacenter(session: Session, name: str) -> vim.Datacenter:
    return pick(named(session, session.content.rootFolder, vim.Datacenter), name, "datacenter", "--datacenter")


def _members(compute: vim.ComputeResource) -> list[vim.HostSystem]:
    return sorted(compute.host, key=lambda h: str(h.name))


def resolve(session: Session, placement: Placement) -> Target:
    """The objects the placement names; DeployError listing the available ones for a missing name."""
    dc = datacenter(session, placement.datacenter)
    where = f"in datacenter {dc.name}"
    hosts = named(session, dc.hostFolder, vim.HostSystem)
    computes = named(session, dc.hostFolder, vim.ComputeResource)
    clusters = {n: c for n, c in computes.items() if isinstance(c, vim.ClusterComputeResource)}
    cluster = pick(clusters, placement.cluster, "cluster", "--cluster", where) if placement.cluster else None
    if placement.host:
        host = pick(hosts, placement.host, "host", "--host", where)
        compute = host.parent
        if cluster is not None and compute != cluster:
            names = [str(h.name) for h in _members(cluster)]
            raise DeployError(
                f"host {host.name} is not in cluster {cluster.name}: its hosts are {listing(names)}; "
                "give one of them with --host, or leave --cluster out"
            )
    else:
        compute = cluster or pick(computes, "", "host or cluster", "--cluster or --host", where, "hosts and clusters")
        members = _members(compute)
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


def find_vm(session: Session, dc: vim.Datacenter, name: str) -> vim.VirtualMachine | None:
    return named(session, dc.vmFolder, vim.VirtualMachine).get(name)


# --- capacity ------------------------------------------------------------------------------


def _fitting(threads: int, memory: int) -> str:
    fits = [p for p in PROFILES if p.vcpus <= threads and p.memory_mib * MiB <= memory]
    return f"--mbps {fits[-1].mbps} at most" if fits else "no profile fits"


def check_capacity(
    host: vim.HostSystem, profile: Profile, ds: vim.Datastore | None = None, disk_bytes: int = 0, swap: bool = True
) -> None:
    """DeployError (one line) when the host cannot run `profile` or `ds` cannot hold the VM.

    vCPUs against the host's logical CPUs, memory against the host's memory, and the
    datastore's free space against the disk plus the swap file ESXi makes at power-on
    (the memory not reserved: all of it, unless `swap` is False).
    """
    hw = host.summary.hardware
    threads, memory = int(hw.numCpuThreads or 0), int(hw.memorySize or 0)
    problems = []
    if threads and profile.vcpus > threads:
        problems.append(f"{profile.vcpus} vCPU but host {host.name} has {threads} logical CPUs")
    if memory and profile.memory_mib * MiB > memory:
        problems.append(f"{profile.memory_gib} GB of memory but host {host.name} has {memory / GiB:.0f} GB")
    if problems:
        raise DeployError(
            f"profile {profile.label} needs {' and '.join(problems)}: {_fitting(threads, memory)}, or another --host"
        )
    if ds is None:
        return
    need = disk_bytes + (profile.memory_mib * MiB if swap else 0)
    free = int(ds.summary.freeSpace)
    if need > free:
        swap_note = f" and its {profile.memory_gib} GB swap file" if swap else ""
        raise DeployError(
            f"datastore {ds.name} has {free / GiB:.1f} GB free; the disk ({disk_bytes / GiB:.1f} GB){swap_note} "
            f"need {need / GiB:.1f} GB: choose another --datastore, or free space there"
        )


# --- keeping the VM on its host -----------------------------------------------------------


def _drs_pinned(config: vim.cluster.ConfigInfoEx, vm: vim.VirtualMachine) -> bool | None:
    """True when DRS leaves the VM alone, False when it may move it, None when there is no override."""
    for entry in config.drsVmConfig or []:
        if entry.key == vm:
            return entry.enabled is False
    return None


def _ha_disabled(config: vim.cluster.ConfigInfoEx, vm: vim.VirtualMachine) -> bool | None:
    for entry in config.dasVmConfig or []:
        if entry.key == vm:
            return bool(entry.dasSettings and entry.dasSettings.restartPriority == "disabled")
    return None


def pin_steps(target: Target, vm_name: str, get_vm: Callable[[], vim.VirtualMachine], vm_now: bool) -> list[Step]:
    """In a cluster: the DRS and HA overrides that keep the VM on its host; [] when they are there.

    `get_vm` gives the VM when the step runs (a new VM exists only after its import);
    `vm_now` says whether it exists while planning.
    """
    cluster = target.cluster
    if cluster is None:
        return []
    config = cast(vim.cluster.ConfigInfoEx, cluster.configurationEx)
    drs: bool | None = None
    ha: bool | None = None
    if vm_now:
        vm = get_vm()
        drs, ha = _drs_pinned(config, vm), _ha_disabled(config, vm)
    if drs and ha:
        return []

    def apply() -> None:
        vm = get_vm()
        current = cast(vim.cluster.ConfigInfoEx, cluster.configurationEx)
        old_drs, old_ha = _drs_pinned(current, vm), _ha_disabled(current, vm)
        spec = vim.cluster.ConfigSpecEx()
        if not old_drs:
            spec.drsVmConfigSpec = [
                vim.cluster.DrsVmConfigSpec(
                    operation="add" if old_drs is None else "edit",
                    info=vim.cluster.DrsVmConfigInfo(key=vm, enabled=False),
                )
            ]
        if not old_ha:
            settings = vim.cluster.DasVmSettings(restartPriority="disabled")
            spec.dasVmConfigSpec = [
                vim.cluster.DasVmConfigSpec(
                    operation="add" if old_ha is None else "edit",
                    info=vim.cluster.DasVmConfigInfo(key=vm, dasSettings=settings),
                )
            ]
        wait_task(cluster.ReconfigureComputeResource_Task(spec=spec, modify=True), f"cluster {cluster.name}")

    drs_on = bool(config.drsConfig and config.drsConfig.enabled)
    ha_on = bool(config.dasConfig and config.dasConfig.enabled)
    parts = []
    if not drs:
        parts.append(f"DRS automation disabled for the VM (DRS is {'on' if drs_on else 'off'})")
    if not ha:
        parts.append(f"HA restart priority disabled (HA is {'on' if ha_on else 'off'})")
    text = f"cluster {cluster.name}: keep VM {vm_name} on {target.host.name}: {', '.join(parts)}"
    return [Step(text, apply)]


def pinned_host(vm: vim.VirtualMachine) -> str | None:
    """The host the deployer placed the VM on, as recorded in its extraConfig."""
    for option in vm.config.extraConfig or []:
        if option.key == PINNED_HOST_KEY:
            return str(option.value)
    return None


def pin_record(host: vim.HostSystem) -> vim.option.OptionValue:
    return vim.option.OptionValue(key=PINNED_HOST_KEY, value=str(host.name))
