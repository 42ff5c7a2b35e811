"""First boot: the deployment's OVF properties become the appliance's settings.

VMware hands the OVF environment (an XML document with the property values the user
entered when deploying) either on a CD-ROM (the ISO transport) or through the VMware
Tools channel (guestinfo.ovfEnv). The first boot looks at both, turns the properties
into Settings, checks them and writes the files — before systemd-networkd starts, so
that the management interface comes up with them. Invalid properties leave the
defaults (DHCP) in place and are reported in one line; the console can then fix them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from nps_sensor.appliance.render import files, kept_classification, owners, write
from nps_sensor.appliance.settings import Management, Proxy, Settings, SettingsError, Sniffing
from nps_sensor.pinning import fingerprint

log = logging.getLogger("nps-firstboot")
OE = "{http://schemas.dmtf.org/ovf/environment/1}"
DONE = Path("/var/lib/nps-sensor/firstboot.done")
CDROMS = ("/dev/sr0", "/dev/sr1", "/dev/cdrom")


def parse_environment(xml: str) -> dict[str, str]:
    """The properties of an OVF environment document (ovf-env.xml, guestinfo.ovfEnv).

    Only the Environment's own PropertySection counts: an Entity child carries another
    virtual system's properties (a vApp of several VMs), never this appliance's.
    """
    root = ET.fromstring(xml)
    props = {}
    for section in root.findall(f"{OE}PropertySection"):
        for prop in section.findall(f"{OE}Property"):
            key = prop.get(f"{OE}key")
            if key is not None:
                props[key] = prop.get(f"{OE}value", "")
    return props


def settings_from(props: dict[str, str], base: Settings | None = None) -> Settings:
    """OVF property values (keys as in templates/ovf.xml.j2) applied over `base`."""
    s = base or Settings()

    def get(key: str, default: str = "") -> str:
        return props.get(key, default).strip()

    if get("hostname"):
        s.hostname = get("hostname")
    mode = get("mgmt.mode", "dhcp").lower() or "dhcp"
    dns = [d for d in (get("mgmt.dns1"), get("mgmt.dns2")) if d]
    s.management = Management(
        s.management.interface, mode, get("mgmt.address"), get("mgmt.netmask"), get("mgmt.gateway"), dns
    )
    if get("proxy.address"):
        try:
            port = int(get("proxy.port", "0") or 0)
        except ValueError:
            raise SettingsError(f"proxy port {get('proxy.port')!r}: a number from 1 to 65535") from None
        s.proxy = Proxy(
            get("proxy.address"),
            port,
            get("proxy.auth", "none").lower() or "none",
            get("proxy.user"),
            props.get("proxy.password", ""),
        )
    if get("registration.code"):
        s.registration_code = get("registration.code").replace(" ", "")
    if get("registration.hub"):
        s.registration_hub = get("registration.hub").rstrip("/")
        s.registration_fingerprint = fingerprint(get("registration.fingerprint"))
    keys = [k for k in props.get("ssh.authorized_key", "").splitlines() if k.strip()]
    if keys:
        s.ssh_keys = keys
    return s


def read_environment() -> str | None:
    """The OVF environment from a CD-ROM (ISO transport) or from VMware Tools (guestinfo)."""
    found = from_cdrom() or from_guestinfo()
    if found is None:
        return None
    transport, xml = found
    log.info("OVF environment read from %s", transport)
    return xml


def from_cdrom() -> tuple[str, str] | None:
    """ovf-env.xml at the root of a CD-ROM, as vCenter's ISO transport attaches it."""
    for dev in CDROMS:
        if not os.path.exists(dev):
            continue
        with tempfile.TemporaryDirectory() as mnt:
            mounted = (
                subprocess.run(
                    ["mount", "-t", "iso9660", "-o", "ro", dev, mnt], capture_output=True, check=False
                ).returncode
                == 0
            )
            if not mounted:
                continue
            try:
                env = Path(mnt) / "ovf-env.xml"
                if env.exists():
                    return f"{dev} (ISO transport)", env.read_text(encoding="utf-8")
            finally:
                subprocess.run(["umount", mnt], capture_output=True, check=False)
    return None


def from_guestinfo() -> tuple[str, str] | None:
    """guestinfo.ovfEnv through VMware Tools: vCenter's com.vmware.guestInfo transport, or the
    document the kit's deployer (like ovftool's --X:injectOvfEnv) writes on a standalone ESXi host.

    vmware-rpctool prints the value and a newline, or "No value found" and exits 1.
    """
    tool = shutil.which("vmware-rpctool")
    if not tool:
        return None
    out = subprocess.run([tool, "info-get guestinfo.ovfEnv"], capture_output=True, text=True, check=False)
    if out.returncode == 0 and out.stdout.strip().startswith("<"):
        return "guestinfo.ovfEnv (VMware Tools)", out.stdout
    return None


def run(root: Path = Path("/")) -> int:
    """The first-boot service: apply the OVF properties if there are any."""
    xml = read_environment()
    if xml is None:
        log.info("no OVF environment: the defaults stay (management interface on DHCP)")
    else:
        try:
            settings = settings_from(parse_environment(xml))
            settings.sniffing = settings.sniffing or [Sniffing("eth1")]
            changed = write(root, files(settings, classification=kept_classification(root)), owners(root))
            with contextlib.suppress(OSError):
                socket.sethostname(settings.hostname)
            log.info("OVF properties applied: %s", ", ".join(changed) or "nothing changed")
        except (SettingsError, ET.ParseError) as e:
            log.error("OVF properties not applied, the defaults stay: %s", e)
    DONE.parent.mkdir(parents=True, exist_ok=True)
    DONE.write_text("done\n")
    return 0
