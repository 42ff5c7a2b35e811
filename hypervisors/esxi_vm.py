"""The VM's own steps: its size, its NICs, its power; each planned by reading, applied later.

Shared by `deploy()` (an imported or an existing VM brought to what was asked) and the
day-2 doors (`resize()`, `set_nics()`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from pyVmomi import vim, vmodl

from nps_image.sizing import Profile

from .esxi_connect import Session, fault_text, named, wait_task
from .esxi_errors import DeployError
from .esxi_place import Target, network
from .esxi_plan import Step

Say = Callable[[str], None]


def vm_nics(vm: vim.VirtualMachine) -> list[vim.vm.device.VirtualEthernetCard]:
    devices = vm.config.hardware.device
    return [d for d in devices if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def dv_names(session: Session, dc: vim.Datacenter) -> dict[str, str]:
    """Distributed port group names by key: a NIC on one names its port group by key."""
    if not session.is_vcenter:
        return {}
    return {
        str(pg.key): name for name, pg in named(session, dc.networkFolder, vim.dvs.DistributedVirtualPortgroup).items()
    }


def nic_network(nic: vim.vm.device.VirtualEthernetCard, dv_names: Mapping[str, str]) -> str:
    attached = nic.backing
    if isinstance(attached, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
        return str(attached.deviceName or (attached.network.name if attached.network else ""))
    if isinstance(attached, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
        key = str(attached.port.portgroupKey)
        return dv_names.get(key, f"distributed port group {key}")
    return ""


def backing(net: vim.Network) -> vim.vm.device.VirtualDevice.BackingInfo:
    if isinstance(net, vim.dvs.DistributedVirtualPortgroup):
        port = vim.dvs.PortConnection(portgroupKey=net.key, switchUuid=net.config.distributedVirtualSwitch.uuid)
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=net.name, network=net)


def reconfigure(vm: vim.VirtualMachine, spec: vim.vm.ConfigSpec, what: str) -> None:
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
    vm: vim.VirtualMachine, host: vim.HostSystem, profile: Profile | None, reserve: bool, timeout: float, say: Say
) -> tuple[list[Step], bool]:
    """The resize (with the power cycle it needs) and the reservations; (steps, powers the VM off).

    A `profile` of None keeps the VM's size (the reservations, if asked, fit the size it has).
    """
    hw = vm.config.hardware
    steps: list[Step] = []
    vcpus = int(profile.vcpus if profile else hw.numCPU)
    memory = int(profile.memory_mib if profile else hw.memoryMB)
    cpu_mhz = int(host.summary.hardware.cpuMhz or 0) * vcpus
    resize = hw.numCPU != vcpus or hw.memoryMB != memory
    reservations = reserve and (
        not vm.config.memoryReservationLockedToMax or (vm.config.cpuAllocation.reservation or 0) < cpu_mhz
    )
    if not (resize or reservations):
        return steps, False
    # memoryMB in MiB, a multiple of 1024: vSphere wants multiples of 4.
    spec = vim.vm.ConfigSpec(numCPUs=vcpus, memoryMB=memory) if resize else vim.vm.ConfigSpec()
    parts = []
    if resize:
        parts.append(f"{hw.numCPU} -> {vcpus} vCPU, {hw.memoryMB} -> {memory} MB")
    if reserve:
        spec.memoryReservationLockedToMax = True
        spec.cpuAllocation = vim.ResourceAllocationInfo(reservation=cpu_mhz)
        parts.append(f"reserve all memory and {cpu_mhz} MHz of CPU")
    cycle = resize and vm.runtime.powerState == vim.VirtualMachine.PowerState.poweredOn

    def apply() -> None:
        if cycle:
            power_off(vm, timeout, say)
        reconfigure(vm, spec, f"resizing {vm.name}")

    note = f" (guest shutdown, power off after {timeout:.0f} s)" if cycle else ""
    steps.append(Step(f"VM {vm.name}: {'; '.join(parts)}{note}", apply))
    return steps, cycle


def nic_steps(
    session: Session, target: Target, vm: vim.VirtualMachine, management: str, portgroup: str, count: int | None
) -> list[Step]:
    """Management on NIC 1; `count` sniffing VMXNET3 adapters after it, all on `portgroup`.

    An empty `management` leaves NIC 1 where it is, a `count` of None keeps the number of
    sniffing NICs: an existing VM changes only where an option asks.
    """
    nics = vm_nics(vm)
    steps: list[Step] = []
    dv = dv_names(session, target.datacenter)

    def reconnect(nic: vim.vm.device.VirtualEthernetCard, net_name: str, label: str) -> Step:
        def apply() -> None:
            nic.backing = backing(network(session, target, net_name))
            change = vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic)
            reconfigure(vm, vim.vm.ConfigSpec(deviceChange=[change]), f"reconnecting {label} of {vm.name}")

        return Step(f"VM {vm.name}: {label} {nic_network(nic, dv) or '(none)'} -> {net_name}", apply)

    if count is None:
        count = max(len(nics) - 1, 1)
    if management and nics and nic_network(nics[0], dv) != management:
        steps.append(reconnect(nics[0], management, "management NIC"))
    sniffing = nics[1:]
    for i, nic in enumerate(sniffing[:count]):
        if nic_network(nic, dv) != portgroup:
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
                        backing=backing(net),
                        addressType="generated",
                        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                            startConnected=True, connected=True, allowGuestControl=True
                        ),
                    ),
                )
                for i in range(add)
            ]
            reconfigure(vm, vim.vm.ConfigSpec(deviceChange=changes), f"adding sniffing NICs to {vm.name}")

        steps.append(Step(f"VM {vm.name}: add {add} sniffing VMXNET3 NIC(s) on {portgroup}", add_nics))
    elif len(sniffing) > count:
        extra = sniffing[count:]

        def remove_nics() -> None:
            changes = [vim.vm.device.VirtualDeviceSpec(operation="remove", device=nic) for nic in extra]
            reconfigure(vm, vim.vm.ConfigSpec(deviceChange=changes), f"removing sniffing NICs from {vm.name}")

        labels = ", ".join(str(n.deviceInfo.label if n.deviceInfo else n.key) for n in extra)
        steps.append(Step(f"VM {vm.name}: remove {len(extra)} sniffing NIC(s) ({labels})", remove_nics))
    return steps
