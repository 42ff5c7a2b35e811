"""Deploy the appliance to Microsoft Hyper-V over WinRM, idempotently.

The plan, in the order the deploy script runs it (templates/hyperv/deploy.ps1.j2): the
Hyper-V module and the management switch are there; the disk (uploaded over the session
when it is a local zip and the host lacks it, then expanded on the host); a Generation 1
VM on the VHDX; static memory and virtual processors from the sizing chart
(image/sizing.py); automatic stop action TurnOff; the management adapter on the
management switch; an external switch on the sniffing adapter, not shared with the host,
its external port in monitor mode; the sniffing adapter on it as port-mirroring
destination trunking every VLAN; power on. Every step checks first and reports ok,
changed, or (dry run) change; a second run reports every step ok.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .hyperv_scripts import Output, Step, render
from .hyperv_winrm import HyperVError, Session, sha256_file

if TYPE_CHECKING:  # mypy reads image/ as the package `image`; installed, it is nps_image
    from image.sizing import DEFAULT_MBPS, Profile, profile_for
else:
    from nps_image.sizing import DEFAULT_MBPS, Profile, profile_for

DEFAULT_VM_NAME = "nps-sensor"
DEFAULT_VM_PATH = r"C:\Hyper-V"
DEFAULT_SNIFFING_SWITCH = "nps-sniffing"
MANAGEMENT_NIC = "Management"
SNIFFING_NIC = "Sniffing"
HYPERV_VM_NAME_MAX = 100


@dataclass(frozen=True)
class Deployment:
    """What to deploy where on the host; `disk` is a local zip, `disk_on_host` a path the
    host reads (a zip, expanded next to the VM, or a VHDX used in place)."""

    management_switch: str
    sniffing_adapter: str
    disk: Path | None = None
    disk_on_host: str = ""
    disk_sha256: str = ""  # of disk_on_host, when it is a zip and the caller knows it
    vm_name: str = DEFAULT_VM_NAME
    vm_path: str = DEFAULT_VM_PATH
    sniffing_switch: str = DEFAULT_SNIFFING_SWITCH
    mbps: int = DEFAULT_MBPS

    @property
    def profile(self) -> Profile:
        try:
            return profile_for(self.mbps)
        except ValueError as e:
            raise HyperVError(str(e)) from None

    @property
    def vm_dir(self) -> PureWindowsPath:
        return PureWindowsPath(self.vm_path) / self.vm_name

    def check(self) -> None:
        """Refuse what cannot be deployed, before connecting."""
        check_vm_name(self.vm_name)
        for option, value in (
            ("--management-switch", self.management_switch),
            ("--sniffing-adapter", self.sniffing_adapter),
            ("--sniffing-switch", self.sniffing_switch),
            ("--vm-path", self.vm_path),
        ):
            if not value.strip():
                raise HyperVError(
                    f"{option} is empty: name it (Get-VMSwitch and Get-NetAdapter list what the host has)"
                )
        if self.management_switch == self.sniffing_switch:
            raise HyperVError("the management and sniffing switches must differ: the sniffing one is not shared")
        if bool(self.disk) == bool(self.disk_on_host):
            raise HyperVError("give the disk once: --disk LOCAL.zip (uploaded) or --disk-on-host PATH (zip or VHDX)")
        if self.disk and not self.disk.is_file():
            raise HyperVError(f"--disk {self.disk}: no such file (inv image.build makes dist/*-vhdx.zip)")
        if self.disk_on_host and not self.disk_on_host.lower().endswith((".zip", ".vhdx")):
            raise HyperVError(f"--disk-on-host {self.disk_on_host}: give the -vhdx.zip or the .vhdx")
        self.profile  # noqa: B018  (raises for a rate off the chart)


def check_vm_name(name: str) -> None:
    if not name.strip() or len(name) > HYPERV_VM_NAME_MAX:
        raise HyperVError(f"VM name {name!r}: 1 to {HYPERV_VM_NAME_MAX} characters")


@dataclass(frozen=True)
class Disk:
    """Where the VHDX will be on the host, and the zip it comes from, if any."""

    vhdx: PureWindowsPath
    zip_on_host: PureWindowsPath | None
    sha256: str  # of the zip, empty when unknown
    local_zip: Path | None


def vhdx_member(archive: Path) -> str:
    """The VHDX inside the image's zip (exactly one)."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".vhdx") and "/" not in n]
    except (OSError, zipfile.BadZipFile) as e:
        raise HyperVError(f"--disk {archive}: not a readable zip ({e})") from None
    if len(names) != 1:
        raise HyperVError(f"--disk {archive}: holds {len(names)} VHDX files at its top, not one")
    return names[0]


def host_vhdx_name(zip_name: str) -> str:
    """The VHDX a host-side zip expands to, by the image's naming: NAME-vhdx.zip holds
    NAME-disk1.vhdx (image/package.py)."""
    stem = zip_name[: -len(".zip")]
    base = stem[: -len("-vhdx")] if stem.endswith("-vhdx") else stem
    return f"{base}-disk1.vhdx"


