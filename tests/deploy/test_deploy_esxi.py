"""The ESXi deployer against vcsim, govmomi's vSphere simulator, in ESXi and in vCenter mode.

The simulator (tests/vcsim.py builds it from Debian's govmomi) answers the same SOAP
API as ESXi and vCenter: the import spec, ImportVApp, the NFC lease and its upload,
port groups and vSwitches (with our extension for the updates it lacks), VM
reconfiguration and power. Where it is more lenient than vSphere (it ignores thin or
thick, keeps OVF property values in extraConfig rather than vApp properties), the
tests check what the deployer sends. Each test starts its own simulator on a free
loopback port (it starts in well under a second) with a self-signed certificate
that the deployer verifies through the CA-bundle option.
"""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from nps_hypervisors import esxi, esxi_cli, esxi_import
from nps_hypervisors.esxi_import import ImportRequest, device_url, import_spec_params
from nps_hypervisors.esxi_ova import open_ova
from nps_image.formats.vmdk import write_stream_optimized
from nps_image.ova import manifest, write_ova
from nps_image.ovf import NETWORKS, PROPERTY_KEYS, OvfDisk, environment_errors, render_ovf
from nps_image.sizing import profile_for
from nps_sensor.appliance.firstboot import parse_environment
from tests.support import vcsim

MiB = 1024 * 1024
PROXY_PASSWORD = "Pr0xy-S3cret-Value"
REGISTRATION_CODE = "12345678901234"
PROPERTIES = {
    "hostname": "sensor-7",
    "mgmt.mode": "dhcp",
    "proxy.address": "proxy.example.net",
    "proxy.port": "3128",
    "proxy.auth": "basic",
    "proxy.user": "svc-sensor",
    "proxy.password": PROXY_PASSWORD,
    "registration.code": REGISTRATION_CODE,
}
# In vCenter mode the sensor goes on the cluster's first host.
MODES = {"esxi": (True, esxi.Placement()), "vcenter": (False, esxi.Placement(cluster="DC0_C0"))}


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    try:
        binary: Path = vcsim.build()
    except vcsim.Unavailable as exc:
        pytest.skip(f"vcsim cannot be built here: {exc}")
    return binary


def build_ova(d: Path, edit: Callable[[str], str] = lambda xml: xml, size: int = 2 * MiB) -> Path:
    """A small OVA made like the real one: the same descriptor template, VMDK writer and packager.

    `edit` changes the descriptor (before the manifest is made) for the tests of bad OVFs.
    """
    d.mkdir(parents=True, exist_ok=True)
    raw = d / "raw.img"
    with open(raw, "wb") as f:
        f.truncate(64 * MiB)
        f.seek(MiB)
        f.write(os.urandom(size))  # random: the stream-optimized VMDK does not shrink it
    name, version = "nps-sensor", "0.0.1"
    vmdk = d / f"{name}-{version}-disk1.vmdk"
    info = write_stream_optimized(raw, vmdk)
    ovf = d / f"{name}-{version}.ovf"
    xml = render_ovf(name, version, OvfDisk(vmdk.name, info.file_size, info.capacity, info.populated))
    ovf.write_text(edit(xml))
    mf = d / f"{name}-{version}.mf"
    mf.write_text(manifest([(ovf.name, ovf), (vmdk.name, vmdk)]))
    out = d / f"{name}-{version}.ova"
    write_ova(out, [(p.name, p) for p in (ovf, mf, vmdk)], 1_700_000_000)
    return out


@pytest.fixture(scope="module")
def ova(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ova(tmp_path_factory.mktemp("ova"))


@pytest.fixture(params=sorted(MODES))
def server(request: pytest.FixtureRequest, vcsim_binary: Path) -> Iterator[tuple[vcsim.Server, esxi.Placement]]:
    esx, placement = MODES[request.param]
    with vcsim.running(esx=esx) as s:
        yield s, placement


@pytest.fixture
def esx_server(vcsim_binary: Path) -> Iterator[vcsim.Server]:
    with vcsim.running(esx=True) as s:
        yield s


def endpoint(s: vcsim.Server, **kw: Any) -> esxi.Endpoint:
    return esxi.Endpoint(s.host, s.user, kw.pop("password", s.password), ca_bundle=kw.pop("ca", s.ca_file), **kw)


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self)


def deployment(ova: Path, placement: esxi.Placement, **kw: Any) -> esxi.Deployment:
    return esxi.Deployment(ova=ova, placement=placement, properties=kw.pop("properties", PROPERTIES), **kw)


def run_deploy(s: vcsim.Server, d: esxi.Deployment, dry_run: bool = False) -> tuple[bool, Lines]:
    lines = Lines()
    changed = esxi.deploy(endpoint(s), d, dry_run=dry_run, say=lines, quiet=True)
    return changed, lines


# --- reading vSphere back, independently of the deployer ---------------------------------


