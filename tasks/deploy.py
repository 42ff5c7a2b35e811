"""`inv deploy.*`: the appliance onto VMware ESXi/vCenter (pyVmomi) or Hyper-V (WinRM).

Each task is a few lines over `nps_hypervisors`; the connection's options are shared
(`settings.Shared`): give them on the command line, in the environment
(`NPS_VSPHERE_SERVER`, `NPS_HYPERV_HOST`, ...) or once in `invoke.yaml`. Passwords
never come from options: `NPS_VSPHERE_PASSWORD` / `NPS_WINRM_PASSWORD` or a prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import ROOT, Option, Shared, shared_help, with_shared

VSPHERE = Shared(
    "vsphere",
    {
        "server": Option(
            "",
            "the ESXi host or vCenter (name, address, host:port or https://URL); the password comes from "
            "NPS_VSPHERE_PASSWORD or a prompt",
            ("GOVC_URL",),
        ),
        "user": Option(
            "", "the vSphere user (root on ESXi; like administrator@vsphere.local on vCenter)", ("GOVC_USERNAME",)
        ),
        "ca_bundle": Option(
            "",
            "PEM file of the CA that signed the server's certificate (default: the system's store)",
            ("GOVC_TLS_CA_CERTS",),
        ),
        "insecure": Option(
            False, "do not check the server's TLS certificate (a warning says what that risks)", ("GOVC_INSECURE",)
        ),
        "datacenter": Option("", "datacenter by name (default: the only one)", ("GOVC_DATACENTER",)),
        "name": Option("nps-sensor", "the VM's name (default nps-sensor)"),
    },
)
HYPERV = Shared(
    "hyperv",
    {
        "host": Option(
            "", "the Hyper-V host (DNS name or address); the password comes from NPS_WINRM_PASSWORD or a prompt"
        ),
        "user": Option(
            "", "DOMAIN\\NAME, NAME@DOMAIN or a local account, in the host's Administrators (or Hyper-V Administrators)"
        ),
        "auth": Option(
            "ntlm", "ntlm (default), kerberos or credssp (extras: pip install 'nps-kit[kerberos]'), basic (HTTPS only)"
        ),
        "http": Option(
            False, "WinRM over HTTP (5985; messages still encrypted by NTLM/Kerberos) instead of HTTPS (5986)"
        ),
        "port": Option(0, "WinRM port if not the default (5986 HTTPS, 5985 HTTP)"),
        "ca_bundle": Option(
            "", "PEM file of the CA that signed the host's WinRM certificate (default: the system's store)"
        ),
        "name": Option("nps-sensor", "the VM's name (default nps-sensor)"),
    },
)
DRY_RUN = "print the plan and change nothing"


def _esxi(call: Callable[[], object]) -> object:
    from nps_hypervisors.esxi_errors import DeployError

    try:
        return call()
    except DeployError as e:
        raise Exit(f"deploy.esxi: {e}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


def _vsphere(vs: Mapping[str, Any]) -> Any:
    from nps_hypervisors import esxi_cli

    return esxi_cli.endpoint(vs["server"], vs["user"], vs["ca_bundle"], vs["insecure"])


@task(
    name="esxi",
    auto_shortflags=False,
    iterable=["prop"],
    help=shared_help(
        VSPHERE,
        ova="the OVA (default: the newest dist/nps-sensor-*.ova)",
        cluster="vCenter: the cluster; the sensor goes on its first host unless --host (one of its hosts) says "
        "which; DRS and HA overrides keep the VM there",
        host="the ESXi host by its name in vCenter (the one whose uplink carries the mirror port)",
        resource_pool="resource pool by name (default: the host's or cluster's root pool)",
        folder="vCenter: VM folder by name (default: the datacenter's VM folder)",
        datastore="datastore by name (default: the host's only one)",
        management_network="port group of the management NIC (a new VM: default 'VM Network'; an existing VM "
        "keeps its own unless given)",
        sniffing_portgroup="port group of the sniffing NICs, created or fixed: VLAN 4095 and its own policy "
        "allowing promiscuous mode, forged transmits and MAC changes (a new VM: default 'NPS Sniffing'; an "
        "existing VM keeps the one its sniffing NICs are on unless given)",
        vswitch="standard vSwitch of the sniffing port group (default vSwitch0)",
        open_vswitch="also allow the three flags on the whole vSwitch (as the product guide describes); its "
        "other port groups first get their current policy as their own, so that they do not open with it",
        dvswitch="vCenter: distributed switch to create the sniffing port group on (an existing distributed port "
        "group of that name is used without it): VLAN trunk 0-4094 and the three flags on the port group",
        mbps="mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24); a new VM: default 1000 (8, 16); "
        "an existing VM keeps its size unless given",
        sniffing_nics="number of sniffing VMXNET3 NICs (the appliance aggregates them); a new VM: default 1; an "
        "existing VM keeps its count unless given",
        power_on="power on an existing VM that is off (a new VM is powered on anyway)",
        stall_timeout="seconds an upload may make no progress before it is aborted (default 120)",
        prop="OVF property KEY=VALUE (repeat it), like hostname=sensor-1 or mgmt.mode=static; secrets "
        "(proxy.password, registration.code) only from NPS_PROXY_PASSWORD, NPS_REGISTRATION_CODE or --properties",
        properties="YAML file of OVF property values (chmod 600 if it holds secrets)",
        thick="thick-provisioned disk (default thin)",
        reserve="reserve all the VM's memory and its CPUs' MHz (a sensor on shared cores drops packets)",
        fail_on_warnings="stop when the host warns about the OVF",
        reconcile="bring an existing VM of that name to these settings (default); --no-reconcile fails instead",
        dry_run=DRY_RUN,
        shutdown_timeout="seconds to wait for a guest shutdown before powering off (default 120)",
        wait_sensing="then wait until the appliance senses (inv appliance.check over SSH; needs the property "
        "ssh.authorized_key): its address from mgmt.address or VMware Tools, up to this many seconds",
        ssh_key="with --wait-sensing: the private key of ssh.authorized_key (default: the SSH agent, ~/.ssh)",
    ),
)
@with_shared(VSPHERE)
def esxi(
    c: Context,
    vs: Mapping[str, Any],
    ova: str = "",
    cluster: str = "",
    host: str = "",
    resource_pool: str = "",
    folder: str = "",
    datastore: str = "",
    management_network: str = "",
    sniffing_portgroup: str = "",
    vswitch: str = "",
    open_vswitch: bool = False,
    dvswitch: str = "",
    mbps: int = 0,
    sniffing_nics: int = 0,
    power_on: bool = False,
    stall_timeout: int = 120,
    prop: list[str] | None = None,
    properties: str = "",
    thick: bool = False,
    reserve: bool = False,
    fail_on_warnings: bool = False,
    reconcile: bool = True,
    dry_run: bool = False,
    shutdown_timeout: int = 120,
    wait_sensing: int = 0,
    ssh_key: str = "",
) -> None:
    """Deploy the OVA to VMware ESXi or vCenter in one idempotent step: capture path, import, size, power on;
    for an existing VM, only what an option asks."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        # Omitted means keep: an option left out is None, which an existing VM keeps as it is.
        capture = None
        if sniffing_portgroup or vswitch or dvswitch or open_vswitch:
            default = esxi.CapturePath()
            capture = esxi.CapturePath(
                sniffing_portgroup or default.portgroup,
                vswitch or default.vswitch,
                dvswitch=dvswitch,
                open_vswitch=open_vswitch,
            )
        deployment = esxi.Deployment(
            ova=Path(ova) if ova else esxi_cli.newest_ova(ROOT / "dist"),
            name=vs["name"],
            placement=esxi.Placement(vs["datacenter"], cluster, host, resource_pool, folder, datastore),
            management_network=management_network or None,
            capture=capture,
            throughput=mbps or None,
            sniffing_nics=sniffing_nics or None,
            power_on=True if power_on else None,
            upload=esxi.UploadLimits(stall=float(stall_timeout)),
            reserve=reserve,
            properties=esxi_cli.properties(prop or [], properties),
            thin=not thick,
            fail_on_warnings=fail_on_warnings,
            reconcile=reconcile,
            shutdown_timeout=shutdown_timeout,
        )
        if wait_sensing and not deployment.properties.get("ssh.authorized_key"):
            raise esxi.DeployError("--wait-sensing needs the property ssh.authorized_key (the appliance lets SSH in)")
        esxi.deploy(_vsphere(vs), deployment, dry_run=dry_run)
        if wait_sensing and not dry_run:
            _wait_sensing(vs, deployment.properties, wait_sensing, ssh_key)

    _esxi(run)