def plan_disk(d: Deployment) -> Disk:
    disks = d.vm_dir / "Virtual Hard Disks"
    if d.disk is not None:
        member = vhdx_member(d.disk)
        return Disk(disks / member, d.vm_dir / d.disk.name, sha256_file(d.disk), d.disk)
    on_host = PureWindowsPath(d.disk_on_host)
    if on_host.suffix.lower() == ".vhdx":
        return Disk(on_host, None, "", None)
    return Disk(disks / host_vhdx_name(on_host.name), on_host, d.disk_sha256.upper(), None)


def deploy_script(d: Deployment, disk: Disk, *, apply: bool) -> str:
    profile = d.profile
    return render(
        "deploy",
        apply=apply,
        vm_name=d.vm_name,
        vm_path=str(d.vm_path),
        vhdx=str(disk.vhdx),
        disk_zip=str(disk.zip_on_host) if disk.zip_on_host else None,
        disk_sha256=disk.sha256 or None,
        memory_bytes=profile.memory_mib * 1024 * 1024,
        cpus=profile.vcpus,
        management_switch=d.management_switch,
        management_nic=MANAGEMENT_NIC,
        sniffing_adapter=d.sniffing_adapter,
        sniffing_switch=d.sniffing_switch,
        sniffing_nic=SNIFFING_NIC,
        serial_pipe=serial_pipe(d.vm_name),
    )


def serial_pipe(vm_name: str) -> str:
    """The named pipe COM1 is wired to: the appliance console's serial line, reached on the
    host with PuTTY (Serial, this pipe as the line, 115200) as the hypervisor's console
    reaches tty1. A VM name can hold what a pipe name cannot."""
    return "\\\\.\\pipe\\" + re.sub(r"[^A-Za-z0-9._-]+", "-", vm_name).strip("-") + "-com1"


# --- reporting ----------------------------------------------------------------------

_STYLE = {"ok": "green", "changed": "yellow", "change": "cyan", "failed": "bold red"}


@dataclass
class Report:
    """The steps of one run as they arrive, printed one line each."""

    console: Console
    steps: list[Step] = field(default_factory=list)

    def step(self, step: Step) -> None:
        self.steps.append(step)
        style = _STYLE.get(step.status, "")
        self.console.print(
            f"  [{style}]{step.status:<8}[/] {step.step:<20} {escape(step.detail)}", highlight=False, soft_wrap=True
        )

    def summary(self, what: str, dry_run: bool) -> str:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        order = ("change", "ok") if dry_run else ("changed", "ok")
        parts = [f"{counts.get(k, 0)} {'to change' if k == 'change' else k}" for k in order]
        return f"{what}: {', '.join(parts)}" + (" (dry run: nothing was changed)" if dry_run else "")


def _raise_for(output: Output, host: str) -> None:
    if not output.ok:
        raise HyperVError(f"{host}: {output.error_line()}")