class View:
    """A plain pyVmomi session on the simulator, for reading back what the deployer did."""

    def __init__(self, s: vcsim.Server) -> None:
        ctx = ssl.create_default_context(cafile=str(s.ca_file))
        self.si = SmartConnect(
            host="127.0.0.1", port=int(s.host.rsplit(":", 1)[1]), user=s.user, pwd=s.password, sslContext=ctx
        )
        self.content = self.si.RetrieveContent()

    def close(self) -> None:
        Disconnect(self.si)

    def all(self, kind: Any) -> list[Any]:
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    def vms(self, name: str) -> list[Any]:
        found = []
        for vm in self.all(vim.VirtualMachine):
            try:
                if vm.name == name:
                    found.append(vm)
            except vmodl.fault.ManagedObjectNotFound:
                # A removed VM the simulator still lists: the test's lease-error pool is an
                # extension type its VM removal does not recognise.
                continue
        return found

    def host(self, esx: bool) -> Any:
        hosts = {h.name: h for h in self.all(vim.HostSystem)}
        return next(iter(hosts.values())) if esx else hosts["DC0_C0_H0"]

    def network_info(self, esx: bool) -> Any:
        return self.host(esx).configManager.networkSystem.networkInfo


@pytest.fixture
def view_of() -> Iterator[Any]:
    views: list[View] = []

    def make(s: vcsim.Server) -> View:
        views.append(View(s))
        return views[-1]

    yield make
    for v in views:
        v.close()


