"""BACnet/IP: I-Am and the device object's identity in ReadProperty(Multiple) answers.

I-Am gives the device instance and vendor ID; a ReadProperty-ACK or
ReadPropertyMultiple-ACK of the device object its name, model, vendor name,
firmware, application version, location and description.
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol

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


def dissect(p: Packet) -> None:
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


PROTOCOL = Protocol(
    "bacnet",
    dissect,
    udp=(BACNET_PORT,),
    facts=(
        Fact("bacnet", "service", example='("udp", 47808, "bacnet")', kind=tuple),
        Fact("bacnet", "device_instance", example='"260001"', reads=readers.BUILDING_CONTROLLER),
        Fact("bacnet", "vendor_id", example='"5"'),
        Fact("bacnet", "vendor", example='"Johnson Controls"', reads=readers.ics_vendor),
        Fact("bacnet", "model", reads=readers.bacnet_product, needs="vendor"),
        *(Fact("bacnet", key) for key in ("object_name", "firmware", "application_version", "location", "description")),
    ),
)
