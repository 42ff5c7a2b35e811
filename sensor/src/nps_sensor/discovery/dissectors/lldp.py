"""LLDP (IEEE 802.1AB): what a switch, phone or host announces about itself.

An LLDPDU has no IP header: its facts are about the sender's MAC. The system name
is a hostname; description, chassis and port IDs, capabilities and management
addresses describe the device (a management address also carries the name and
description over to that IP's asset). LLDP-MED inventory TLVs give the
manufacturer, model, serial and firmware. A TLV that runs past the frame ends the
walk; the TLVs before it are kept.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.addresses import ip_key, ip_text, mac_text, usable
from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol, one

ETHERTYPE = 0x88CC

END, CHASSIS, PORT, TTL, PORT_DESC, SYS_NAME, SYS_DESC, CAPS, MGMT, ORG = 0, 1, 2, 3, 4, 5, 6, 7, 8, 127
MAC_SUBTYPE = {CHASSIS: 4, PORT: 3}  # the subtype that carries a MAC address
NET_SUBTYPE = {CHASSIS: 5, PORT: 4}  # ... a network address (IANA family + address)
CAPABILITIES = (
    (0x0001, "other"),
    (0x0002, "repeater"),
    (0x0004, "bridge"),
    (0x0008, "wlan-ap"),
    (0x0010, "router"),
    (0x0020, "telephone"),
    (0x0040, "docsis"),
    (0x0080, "station"),
    (0x0100, "c-vlan"),
    (0x0200, "s-vlan"),
    (0x0400, "tpmr"),
)
TIA_OUI = b"\x00\x12\xbb"  # LLDP-MED
MED_INVENTORY = {
    5: "hardware_version",
    6: "firmware_version",
    7: "software_version",
    8: "serial",
    9: "manufacturer",
    10: "model",
    11: "asset_id",
}
IANA_OUI = b"\x00\x00\x5e"
MUD_URL = 1


def capabilities(bits: int) -> str:
    return ",".join(name for bit, name in CAPABILITIES if bits & bit)


def _id(kind: int, value: bytes) -> str:
    """A chassis or port ID by its subtype: a MAC, an address, else text."""
    if not value:
        return ""
    subtype, rest = value[0], value[1:]
    if subtype == MAC_SUBTYPE[kind] and len(rest) == 6:
        return mac_text(rest)
    if subtype == NET_SUBTYPE[kind] and len(rest) in (5, 17):
        return ip_text(ip_key(rest[1:]))
    return text(rest)


def dissect(p: Packet) -> None:
    b = p.payload
    n = len(b)
    at = 0
    name = description = ""
    managed: list[int] = []
    try:
        while at + 2 <= n:
            head = int.from_bytes(b[at : at + 2], "big")
            kind, size = head >> 9, head & 0x1FF
            value = b[at + 2 : at + 2 + size]
            if len(value) != size:
                raise Malformed("LLDP TLV runs past the frame")
            at += 2 + size
            if kind == END:
                break
            if kind in (CHASSIS, PORT):
                ident = _id(kind, value)
                if ident:
                    p.fact("lldp", "chassis_id" if kind == CHASSIS else "port_id", ident)
            elif kind == SYS_NAME:
                name = text(value)
                if name:
                    p.fact("lldp", "hostname", name)
            elif kind == SYS_DESC:
                description = text(value.replace(b"\r\n", b" ").replace(b"\n", b" "), 512)
                if description:
                    p.fact("lldp", "system_description", description)
            elif kind == PORT_DESC:
                port = text(value)
                if port:
                    p.fact("lldp", "port_description", port)
            elif kind == CAPS and size >= 4:
                supported = capabilities(int.from_bytes(value[0:2], "big"))
                enabled = capabilities(int.from_bytes(value[2:4], "big"))
                if supported:
                    p.fact("lldp", "capabilities", supported)
                if enabled:
                    p.fact("lldp", "capabilities_enabled", enabled)
            elif kind == MGMT and size >= 2:
                length = value[0]  # subtype and address
                key = ip_key(value[2 : 1 + length]) if length >= 2 and 1 + length <= size else -1
                if usable(key):
                    p.fact("lldp", "management_address", ip_text(key))
                    managed.append(key)
            elif kind == ORG and size >= 4:
                _org(p, value)
    finally:  # a damaged TLV after them keeps what was found
        for key in managed:
            mac = p.smac
            if name:
                p.fact("lldp", "hostname", name, ip=key, mac=mac)
            if description:
                p.fact("lldp", "system_description", description, ip=key, mac=mac)


def _org(p: Packet, value: bytes) -> None:
    oui, subtype, rest = value[0:3], value[3], value[4:]
    if oui == TIA_OUI:
        key = MED_INVENTORY.get(subtype)
        if key and rest:
            v = text(rest)
            if v:
                p.fact("lldp", key, v)
    elif oui == IANA_OUI and subtype == MUD_URL and rest:
        p.fact("lldp", "mud_url", text(rest, 512))


PROTOCOL = Protocol(
    "lldp",
    dissect,
    ethertype=ETHERTYPE,
    repeat=lambda data, l4, body: data[body:],
    facts=(
        Fact("lldp", "hostname", ("link", "named"), '"core-sw1"'),
        Fact(
            "lldp",
            "system_description",
            ("link", "named"),
            '"Cisco IOS Software, C2960 ..."',
            reads=one(rules.description),
        ),
        Fact("lldp", "chassis_id", ("link",), '"00:1b:54:aa:bb:00"'),
        Fact("lldp", "port_id", ("link",), '"Gi0/1"'),
        Fact("lldp", "port_description", ("link",)),
        Fact("lldp", "capabilities", ("link",), '"bridge,router"', reads=readers.capabilities),
        Fact("lldp", "capabilities_enabled", ("link",), '"bridge"', reads=readers.capabilities_enabled),
        Fact("lldp", "management_address", ("link",), '"10.0.0.2"'),
        Fact("lldp", "mud_url", ("link",), '"https://example.com/mud/model"'),
        Fact("lldp", "manufacturer", ("link",), '"Polycom"', reads=readers.inventory_maker),
        Fact("lldp", "model", ("link",), '"VVX 410"', reads=readers.inventory_model),
        *(Fact("lldp", key, ("link",)) for key in MED_INVENTORY.values() if key not in ("manufacturer", "model")),
    ),
)