def nics(vm: Any) -> list[str]:
    """The network name of each NIC, in device order."""
    return [d.backing.deviceName for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def portgroup(info: Any, name: str) -> Any:
    return next((p for p in info.portgroup if p.spec.name == name), None)


def vswitch(info: Any, name: str) -> Any:
    return next(v for v in info.vswitch if v.name == name)


def is_open(security: Any) -> bool:
    return bool(security.allowPromiscuous and security.forgedTransmits and security.macChanges)


FLAGS = ("allowPromiscuous", "forgedTransmits", "macChanges")
CLOSED = dict.fromkeys(FLAGS, False)


def effective(info: Any, name: str) -> dict[str, bool]:
    """A port group's security flags as the host applies them: its own, else its vSwitch's (read here,
    not through the deployer's code)."""
    pg = portgroup(info, name)
    sw = vswitch(info, pg.spec.vswitchName)
    own = pg.spec.policy.security
    out = {}
    for flag in FLAGS:
        value = getattr(own, flag) if own is not None else None
        out[flag] = bool(getattr(sw.spec.policy.security, flag) if value is None else value)
    return out


def overrides(info: Any, name: str) -> dict[str, bool | None]:
    own = portgroup(info, name).spec.policy.security
    return {flag: getattr(own, flag) if own is not None else None for flag in FLAGS}


# --- the acceptance: deploy, capture path, idempotence, dry run --------------------------


def test_deploy_imports_wires_sizes_and_powers_on_then_changes_nothing(server, ova, view_of) -> None:
    s, placement = server
    esx = placement.cluster == ""
    d = deployment(ova, placement)
    view = view_of(s)

    changed, plan = run_deploy(s, d, dry_run=True)
    assert changed and "dry run, nothing changed" in plan.text
    assert "import nps-sensor-0.0.1.ova as VM nps-sensor" in plan.text
    assert view.vms("nps-sensor") == []
    info = view.network_info(esx)
    assert portgroup(info, "NPS Sniffing") is None
    assert not is_open(vswitch(info, "vSwitch0").spec.policy.security)

    changed, lines = run_deploy(s, d)
    assert changed and lines[-1] == "nps-sensor: done"
    (vm,) = view.vms("nps-sensor")
    profile = profile_for(1000)
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (profile.vcpus, profile.memory_mib)
    assert vm.runtime.powerState == "poweredOn"
    assert nics(vm) == ["VM Network", "NPS Sniffing"]
    assert all(
        isinstance(d, vim.vm.device.VirtualVmxnet3)
        for d in vm.config.hardware.device
        if isinstance(d, vim.vm.device.VirtualEthernetCard)
    )
    info = view.network_info(esx)
    pg = portgroup(info, "NPS Sniffing")
    assert pg.spec.vlanId == 4095 and pg.spec.vswitchName == "vSwitch0"
    assert is_open(pg.spec.policy.security)
    # Least privilege: the vSwitch and its other port groups are left closed.
    sw = vswitch(info, "vSwitch0")
    assert not is_open(sw.spec.policy.security)
    assert [effective(info, name) for name in ("VM Network", "Management Network")] == [CLOSED, CLOSED]
    # The simulator keeps the property mapping in extraConfig: every value was sent.
    extra = {o.key: o.value for o in vm.config.extraConfig}
    assert {k: extra.get(k) for k in PROPERTIES} == PROPERTIES
    # Neither a standalone host nor the simulator's vCenter (no vApp options) builds the OVF
    # environment: the deployer wrote it, valid against DSP8027, with every property.
    env = extra["guestinfo.ovfEnv"]
    assert environment_errors(env.encode()) == []
    values = parse_environment(env)
    assert set(values) == set(PROPERTY_KEYS) and {k: values[k] for k in PROPERTIES} == PROPERTIES
    assert values["proxy.port"] == "3128" and values["mgmt.dns1"] == ""  # given, and the OVF's default
    doc = etree.fromstring(env.encode())
    oe, ve = "{http://schemas.dmtf.org/ovf/environment/1}", "{http://www.vmware.com/schema/ovfenv}"
    assert doc.get(f"{ve}{'esxId' if esx else 'vCenterId'}") == vm._moId and doc.get(f"{oe}id") == ""
    assert doc.findtext(f"{oe}PlatformSection/{oe}Kind") == "VMware ESXi"
    macs = [a.get(f"{ve}mac") for a in doc.iter(f"{ve}Adapter")]
    assert macs == [d.macAddress for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert "OVF environment: written into guestinfo.ovfEnv" in plan.text or not esx
    assert extra["nps.capture.host"] == vm.runtime.host.name
    if not esx:  # kept on its host: DRS leaves it alone, HA does not restart it elsewhere
        cluster = vm.runtime.host.parent
        (drs,) = [o for o in cluster.configurationEx.drsVmConfig if o.key == vm]
        (das,) = [o for o in cluster.configurationEx.dasVmConfig if o.key == vm]
        assert drs.enabled is False and das.dasSettings.restartPriority == "disabled"
        assert "cluster DC0_C0: keep VM nps-sensor on DC0_C0_H0" in plan.text

    for dry_run in (True, False):
        changed, lines = run_deploy(s, d, dry_run=dry_run)
        assert not changed and lines == ["nps-sensor: nothing to change, it is as asked"]
    assert len(view.vms("nps-sensor")) == 1


def test_resize_and_sniffing_nics_then_deploy_reconciles(server, ova, view_of) -> None:
    s, placement = server
    ep = endpoint(s)
    run_deploy(s, deployment(ova, placement))
    view = view_of(s)
    (vm,) = view.vms("nps-sensor")

    lines = Lines()
    assert esxi.resize(ep, "nps-sensor", 500, say=lines, shutdown_timeout=5)
    assert "8 -> 4 vCPU, 16384 -> 8192 MB (guest shutdown" in lines.text
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB, vm.runtime.powerState) == (4, 8192, "poweredOn")
    assert not esxi.resize(ep, "nps-sensor", 500, say=Lines())

    assert esxi.set_nics(ep, "nps-sensor", add=2, say=Lines())
    assert nics(vm) == ["VM Network"] + ["NPS Sniffing"] * 3
    assert esxi.set_nics(ep, "nps-sensor", remove=1, say=Lines())
    assert nics(vm) == ["VM Network"] + ["NPS Sniffing"] * 2
    with pytest.raises(esxi.DeployError, match="at least one must stay"):
        esxi.set_nics(ep, "nps-sensor", remove=2, say=Lines())
    status = esxi.status(ep, "nps-sensor")
    assert status["sniffing_nics"] == ["NPS Sniffing"] * 2 and status["vcpus"] == 4
    assert status["capture"]["portgroup"]["vlan"] == 4095

    # Omitted means keep: a plain re-run leaves the day-2 changes alone.
    changed, lines = run_deploy(s, deployment(ova, placement))
    assert not changed and lines == ["nps-sensor: nothing to change, it is as asked"]
    assert (vm.config.hardware.numCPU, nics(vm)) == (4, ["VM Network"] + ["NPS Sniffing"] * 2)
    # What an option asks wins: sized back for 1000 Mbit/s, one sniffing NIC, never a second VM.
    changed, lines = run_deploy(s, deployment(ova, placement, throughput=1000, sniffing_nics=1))
    assert changed and "remove 1 sniffing NIC(s)" in lines.text
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (8, 16384)
    assert nics(vm) == ["VM Network", "NPS Sniffing"] and vm.runtime.powerState == "poweredOn"
    assert len(view.vms("nps-sensor")) == 1


def test_resize_powers_off_a_guest_that_ignores_the_shutdown(esx_server, view_of) -> None:
    """The simulator's VM that exists at start accepts a guest shutdown and does nothing (a hung guest)."""
    lines = Lines()
    assert esxi.resize(endpoint(esx_server), "ha-host_VM0", 750, shutdown_timeout=1, say=lines)
    assert "  the guest did not shut down within 1 s: powering off" in lines
    (vm,) = view_of(esx_server).vms("ha-host_VM0")
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB, vm.runtime.powerState) == (6, 12288, "poweredOn")


def test_a_drifted_capture_path_and_vm_are_reconciled(esx_server, ova, view_of) -> None:
    s = esx_server
    run_deploy(s, deployment(ova, esxi.Placement(), sniffing_nics=2, reserve=True))
    view = view_of(s)
    (vm,) = view.vms("nps-sensor")
    assert vm.config.memoryReservationLockedToMax and nics(vm)[1:] == ["NPS Sniffing"] * 2
    # Someone closes the port group, moves a NIC and powers the VM off.
    ns = view.host(True).configManager.networkSystem
    spec = portgroup(ns.networkInfo, "NPS Sniffing").spec
    spec.vlanId = 10
    spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy(
        allowPromiscuous=False, forgedTransmits=False, macChanges=False
    )
    ns.UpdatePortGroup(pgName="NPS Sniffing", portgrp=spec)
    nic = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)][2]
    nic.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network")
    vm.ReconfigVM_Task(
        spec=vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic)])
    )
    vm.PowerOffVM_Task()

    changed, lines = run_deploy(s, deployment(ova, esxi.Placement(), sniffing_nics=2, reserve=True, power_on=True))
    assert changed
    assert "port group NPS Sniffing: VLAN 10 -> 4095, allow promiscuous mode" in lines.text
    assert "sniffing NIC 2 VM Network -> NPS Sniffing" in lines.text
    pg = portgroup(view.network_info(True), "NPS Sniffing")
    assert pg.spec.vlanId == 4095 and is_open(pg.spec.policy.security)
    assert nics(vm) == ["VM Network", "NPS Sniffing", "NPS Sniffing"] and vm.runtime.powerState == "poweredOn"
    assert run_deploy(s, deployment(ova, esxi.Placement(), sniffing_nics=2, reserve=True))[0] is False