def _wait_sensing(vs: Mapping[str, Any], properties: Mapping[str, str], seconds: int, key: str) -> None:
    """--wait-sensing: the deployed appliance checked over SSH (tasks.appliance.wait_sensing)."""
    from nps_hypervisors import esxi

    from .appliance import wait_sensing

    static = properties.get("mgmt.mode") == "static" and properties.get("mgmt.address")

    def guest_ip() -> str | None:
        found = esxi.status(_vsphere(vs), vs["name"], placement=esxi.Placement(datacenter=vs["datacenter"]))
        return str(found["guest_ip"]) if found.get("guest_ip") else None

    wait_sensing(static or guest_ip, key, seconds)


@task(
    name="esxi-resize",
    auto_shortflags=False,
    help=shared_help(
        VSPHERE,
        mbps="mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24)",
        reserve="reserve all the VM's memory and its CPUs' MHz",
        shutdown_timeout="seconds to wait for a guest shutdown before powering off (default 120)",
        dry_run=DRY_RUN,
    ),
)
@with_shared(VSPHERE)
def esxi_resize(
    c: Context,
    vs: Mapping[str, Any],
    mbps: int = 0,
    reserve: bool = False,
    shutdown_timeout: int = 120,
    dry_run: bool = False,
) -> None:
    """Resize the appliance for a rate: guest shutdown (power off after the time-out), reconfigure, power on."""

    def run() -> None:
        from nps_hypervisors import esxi

        if not mbps:
            raise esxi.DeployError("--mbps: the mirror-port rate to size for, 500 to 2000")
        esxi.resize(
            _vsphere(vs),
            vs["name"],
            mbps,
            placement=esxi.Placement(datacenter=vs["datacenter"]),
            reserve=reserve,
            shutdown_timeout=shutdown_timeout,
            dry_run=dry_run,
        )

    _esxi(run)


