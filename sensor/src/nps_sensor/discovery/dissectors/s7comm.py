"""S7comm (Siemens S7 over ISO-on-TCP, port 102): SZL read responses.

Module identification (SZL 0x0011) gives the order number and firmware; component
identification (0x001C) the plant, module and PLC names and the serial number. Only
user-data messages after a COTP data header are dissected: variable reads, the bulk
of the port, name nothing.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq

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


def dissect(p: Packet) -> None:
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


PROTOCOL = Protocol(
    "s7comm",
    dissect,
    tcp=(S7_PORT,),
    # After the TPKT header: COTP data (0xF0), then the S7 protocol id and ROSCTR user data.
    naming=Signature((Alternative(9, (eq(5, 1, 0xF0), eq(7, 1, S7_ID), eq(8, 1, USERDATA))),)),
    facts=(
        Fact("s7comm", "service", example='("tcp", 102, "s7comm")', kind=tuple),
        *(
            Fact("s7comm", key, example='"6ES7 315-2EH14-0AB0"', reads=readers.s7_module)
            for key in ("order_number", "hardware_order_number", "system_name", "module", "module_type")
        ),
        Fact("s7comm", "firmware", example='"V3.2.6"'),
        *(Fact("s7comm", key) for key in ("plant", "location", "serial", "copyright")),
    ),
)
