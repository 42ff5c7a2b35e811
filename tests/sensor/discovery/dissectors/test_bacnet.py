"""BACnet/IP: I-Am and the device object's properties in ReadProperty(Multiple) answers."""

from __future__ import annotations

import struct

from tests.sensor.discovery.dissectors.frames import Case, collect, triples, udp4


def bacnet_i_am() -> bytes:
    apdu = b"\x10\x00" + b"\xc4" + struct.pack(">I", 8 << 22 | 2401) + b"\x22\x05\xc4" + b"\x91\x00" + b"\x21\x05"
    npdu = b"\x01\x00" + apdu
    return b"\x81\x0b" + struct.pack(">H", 4 + len(npdu)) + npdu


def bacnet_read_property_ack(prop: int, value: bytes) -> bytes:
    string = b"\x00" + value
    apdu = (
        b"\x30\x05\x0c"
        + b"\x0c"
        + struct.pack(">I", 8 << 22 | 2401)
        + b"\x19"
        + bytes([prop])
        + b"\x3e"
        + b"\x75"
        + bytes([len(string)])
        + string
        + b"\x3f"
    )
    npdu = b"\x01\x00" + apdu
    return b"\x81\x0a" + struct.pack(">H", 4 + len(npdu)) + npdu


def bacnet_string(value: bytes) -> bytes:
    string = b"\x00" + value
    return b"\x75" + bytes([len(string)]) + string


def bacnet_read_property_multiple_ack() -> bytes:
    device = b"\x0c" + struct.pack(">I", 8 << 22 | 2401)
    sensor = b"\x0c" + struct.pack(">I", 0 << 22 | 7)
    results = (
        device
        + b"\x1e"
        + b"\x29\x4d\x4e"
        + bacnet_string(b"AHU-3 Controller")
        + b"\x4f"
        + b"\x29\x2c\x5e\x91\x02\x91\x20\x5f"  # firmware-revision: an error (class, code)
        + b"\x29\x70\x4e\x91\x00\x4f"  # system-status: an enumerated value
        + b"\x29\x46\x4e"
        + bacnet_string(b"FEC2611-0")
        + b"\x4f"
        + b"\x1f"
        + sensor
        + b"\x1e\x29\x4d\x4e"
        + bacnet_string(b"Supply Air Temp")
        + b"\x4f\x1f"
    )
    npdu = b"\x01\x00" + b"\x30\x06\x0e" + results
    return b"\x81\x0a" + struct.pack(">H", 4 + len(npdu)) + npdu


def _cases() -> list[Case]:
    rpm = bacnet_read_property_multiple_ack()
    return [
        Case(
            "bacnet",
            udp4(47808, 47808, dst="10.1.1.255"),
            bacnet_i_am(),
            {
                ("bacnet", "device_instance", "2401"),
                ("bacnet", "vendor_id", "5"),
                ("bacnet", "service", ("udp", 47808, "bacnet")),
            },
            early_end=13,
            early={("bacnet", "device_instance", "2401")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            bacnet_read_property_ack(77, b"AHU-3 Controller"),
            {("bacnet", "object_name", "AHU-3 Controller")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            bacnet_read_property_ack(70, b"FEC2611-0"),
            {("bacnet", "model", "FEC2611-0")},
        ),
        Case(
            "bacnet",
            udp4(47808, 47808),
            rpm,
            {("bacnet", "object_name", "AHU-3 Controller"), ("bacnet", "model", "FEC2611-0")},
            early_end=rpm.index(b"\x29\x46"),
            early={("bacnet", "object_name", "AHU-3 Controller")},
        ),
    ]


CASES = _cases()


def test_bacnet_read_property_multiple_names_only_the_device() -> None:
    facts, _ = collect([udp4(47808, 47808)(bacnet_read_property_multiple_ack())])
    assert ("bacnet", "object_name", "Supply Air Temp") not in triples(facts)


def test_bacnet_read_property_of_another_object_is_not_the_device_name() -> None:
    payload = bytearray(bacnet_read_property_ack(77, b"Supply Air Temp"))
    at = payload.index(b"\x0c\x02")  # the object identifier: device 2401 -> analog-input 2401
    payload[at + 1 : at + 5] = struct.pack(">I", 0 << 22 | 2401)
    facts, _ = collect([udp4(47808, 47808)(bytes(payload))])
    assert not triples(facts)
