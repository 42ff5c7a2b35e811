"""The OVF environment a standalone-host deploy writes, applied by the appliance's first boot.

The real OVA is deployed to vcsim in ESXi mode with a hostname, a static management
address and an SSH key; the `guestinfo.ovfEnv` the deployer wrote is read back through
pyVmomi, and the built disk boots in QEMU with that document as its only source of
settings (no CD: the ISO transport is absent). The first boot's own reader takes the
guestinfo path (`vmware-rpctool "info-get guestinfo.ovfEnv"`) and applies it; the test
logs in on the static address with the key the document carried.

The stand-in, said plainly: VMware Tools cannot run under QEMU. vmware-rpctool talks
to the hypervisor through VMware's backdoor I/O port, and QEMU 7.2's vmport answers
only the backdoor's version query, not the GuestRPC message channel (and TCG faults
the port from user mode). So the booted copy of the disk gets one extra file,
/usr/local/sbin/vmware-rpctool (ahead of the real /usr/bin one on the service's PATH):
a script that answers `info-get guestinfo.KEY` as the real tool prints it (the value
and a newline, or "No value found" and exit 1) from the VM's configuration, QEMU's
fw_cfg entry opt/guestinfo.KEY, as ESXi answers it from the VM's extraConfig. The
first boot's code, the image and the document are the real ones. Slow: one boot under
TCG (about 1 to 3 minutes) on the image the suite builds once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nps_hypervisors import esxi
from tests.deploy.test_deploy_esxi import Lines, View, deployment, endpoint
from tests.support import vcsim

pytestmark = pytest.mark.slow

STANDIN = """#!/bin/sh
# Test stand-in for VMware Tools' vmware-rpctool under QEMU, which has no GuestRPC channel:
# "info-get guestinfo.KEY" answered from QEMU's fw_cfg opt/guestinfo.KEY (the VM's configuration,
# as ESXi answers from the VM's extraConfig), printed as the real tool prints it.
case "$1" in
  "info-get guestinfo."*)
    key=${1#info-get }
    [ -d /sys/firmware/qemu_fw_cfg ] || modprobe qemu_fw_cfg 2>/dev/null
    raw=/sys/firmware/qemu_fw_cfg/by_name/opt/$key/raw
    if [ -r "$raw" ]; then cat "$raw"; echo; exit 0; fi
    ;;
esac
echo "No value found" >&2
exit 1
"""
STATIC = "10.0.2.50"  # in QEMU's user network, not the address its DHCP would give (10.0.2.15)


def raw_disk_with_standin(ova: Path, work: Path) -> Path:
    """The OVA's disk as a raw file, with the stand-in written into its root filesystem."""
    from nps_image.qemu import extract_disk

    for tool in ("qemu-img", "sfdisk", "debugfs"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (./bootstrap installs it)")
    version = ova.name.removeprefix("nps-sensor-").removesuffix(".ova")
    vmdk = extract_disk(ova.parent, "nps-sensor", version, "vmdk", work)
    raw = work / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(vmdk), str(raw)], check=True)
    vmdk.unlink()
    table = json.loads(subprocess.run(["sfdisk", "-J", str(raw)], capture_output=True, check=True).stdout)
    (root,) = table["partitiontable"]["partitions"]
    fs = f"{raw}?offset={root['start'] * 512}"
    standin = work / "vmware-rpctool"
    standin.write_text(STANDIN)
    for request in (
        f"write {standin} /usr/local/sbin/vmware-rpctool",
        "set_inode_field /usr/local/sbin/vmware-rpctool mode 0100755",
    ):
        subprocess.run(["debugfs", "-w", "-R", request, fs], check=True, capture_output=True)
    return raw


def test_the_first_boot_applies_the_document_a_standalone_deploy_writes(appliance_dist: Path, tmp_path: Path) -> None:
    from nps_image.qemu import VM, free_port

    try:
        vcsim.build()
    except vcsim.Unavailable as exc:
        pytest.skip(f"vcsim cannot be built here: {exc}")
    ova = appliance_dist / "nps-sensor-0.0.0-test.ova"
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    properties = {
        "hostname": "sensor-guestinfo",
        "mgmt.mode": "static",
        "mgmt.address": STATIC,
        "mgmt.netmask": "255.255.255.0",
        "mgmt.gateway": "10.0.2.2",
        "mgmt.dns1": "10.0.2.3",
        "ssh.authorized_key": key.with_suffix(".pub").read_text().strip(),
    }
    with vcsim.running(esx=True) as s:
        esxi.deploy(endpoint(s), deployment(ova, esxi.Placement(), properties=properties), say=Lines(), quiet=True)
        view = View(s)
        try:
            (vm,) = view.vms("nps-sensor")
            env = next(o.value for o in vm.config.extraConfig if o.key == "guestinfo.ovfEnv")
        finally:
            view.close()
    document = tmp_path / "ovfEnv.xml"
    document.write_text(env)
    disk = raw_disk_with_standin(ova, tmp_path)
    port = free_port()
    machine = VM(
        disk,
        "vmdk",
        None,  # no CD: the ISO transport is absent, guestinfo is the only way in
        key,
        tmp_path,
        forwards={STATIC: port},
        disk_format="raw",
        extra=["-fw_cfg", f"name=opt/guestinfo.ovfEnv,file={document}"],
    )
    machine.start()
    try:
        machine.ssh_port = port  # SSH reaches the appliance only at the static address it was given
        machine.wait_ssh()
        assert machine.ssh("hostname").strip() == "sensor-guestinfo"
        addrs = json.loads(machine.ssh("ip", "-j", "-4", "addr", "show", "eth0"))
        assert [(a["local"], a["prefixlen"]) for a in addrs[0]["addr_info"]] == [(STATIC, 24)]
        journal = machine.ssh("sudo", "journalctl", "-b", "-u", "nps-firstboot", "--no-pager", check=False)
        assert "OVF environment read from guestinfo.ovfEnv (VMware Tools)" in journal, journal
    finally:
        machine.stop()
