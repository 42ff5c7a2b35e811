"""Industrial protocols: the identity a controller tells whoever asks.

OT networks are where a passive sensor earns its keep: probing a PLC is unsafe,
but engineering stations and SCADA servers ask devices who they are, and the
answers cross the mirror port:

* Modbus/TCP: Read Device Identification responses (function 43, MEI type 14):
  vendor, product code, revision, product and model names;
* S7comm (Siemens): SZL read responses, module identification (SZL 0x0011: order
  number, firmware) and component identification (0x001C: plant, module and PLC
  names, serial number);
* EtherNet/IP (CIP): ListIdentity responses, over UDP or TCP 44818: vendor ID,
  device type, product code, revision, serial number and product name;
* BACnet/IP: I-Am (device instance, vendor ID) and ReadProperty(Multiple)-ACK of a
  device object's name, model, vendor name, firmware and location;
* DNP3: each frame's link-layer source and destination addresses, and from its
  direction bit which end is the master and which the outstation.

Each dissector records facts as it reads, so a damaged record keeps the ones before.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.packet import Malformed, Packet, text

# --- Modbus ---------------------------------------------------------------------------

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


def dissect_modbus(p: Packet) -> None:
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


# --- S7comm ---------------------------------------------------------------------------

S7_PORT = 102
S7_ID, USERDATA = 0x32, 7
CPU_FUNCTIONS_RESPONSE, READ_SZL = 0x84, 1
SZL_MODULE_ID, SZL_COMPONENT_ID = 0x0011, 0x001C
MODULE_RECORDS = {1: "order_number", 6: "hardware_order_number"}
FIRMWARE_RECORD = 7
COMPONENT_RECORDS = {
    1: "system_name",
    2: "module",
    3: "plant",
    4: "copyright",
    5: "serial",
    7: "module_type",
    0x0B: "location",
}


def dissect_s7(p: Packet) -> None:
    b = p.payload
    if len(b) < 7 or b[0] != 3:
        raise Malformed("not a TPKT header")
    at = 5 + b[4]  # past the COTP header (its length byte does not count itself)
    if at + 10 > len(b) or b[at] != S7_ID:
        return  # COTP connection set-up, or S7comm-plus (0x72)
    if p.sport == S7_PORT:
        p.fact("s7comm", "service", ("tcp", S7_PORT, "s7comm"))
    if b[at + 1] != USERDATA:
        return
    plen, dlen = struct.unpack_from(">HH", b, at + 6)
    param = b[at + 10 : at + 10 + plen]
    data = b[at + 10 + plen : at + 10 + plen + dlen]
    if len(param) < 8 or param[5] != CPU_FUNCTIONS_RESPONSE or param[6] != READ_SZL:
        return
    if len(data) < 12 or data[0] != 0xFF:
        return  # an error return code
    szl, _, size, count = struct.unpack_from(">HHHH", data, 4)
    if size < 2:
        raise Malformed("SZL record size")
    records = data[12:]
    for k in range(count):
        record = records[k * size : (k + 1) * size]
        if len(record) != size:
            if szl in (SZL_MODULE_ID, SZL_COMPONENT_ID) and k:
                return  # the rest follows in the next data unit
            raise Malformed("SZL record runs past the response")
        index = int.from_bytes(record[0:2], "big")
        if szl & 0xFF == SZL_MODULE_ID:
            _module(p, index, record)
        elif szl & 0xFF == SZL_COMPONENT_ID:
            key = COMPONENT_RECORDS.get(index)
            value = text(record[2:34].split(b"\0")[0]) if key else ""
            if value:
                p.fact("s7comm", key or "", value)


def _module(p: Packet, index: int, record: bytes) -> None:
    """An SZL 0x0011 record: index, order number (20), module type, two versions."""
    if len(record) < 28:
        return
    key = MODULE_RECORDS.get(index)
    if key:
        value = text(record[2:22])
        if value:
            p.fact("s7comm", key, value)
    elif index == FIRMWARE_RECORD and record[24] == ord("V"):
        p.fact("s7comm", "firmware", f"V{record[25]}.{record[26]}.{record[27]}")


# --- EtherNet/IP --------------------------------------------------------------------

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


def dissect_enip(p: Packet) -> None:
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


# --- BACnet ---------------------------------------------------------------------------

BACNET_PORT = 47808
BVLC = 0x81
FORWARDED_NPDU = 0x04
UNCONFIRMED, COMPLEX_ACK = 1, 3
I_AM, READ_PROPERTY, READ_PROPERTY_MULTIPLE = 0, 12, 14
OPENING, CLOSING = -1, -2  # what `_tag` gives as the length of an opening or closing tag
DEVICE = 8
PROPERTIES = {
    77: "object_name",
    70: "model",
    121: "vendor",
    44: "firmware",
    12: "application_version",
    58: "location",
    28: "description",
}
CHARACTER_STRING, UNSIGNED = 7, 2


def _tag(b: bytes, at: int) -> tuple[int, bool, int, int]:
    """A BACnet tag at `at`: (number, context?, value start, value length), the length
    OPENING or CLOSING for a context tag that opens or closes a constructed value."""
    if at >= len(b):
        raise Malformed("BACnet tag runs past the message")
    head = b[at]
    number, context, lvt = head >> 4, bool(head & 0x08), head & 0x07
    at += 1
    if number == 0x0F:
        number = b[at]
        at += 1
    if context and lvt in (6, 7):
        return number, context, at, OPENING if lvt == 6 else CLOSING
    if lvt == 5:  # extended length
        lvt = b[at]
        at += 1
        if lvt == 254:
            lvt = int.from_bytes(b[at : at + 2], "big")
            at += 2
        elif lvt == 255:
            lvt = int.from_bytes(b[at : at + 4], "big")
            at += 4
    return number, context, at, lvt


def _unsigned(b: bytes, at: int, size: int) -> int:
    raw = b[at : at + size]
    if len(raw) != size or not 1 <= size <= 4:
        raise Malformed("BACnet unsigned value")
    return int.from_bytes(raw, "big")


def dissect_bacnet(p: Packet) -> None:
    b = p.payload
    if len(b) < 6 or b[0] != BVLC:
        raise Malformed("not a BACnet/IP message")
    at = 4 + (6 if b[1] == FORWARDED_NPDU else 0)
    if at + 2 > len(b) or b[at] != 1:
        raise Malformed("not a BACnet NPDU")
    control = b[at + 1]
    at += 2
    if control & 0x80:
        return  # a network layer message
    if control & 0x20:  # destination network, length, address
        at += 3 + b[at + 2]
    if control & 0x08:  # source network, length, address
        at += 3 + b[at + 2]
    if control & 0x20:
        at += 1  # hop count
    apdu = b[at:]
    if len(apdu) < 2:
        raise Malformed("short BACnet APDU")
    kind = apdu[0] >> 4
    if kind == UNCONFIRMED and apdu[1] == I_AM:
        _i_am(p, apdu)
    elif kind == COMPLEX_ACK and not apdu[0] & 0x08 and len(apdu) >= 3:
        if apdu[2] == READ_PROPERTY:
            _read_property_ack(p, apdu[3:])
        elif apdu[2] == READ_PROPERTY_MULTIPLE:
            _read_property_multiple_ack(p, apdu[3:])


def _i_am(p: Packet, apdu: bytes) -> None:
    number, context, at, size = _tag(apdu, 2)
    if context or number != 12 or size != 4 or at + 4 > len(apdu):
        raise Malformed("I-Am without a device identifier")
    ident = int.from_bytes(apdu[at : at + 4], "big")
    if ident >> 22 != DEVICE:
        return
    p.fact("bacnet", "device_instance", str(ident & 0x3FFFFF))
    if p.sport == BACNET_PORT:
        p.fact("bacnet", "service", ("udp", BACNET_PORT, "bacnet"))
    at += 4
    for _ in range(2):  # max APDU length, segmentation
        _, _, at, size = _tag(apdu, at)
        at += size
    number, _, at, size = _tag(apdu, at)
    if number == UNSIGNED:
        p.fact("bacnet", "vendor_id", str(_unsigned(apdu, at, size)))


def _read_property_ack(p: Packet, body: bytes) -> None:
    number, context, at, size = _tag(body, 0)
    if not context or number != 0 or size != 4 or at + 4 > len(body):
        raise Malformed("ReadProperty-ACK without an object identifier")
    ident = int.from_bytes(body[at : at + 4], "big")
    number, context, at, size = _tag(body, at + 4)
    if not context or number != 1:
        raise Malformed("ReadProperty-ACK without a property identifier")
    prop = _unsigned(body, at, size)
    at += size
    number, context, at, size = _tag(body, at)
    if context and number == 2:  # array index
        number, context, at, size = _tag(body, at + size)
    key = PROPERTIES.get(prop)
    if not key or ident >> 22 != DEVICE or not (context and number == 3 and size == OPENING):
        return  # only the device object's own identity
    _string(p, key, body, at)


def _string(p: Packet, key: str, body: bytes, at: int) -> None:
    """A character string value (application tag 7) at `at` as the fact `key`."""
    number, context, at, size = _tag(body, at)
    if context or number != CHARACTER_STRING or size < 1:
        return
    raw = body[at : at + size]
    if len(raw) != size:
        raise Malformed("BACnet character string runs past the message")
    charset, value = raw[0], raw[1:]
    if charset == 4:  # UCS-2
        value = value.decode("utf-16-be", "replace").encode()
    elif charset == 5:  # ISO 8859-1
        value = value.decode("latin-1").encode()
    v = text(value)
    if v:
        p.fact("bacnet", key, v)


def _read_property_multiple_ack(p: Packet, body: bytes) -> None:
    """Each object's results: its identifier, then within tag 1 each property's
    identifier (tag 2), optional array index (3) and value (within tag 4) or error (5)."""
    at = 0
    while at < len(body):
        number, context, at, size = _tag(body, at)
        if not context or number != 0 or size != 4 or at + 4 > len(body):
            raise Malformed("ReadPropertyMultiple-ACK without an object identifier")
        ident = int.from_bytes(body[at : at + 4], "big")
        number, context, at, size = _tag(body, at + 4)
        if not (context and number == 1 and size == OPENING):
            raise Malformed("ReadPropertyMultiple-ACK without its list of results")
        while True:
            number, context, start, size = _tag(body, at)
            if context and number == 1 and size == CLOSING:
                at = start
                break
            if not context or number != 2:
                raise Malformed("ReadPropertyMultiple-ACK result without a property identifier")
            prop = _unsigned(body, start, size)
            number, context, start, size = _tag(body, start + size)
            if context and number == 3 and size >= 0:  # array index
                number, context, start, size = _tag(body, start + size)
            if not (context and number in (4, 5) and size == OPENING):
                raise Malformed("ReadPropertyMultiple-ACK result without a value or an error")
            key = PROPERTIES.get(prop)
            if number == 4 and key and ident >> 22 == DEVICE:
                _string(p, key, body, start)
            at = _past_closing(body, start, number)


def _past_closing(body: bytes, at: int, number: int) -> int:
    """The position after the closing tag `number` that ends the values from `at`."""
    depth = 0
    while True:
        tag, context, start, size = _tag(body, at)
        if context and size == OPENING:
            depth += 1
            at = start
        elif context and size == CLOSING:
            if depth == 0:
                if tag != number:
                    raise Malformed("BACnet closing tag does not match")
                return start
            depth -= 1
            at = start
        elif not context and tag == 1:  # boolean: the value is in the tag
            at = start
        else:
            at = start + size


# --- DNP3 -----------------------------------------------------------------------------

DNP3_PORT = 20000
DNP3_START = b"\x05\x64"
FROM_MASTER = 0x80
BROADCASTS = range(0xFFFD, 0x10000)


def dissect_dnp3(p: Packet) -> None:
    b = p.payload
    if len(b) < 10 or b[0:2] != DNP3_START or b[2] < 5:
        raise Malformed("not a DNP3 link-layer frame")
    control = b[3]
    dst, src = struct.unpack_from("<HH", b, 4)
    master = bool(control & FROM_MASTER)
    p.fact("dnp3", "address", str(src))
    p.fact("dnp3", "role", "master" if master else "outstation")
    if dst not in BROADCASTS:
        p.fact_dst("dnp3", "address", str(dst))
        p.fact_dst("dnp3", "role", "outstation" if master else "master")
    if not master and p.sport == DNP3_PORT:
        p.fact("dnp3", "service", ("udp" if p.proto == 17 else "tcp", DNP3_PORT, "dnp3"))
