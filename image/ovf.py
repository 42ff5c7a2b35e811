"""The appliance's OVF descriptor: rendered from templates/ovf.xml.j2, checked against the DMTF schema.

What VMware needs to know about the appliance lives in the template; this module
fills in what only the build knows (the disk's sizes, the version) and the sizing
chart, and holds the names other parts of the kit rely on: the networks the
deployers map and the property keys the first boot reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import jinja2
from lxml import etree

from .formats.vmdk import FORMAT_URL
from .sizing import DEFAULT, PROFILES

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = "ovf.xml.j2"
SCHEMAS = Path(__file__).resolve().parent / "ovf-schema"
SCHEMA = SCHEMAS / "dsp8023_1.1.1.xsd"
ENVIRONMENT_SCHEMA = SCHEMAS / "dsp8027_1.1.0.xsd"  # the OVF environment (ovf-env.xml, guestinfo.ovfEnv)

PRODUCT = "Network Passive Sensor"
VENDOR = "nps-kit"
HARDWARE_FAMILY = "vmx-13"  # ESXi 6.5 and later run it
GUEST_OS = "debian10_64Guest"  # why: see the comment in the template
MANAGEMENT_NETWORK = "Management"
SNIFFING_NETWORK = "Sniffing Interface"
NETWORKS = (MANAGEMENT_NETWORK, SNIFFING_NETWORK)
# The properties as the OVF environment names them (class.key), which the appliance's first
# boot reads (nps_sensor.appliance.firstboot); the template declares them class by class.
PROPERTY_KEYS = (
    "hostname",
    "mgmt.mode",
    "mgmt.address",
    "mgmt.netmask",
    "mgmt.gateway",
    "mgmt.dns1",
    "mgmt.dns2",
    "proxy.address",
    "proxy.port",
    "proxy.auth",
    "proxy.user",
    "proxy.password",
    "ssh.authorized_key",
    "registration.code",
    "registration.hub",
    "registration.fingerprint",
)

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMW_NS = "http://www.vmware.com/schema/ovf"
OE_NS = "http://schemas.dmtf.org/ovf/environment/1"
NS = {"ovf": OVF_NS, "rasd": RASD_NS, "vssd": VSSD_NS, "vmw": VMW_NS}


@dataclass(frozen=True)
class OvfDisk:
    """The disk as the descriptor declares it."""

    href: str  # file name inside the OVA
    file_size: int  # bytes of the VMDK file
    capacity: int  # bytes of the virtual disk
    populated: int  # bytes of it that hold data


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # XML: a name with "&" or "<" must not break the document
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_ovf(name: str, version: str, disk: OvfDisk) -> str:
    """The OVF descriptor of appliance `name` at `version` with `disk`."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            name=name,
            version=version,
            product=PRODUCT,
            vendor=VENDOR,
            disk=disk,
            disk_format=FORMAT_URL,
            networks={"management": MANAGEMENT_NETWORK, "sniffing": SNIFFING_NETWORK},
            profiles=PROFILES,
            default_profile=DEFAULT,
            hardware_family=HARDWARE_FAMILY,
            guest_os=GUEST_OS,
        )
    )


def properties(xml: bytes) -> dict[str, etree._Element]:
    """The descriptor's Property elements by the name the OVF environment gives them.

    That name is class.key.instance, the parts that are set joined by dots (DSP0243 9.5.1).
    """
    out: dict[str, etree._Element] = {}
    for section in etree.fromstring(xml).iter(f"{{{OVF_NS}}}ProductSection"):
        prefix = section.get(f"{{{OVF_NS}}}class", "")
        suffix = section.get(f"{{{OVF_NS}}}instance", "")
        for prop in section.iter(f"{{{OVF_NS}}}Property"):
            parts = (prefix, prop.get(f"{{{OVF_NS}}}key", ""), suffix)
            out[".".join(p for p in parts if p)] = prop
    return out


class _LocalSchemas(etree.Resolver):
    """The DMTF schemas name their imports by URL (DSP8027 imports common.xsd so): every one
    is read from the local copy beside them, as the copy's catalog.xml maps it for xmllint."""

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        name = (system_url or "").rsplit("/", 1)[-1]
        if name and (SCHEMAS / name).is_file():
            return cast(Any, self).resolve_filename(str(SCHEMAS / name), context)  # lxml-stubs lack it
        return None


@lru_cache(maxsize=2)
def _schema(path: Path = SCHEMA) -> etree.XMLSchema:
    # no_network: nothing is fetched; an import the local copy lacks fails the compilation.
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(path), parser))


def schema_errors(xml: bytes, schema: Path = SCHEMA) -> list[str]:
    """Where `xml` breaks the OVF 1.1 schema (or `schema`), one "line N: problem" per error; [] if valid.

    libxml2 (through lxml), the validator xmllint uses, in process: one library for
    parsing and validating, with line numbers, and no XML parser of our own.
    """
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    try:
        doc = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: not well-formed XML: {exc.msg}"]
    compiled = _schema(schema)
    if compiled.validate(doc):
        return []
    errors = cast("Iterable[Any]", compiled.error_log)  # lxml-stubs leave _ErrorLog bare
    return [f"line {e.line}: {_prefixed(e.message).rstrip('.')}" for e in errors]


def environment_errors(xml: bytes) -> list[str]:
    """Where an OVF environment document breaks DSP8027 1.1.0; [] if valid."""
    return schema_errors(xml, ENVIRONMENT_SCHEMA)


def _prefixed(message: str) -> str:
    """libxml2 names elements {namespace}Name; the descriptor's readers know them as rasd:Name."""
    for prefix, uri in {**NS, "oe": OE_NS}.items():
        message = message.replace("{" + uri + "}", prefix + ":")
    return message
