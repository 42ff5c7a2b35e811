"""The doors of the deploy.hyperv* tasks: options in, one line out on failure.

tasks.py stays thin: each task calls one function here with its options; a HyperVError
(or a bad option) comes back as CliError with the line to print and the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from . import hyperv
from .hyperv_winrm import Endpoint, HyperVError, Session, read_password


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def endpoint(host: str, user: str, auth: str, http: bool, port: int, ca_bundle: str) -> Endpoint:
    ep = Endpoint(host=host, user=user, auth=auth.lower(), http=http, port=port, ca_bundle=ca_bundle)
    try:
        ep.check()
    except HyperVError as e:
        raise CliError(str(e), 2) from None
    return ep


def latest_zip(dist: Path) -> Path:
    """The newest dist/nps-sensor-*-vhdx.zip (what inv image.build made)."""
    found = sorted(dist.glob("nps-sensor-*-vhdx.zip"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise CliError(
            f"no {dist}/nps-sensor-*-vhdx.zip: run inv image.build, or pass --disk ZIP or --disk-on-host PATH", 2
        )
    return found[-1]


def _session(ep: Endpoint) -> Session:
    # Kerberos authenticates with the ticket from kinit: no password is asked for
    return Session(ep, "" if ep.auth == "kerberos" else read_password())


def deploy(
    ep: Endpoint,
    *,
    disk: str,
    disk_on_host: str,
    sha256: str,
    vm_name: str,
    vm_path: str,
    management_switch: str,
    sniffing_adapter: str,
    sniffing_switch: str,
    mbps: int,
    dry_run: bool,
    dist: Path,
    console: Console | None = None,
) -> None:
    if not management_switch:
        raise CliError("pass --management-switch NAME: the host's switch for the appliance's management NIC", 2)
    if not sniffing_adapter:
        raise CliError("pass --sniffing-adapter NAME: the host's physical NIC wired to the mirror port", 2)
    local = Path(disk) if disk else (None if disk_on_host else latest_zip(dist))
    d = hyperv.Deployment(
        management_switch=management_switch,
        sniffing_adapter=sniffing_adapter,
        disk=local,
        disk_on_host=disk_on_host,
        disk_sha256=sha256,
        vm_name=vm_name,
        vm_path=vm_path,
        sniffing_switch=sniffing_switch,
        mbps=mbps,
    )
    try:
        d.check()
        with _session(ep) as session:
            hyperv.deploy(session, d, dry_run=dry_run, console=console or Console(soft_wrap=True))
    except HyperVError as e:
        raise CliError(f"deploy.hyperv: {e}") from None


def resize(ep: Endpoint, vm_name: str, mbps: int, dry_run: bool, console: Console | None = None) -> None:
    try:
        with _session(ep) as session:
            hyperv.resize(session, vm_name, mbps, dry_run=dry_run, console=console or Console(soft_wrap=True))
    except HyperVError as e:
        raise CliError(f"deploy.hyperv-resize: {e}") from None


def nic(
    ep: Endpoint,
    vm_name: str,
    add: str,
    remove: str,
    switch: str,
    nic_name: str,
    dry_run: bool,
    console: Console | None = None,
) -> None:
    try:
        with _session(ep) as session:
            hyperv.nic(
                session,
                vm_name,
                add=add,
                remove=remove,
                switch=switch,
                nic_name=nic_name,
                dry_run=dry_run,
                console=console or Console(soft_wrap=True),
            )
    except HyperVError as e:
        raise CliError(f"deploy.hyperv-nic: {e}") from None


def status(ep: Endpoint, vm_name: str, as_json: bool, console: Console | None = None) -> None:
    out = console or Console(soft_wrap=True)
    try:
        with _session(ep) as session:
            vm = hyperv.status(session, vm_name)
    except HyperVError as e:
        raise CliError(f"deploy.hyperv-status: {e}") from None
    if as_json:
        out.out(json.dumps(vm, indent=2), highlight=False)
    else:
        hyperv.print_status(vm, out)
