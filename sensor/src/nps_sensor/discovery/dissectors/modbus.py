"""Modbus/TCP: Read Device Identification (function 43, MEI type 14) responses.

An engineering station or a SCADA server asks a controller who it is; the answer
names the vendor, product code, revision, product and model names. Polling (reads
and writes of registers, the bulk of port 502) names nothing and is not dissected.
Facts are recorded as they are read, so a damaged object keeps the ones before it.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq

MODBUS_PORT = 502
ENCAPSULATED_INTERFACE, READ_DEVICE_ID = 0x2B, 0x0E
MODBUS_OBJECTS = {
    0: "vendor",
    1: "product_code",
    2: "revision",
    3: "vendor_url",
    4: "product_name",
    5: "model",
    6: "application",
}


def dissect(p: Packet) -> None:
    b = p.payload
    at = 0
    while at + 8 <= len(b):  # one segment may carry several ADUs
        proto, size = struct.unpack_from(">HH", b, at + 2)
        if proto != 0 or size < 2:
            raise Malformed("not a Modbus/TCP header")
        pdu = b[at + 7 : at + 6 + size]
        at += 6 + size
        if p.sport == MODBUS_PORT:
            p.fact("modbus", "service", ("tcp", MODBUS_PORT, "modbus"))
        if len(pdu) >= 7 and pdu[0] == ENCAPSULATED_INTERFACE and pdu[1] == READ_DEVICE_ID and p.sport == MODBUS_PORT:
            _device_id(p, pdu)


def _device_id(p: Packet, pdu: bytes) -> None:
    count, at = pdu[6], 7
    for _ in range(count):
        if at + 2 > len(pdu):
            raise Malformed("Modbus device identification object runs past the response")
        oid, size = pdu[at], pdu[at + 1]
        value = pdu[at + 2 : at + 2 + size]
        if len(value) != size:
            raise Malformed("Modbus device identification object runs past the response")
        at += 2 + size
        key = MODBUS_OBJECTS.get(oid)
        v = text(value) if key else ""
        if v:
            p.fact("modbus", key or "", v)


PROTOCOL = Protocol(
    "modbus",
    dissect,
    tcp=(MODBUS_PORT,),
    # Function 43 and its exception (0xAB): the byte after the 7-byte MBAP header.
    naming=Signature((Alternative(8, (eq(7, 1, ENCAPSULATED_INTERFACE, mask=0x7F),)),)),
    facts=(
        Fact("modbus", "service", example='("tcp", 502, "modbus")', kind=tuple),
        Fact("modbus", "vendor", example='"Schneider Electric"', reads=readers.ics_vendor),
        *(
            Fact("modbus", key, reads=readers.ics_product, needs="vendor")
            for key in ("product_code", "product_name", "model")
        ),
        Fact("modbus", "revision", example='"v2.7"'),
        Fact("modbus", "vendor_url"),
        Fact("modbus", "application"),
    ),
)
