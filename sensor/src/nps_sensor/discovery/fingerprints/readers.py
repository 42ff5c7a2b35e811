"""What the facts of the sensor's own protocols say: the readers their declarations name.

A protocol module declares each fact it records (`protocol.Fact`) with the reader that
turns it into claims; the readers of the protocols the sensor started with are here,
by protocol, each a few lines over the rule tables (`rules`, `windows`,
`descriptions`, `industrial`) or the databases' matchers (`Reading.m`). A protocol
added later may keep its readers beside its own rules (`wsd`).
"""

from __future__ import annotations

import re

from nps_sensor.discovery.facts import Value
from nps_sensor.discovery.fingerprints import identity, rules
from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.protocol import Reader, Reading, fixed, one

__all__ = ["Reader", "fixed", "one"]


def _listed(c: Claim | None) -> list[Claim]:
    return [c] if c else []


def _weighed(claims: list[Claim], factor: float) -> list[Claim]:
    return [Claim(round(c.weight * factor, 2), c.os, c.device, c.match) for c in claims]


# --- TCP handshakes, DHCP, TLS, HTTP, SSH ---------------------------------------------


def syn(value: Value, r: Reading) -> list[Claim]:
    return _listed(r.m.p0f(value, False)) if isinstance(value, str) else []


def synack(value: Value, r: Reading) -> list[Claim]:
    return _listed(r.m.p0f(value, True)) if isinstance(value, str) else []


def dhcp_prl(value: Value, r: Reading) -> list[Claim]:
    return r.m.dhcp_prl(value) if isinstance(value, str) else []


def dhcp_vendor(value: Value, r: Reading) -> list[Claim]:
    return r.m.dhcp_vendor(value) if isinstance(value, str) else []


def dhcpv6_vendor(value: Value, r: Reading) -> list[Claim]:
    """ "311:MSFT 5.0": the enterprise number, then the vendor class DHCPv4 knows."""
    return _listed(rules.dhcp_vendor_class(value.partition(":")[2] or value)) if isinstance(value, str) else []


def tls_client(value: Value, r: Reading) -> list[Claim]:
    return _listed(r.m.tls(value)[1]) if isinstance(value, str) else []


def http_server(value: Value, r: Reading) -> list[Claim]:
    return r.m.http_server(value) if isinstance(value, str) else []


def ssh_server(value: Value, r: Reading) -> list[Claim]:
    return r.m.ssh(value) if isinstance(value, str) else []


def ssh_client(value: Value, r: Reading) -> list[Claim]:
    """A client's banner names its OS less surely than a server's: packages differ more."""
    return [Claim(c.weight * 0.8, c.os, c.device, c.match) for c in ssh_server(value, r)]


# --- Windows: SMB, NTLM, NetBIOS ------------------------------------------------------


def smb_native_os(value: Value, r: Reading) -> list[Claim]:
    return r.m.smb(value, False) if isinstance(value, str) else []


def smb_lanman(value: Value, r: Reading) -> list[Claim]:
    return r.m.smb(value, True) if isinstance(value, str) else []


def netbios_role(role: str) -> Claim | None:
    r = role.lower()
    if "domain controller" in r:
        return Claim(0.6, OS("Windows", "Windows Server"), Device("server"))
    if r == "sql server":
        return Claim(0.4, None, Device("server"))
    return None  # "unix" (SV_TYPE_SERVER_UNIX) proves nothing: Windows 10 announces it too


# --- what devices say of themselves: LLDP, CDP, SNMP, NTP, mDNS ---------------------


def capabilities(value: Value, r: Reading) -> list[Claim]:
    """LLDP's system capabilities (what the device can be) weigh less than the enabled ones."""
    return _listed(rules.capabilities(value, enabled=False)) if isinstance(value, str) else []


def capabilities_enabled(value: Value, r: Reading) -> list[Claim]:
    return _listed(rules.capabilities(value, enabled=True)) if isinstance(value, str) else []