def _uploader(console: Console, total: int) -> tuple[Progress, Callable[[int], None]]:
    progress = Progress(
        TextColumn("  upload  "),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("upload", total=total)
    return progress, lambda n: progress.advance(task, n)


def deploy(session: Session, d: Deployment, *, dry_run: bool, console: Console) -> list[Step]:
    """Run the plan on the host (dry run: check only); the steps as reported."""
    d.check()
    disk = plan_disk(d)
    report = Report(console)
    host = session.endpoint.host
    if dry_run:
        _print_script(console, host, "deploy", deploy_script(d, disk, apply=True))
    if disk.local_zip is not None:
        _upload_step(session, d, disk, report, dry_run, console)
    output = session.run(deploy_script(d, disk, apply=not dry_run), on_step=report.step)
    _raise_for(output, host)
    console.print(report.summary(f"{d.vm_name} on {host}", dry_run), highlight=False)
    if not dry_run:
        console.print(f"  serial console: {serial_pipe(d.vm_name)} on {host} (PuTTY: Serial, 115200)", highlight=False)
    return report.steps


def _print_script(console: Console, host: str, template: str, script: str) -> None:
    console.print(f"# The script a real run sends to {host} (templates/hyperv/{template}.ps1.j2):", highlight=False)
    console.out(script, highlight=False, end="")
    console.print(f"# What it would do on {host} now (checked with $Apply = $false):", highlight=False)


def _upload_step(session: Session, d: Deployment, disk: Disk, report: Report, dry_run: bool, console: Console) -> None:
    assert disk.local_zip is not None and disk.zip_on_host is not None
    probe = session.run(
        render(
            "probe",
            apply=False,
            vm_name=d.vm_name,
            vhdx=str(disk.vhdx),
            disk_zip=str(disk.zip_on_host),
            management_switch=d.management_switch,
            sniffing_adapter=d.sniffing_adapter,
        )
    )
    _raise_for(probe, session.endpoint.host)
    state: dict[str, Any] = probe.record("disk") or {}
    size = disk.local_zip.stat().st_size
    target = str(disk.zip_on_host)
    if state.get("vhdx"):
        report.step(Step("upload", "ok", f"{disk.vhdx} is on the host already"))
    elif str(state.get("zip_sha256") or "").upper() == disk.sha256:
        report.step(Step("upload", "ok", f"{target} is on the host already (SHA256 {disk.sha256[:16]}…)"))
    elif dry_run:
        report.step(Step("upload", "change", f"{disk.local_zip.name} ({size / 1e6:.0f} MB) to {target}"))
    else:
        progress, advance = _uploader(console, size)
        with progress:
            output = session.upload(disk.local_zip, target, disk.sha256, advance)
        _raise_for(output, session.endpoint.host)
        for step in output.steps:
            report.step(step)


# --- day 2 --------------------------------------------------------------------------


def resize(session: Session, vm_name: str, mbps: int, *, dry_run: bool, console: Console) -> list[Step]:
    """Stop the VM if its size differs from the chart's row for `mbps`, set it, start it."""
    check_vm_name(vm_name)
    try:
        profile = profile_for(mbps)
    except ValueError as e:
        raise HyperVError(str(e)) from None
    values: dict[str, object] = {
        "vm_name": vm_name,
        "memory_bytes": profile.memory_mib * 1024 * 1024,
        "cpus": profile.vcpus,
    }
    what = f"{vm_name} to {profile.label}"
    return _day2(session, "resize", values, what, dry_run, console)


def nic(
    session: Session,
    vm_name: str,
    *,
    add: str = "",
    remove: str = "",
    switch: str = "",
    nic_name: str = "",
    dry_run: bool,
    console: Console,
) -> list[Step]:
    """Add a sniffing adapter on physical adapter `add` (its own switch in monitor mode),
    or remove the VM's adapter named `remove`."""
    check_vm_name(vm_name)
    if bool(add) == bool(remove):
        raise HyperVError("say one of --add PHYSICAL_ADAPTER or --remove VM_ADAPTER")
    if remove:
        values: dict[str, object] = {
            "remove": True,
            "vm_name": vm_name,
            "sniffing_adapter": "",
            "sniffing_switch": "",
            "sniffing_nic": remove,
        }
        what = f"{vm_name}: remove adapter {remove}"
    else:
        values = {
            "remove": False,
            "vm_name": vm_name,
            "sniffing_adapter": add,
            "sniffing_switch": switch or f"{DEFAULT_SNIFFING_SWITCH} ({add})",
            "sniffing_nic": nic_name or f"{SNIFFING_NIC} ({add})",
        }
        what = f"{vm_name}: sniffing adapter on {add}"
    return _day2(session, "nic", values, what, dry_run, console)


def _day2(
    session: Session,
    template: str,
    values: dict[str, object],
    what: str,
    dry_run: bool,
    console: Console,
) -> list[Step]:
    report = Report(console)
    if dry_run:
        _print_script(console, session.endpoint.host, template, render(template, apply=True, **values))
    output = session.run(render(template, apply=not dry_run, **values), on_step=report.step)
    _raise_for(output, session.endpoint.host)
    console.print(report.summary(what, dry_run), highlight=False)
    return report.steps


def status(session: Session, vm_name: str) -> dict[str, Any]:
    """The VM's state, size and adapters as the host reports them."""
    check_vm_name(vm_name)
    output = session.run(render("status", apply=False, vm_name=vm_name))
    _raise_for(output, session.endpoint.host)
    vm = output.record("vm")
    if not isinstance(vm, dict):
        raise HyperVError(f"{session.endpoint.host}: the status script printed no status")
    return vm


def print_status(vm: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    memory = int(vm.get("memory_bytes") or 0) // (1024 * 1024)
    console.print(
        f"{vm.get('name')}: {vm.get('state')}, Generation {vm.get('generation')}, {vm.get('cpus')} vCPU, "
        f"{memory} MiB{' (dynamic)' if vm.get('dynamic_memory') else ''}, stop action {vm.get('stop_action')}, "
        f"up {int(vm.get('uptime_seconds') or 0)} s",
        highlight=False,
    )
    table = Table("adapter", "switch", "MAC", "mirroring", "VLAN", "switch monitor mode", "addresses")
    modes = {0: "none", 1: "destination", 2: "source"}
    for n in vm.get("nics") or []:
        monitor = n.get("monitor_mode")
        table.add_row(
            str(n.get("name")),
            str(n.get("switch") or "-"),
            str(n.get("mac") or ""),
            str(n.get("mirroring") or ""),
            f"{n.get('vlan')} {n.get('allowed_vlans') or ''}".strip(),
            "-" if monitor is None else f"{monitor} ({modes.get(int(monitor), '?')})",
            ", ".join(n.get("addresses") or []),
        )
    console.print(table)