# --- what is sent where the simulator is lenient -------------------------------------------


def test_import_spec_parameters(ova) -> None:
    networks = {name: vim.Network(f"network-{i}") for i, name in enumerate(NETWORKS)}
    params = import_spec_params(ImportRequest("s1", "500mbps", networks, {"hostname": "s1"}, thin=True))
    assert params.entityName == "s1" and params.deploymentOption == "500mbps"
    assert params.diskProvisioning == "thin"
    assert {m.name for m in params.networkMapping} == set(NETWORKS) == set(esxi.ovf_networks(open_ova(ova)))
    assert [(p.key, p.value) for p in params.propertyMapping] == [("hostname", "s1")]
    assert import_spec_params(ImportRequest("s1", "", networks, {}, thin=False)).diskProvisioning == "thick"
    # Every deployment option of the chart is one the OVA offers.
    assert {profile_for(m).id for m in (500, 750, 1000, 1250, 1500, 1750, 2000)} <= set(
        esxi.ovf_configurations(open_ova(ova))
    )


def test_the_lease_is_kept_alive_while_the_upload_runs(esx_server, ova, view_of, monkeypatch) -> None:
    """HttpNfcLeaseProgress reaches the host every few seconds whatever the upload does (here: nothing)."""
    monkeypatch.setattr(esxi_import, "KEEPALIVE_SECONDS", 0.05)
    view = view_of(esx_server)
    content = view.content
    host = view.host(True)
    pool = host.parent.resourcePool
    networks = dict.fromkeys(NETWORKS, host.network[0])
    params = import_spec_params(ImportRequest("keepalive", "500mbps", networks, {}))
    result = content.ovfManager.CreateImportSpec(open_ova(ova).descriptor, pool, host.datastore[0], params)
    lease = pool.ImportVApp(result.importSpec)
    sent: list[int] = []

    class Recorded:
        """The real lease, recording the progress it is sent (the simulator does not expose it)."""

        def HttpNfcLeaseProgress(self, percent: int) -> None:
            lease.HttpNfcLeaseProgress(percent=percent)  # raises if the host refuses it
            sent.append(percent)

    keepalive = esxi_import._KeepAlive(Recorded(), total=1000)
    keepalive.sent = 420
    keepalive.start()
    try:
        deadline = time.monotonic() + 5
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keepalive.stop()
        lease.HttpNfcLeaseAbort()
    assert sent[:3] == [42, 42, 42]


def test_vapp_properties_the_host_did_not_apply_are_set_after_the_import() -> None:
    info = vim.vApp.VmConfigInfo(
        property=[
            vim.vApp.PropertyInfo(key=0, id="hostname", value="sensor-7"),
            vim.vApp.PropertyInfo(key=1, classId="mgmt", id="mode", value="dhcp"),
            vim.vApp.PropertyInfo(key=2, classId="proxy", id="password", value=""),
        ]
    )
    fixes = esxi.property_fixes(info, {"hostname": "sensor-7", "mgmt.mode": "dhcp", "proxy.password": "pw"})
    assert list(fixes) == ["proxy.password"]
    assert (fixes["proxy.password"].operation, fixes["proxy.password"].info.key) == ("edit", 2)
    assert esxi.property_fixes(None, PROPERTIES) == {}  # the simulator: no vApp configuration


def test_star_in_device_urls_is_the_connected_host(esx_server) -> None:
    session = type("S", (), {"endpoint": endpoint(esx_server)})()
    assert device_url("https://*/nfc/52a/disk-0.vmdk", session) == f"https://{esx_server.host}/nfc/52a/disk-0.vmdk"
    assert device_url("https://esx1.lab:443/nfc/x", session) == "https://esx1.lab:443/nfc/x"


def test_properties_are_checked_against_the_descriptor_and_the_first_boot(esx_server, ova) -> None:
    with pytest.raises(esxi.DeployError, match=r"unknown OVF property mgmt\.ip; the OVA declares: hostname, mgmt"):
        run_deploy(esx_server, deployment(ova, esxi.Placement(), properties={"mgmt.ip": "10.0.0.1"}))
    with pytest.raises(esxi.DeployError, match=r"OVF properties: .*DNS1"):
        run_deploy(
            esx_server,
            deployment(
                ova,
                esxi.Placement(),
                properties={
                    "mgmt.mode": "static",
                    "mgmt.address": "10.0.0.5",
                    "mgmt.netmask": "24",
                    "mgmt.gateway": "10.0.0.1",
                },
            ),
        )
    assert set(PROPERTIES) <= set(PROPERTY_KEYS)


