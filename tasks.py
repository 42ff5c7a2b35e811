"""Tasks of the kit: `inv --list` shows them, `inv --help TASK` explains one.

These are the doors users and CI go through; each task is a thin layer over a
library function (the sensor's CLI, image/, hypervisors/), so that the same work
can be scripted without Invoke.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent
DEMO_DIR = ROOT / "build" / "demo"


def _sensor(c: Context, args: str, **kw: object) -> object:
    return c.run(f"{shlex.quote(str(BIN / 'nps-sensor'))} {args}", pty=sys.stdout.isatty(), **kw)


# --- sensor -------------------------------------------------------------------------


@task(
    help={
        "packets": "packets in the generated capture (default 200000)",
        "wrap": "delivery of the traffic: plain, vlan or erspan2",
        "format": "table, json or ndjson",
    }
)
def demo(c: Context, packets: int = 200_000, wrap: str = "plain", format: str = "table") -> None:
    """Generate a mixed LAN capture and analyze it: the sensor engine end to end."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    capture = DEMO_DIR / f"demo-{wrap}-{packets}.pcap"
    if not capture.exists():
        _sensor(c, f"generate {shlex.quote(str(capture))} --packets {packets} --wrap {wrap}")
    _sensor(c, f"analyze {shlex.quote(str(capture))} --format {format}")


@task(
    help={
        "captures": "capture files, separated by commas",
        "config": "classification and reporting settings (YAML)",
        "format": "table, json or ndjson",
        "output": "write here instead of standard output",
    }
)
def analyze(c: Context, captures: str, config: str = "", format: str = "table", output: str = "") -> None:
    """Analyze capture files with the sensor engine (nps-sensor analyze)."""
    args = " ".join(shlex.quote(p) for p in captures.split(","))
    if config:
        args += f" --config {shlex.quote(config)}"
    if output:
        args += f" --output {shlex.quote(output)}"
    _sensor(c, f"analyze {args} --format {format}")


@task(
    help={
        "output": "pcap file to write",
        "packets": "how many",
        "seed": "generator seed",
        "wrap": "plain, vlan or erspan2",
    }
)
def generate(c: Context, output: str, packets: int = 100_000, seed: int = 1, wrap: str = "plain") -> None:
    """Write a deterministic synthetic capture (the benchmark's and the tests' traffic)."""
    _sensor(c, f"generate {shlex.quote(output)} --packets {packets} --seed {seed} --wrap {wrap}")


sensor = Collection("sensor", demo, analyze, generate)


# --- appliance image ----------------------------------------------------------------


@task(
    name="build",
    help={
        "version": "version in the file names (default 0.1.0)",
        "output": "where the OVA, the VHDX zip, SHA256SUMS and the manifest go (default dist/)",
        "cache": "build cache: the Debian base, the wheels, the raw disk (default build/cache)",
        "fingerprints": "optional directory of fingerprint databases to ship (Satori, FingerBank)",
    },
)
def image_build(
    c: Context, version: str = "0.1.0", output: str = "dist", cache: str = "build/cache", fingerprints: str = ""
) -> None:
    """Build the appliance: OVA for ESXi and zipped VHDX for Hyper-V, from Debian 12."""
    from nps_image.build import Build, build
    from nps_image.steps import BuildError

    os.chdir(ROOT)
    try:
        build(Build(version, Path(output), Path(cache), Path(fingerprints) if fingerprints else None))
    except BuildError as e:
        raise Exit(f"image.build: {e}", code=1) from None


@task(name="lint", help={"ova": "the OVA to check (for example dist/nps-sensor-VERSION.ova)"})
def image_lint(c: Context, ova: str) -> None:
    """Check an OVA for what makes VMware reject it: one line per failure, naming the rule and the fix."""
    from nps_image.lint import RULES, lint_ova

    path = Path(ova)
    if not path.is_file():
        raise Exit(f"image.lint: {ova}: no such file", code=2)
    try:
        findings = lint_ova(path)
    except OSError as exc:
        raise Exit(f"image.lint: {ova}: {exc.strerror or exc}", code=2) from None
    for finding in findings:
        print(finding)
    if findings:
        raise Exit(code=1)
    print(f"{ova}: passes the {len(RULES)} rules ({', '.join(RULES)})")


