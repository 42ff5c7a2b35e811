"""EtherNet/IP (CIP): ListIdentity responses, over UDP or TCP 44818.

A controller answers ListIdentity with its vendor ID, device type, product code,
revision, serial number and product name. Other encapsulation commands (sessions,
CIP I/O) name nothing and are not dissected.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq

ENIP_PORT = 44818
LIST_IDENTITY, IDENTITY_ITEM = 0x63, 0x0C
DEVICE_TYPES = {
    0x00: "generic device",
    0x02: "ac drive",
    0x03: "motor overload",
    0x04: "limit switch",
    0x05: "inductive proximity switch",
    0x06: "photoelectric sensor",
    0x07: "general purpose discrete i/o",
    0x09: "resolver",
    0x0C: "communications adapter",
    0x0E: "programmable logic controller",
    0x10: "position controller",
    0x13: "dc drive",
    0x15: "contactor",
    0x16: "motor starter",
    0x17: "soft start",
    0x18: "human-machine interface",
    0x1A: "mass flow controller",
    0x1B: "pneumatic valve",
    0x22: "encoder",
    0x23: "safety discrete i/o",
    0x25: "cip motion drive",
    0x2B: "generic device",
    0x2C: "managed switch",
}
VENDORS = {1: "Rockwell Automation/Allen-Bradley"}


def dissect(p: Packet) -> None:
    b = p.payload
    if len(b) < 24:
        return  # CIP I/O (UDP 2222) or a short segment
    command, size = struct.unpack_from("<HH", b, 0)
    if command != LIST_IDENTITY or size < 2:
        return
    transport = "udp" if p.proto == 17 else "tcp"
    if p.sport == ENIP_PORT:
        p.fact("enip", "service", (transport, ENIP_PORT, "enip"))
    data = b[24 : 24 + size]
    items, at = int.from_bytes(data[0:2], "little"), 2
    bad: Malformed | None = None  # a damaged item is skipped; raised after the rest
    for _ in range(items):
        if at + 4 > len(data):
            bad = Malformed("ListIdentity item runs past the response")
            break
        kind, length = struct.unpack_from("<HH", data, at)
        item = data[at + 4 : at + 4 + length]
        at += 4 + length
        if kind == IDENTITY_ITEM:
            try:
                _identity(p, item)
            except Malformed as e:
                bad = e
    if bad is not None:
        raise bad


def _identity(p: Packet, item: bytes) -> None:
    if len(item) < 32:
        raise Malformed("short identity item")
    vendor, dtype, product, major, minor, _, serial = struct.unpack_from("<HHHBBHI", item, 18)
    p.fact("enip", "vendor_id", str(vendor))
    if vendor in VENDORS:
        p.fact("enip", "vendor", VENDORS[vendor])
    p.fact("enip", "device_type", DEVICE_TYPES.get(dtype, str(dtype)))
    p.fact("enip", "product_code", str(product))
    p.fact("enip", "revision", f"{major}.{minor}")
    p.fact("enip", "serial", f"0x{serial:08x}")
    if len(item) < 33:
        raise Malformed("identity item cut before the product name")
    name = item[33 : 33 + item[32]]
    if len(name) != item[32]:
        raise Malformed("product name runs past the identity item")
    if name:
        p.fact("enip", "product_name", text(name))


PROTOCOL = Protocol(
    "enip",
    dissect,
    udp=(ENIP_PORT,),
    tcp=(ENIP_PORT,),
    naming=Signature((Alternative(4, (eq(0, 2, LIST_IDENTITY << 8),)),)),  # the command, little-endian
    facts=(
        Fact("enip", "service", example='("udp", 44818, "enip")', kind=tuple),
        Fact("enip", "vendor_id", example='"1"'),
        Fact("enip", "vendor", example='"Rockwell Automation/Allen-Bradley"', reads=readers.ics_vendor),
        Fact("enip", "device_type", example='"programmable logic controller"', reads=readers.enip_device_type),
        Fact("enip", "product_code", example='"54"', reads=readers.ics_product, needs="vendor"),
        Fact("enip", "product_name", example='"1756-L61/B LOGIX5561"', reads=readers.ics_product, needs="vendor"),
        Fact("enip", "revision", example='"4.3"'),
        Fact("enip", "serial", example='"0x00524d8e"'),
    ),
)