# --- failures: one line each -------------------------------------------------------------


def test_failures_are_one_clear_line(esx_server, ova, tmp_path, view_of) -> None:
    s = esx_server
    d = deployment(ova, esxi.Placement())

    def error(ep: esxi.Endpoint, dep: esxi.Deployment) -> str:
        with pytest.raises(esxi.DeployError) as info:
            esxi.deploy(ep, dep, say=Lines(), quiet=True)
        message = str(info.value)
        assert "\n" not in message
        return message

    assert "login failed for 'administrator': wrong user name or password" in error(endpoint(s, password="nope"), d)
    assert "TLS certificate is not trusted" in error(endpoint(s, ca=None), d)
    assert "datastore 'SAN-01' not found on host localhost.localdomain; available: LocalDS_0" in error(
        endpoint(s), deployment(ova, esxi.Placement(datastore="SAN-01"))
    )
    assert "network 'Mgmt-VLAN' not found on host localhost.localdomain; available: VM Network" in error(
        endpoint(s), deployment(ova, esxi.Placement(), management_network="Mgmt-VLAN")
    )
    assert "vSwitch 'vSwitch9' not found on host localhost.localdomain; available: vSwitch0" in error(
        endpoint(s), deployment(ova, esxi.Placement(), capture=esxi.CapturePath(vswitch="vSwitch9"))
    )
    assert "resource pool 'gold' not found" in error(endpoint(s), deployment(ova, esxi.Placement(resource_pool="gold")))

    damaged = tmp_path / "damaged.ova"
    data = bytearray(ova.read_bytes())
    member = open_ova(ova).members["nps-sensor-0.0.1-disk1.vmdk"]
    data[member.offset + member.size // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert "manifest mismatch for nps-sensor-0.0.1-disk1.vmdk" in error(
        endpoint(s), deployment(damaged, esxi.Placement())
    )

    view = view_of(s)
    message = error(endpoint(s), deployment(ova, esxi.Placement(resource_pool="lease-error"), name="full"))
    assert (
        message == "importing full failed: the host's lease is in error: Insufficient disk space on datastore "
        "'LocalDS_0'."
    )
    assert view.vms("full") == []  # the lease was aborted and the half-imported VM removed

    message = error(endpoint(s), deployment(ova, esxi.Placement(resource_pool="upload-error"), name="late"))
    # The host answers 404 and closes while the disk is still being sent: the status when it can
    # still be read, the connection's error when the close came first.
    assert message.startswith(f"uploading nps-sensor-0.0.1-disk1.vmdk to {s.host} failed")
    assert view.vms("late") == []

    # A host behind vCenter: its upload URL names it, with its certificate's thumbprint.
    esxi.deploy(
        endpoint(s), deployment(ova, esxi.Placement(resource_pool="pinned"), name="pin"), say=Lines(), quiet=True
    )
    assert len(view.vms("pin")) == 1
    message = error(endpoint(s), deployment(ova, esxi.Placement(resource_pool="pinned-wrong"), name="mitm"))
    assert message.startswith(f"uploading nps-sensor-0.0.1-disk1.vmdk to {s.host} refused: the host's TLS certificate")
    assert view.vms("mitm") == []

    esxi.deploy(endpoint(s), d, say=Lines(), quiet=True)
    assert "a VM named 'nps-sensor' exists in ha-datacenter and --no-reconcile leaves it alone" in error(
        endpoint(s), deployment(ova, esxi.Placement(), reconcile=False)
    )


def test_an_unmapped_network_or_a_refused_ovf_stop_the_deploy(esx_server, tmp_path, view_of) -> None:
    backup = '<Network ovf:name="Backup">\n      <Description>x</Description>\n    </Network>\n  </NetworkSection>'
    three = build_ova(tmp_path / "three", lambda xml: xml.replace("</NetworkSection>", backup, 1))
    with pytest.raises(esxi.DeployError, match=r"the OVF's network.s. Backup would not be mapped"):
        run_deploy(esx_server, deployment(three, esxi.Placement()))
    mystery = (
        "<Item>\n        <rasd:ElementName>Mystery device</rasd:ElementName>\n"
        "        <rasd:InstanceID>99</rasd:InstanceID>\n        <rasd:ResourceType>99</rasd:ResourceType>\n"
        "      </Item>\n    </VirtualHardwareSection>"
    )
    broken = build_ova(tmp_path / "broken", lambda xml: xml.replace("</References>", "</Refs>", 1))
    with pytest.raises(esxi.DeployError, match=r"nps-sensor-0.0.1.ovf line \d+: not well-formed XML"):
        run_deploy(esx_server, deployment(broken, esxi.Placement()))
    refused = build_ova(tmp_path / "refused", lambda xml: xml.replace("</VirtualHardwareSection>", mystery, 1))
    with pytest.raises(esxi.DeployError, match=r"^the host refused the OVF: unsupported resource type: 99$"):
        run_deploy(esx_server, deployment(refused, esxi.Placement()))
    assert view_of(esx_server).vms("nps-sensor") == []


