"""The capture path: the sniffing port group and its vSwitch (standard or distributed).

A sensor on a mirror port sees only what its port group lets through: VLAN ID 4095
passes every VLAN with its tag, and the security policy must allow promiscuous
mode (frames for other MACs), forged transmits and MAC changes (mirrored frames
carry other sources).

Least privilege: by default the three flags are set on the sniffing port group only,
as its own override; the vSwitch and its other port groups are left as they are. A
port group without an override of its own inherits the vSwitch's policy, so opening
the vSwitch (`open_vswitch`, what the commercial product's guide describes) would
open "VM Network" and "Management Network" too: before the vSwitch changes, every
other port group on it is given its current effective policy as an explicit
override, and the plan names each. `UpdateVirtualSwitch` replaces the whole spec:
the vSwitch's current spec is sent back with only the flags changed.

On a distributed switch (vCenter), the distributed port group carries the same
settings in its default port configuration: a VLAN trunk of 0-4094 (what VLAN 4095
is on a standard vSwitch) and the three flags, set on the port group itself, which
overrides the switch's defaults. It is used when a distributed port group of that
name exists, or created on `dvswitch` when that is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyVmomi import vim, vmodl

from .esxi_connect import Session, fault_text, listing, named, wait_task
from .esxi_errors import DeployError
from .esxi_plan import Step

ALL_VLANS = 4095
FLAGS = ("allowPromiscuous", "forgedTransmits", "macChanges")
FLAG_WORDS = "promiscuous mode, forged transmits and MAC changes"


@dataclass(frozen=True)
class CapturePath:
    """The sniffing port group, the standard vSwitch it is on, its VLAN ID."""

    portgroup: str = "NPS Sniffing"
    vswitch: str = "vSwitch0"
    vlan: int = ALL_VLANS
    dvswitch: str = ""  # vCenter: the distributed switch to create the port group on, if it is missing
    open_vswitch: bool = False  # the flags on the vSwitch too (its other port groups pinned first)


def _open(security: vim.host.NetworkPolicy.SecurityPolicy | None) -> bool:
    return security is not None and all(getattr(security, flag) is True for flag in FLAGS)


def _security() -> vim.host.NetworkPolicy.SecurityPolicy:
    return vim.host.NetworkPolicy.SecurityPolicy(allowPromiscuous=True, forgedTransmits=True, macChanges=True)


def _network_system(host: vim.HostSystem) -> vim.host.NetworkSystem:
    ns = host.configManager.networkSystem
    if ns is None:
        raise DeployError(f"host {host.name} has no network system (is it connected?)")
    return ns


def find_vswitch(host: vim.HostSystem, name: str) -> vim.host.VirtualSwitch | None:
    return next((v for v in _network_system(host).networkInfo.vswitch or [] if v.name == name), None)


def find_portgroup(host: vim.HostSystem, name: str) -> vim.host.PortGroup | None:
    return next((p for p in _network_system(host).networkInfo.portgroup or [] if p.spec.name == name), None)


def effective(portgroup: vim.host.PortGroup, vswitch: vim.host.VirtualSwitch) -> dict[str, bool]:
    """A port group's security flags as they act: its own override, else the vSwitch's."""
    own = portgroup.spec.policy.security if portgroup.spec.policy else None
    inherited = vswitch.spec.policy.security if vswitch.spec.policy else None
    out = {}
    for flag in FLAGS:
        value = getattr(own, flag, None) if own is not None else None
        if value is None:
            value = getattr(inherited, flag, None) if inherited is not None else None
        out[flag] = bool(value)
    return out


def _words(flags: dict[str, bool]) -> str:
    names = {"allowPromiscuous": "promiscuous mode", "forgedTransmits": "forged transmits", "macChanges": "MAC changes"}
    return ", ".join(f"{names[f]} {'yes' if flags[f] else 'no'}" for f in FLAGS)


def _pin_others(host: vim.HostSystem, path: CapturePath, vswitch: vim.host.VirtualSwitch) -> list[Step]:
    """Each other port group on the vSwitch that inherits a flag gets its effective value as its own."""
    ns = _network_system(host)
    steps = []
    for pg in ns.networkInfo.portgroup or []:
        if pg.spec.vswitchName != vswitch.name or pg.spec.name == path.portgroup:
            continue
        own = pg.spec.policy.security if pg.spec.policy else None
        if own is not None and all(getattr(own, f) is not None for f in FLAGS):
            continue  # already its own policy: the vSwitch's change does not reach it
        keep = effective(pg, vswitch)

        def pin(name: str = pg.spec.name, keep: dict[str, bool] = keep) -> None:
            current = find_portgroup(host, name)
            assert current is not None
            spec = current.spec
            spec.policy = spec.policy or vim.host.NetworkPolicy()
            spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy(**keep)
            _call(lambda: ns.UpdatePortGroup(pgName=name, portgrp=spec), f"port group {name}")

        text = f"port group {pg.spec.name}: keep {_words(keep)} as its own policy before {vswitch.name} changes"
        steps.append(Step(text, pin))
    return steps


def capture_steps(host: vim.HostSystem, path: CapturePath) -> list[Step]:
    """The changes that make `path` a capture path on `host`; [] when it already is one."""
    ns = _network_system(host)
    vswitch = find_vswitch(host, path.vswitch)
    if vswitch is None:
        names = [v.name for v in ns.networkInfo.vswitch or []]
        raise DeployError(f"vSwitch {path.vswitch!r} not found on host {host.name}; available: {listing(names)}")
    steps: list[Step] = []
    policy = vswitch.spec.policy
    if path.open_vswitch and not _open(policy.security if policy else None):
        steps += _pin_others(host, path, vswitch)

        def open_vswitch() -> None:
            current = find_vswitch(host, path.vswitch)
            assert current is not None
            spec = current.spec  # the whole current spec: UpdateVirtualSwitch replaces it
            if spec.policy is None:
                spec.policy = vim.host.NetworkPolicy()
            spec.policy.security = _security()
            _call(lambda: ns.UpdateVirtualSwitch(vswitchName=path.vswitch, spec=spec), f"vSwitch {path.vswitch}")

        steps.append(Step(f"vSwitch {path.vswitch} on {host.name}: allow {FLAG_WORDS}", open_vswitch))

    portgroup = find_portgroup(host, path.portgroup)
    if portgroup is None:

        def add() -> None:
            spec = vim.host.PortGroup.Specification(
                name=path.portgroup,
                vlanId=path.vlan,
                vswitchName=path.vswitch,
                policy=vim.host.NetworkPolicy(security=_security()),
            )
            _call(lambda: ns.AddPortGroup(portgrp=spec), f"port group {path.portgroup}")

        steps.append(
            Step(
                f"port group {path.portgroup} on {path.vswitch}: create with VLAN {path.vlan}, allow {FLAG_WORDS}",
                add,
            )
        )
        return steps
    if portgroup.spec.vswitchName != path.vswitch:
        raise DeployError(
            f"port group {path.portgroup!r} is on vSwitch {portgroup.spec.vswitchName}, not {path.vswitch}: "
            f"give --vswitch {portgroup.spec.vswitchName}, or another --sniffing-portgroup"
        )
    changes = []
    if portgroup.spec.vlanId != path.vlan:
        changes.append(f"VLAN {portgroup.spec.vlanId} -> {path.vlan}")
    if not _open(portgroup.spec.policy.security if portgroup.spec.policy else None):
        changes.append(f"allow {FLAG_WORDS}")
    if changes:

        def update() -> None:
            current = find_portgroup(host, path.portgroup)
            assert current is not None
            spec = current.spec  # keeps teaming, shaping and the rest as they are
            spec.vlanId = path.vlan
            spec.policy = spec.policy or vim.host.NetworkPolicy()
            spec.policy.security = _security()
            _call(lambda: ns.UpdatePortGroup(pgName=path.portgroup, portgrp=spec), f"port group {path.portgroup}")

        steps.append(Step(f"port group {path.portgroup}: {', '.join(changes)}", update))
    return steps


# --- distributed switches ----------------------------------------------------------------

DVPortgroup = vim.dvs.DistributedVirtualPortgroup


def _trunk() -> vim.dvs.VmwareDistributedVirtualSwitch.TrunkVlanSpec:
    return vim.dvs.VmwareDistributedVirtualSwitch.TrunkVlanSpec(
        vlanId=[vim.NumericRange(start=0, end=4094)], inherited=False
    )


def _dv_security() -> vim.dvs.VmwareDistributedVirtualSwitch.SecurityPolicy:
    def on() -> vim.BoolPolicy:
        return vim.BoolPolicy(value=True, inherited=False)

    return vim.dvs.VmwareDistributedVirtualSwitch.SecurityPolicy(
        allowPromiscuous=on(), forgedTransmits=on(), macChanges=on(), inherited=False
    )


def _dv_trunked(setting: object) -> bool:
    vlan = getattr(setting, "vlan", None)
    if not isinstance(vlan, vim.dvs.VmwareDistributedVirtualSwitch.TrunkVlanSpec):
        return False
    return any(r.start == 0 and r.end >= 4094 for r in vlan.vlanId)


def _dv_open(setting: object) -> bool:
    sec = getattr(setting, "securityPolicy", None)
    return sec is not None and all(getattr(getattr(sec, f), "value", False) is True for f in FLAGS)


def find_dvportgroup(session: Session, dc: vim.Datacenter, name: str) -> vim.dvs.DistributedVirtualPortgroup | None:
    if not session.is_vcenter:
        return None
    return named(session, dc.networkFolder, DVPortgroup).get(name)


def dv_capture_steps(session: Session, dc: vim.Datacenter, path: CapturePath) -> list[Step]:
    """The changes that make the distributed port group `path.portgroup` a capture path."""
    pg = find_dvportgroup(session, dc, path.portgroup)
    if pg is None:
        switches = named(session, dc.networkFolder, vim.DistributedVirtualSwitch)
        if path.dvswitch not in switches:
            raise DeployError(
                f"distributed switch {path.dvswitch!r} not found in datacenter {dc.name}; available: "
                f"{listing(switches)}"
            )
        dvs = switches[path.dvswitch]

        def add() -> None:
            setting = vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
                vlan=_trunk(), securityPolicy=_dv_security()
            )
            spec = DVPortgroup.ConfigSpec(
                name=path.portgroup, type="earlyBinding", numPorts=8, autoExpand=True, defaultPortConfig=setting
            )
            wait_task(dvs.AddDVPortgroup_Task(spec=[spec]), f"creating distributed port group {path.portgroup}")

        return [
            Step(
                f"distributed port group {path.portgroup} on {path.dvswitch}: create with VLAN trunk 0-4094, "
                f"allow {FLAG_WORDS}",
                add,
            )
        ]
    config = pg.config
    changes = []
    if not _dv_trunked(config.defaultPortConfig):
        changes.append("VLAN trunk 0-4094")
    if not _dv_open(config.defaultPortConfig):
        changes.append(f"allow {FLAG_WORDS}")
    if not changes:
        return []

    def update() -> None:
        current = pg.config
        setting = current.defaultPortConfig or vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy()
        setting.vlan = _trunk()
        setting.securityPolicy = _dv_security()
        # The current settings sent back (vCenter changes only what is set; the simulator takes all).
        spec = DVPortgroup.ConfigSpec(
            configVersion=current.configVersion,
            name=current.name,
            numPorts=current.numPorts,
            type=current.type,
            autoExpand=current.autoExpand,
            description=current.description,
            policy=current.policy,
            portNameFormat=current.portNameFormat,
            defaultPortConfig=setting,
        )
        wait_task(pg.ReconfigureDVPortgroup_Task(spec=spec), f"distributed port group {path.portgroup}")

    return [Step(f"distributed port group {path.portgroup}: {', '.join(changes)}", update)]


def capture_status(
    host: vim.HostSystem, path: CapturePath, dvportgroup: vim.dvs.DistributedVirtualPortgroup | None = None
) -> dict[str, object]:
    """What the capture path looks like now, for `deploy.esxi-status`."""
    out: dict[str, object] = {}
    if dvportgroup is not None:
        setting = dvportgroup.config.defaultPortConfig
        sec = getattr(setting, "securityPolicy", None)
        out["portgroup"] = {
            "name": dvportgroup.name,
            "vlan": "trunk 0-4094" if _dv_trunked(setting) else str(getattr(setting, "vlan", None)),
            **{f: bool(sec and getattr(getattr(sec, f), "value", False)) for f in FLAGS},
        }
        return out
    vswitch = find_vswitch(host, path.vswitch)
    if vswitch is not None:
        sec = vswitch.spec.policy.security if vswitch.spec.policy else None
        out["vswitch"] = {"name": vswitch.name, **{f: bool(sec and getattr(sec, f)) for f in FLAGS}}
    portgroup = find_portgroup(host, path.portgroup)
    if portgroup is not None:
        sec = portgroup.spec.policy.security if portgroup.spec.policy else None
        out["portgroup"] = {
            "name": portgroup.spec.name,
            "vlan": portgroup.spec.vlanId,
            **{f: bool(sec and getattr(sec, f)) for f in FLAGS},
        }
    return out


def _call(f: Callable[[], object], what: str) -> None:
    try:
        f()
    except vmodl.MethodFault as exc:
        raise DeployError(f"{what}: vSphere refused the change: {fault_text(exc)}") from None