def inventory_maker(value: Value, r: Reading) -> list[Claim]:
    """LLDP-MED inventory: the manufacturer the device reports."""
    return [Claim(0.7, None, Device(None, value.strip(), None))] if isinstance(value, str) else []


def inventory_model(value: Value, r: Reading) -> list[Claim]:
    return [Claim(0.7, None, Device(None, None, value))] if isinstance(value, str) else []


def ntp_system(value: Value, r: Reading) -> list[Claim]:
    """ntpq's `system` variable: an OS name, said by a time daemon's build (weaker than sysDescr)."""
    return _weighed(one(rules.description)(value, r), 0.7)


TIME_SERVER = fixed(Claim(0.5, None, Device("time server")), "1")  # stratum 1: a clock of its own
ROUTER = fixed(Claim(0.6, None, Device("router")), "router")


def mdns_maker(value: Value, r: Reading) -> list[Claim]:
    return [Claim(0.5, None, Device(None, value.strip()))] if isinstance(value, str) else []


def mdns_service(value: Value, r: Reading) -> list[Claim]:
    """A PTR record's instance (`Lucas’s iMac._airplay._tcp.local`): its service type."""
    if not isinstance(value, str):
        return []
    service = "_" + value.split("._", 1)[1] if "._" in value else ""
    return _listed(rules.mdns_service(".".join(service.split(".")[:2])))


def mdns_hinfo(value: Value, r: Reading) -> list[Claim]:
    if isinstance(value, str) or len(value) != 2:
        return []
    return _listed(rules.mdns_hinfo(str(value[0]), str(value[1])))


def mdns_srv(value: Value, r: Reading) -> list[Claim]:
    """An SRV record (service, port, target): the service type says what serves it."""
    if isinstance(value, str) or len(value) != 3:
        return []
    return _listed(rules.mdns_service(str(value[0]))) + identity.service(str(value[0]))


# --- industrial protocols -----------------------------------------------------------


def ics_vendor(value: Value, r: Reading) -> list[Claim]:
    return [Claim(0.7, None, Device("ICS device", rules.ics_vendor(value)))] if isinstance(value, str) else []


def ics_product(value: Value, r: Reading) -> list[Claim]:
    """A product name with the vendor its protocol gave beside it (`needs="vendor"`);
    EtherNet/IP's product code is a number, not a name."""
    if not isinstance(value, str) or value.strip().isdigit():
        return []
    vendor = None
    if r.needed is not None:
        k = ("ics_vendor", r.needed)
        vendor = r.m.db.memo.get(k)
        if vendor is None:
            vendor = r.m.db.remember(k, rules.ics_vendor(r.needed))
    return [rules.ics_product(value, vendor, 0.85)]


def bacnet_product(value: Value, r: Reading) -> list[Claim]:
    """BACnet speaks for building automation: its unnamed ICS devices are building controllers."""
    out = []
    for c in ics_product(value, r):
        d = c.device
        out.append(
            Claim(c.weight, None, Device("building controller", d.vendor, d.model))
            if d and d.type == "ICS device"
            else c
        )
    return out


def s7_module(value: Value, r: Reading) -> list[Claim]:
    """An S7 order number names the Siemens module; any other name is a Siemens product."""
    if not isinstance(value, str):
        return []
    if re.match(r"\s*6(?:ES7|AV|ES5)", value):
        return [rules.s7_module(value)]
    return [rules.ics_product(value, "Siemens", 0.8)]


def enip_device_type(value: Value, r: Reading) -> list[Claim]:
    if not isinstance(value, str):
        return []
    v = value.lower()
    kind = "PLC" if "logic controller" in v else ("HMI" if "interface" in v else None)
    return [Claim(0.8 if kind else 0.5, None, Device(kind or "ICS device"))]


BUILDING_CONTROLLER = fixed(Claim(0.5, None, Device("building controller")))


def dnp3_role(value: Value, r: Reading) -> list[Claim]:
    if value == "outstation":
        return [Claim(0.6, None, Device("RTU"))]
    return [Claim(0.3, None, Device("ICS device"))]