def test_vcenter_folder_by_name(vcsim_binary, ova, view_of) -> None:
    with vcsim.running(esx=False) as s:
        view = view_of(s)
        (dc,) = view.all(vim.Datacenter)
        dc.vmFolder.CreateFolder("Sensors")
        with pytest.raises(esxi.DeployError, match="VM folder 'Nope' not found in datacenter DC0; available: Sensors"):
            run_deploy(s, deployment(ova, esxi.Placement(cluster="DC0_C0", folder="Nope")))
        run_deploy(s, deployment(ova, esxi.Placement(cluster="DC0_C0", folder="Sensors")))
        (vm,) = view.vms("nps-sensor")
        assert vm.parent.name == "Sensors"


@pytest.mark.parametrize("portgroup", ["DC0_DVPG0", "NPS Mirror"])
def test_vcenter_distributed_port_group(vcsim_binary, ova, view_of, portgroup) -> None:
    """An existing distributed port group is opened; a missing one is created on --dvswitch."""
    capture = esxi.CapturePath(portgroup=portgroup, dvswitch="DVS0" if portgroup == "NPS Mirror" else "")
    d = deployment(ova, esxi.Placement(cluster="DC0_C0"), capture=capture)
    with vcsim.running(esx=False) as s:
        changed, lines = run_deploy(s, d)
        assert changed and f"distributed port group {portgroup}" in lines.text
        view = view_of(s)
        (pg,) = [p for p in view.all(vim.dvs.DistributedVirtualPortgroup) if p.name == portgroup]
        setting = pg.config.defaultPortConfig
        assert [(r.start, r.end) for r in setting.vlan.vlanId] == [(0, 4094)]
        sec = setting.securityPolicy
        assert sec.allowPromiscuous.value and sec.forgedTransmits.value and sec.macChanges.value
        (vm,) = view.vms("nps-sensor")
        cards = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        assert cards[1].backing.port.portgroupKey == pg.key
        assert esxi.status(endpoint(s), "nps-sensor", capture=capture)["sniffing_nics"] == [portgroup]
        assert run_deploy(s, d)[0] is False


def test_vcenter_asks_which_cluster_or_host(vcsim_binary, ova) -> None:
    with (
        vcsim.running(esx=False) as s,
        pytest.raises(
            esxi.DeployError,
            match="several hosts and clusters in datacenter DC0: DC0_C0, DC0_H0; choose one with --cluster or --host",
        ),
    ):
        run_deploy(s, deployment(ova, esxi.Placement()))


def test_a_signed_ova_imports(esx_server, tmp_path, view_of) -> None:
    """The OVF certificate member (inv image.build --sign-key) is not a file to upload:
    the deployer and the host take the OVA as they take an unsigned one."""
    from nps_image.package import package
    from nps_image.signing import load
    from tests.support import pki

    raw = tmp_path / "raw.img"
    with open(raw, "wb") as f:
        f.truncate(16 * MiB)
        f.write(os.urandom(MiB))
    ca = pki.make(tmp_path / "pki")
    signed = package(raw, "nps-sensor", "0.0.2", tmp_path / "dist", 1_700_000_000, signer=load(ca.key, ca.chain))[0]
    assert "nps-sensor-0.0.2.cert" in open_ova(signed).members
    changed, lines = run_deploy(esx_server, deployment(signed, esxi.Placement()))
    assert changed and lines[-1] == "nps-sensor: done"
    assert view_of(esx_server).vms("nps-sensor")[0].runtime.powerState == "poweredOn"


def test_insecure_connects_without_the_ca(esx_server, ova) -> None:
    ep = esxi.Endpoint(esx_server.host, esx_server.user, esx_server.password, insecure=True)
    assert esxi.deploy(ep, deployment(ova, esxi.Placement()), say=Lines(), quiet=True)


# --- secrets -----------------------------------------------------------------------------


def test_secret_properties_never_from_arguments_and_files_must_be_private(tmp_path) -> None:
    with pytest.raises(esxi.DeployError, match=r"a secret is never an argument .* NPS_PROXY_PASSWORD"):
        esxi_cli.properties(["proxy.password=x"], "", {})
    props = tmp_path / "props.yaml"
    props.write_text(f"hostname: s1\nregistration.code: '{REGISTRATION_CODE}'\n")
    props.chmod(0o644)
    with pytest.raises(esxi.DeployError, match="holds secrets and others may read it: chmod 600"):
        esxi_cli.properties([], str(props), {})
    props.chmod(0o600)
    values = esxi_cli.properties(["hostname=s2"], str(props), {"NPS_PROXY_PASSWORD": PROXY_PASSWORD})
    assert values == {"hostname": "s2", "registration.code": REGISTRATION_CODE, "proxy.password": PROXY_PASSWORD}
    assert PROXY_PASSWORD not in repr(esxi.Deployment(ova=Path("x"), properties=values))
    assert "vcsim" not in repr(esxi.Endpoint("h", "u", "vcsim-password"))


