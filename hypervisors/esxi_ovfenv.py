"""The OVF environment on every target: the document vCenter builds, written where it does not.

The appliance's first boot reads its deployment's properties from the OVF environment
(DMTF DSP8027), on a CD (ISO transport) or in `guestinfo.ovfEnv` (VMware Tools). Only
vCenter builds that document, at each power-on, from the VM's vApp options; a
standalone ESXi host keeps the properties but hands the guest nothing, so without
help the appliance boots on its defaults, silently. ovftool's `--X:injectOvfEnv` and
govc's `InjectOvfEnv` solve it by writing the document into the VM's extraConfig
`guestinfo.ovfEnv` before the first power-on; so does this deployer, with the
document vCenter would write:

- `oe:id=""` (the VM is the vApp's only entity) and the VM's managed object id as
  `ve:esxId` (standalone host) or `ve:vCenterId`;
- the PlatformSection: Kind, Version, Vendor, Locale, from the host's `about`;
- the PropertySection with every property the descriptor declares, the given value
  or else the descriptor's default (vCenter writes them all; the first boot relies
  on no default of its own);
- VMware's `ve:EthernetAdapterSection`, each NIC's MAC, network and unit number;
- the deployment option (throughput profile) the VM was sized by, in the kit's own
  namespace: vCenter's document has no place for it, and the schema accepts a
  foreign-namespace section (lax).

Values are escaped by lxml (govmomi's hand-made document does not escape them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree
from pyVmomi import vim

from nps_image.ovf import NS, OE_NS, environment_errors

from .esxi_errors import DeployError

VE_NS = "http://www.vmware.com/schema/ovfenv"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
KIT_NS = "urn:nps-kit:ovf-environment:1"
GUESTINFO_KEY = "guestinfo.ovfEnv"
GUEST_INFO_TRANSPORT = "com.vmware.guestInfo"


@dataclass(frozen=True)
class Platform:
    """The PlatformSection: who deployed the VM."""

    kind: str
    version: str
    vendor: str
    locale: str = "en"


@dataclass(frozen=True)
class Adapter:
    """One `ve:Adapter`: a NIC as the guest can match it (by MAC)."""

    mac: str
    network: str
    unit: int


def defaults(descriptor: bytes) -> dict[str, str]:
    """Every property the descriptor declares, by its environment key, with its default value."""
    from nps_image.ovf import properties

    return {key: str(prop.get(f"{{{NS['ovf']}}}value", "")) for key, prop in properties(descriptor).items()}


def document(
    values: Mapping[str, str],
    *,
    vm_id: str,
    vcenter: bool,
    platform: Platform,
    adapters: Sequence[Adapter] = (),
    deployment_option: str = "",
) -> str:
    """The OVF environment document for `values` (every property, defaults included)."""
    oe = f"{{{OE_NS}}}"
    ve = f"{{{VE_NS}}}"
    nsmap: Any = {None: OE_NS, "oe": OE_NS, "xsi": XSI_NS, "ve": VE_NS}  # the default namespace, as vCenter writes
    root = etree.Element(f"{oe}Environment", nsmap=nsmap)
    root.set(f"{oe}id", "")
    root.set(f"{ve}vCenterId" if vcenter else f"{ve}esxId", vm_id)
    section = etree.SubElement(root, f"{oe}PlatformSection")
    for tag, text in (("Kind", platform.kind), ("Version", platform.version), ("Vendor", platform.vendor)):
        etree.SubElement(section, f"{oe}{tag}").text = text
    etree.SubElement(section, f"{oe}Locale").text = platform.locale
    props = etree.SubElement(root, f"{oe}PropertySection")
    for key in sorted(values):
        etree.SubElement(props, f"{oe}Property", {f"{oe}key": key, f"{oe}value": values[key]})
    if adapters:
        nics = etree.SubElement(root, f"{ve}EthernetAdapterSection")
        for a in adapters:
            etree.SubElement(
                nics, f"{ve}Adapter", {f"{ve}mac": a.mac, f"{ve}network": a.network, f"{ve}unitNumber": str(a.unit)}
            )
    if deployment_option:
        option = etree.SubElement(root, f"{{{KIT_NS}}}DeploymentOption", nsmap={"nps": KIT_NS})
        option.set(f"{{{KIT_NS}}}id", deployment_option)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()
    errors = environment_errors(xml.encode())
    if errors:  # a bug of ours, never the user's input: values are attribute text, escaped
        raise DeployError(f"the OVF environment would not validate (DSP8027): {errors[0]}")
    return xml


def platform_of(content: vim.ServiceInstanceContent, host: vim.HostSystem) -> Platform:
    """The PlatformSection vSphere writes: the ESXi host's product, whoever deploys."""
    about = host.config.product if host.config is not None else content.about
    return Platform(str(about.name), str(about.version), str(about.vendor))


def adapters_of(vm: vim.VirtualMachine, network_names: Sequence[str]) -> list[Adapter]:
    """The VM's NICs in device order, with the network names the caller resolved for them."""
    nics = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    return [
        Adapter(str(nic.macAddress or ""), name, int(nic.unitNumber or 0))
        for nic, name in zip(nics, network_names, strict=False)
    ]


def vcenter_builds_it(vm: vim.VirtualMachine, vcenter: bool) -> bool:
    """vCenter builds the environment at power-on when the VM has vApp options with a transport."""
    vapp = vm.config.vAppConfig if vm.config is not None else None
    return vcenter and vapp is not None and bool(vapp.ovfEnvironmentTransport)


def current(vm: vim.VirtualMachine) -> str | None:
    """The `guestinfo.ovfEnv` the VM carries in its extraConfig, if any."""
    for option in vm.config.extraConfig or []:
        if option.key == GUESTINFO_KEY:
            return str(option.value)
    return None


def write_spec(xml: str) -> vim.vm.ConfigSpec:
    """The reconfiguration that puts `xml` into the VM's `guestinfo.ovfEnv`."""
    return vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=GUESTINFO_KEY, value=xml)])