@task(
    name="test",
    help={
        "format": "vmdk (ESXi-like hardware), vhdx (Hyper-V Gen 1-like) or both (default)",
        "output": "where the built image is (default dist/)",
    },
)
def image_test(c: Context, format: str = "both", output: str = "dist") -> None:
    """Boot the built image in QEMU and check that it works: network, sensor, OVF properties."""
    import tempfile

    from nps_image import qemu
    from nps_image.steps import BuildError
    from nps_sensor.synth.traffic import generate

    os.chdir(ROOT)
    (ROOT / "build").mkdir(exist_ok=True)
    dist = Path(output)
    formats = ("vmdk", "vhdx") if format == "both" else (format.lower().replace("ova", "vmdk"),)
    failed = False
    try:
        version = qemu.latest(dist, "nps-sensor")
        frames = [f for _, f in generate(3000, seed=3)]
        for fmt in formats:
            with tempfile.TemporaryDirectory(prefix=f"nps-{fmt}-", dir=ROOT / "build") as work:
                disk = qemu.extract_disk(dist, "nps-sensor", version, fmt, Path(work))
                print(f"{fmt}: booting {disk.name} in QEMU (software emulation: a minute or two) ...")
                result = qemu.check(disk, fmt, Path(work) / "vm", frames)
                qemu.keep_logs(Path(work) / "vm", ROOT / "build" / f"image-test-{fmt}")
            print(f"{fmt}: answered on SSH after {result.boot_seconds:.0f} s")
            for name, ok in result.checks.items():
                print(f"  {'pass' if ok else 'FAIL'}  {name}")
            failed |= not result.ok
    except BuildError as e:
        raise Exit(f"image.test: {e}", code=1) from None
    if failed:
        raise Exit("image.test: some checks failed (logs in build/image-test-*)", code=1)


@task(
    name="run",
    iterable=["prop"],
    help={
        "format": "vmdk (ESXi-like hardware, default) or vhdx (Hyper-V Gen 1-like)",
        "output": "where the built image is (default dist/)",
        "prop": "an OVF property KEY=VALUE for the first boot (repeatable; keys as `inv image.lint` lists them)",
    },
)
def image_run(c: Context, format: str = "vmdk", output: str = "dist", prop: list[str] | None = None) -> None:
    """Boot the built image in QEMU with this terminal on its serial line: the appliance's
    console as an operator meets it. Ctrl-] leaves and stops the VM; nothing is kept."""
    import tempfile

    from nps_image import qemu
    from nps_image.steps import BuildError

    os.chdir(ROOT)
    (ROOT / "build").mkdir(exist_ok=True)
    properties = dict(p.split("=", 1) for p in prop or [] if "=" in p)
    if len(properties) != len(prop or []):
        raise Exit("image.run: --prop takes KEY=VALUE", code=2)
    fmt = format.lower().replace("ova", "vmdk")
    try:
        dist = Path(output)
        version = qemu.latest(dist, "nps-sensor")
        with tempfile.TemporaryDirectory(prefix="nps-run-", dir=ROOT / "build") as work:
            disk = qemu.extract_disk(dist, "nps-sensor", version, fmt, Path(work))
            with qemu.booted(disk, fmt, properties, Path(work) / "vm") as vm:
                print(
                    f"{disk.name} booting in QEMU (software emulation: a minute or two); Ctrl-L redraws the console, "
                    f"Ctrl-] leaves.\nSSH once it is up: ssh -p {vm.ssh_port} -i {vm.key} nps-admin@127.0.0.1\r"
                )
                time.sleep(0.5)  # QEMU's serial socket listens once it has started
                qemu.attach(vm.serial_port)
    except BuildError as e:
        raise Exit(f"image.run: {e}", code=1) from None
    except OSError as e:
        raise Exit(f"image.run: {e.strerror or e} (is this a terminal?)", code=1) from None
    print("\nimage.run: the VM is stopped")