@task(
    name="esxi-nic",
    auto_shortflags=False,
    help=shared_help(
        VSPHERE,
        add="sniffing VMXNET3 NICs to add",
        remove="sniffing NICs to remove (the last ones; one always stays)",
        sniffing_portgroup="port group of the sniffing NICs (default 'NPS Sniffing')",
        dry_run=DRY_RUN,
    ),
)
@with_shared(VSPHERE)
def esxi_nic(
    c: Context,
    vs: Mapping[str, Any],
    add: int = 0,
    remove: int = 0,
    sniffing_portgroup: str = "NPS Sniffing",
    dry_run: bool = False,
) -> None:
    """Add or remove sniffing NICs of the appliance (it aggregates them into one sniffing interface)."""

    def run() -> None:
        from nps_hypervisors import esxi

        if not (add or remove):
            raise esxi.DeployError("give --add N or --remove N")
        esxi.set_nics(
            _vsphere(vs),
            vs["name"],
            add=add,
            remove=remove,
            portgroup=sniffing_portgroup,
            placement=esxi.Placement(datacenter=vs["datacenter"]),
            dry_run=dry_run,
        )

    _esxi(run)


@task(
    name="esxi-status",
    auto_shortflags=False,
    help=shared_help(
        VSPHERE,
        sniffing_portgroup="port group of the sniffing NICs (default: the one they are on)",
        vswitch="its vSwitch (default vSwitch0)",
        json="print the report as JSON",
    ),
)
@with_shared(VSPHERE)
def esxi_status(
    c: Context,
    vs: Mapping[str, Any],
    sniffing_portgroup: str = "",
    vswitch: str = "vSwitch0",
    json: bool = False,
) -> None:
    """The appliance's VM as vSphere sees it: power, size, NICs, and its capture path's settings."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        report = esxi.status(
            _vsphere(vs),
            vs["name"],
            placement=esxi.Placement(datacenter=vs["datacenter"]),
            capture=esxi.CapturePath(sniffing_portgroup, vswitch) if sniffing_portgroup else None,
        )
        esxi_cli.print_status(report, json)

    _esxi(run)


def _hyperv(call: Callable[[Any], None], hv: Mapping[str, Any]) -> None:
    """Call the Hyper-V deployer with the connection's endpoint; its errors become one line."""
    from nps_hypervisors.hyperv_cli import CliError, endpoint

    try:
        call(endpoint(hv["host"], hv["user"], hv["auth"], hv["http"], hv["port"], hv["ca_bundle"]))
    except CliError as e:
        raise Exit(str(e), code=e.code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


@task(
    name="hyperv",
    auto_shortflags=False,
    help=shared_help(
        HYPERV,
        dry_run="print the script a real run sends, check the host and say what it would change; change nothing",
        disk="the image's VHDX zip to upload (default: the newest dist/nps-sensor-*-vhdx.zip)",
        disk_on_host="instead of uploading: a path the host reads, the -vhdx.zip (expanded there) or a .vhdx",
        sha256="SHA256 of --disk-on-host's zip, checked on the host before expanding (see dist/SHA256SUMS)",
        vm_path="folder on the host for the VM and its disk (default C:\\Hyper-V)",
        management_switch="existing virtual switch for the management NIC",
        sniffing_adapter="physical NIC of the host wired to the mirror port (Get-NetAdapter -Physical)",
        sniffing_switch="external switch made on it, not shared with the host (default nps-sniffing)",
        mbps="mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24); default 1000 (8, 16)",
    ),
)
@with_shared(HYPERV)
def hyperv(
    c: Context,
    hv: Mapping[str, Any],
    vm_path: str = "C:\\Hyper-V",
    disk: str = "",
    disk_on_host: str = "",
    sha256: str = "",
    management_switch: str = "",
    sniffing_adapter: str = "",
    sniffing_switch: str = "nps-sniffing",
    mbps: int = 1000,
    dry_run: bool = False,
) -> None:
    """Deploy the VHDX to Microsoft Hyper-V over WinRM: VM, sniffing switch in monitor mode, mirror NIC."""
    from nps_hypervisors import hyperv_cli

    _hyperv(
        lambda ep: hyperv_cli.deploy(
            ep,
            disk=disk,
            disk_on_host=disk_on_host,
            sha256=sha256,
            vm_name=hv["name"],
            vm_path=vm_path,
            management_switch=management_switch,
            sniffing_adapter=sniffing_adapter,
            sniffing_switch=sniffing_switch,
            mbps=mbps,
            dry_run=dry_run,
            dist=ROOT / "dist",
        ),
        hv,
    )


@task(
    name="hyperv-resize",
    auto_shortflags=False,
    help=shared_help(HYPERV, dry_run=DRY_RUN, mbps="the rate to size for (500 to 2000 Mbit/s)"),
)
@with_shared(HYPERV)
def hyperv_resize(c: Context, hv: Mapping[str, Any], mbps: int = 1000, dry_run: bool = False) -> None:
    """Resize the Hyper-V appliance to a rate of the chart: stop, set vCPU and memory, start."""
    from nps_hypervisors import hyperv_cli

    _hyperv(lambda ep: hyperv_cli.resize(ep, hv["name"], mbps, dry_run), hv)


@task(
    name="hyperv-nic",
    auto_shortflags=False,
    help=shared_help(
        HYPERV,
        dry_run=DRY_RUN,
        add="physical NIC of the host to sniff on as well (its own external switch in monitor mode)",
        remove="the VM's network adapter to remove (its switch stays)",
        switch="name of the switch made for --add (default nps-sniffing (ADAPTER))",
        nic_name="name of the VM adapter made for --add (default Sniffing (ADAPTER))",
    ),
)
@with_shared(HYPERV)
def hyperv_nic(
    c: Context,
    hv: Mapping[str, Any],
    add: str = "",
    remove: str = "",
    switch: str = "",
    nic_name: str = "",
    dry_run: bool = False,
) -> None:
    """Add or remove a sniffing adapter of the Hyper-V appliance (stopped for the change, started again)."""
    from nps_hypervisors import hyperv_cli

    _hyperv(lambda ep: hyperv_cli.nic(ep, hv["name"], add, remove, switch, nic_name, dry_run), hv)


@task(name="hyperv-status", auto_shortflags=False, help=shared_help(HYPERV, json="print the host's report as JSON"))
@with_shared(HYPERV)
def hyperv_status(c: Context, hv: Mapping[str, Any], json: bool = False) -> None:
    """The Hyper-V appliance: state, size, adapters with their mirroring, VLANs and switch monitor mode."""
    from nps_hypervisors import hyperv_cli

    _hyperv(lambda ep: hyperv_cli.status(ep, hv["name"], json), hv)


deploy = Collection(
    "deploy", esxi, esxi_resize, esxi_nic, esxi_status, hyperv, hyperv_resize, hyperv_nic, hyperv_status
)
deploy.configure({VSPHERE.name: VSPHERE.defaults(), HYPERV.name: HYPERV.defaults()})