def test_the_password_is_never_an_argument(monkeypatch) -> None:
    monkeypatch.delenv("NPS_VSPHERE_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)  # as in CI: no terminal to prompt on
    with pytest.raises(esxi.DeployError, match="no password: set NPS_VSPHERE_PASSWORD"):
        esxi_cli.endpoint("esx1.lab", "root", "", False)
    monkeypatch.setenv("NPS_VSPHERE_PASSWORD", "from-the-environment")
    assert esxi_cli.endpoint("esx1.lab", "root", "", False).password == "from-the-environment"
    with pytest.raises(esxi.DeployError, match="--ca-bundle and --insecure exclude each other"):
        esxi_cli.endpoint("esx1.lab", "root", "ca.pem", True)


def test_no_secret_in_output_logs_or_arguments(esx_server, ova, caplog, capsys, view_of) -> None:
    s = esx_server
    caplog.set_level(logging.DEBUG)
    run_deploy(s, deployment(ova, esxi.Placement()), dry_run=True)
    run_deploy(s, deployment(ova, esxi.Placement()))
    # Through the task, as a user runs it: the secrets come from the environment only.
    env = {
        **os.environ,
        "NPS_VSPHERE_PASSWORD": s.password,
        "NPS_PROXY_PASSWORD": PROXY_PASSWORD,
        "NPS_REGISTRATION_CODE": REGISTRATION_CODE,
    }
    repo = Path(__file__).resolve().parents[2]
    args = [
        str(Path(sys.executable).with_name("inv")),
        "deploy.esxi",
        "--server",
        s.host,
        "--user",
        s.user,
        "--ca-bundle",
        str(s.ca_file),
        "--ova",
        str(ova),
        "--name",
        "second",
        "--prop",
        "hostname=s2",
        "--prop",
        "proxy.address=proxy.example.net",
        "--prop",
        "proxy.auth=basic",
        "--prop",
        "proxy.user=u",
        "--dry-run",
    ]
    proc = subprocess.run(
        args, env=env, cwd=repo, capture_output=True, text=True, check=False, timeout=120, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stderr
    assert "proxy.password=(secret, given)" in proc.stdout
    insecure = [a for a in args if a not in ("--ca-bundle", str(s.ca_file))]
    bad = subprocess.run(
        [*insecure, "--insecure"],
        env={**env, "NPS_VSPHERE_PASSWORD": "wrong-" + s.password},
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    warning, error = bad.stderr.strip().splitlines()
    assert warning.startswith("warning: --insecure: ") and error.startswith("deploy.esxi: ") and "login failed" in error
    captured = capsys.readouterr()
    seen = "\n".join(
        [
            captured.out,
            captured.err,
            caplog.text,
            proc.stdout,
            proc.stderr,
            bad.stdout,
            bad.stderr,
            " ".join(args),
        ]
    )
    for secret in (PROXY_PASSWORD, REGISTRATION_CODE, s.password):
        assert secret not in seen
    # ...and yet they reached vSphere.
    (vm,) = view_of(s).vms("nps-sensor")
    extra = {o.key: o.value for o in vm.config.extraConfig}
    assert extra["proxy.password"] == PROXY_PASSWORD and extra["registration.code"] == REGISTRATION_CODE


# --- what a real host does that the simulator hides --------------------------------------


def test_the_switch_policy_opens_the_sniffing_port_group_only(vcsim_binary, ova, view_of) -> None:
    """Two other port groups on vSwitch0: one inherits everything, one has an override of its own."""
    for open_vswitch in (False, True):
        with vcsim.running(esx=True) as s:
            view = view_of(s)
            ns = view.host(True).configManager.networkSystem
            spec = portgroup(ns.networkInfo, "Management Network").spec
            spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy(macChanges=True)
            ns.UpdatePortGroup(pgName="Management Network", portgrp=spec)
            others = ("VM Network", "Management Network")
            before = {name: effective(ns.networkInfo, name) for name in others}
            capture = esxi.CapturePath(open_vswitch=open_vswitch)
            _, plan = run_deploy(s, deployment(ova, esxi.Placement(), capture=capture), dry_run=True)
            run_deploy(s, deployment(ova, esxi.Placement(), capture=capture))
            info = ns.networkInfo
            assert {name: effective(info, name) for name in others} == before
            assert effective(info, "NPS Sniffing") == dict.fromkeys(FLAGS, True)
            assert is_open(vswitch(info, "vSwitch0").spec.policy.security) is open_vswitch
            if open_vswitch:
                # Each now carries its old effective policy as its own, set before the vSwitch changed.
                assert {name: overrides(info, name) for name in others} == before
                lines = plan.text.splitlines()
                pins = [i for i, line in enumerate(lines) if "as its own policy before vSwitch0 changes" in line]
                opened = next(i for i, line in enumerate(lines) if "vSwitch vSwitch0 on" in line)
                assert len(pins) == 2 and max(pins) < opened
            else:
                assert overrides(info, "VM Network") == dict.fromkeys(FLAGS, None)
                assert "vSwitch" not in plan.text.replace("on vSwitch0: create", "")


def test_cluster_and_host_must_agree(vcsim_binary, ova, view_of) -> None:
    with vcsim.running(esx=False) as s:
        with pytest.raises(esxi.DeployError) as info:
            run_deploy(s, deployment(ova, esxi.Placement(cluster="DC0_C0", host="DC0_H0")))
        assert str(info.value) == (
            "host DC0_H0 is not in cluster DC0_C0: its hosts are DC0_C0_H0, DC0_C0_H1, DC0_C0_H2; "
            "give one of them with --host, or leave --cluster out"
        )
        run_deploy(s, deployment(ova, esxi.Placement(cluster="DC0_C0", host="DC0_C0_H1")))
        (vm,) = view_of(s).vms("nps-sensor")
        assert vm.runtime.host.name == "DC0_C0_H1"
        # vMotion (here: a relocation behind the deployer's back) is what status reports.
        target = next(h for h in view_of(s).all(vim.HostSystem) if h.name == "DC0_C0_H2")
        vm.RelocateVM_Task(spec=vim.vm.RelocateSpec(host=target))
        report = esxi.status(endpoint(s), "nps-sensor")
        assert (report["host"], report["deployed_on"], report["moved"]) == ("DC0_C0_H2", "DC0_C0_H1", True)


def test_a_host_too_small_for_the_profile_refuses_before_any_upload(vcsim_binary, ova, view_of) -> None:
    with vcsim.running(esx=True, host_cpus=8, host_memory_gib=64, datastore_free_gib=10) as s:
        view = view_of(s)
        with pytest.raises(esxi.DeployError) as info:
            run_deploy(s, deployment(ova, esxi.Placement(), throughput=2000))
        assert str(info.value) == (
            "profile 2000 Mbit/s: 16 vCPU, 24 GB RAM needs 16 vCPU but host localhost.localdomain has 8 logical "
            "CPUs: --mbps 1000 at most, or another --host"
        )
        with pytest.raises(esxi.DeployError, match=r"^datastore LocalDS_0 has 10.0 GB free; the disk .* and its 16 GB"):
            run_deploy(s, deployment(ova, esxi.Placement(), throughput=1000))
        assert view.vms("nps-sensor") == []
        assert portgroup(view.network_info(True), "NPS Sniffing") is None  # refused before any change
        # Reserved memory needs no swap file: 1000 Mbit/s then fits.
        run_deploy(s, deployment(ova, esxi.Placement(), throughput=1000, reserve=True))
        assert len(view.vms("nps-sensor")) == 1


class StallingProxy:
    """A TCP proxy on loopback in front of the simulator that stops forwarding a connection's
    upload after `after` bytes (as a dead link or a hung host does) and keeps it open."""

    def __init__(self, upstream: tuple[str, int], after: int) -> None:
        import socket
        import threading

        self.upstream, self.after = upstream, after
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[Any] = []
        self.stalled = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self.held += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: Any, dst: Any, up: bool) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if up and sent + len(data) > self.after:
                    self.stalled.set()
                    return  # stop reading: the client's send blocks once the buffers are full
                dst.sendall(data)
                sent += len(data)
        except OSError:
            return

    def close(self) -> None:
        self.server.close()
        for sock in self.held:
            sock.close()


def test_a_stalled_upload_ends_within_the_time_out_with_the_vm_removed(esx_server, tmp_path, view_of) -> None:
    s = esx_server
    big = build_ova(tmp_path / "big", size=24 * MiB)  # more than loopback's socket buffers hold
    proxy = StallingProxy(("127.0.0.1", int(s.host.rsplit(":", 1)[1])), after=4 * MiB)
    try:
        ep = esxi.Endpoint(f"127.0.0.1:{proxy.port}", s.user, s.password, ca_bundle=s.ca_file)
        d = deployment(big, esxi.Placement(), upload=esxi.UploadLimits(connect=5, stall=2))
        start = time.monotonic()
        with pytest.raises(esxi.DeployError) as info:
            esxi.deploy(ep, d, say=Lines(), quiet=True)
        elapsed = time.monotonic() - start
    finally:
        proxy.close()
    message = str(info.value)
    assert proxy.stalled.is_set() and "\n" not in message
    assert message.startswith(f"uploading nps-sensor-0.0.1-disk1.vmdk to 127.0.0.1:{proxy.port} stalled: ")
    assert " for 2 s after " in message and message.endswith(" sent; the import is aborted")
    assert elapsed < 60  # bounded by the stall time-out, not by the upload (no timing beyond that)
    assert view_of(s).vms("nps-sensor") == []


@pytest.mark.parametrize(
    ("code", "message", "ca", "advice"),
    [
        (62, "Hostname mismatch, certificate is not valid for 'esx1'.", "ca.pem", "connect by a name its certificate"),
        (20, "unable to get local issuer certificate", "ca.pem", "it is not signed by a CA in ca.pem"),
        (20, "unable to get local issuer certificate", None, "give its CA with --ca-bundle FILE, or --insecure"),
        (10, "certificate has expired", None, "renew it, or check this machine's and the host's clocks"),
        (66, "EE certificate key too weak", None, "too weak (EE certificate key too weak): replace it"),
    ],
)
def test_the_tls_advice_fits_the_failure(code, message, ca, advice) -> None:
    from nps_hypervisors.esxi_connect import tls_advice

    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code, exc.verify_message = code, message
    text = tls_advice(exc, esxi.Endpoint("esx1", "root", "pw", ca_bundle=Path(ca) if ca else None))
    assert advice in text and "\n" not in text
    if code == 62:
        assert "--ca-bundle" not in text.replace("a CA bundle", "")