image = Collection("image", image_build, image_lint, image_test, image_run)


_VSPHERE_HELP = {
    "server": "the ESXi host or vCenter (name, address, host:port or https://URL); the password comes from "
    "NPS_VSPHERE_PASSWORD or a prompt",
    "user": "the vSphere user (root on ESXi; like administrator@vsphere.local on vCenter)",
    "ca_bundle": "PEM file of the CA that signed the server's certificate (default: the system's store)",
    "insecure": "do not check the server's TLS certificate (a warning says what that risks)",
    "datacenter": "datacenter by name (default: the only one)",
    "name": "the VM's name (default nps-sensor)",
}


def _esxi(call: Callable[[], object]) -> object:
    from nps_hypervisors.esxi_errors import DeployError

    try:
        return call()
    except DeployError as e:
        raise Exit(f"deploy.esxi: {e}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


@task(
    name="esxi",
    auto_shortflags=False,  # a few dozen options: the automatic one-letter flags would be noise
    iterable=["prop"],
    help={
        **_VSPHERE_HELP,
        "ova": "the OVA (default: the newest dist/nps-sensor-*.ova)",
        "cluster": "vCenter: the cluster; the sensor goes on its first host unless --host says which",
        "host": "the ESXi host by its name in vCenter (the one whose uplink carries the mirror port)",
        "resource_pool": "resource pool by name (default: the host's or cluster's root pool)",
        "folder": "vCenter: VM folder by name (default: the datacenter's VM folder)",
        "datastore": "datastore by name (default: the host's only one)",
        "management_network": "port group of the management NIC (default 'VM Network')",
        "sniffing_portgroup": "port group of the sniffing NICs, created or fixed: VLAN 4095, promiscuous mode, "
        "forged transmits and MAC changes allowed (default 'NPS Sniffing')",
        "vswitch": "standard vSwitch of the sniffing port group, its security policy opened too (default vSwitch0)",
        "dvswitch": "vCenter: distributed switch to create the sniffing port group on (an existing distributed port "
        "group of that name is used without it): VLAN trunk 0-4094 and the three flags on the port group",
        "mbps": "mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24); default 1000 (8, 16)",
        "sniffing_nics": "number of sniffing VMXNET3 NICs (default 1; the appliance aggregates them)",
        "prop": "OVF property KEY=VALUE (repeat it), like hostname=sensor-1 or mgmt.mode=static; secrets "
        "(proxy.password, registration.code) only from NPS_PROXY_PASSWORD, NPS_REGISTRATION_CODE or --properties",
        "properties": "YAML file of OVF property values (chmod 600 if it holds secrets)",
        "thick": "thick-provisioned disk (default thin)",
        "reserve": "reserve all the VM's memory and its CPUs' MHz (a sensor on shared cores drops packets)",
        "fail_on_warnings": "stop when the host warns about the OVF",
        "reconcile": "bring an existing VM of that name to these settings (default); --no-reconcile fails instead",
        "dry_run": "print the plan and change nothing",
        "shutdown_timeout": "seconds to wait for a guest shutdown before powering off (default 120)",
    },
)
def deploy_esxi(
    c: Context,
    server: str = "",
    user: str = "",
    ca_bundle: str = "",
    insecure: bool = False,
    ova: str = "",
    name: str = "nps-sensor",
    datacenter: str = "",
    cluster: str = "",
    host: str = "",
    resource_pool: str = "",
    folder: str = "",
    datastore: str = "",
    management_network: str = "VM Network",
    sniffing_portgroup: str = "NPS Sniffing",
    vswitch: str = "vSwitch0",
    dvswitch: str = "",
    mbps: int = 1000,
    sniffing_nics: int = 1,
    prop: list[str] | None = None,
    properties: str = "",
    thick: bool = False,
    reserve: bool = False,
    fail_on_warnings: bool = False,
    reconcile: bool = True,
    dry_run: bool = False,
    shutdown_timeout: int = 120,
) -> None:
    """Deploy the OVA to VMware ESXi or vCenter in one idempotent step: capture path, import, size, power on."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        values = esxi_cli.properties(prop or [], properties)
        deployment = esxi.Deployment(
            ova=Path(ova) if ova else esxi_cli.newest_ova(ROOT / "dist"),
            name=name,
            placement=esxi.Placement(datacenter, cluster, host, resource_pool, folder, datastore),
            management_network=management_network,
            capture=esxi.CapturePath(sniffing_portgroup, vswitch, dvswitch=dvswitch),
            throughput=mbps,
            sniffing_nics=sniffing_nics,
            reserve=reserve,
            properties=values,
            thin=not thick,
            fail_on_warnings=fail_on_warnings,
            reconcile=reconcile,
            shutdown_timeout=shutdown_timeout,
        )
        esxi.deploy(esxi_cli.endpoint(server, user, ca_bundle, insecure), deployment, dry_run=dry_run)

    _esxi(run)


@task(
    name="esxi-resize",
    auto_shortflags=False,
    help={
        **_VSPHERE_HELP,
        "mbps": "mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24)",
        "reserve": "reserve all the VM's memory and its CPUs' MHz",
        "shutdown_timeout": "seconds to wait for a guest shutdown before powering off (default 120)",
        "dry_run": "print the plan and change nothing",
    },
)
def deploy_esxi_resize(
    c: Context,
    mbps: int = 0,
    server: str = "",
    user: str = "",
    ca_bundle: str = "",
    insecure: bool = False,
    datacenter: str = "",
    name: str = "nps-sensor",
    reserve: bool = False,
    shutdown_timeout: int = 120,
    dry_run: bool = False,
) -> None:
    """Resize the appliance for a rate: guest shutdown (power off after the time-out), reconfigure, power on."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        if not mbps:
            raise esxi.DeployError("--mbps: the mirror-port rate to size for, 500 to 2000")
        esxi.resize(
            esxi_cli.endpoint(server, user, ca_bundle, insecure),
            name,
            mbps,
            placement=esxi.Placement(datacenter=datacenter),
            reserve=reserve,
            shutdown_timeout=shutdown_timeout,
            dry_run=dry_run,
        )

    _esxi(run)


@task(
    name="esxi-nic",
    auto_shortflags=False,
    help={
        **_VSPHERE_HELP,
        "add": "sniffing VMXNET3 NICs to add",
        "remove": "sniffing NICs to remove (the last ones; one always stays)",
        "sniffing_portgroup": "port group of the sniffing NICs (default 'NPS Sniffing')",
        "dry_run": "print the plan and change nothing",
    },
)
def deploy_esxi_nic(
    c: Context,
    add: int = 0,
    remove: int = 0,
    server: str = "",
    user: str = "",
    ca_bundle: str = "",
    insecure: bool = False,
    datacenter: str = "",
    name: str = "nps-sensor",
    sniffing_portgroup: str = "NPS Sniffing",
    dry_run: bool = False,
) -> None:
    """Add or remove sniffing NICs of the appliance (it aggregates them into one sniffing interface)."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        if not (add or remove):
            raise esxi.DeployError("give --add N or --remove N")
        esxi.set_nics(
            esxi_cli.endpoint(server, user, ca_bundle, insecure),
            name,
            add=add,
            remove=remove,
            portgroup=sniffing_portgroup,
            placement=esxi.Placement(datacenter=datacenter),
            dry_run=dry_run,
        )

    _esxi(run)


@task(
    name="esxi-status",
    auto_shortflags=False,
    help={
        **_VSPHERE_HELP,
        "sniffing_portgroup": "port group of the sniffing NICs (default 'NPS Sniffing')",
        "vswitch": "its vSwitch (default vSwitch0)",
        "json": "print the report as JSON",
    },
)
def deploy_esxi_status(
    c: Context,
    server: str = "",
    user: str = "",
    ca_bundle: str = "",
    insecure: bool = False,
    datacenter: str = "",
    name: str = "nps-sensor",
    sniffing_portgroup: str = "NPS Sniffing",
    vswitch: str = "vSwitch0",
    json: bool = False,
) -> None:
    """The appliance's VM as vSphere sees it: power, size, NICs, and its capture path's settings."""

    def run() -> None:
        from nps_hypervisors import esxi, esxi_cli

        report = esxi.status(
            esxi_cli.endpoint(server, user, ca_bundle, insecure),
            name,
            placement=esxi.Placement(datacenter=datacenter),
            capture=esxi.CapturePath(sniffing_portgroup, vswitch),
        )
        esxi_cli.print_status(report, json)

    _esxi(run)


_WINRM_HELP = {
    "host": "the Hyper-V host (DNS name or address); the password comes from NPS_WINRM_PASSWORD or a prompt",
    "user": "DOMAIN\\NAME, NAME@DOMAIN or a local account, in the host's Administrators (or Hyper-V Administrators)",
    "auth": "ntlm (default), kerberos or credssp (extras: pip install 'nps-kit[kerberos]'), basic (HTTPS only)",
    "http": "WinRM over HTTP (5985; messages still encrypted by NTLM/Kerberos) instead of HTTPS (5986)",
    "port": "WinRM port if not the default (5986 HTTPS, 5985 HTTP)",
    "ca_bundle": "PEM file of the CA that signed the host's WinRM certificate (default: the system's store)",
    "vm_name": "the VM's name (default nps-sensor)",
}
_DRY_RUN = "check the host and say what would change; change nothing"


def _hyperv(call: Callable[[], None]) -> None:
    from nps_hypervisors.hyperv_cli import CliError

    try:
        call()
    except CliError as e:
        raise Exit(str(e), code=e.code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


def _winrm(host: str, user: str, auth: str, http: bool, port: int, ca_bundle: str) -> object:
    from nps_hypervisors.hyperv_cli import CliError, endpoint

    try:
        return endpoint(host, user, auth, http, port, ca_bundle)
    except CliError as e:
        raise Exit(str(e), code=e.code) from None


@task(
    name="hyperv",
    help={
        **_WINRM_HELP,
        "dry_run": "print the script a real run sends, check the host and say what it would change; change nothing",
        "disk": "the image's VHDX zip to upload (default: the newest dist/nps-sensor-*-vhdx.zip)",
        "disk_on_host": "instead of uploading: a path the host reads, the -vhdx.zip (expanded there) or a .vhdx",
        "sha256": "SHA256 of --disk-on-host's zip, checked on the host before expanding (see dist/SHA256SUMS)",
        "vm_path": "folder on the host for the VM and its disk (default C:\\Hyper-V)",
        "management_switch": "existing virtual switch for the management NIC",
        "sniffing_adapter": "physical NIC of the host wired to the mirror port (Get-NetAdapter -Physical)",
        "sniffing_switch": "external switch made on it, not shared with the host (default nps-sniffing)",
        "mbps": "mirror-port rate to size for: 500 (4 vCPU, 8 GB) to 2000 (16, 24); default 1000 (8, 16)",
    },
)
def deploy_hyperv(
    c: Context,
    host: str = "",
    user: str = "",
    auth: str = "ntlm",
    http: bool = False,
    port: int = 0,
    ca_bundle: str = "",
    vm_name: str = "nps-sensor",
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

    ep = _winrm(host, user, auth, http, port, ca_bundle)
    _hyperv(
        lambda: hyperv_cli.deploy(
            ep,
            disk=disk,
            disk_on_host=disk_on_host,
            sha256=sha256,
            vm_name=vm_name,
            vm_path=vm_path,
            management_switch=management_switch,
            sniffing_adapter=sniffing_adapter,
            sniffing_switch=sniffing_switch,
            mbps=mbps,
            dry_run=dry_run,
            dist=ROOT / "dist",
        )
    )


@task(
    name="hyperv-resize", help={**_WINRM_HELP, "dry_run": _DRY_RUN, "mbps": "the rate to size for (500 to 2000 Mbit/s)"}
)
def deploy_hyperv_resize(
    c: Context,
    host: str = "",
    user: str = "",
    auth: str = "ntlm",
    http: bool = False,
    port: int = 0,
    ca_bundle: str = "",
    vm_name: str = "nps-sensor",
    mbps: int = 1000,
    dry_run: bool = False,
) -> None:
    """Resize the Hyper-V appliance to a rate of the chart: stop, set vCPU and memory, start."""
    from nps_hypervisors import hyperv_cli

    ep = _winrm(host, user, auth, http, port, ca_bundle)
    _hyperv(lambda: hyperv_cli.resize(ep, vm_name, mbps, dry_run))


@task(
    name="hyperv-nic",
    help={
        **_WINRM_HELP,
        "dry_run": _DRY_RUN,
        "add": "physical NIC of the host to sniff on as well (its own external switch in monitor mode)",
        "remove": "the VM's network adapter to remove (its switch stays)",
        "switch": "name of the switch made for --add (default nps-sniffing (ADAPTER))",
        "nic_name": "name of the VM adapter made for --add (default Sniffing (ADAPTER))",
    },
)
def deploy_hyperv_nic(
    c: Context,
    host: str = "",
    user: str = "",
    auth: str = "ntlm",
    http: bool = False,
    port: int = 0,
    ca_bundle: str = "",
    vm_name: str = "nps-sensor",
    add: str = "",
    remove: str = "",
    switch: str = "",
    nic_name: str = "",
    dry_run: bool = False,
) -> None:
    """Add or remove a sniffing adapter of the Hyper-V appliance (stopped for the change, started again)."""
    from nps_hypervisors import hyperv_cli

    ep = _winrm(host, user, auth, http, port, ca_bundle)
    _hyperv(lambda: hyperv_cli.nic(ep, vm_name, add, remove, switch, nic_name, dry_run))


@task(name="hyperv-status", help={**_WINRM_HELP, "json": "print the host's report as JSON"})
def deploy_hyperv_status(
    c: Context,
    host: str = "",
    user: str = "",
    auth: str = "ntlm",
    http: bool = False,
    port: int = 0,
    ca_bundle: str = "",
    vm_name: str = "nps-sensor",
    json: bool = False,
) -> None:
    """The Hyper-V appliance: state, size, adapters with their mirroring, VLANs and switch monitor mode."""
    from nps_hypervisors import hyperv_cli

    ep = _winrm(host, user, auth, http, port, ca_bundle)
    _hyperv(lambda: hyperv_cli.status(ep, vm_name, json))


deploy = Collection("deploy", deploy_esxi, deploy_hyperv, deploy_hyperv_resize, deploy_hyperv_nic, deploy_hyperv_status)
for _esxi_task in (deploy_esxi_resize, deploy_esxi_nic, deploy_esxi_status):
    deploy.add_task(_esxi_task)


def _ansible_env() -> dict[str, str]:
    """Ansible's settings are the repository's (ansible.cfg); its tools are in this venv."""
    return {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@task(
    name="configure",
    help={
        "inventory": "the Ansible inventory of the appliances (see inventory/example/)",
        "limit": "only these hosts or groups (ansible-playbook --limit)",
        "check": "say what would change, with the differences, and change nothing",
    },
)
def configure_appliances(c: Context, inventory: str, limit: str = "", check: bool = False) -> None:
    """Configure running appliances with the Ansible roles (site.yml): management network, proxy, sniffing."""
    if not Path(inventory).exists():
        raise Exit(f"configure: {inventory}: no such inventory (see inventory/example/hosts.yml)", code=2)
    playbook = BIN / "ansible-playbook"
    if not playbook.exists():
        raise Exit("configure: ansible-playbook is not installed; run ./bootstrap (the dev extra has it)", code=2)
    args = [str(playbook), "-i", inventory, str(ROOT / "site.yml")]
    if limit:
        args += ["--limit", limit]
    if check:
        args += ["--check", "--diff"]
    result = c.run(shlex.join(args), env=_ansible_env(), pty=sys.stdout.isatty(), warn=True)
    if result is None or result.failed:
        code = result.exited if result is not None else 1
        raise Exit(f"configure: ansible-playbook failed on some hosts (exit {code}); the recap above names them", code)


# --- quality ------------------------------------------------------------------------


@task(
    help={
        "all": "also the slow suites (image builds, QEMU boots, live capture), as CI does",
        "k": "only tests matching this expression (pytest -k)",
    }
)
def test(c: Context, all: bool = False, k: str = "") -> None:
    """Run the test suite (the fast part unless --all), after ruff and mypy."""
    lint(c)
    args = ["-q"]
    if not all:
        args += ["-m", "not slow and not live"]
    if k:
        args += ["-k", k]
    c.run(f"{shlex.quote(PY)} -m pytest {' '.join(shlex.quote(a) for a in args)}", pty=sys.stdout.isatty())


@task
def lint(c: Context) -> None:
    """ruff (lint and format check), mypy (strict), ansible-lint (production profile)."""
    with c.cd(str(ROOT)):
        c.run(f"{shlex.quote(str(BIN / 'ruff'))} check .")
        c.run(f"{shlex.quote(str(BIN / 'ruff'))} format --check .")
        c.run(f"{shlex.quote(str(BIN / 'mypy'))}")
        c.run(
            f"{shlex.quote(str(BIN / 'ansible-lint'))} --profile production --offline -q site.yml roles inventory",
            env=_ansible_env(),
        )


@task(
    help={
        "packets": "packets in the benchmark capture (default 1,000,000)",
        "live": "the live service instead: tcpreplay into a veth pair at rising rates (needs root)",
        "hub": "the management hub instead: ingest of 10,000 assets and 100,000 flows, SQLite and PostgreSQL",
        "discovery": "device identification instead: type, brand, model, OS of labeled devices beside p0f and Satori",
    }
)
def bench(c: Context, packets: int = 1_000_000, live: bool = False, hub: bool = False, discovery: bool = False) -> None:
    """Throughput and memory of the sensor beside tshark, p0f, softflowd and nfstream."""
    os.chdir(ROOT)
    if discovery:
        from benchmarks.discovery.run import main as discovery_main

        code = discovery_main()
    elif hub:
        from benchmarks.hub import main as hub_main

        code = hub_main()
    elif live:
        from benchmarks.live import main as live_main

        code = live_main(packets=packets)
    else:
        from benchmarks.offline import main as bench_main

        code = bench_main(packets=packets)
    if code:
        raise Exit(code=code)


# --- management hub -----------------------------------------------------------------


@task(
    name="serve",
    help={
        "data": "data directory: the SQLite database and the secret key (default build/hub)",
        "host": "address to listen on (default 127.0.0.1)",
        "port": "port (default 8480)",
        "database": "a database URL instead of SQLite (postgresql://USER@HOST/DB)",
        "tls_cert": "certificate chain (PEM) to serve HTTPS, as sensors expect",
        "tls_key": "its private key (PEM)",
    },
)
def hub_serve(
    c: Context,
    data: str = str(ROOT / "build" / "hub"),
    host: str = "127.0.0.1",
    port: int = 8480,
    database: str = "",
    tls_cert: str = "",
    tls_key: str = "",
) -> None:
    """Serve the management hub (`nps-hub serve`); the first user: `nps-hub --data DIR user NAME --admin`."""
    args = [str(BIN / "nps-hub"), "--data", data]
    if database:
        args += ["--database", database]
    args += ["serve", "--host", host, "--port", str(port)]
    if tls_cert or tls_key:
        args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
    c.run(shlex.join(args), pty=sys.stdout.isatty())


hub = Collection("hub", hub_serve)


ns = Collection(sensor, image, deploy, configure_appliances, hub, test, lint, bench)
# No task reads its commands' input: without a stdin thread, a run that ends while
# stdin is closed (CI) does not fail after the command succeeded.
ns.configure({"run": {"in_stream": False}})
