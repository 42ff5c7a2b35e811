"""mDNS (RFC 6762, with DNS-SD): what devices announce on the link.

Responses carry a device's own names and its services: instance names, SRV targets,
and TXT records whose keys (`model`, `md`, `ty`, `usb_MDL`, ...) name the hardware.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.dnsrecords import (
    AAAA,
    HINFO,
    PTR,
    RESPONSES,
    SRV,
    TXT,
    A,
    address,
    is_response,
    name_at,
    records,
)
from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol, one

MDNS_PORT = 5353
# TXT keys that name a device's model or make, as Apple, printers (IPP/PDL) and
# media devices announce them.
TXT_KEYS = {
    "model": "model",
    "md": "model",
    "ty": "model",
    "usb_mdl": "model",
    "product": "model",
    "mdl": "model",
    "model_number": "model",  # D-Link (mydlink)
    "modelid": "model",  # Philips Hue
    "usb_mfg": "manufacturer",
    "mfg": "manufacturer",
    "manufacturer": "manufacturer",
    "osxvers": "os_version",
    "os": "os",
    "fn": "friendly_name",
    "deviceid": "device_id",
    "srcvers": "firmware",
    "fv": "firmware",
}


def dissect(p: Packet) -> None:
    msg = p.payload
    if not is_response(msg):
        return
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size) if rtype in (A, AAAA) else None
        if addr is not None:
            host = _strip_local(name)
            if host:  # a responder announces its own addresses
                p.fact("mdns", "hostname", host, ip=addr, mac=p.smac)
        elif rtype == PTR and name.startswith("_") and not name.endswith(".arpa"):
            target, _ = name_at(msg, at)
            if target and not target.startswith("_"):
                p.fact("mdns", "service", target)
        elif rtype == SRV and size > 6:
            target, _ = name_at(msg, at + 6)
            port = int.from_bytes(msg[at + 4 : at + 6], "big")
            service = ".".join(name.split(".")[1:3])  # _ipp._tcp
            p.fact("mdns", "srv", (service, port, _strip_local(target)))
        elif rtype == TXT:
            _txt(p, msg[at : at + size])
        elif rtype == HINFO and size >= 2:
            cpu_len = msg[at]
            cpu = text(msg[at + 1 : at + 1 + cpu_len])
            os_at = at + 1 + cpu_len
            os_name = text(msg[os_at + 1 : os_at + 1 + msg[os_at]]) if os_at < at + size else ""
            p.fact("mdns", "hinfo", (cpu, os_name))


def _txt(p: Packet, rdata: bytes) -> None:
    at = 0
    while at < len(rdata):
        size = rdata[at]
        item = rdata[at + 1 : at + 1 + size]
        at += 1 + size
        key, eq, value = item.partition(b"=")
        if not eq:
            continue
        field = TXT_KEYS.get(key.decode("ascii", "replace").lower())
        if field and value:
            p.fact("mdns", field, text(value))


def _strip_local(name: str) -> str:
    return name[: -len(".local")] if name.endswith(".local") else name


PROTOCOL = Protocol(
    "mdns",
    dissect,
    udp=(MDNS_PORT,),
    naming=RESPONSES,
    repeat=Payload(((2, None),)),  # all but the message ID
    facts=(
        Fact("mdns", "hostname", ("sender", "named"), '"Lucas-iMac"'),
        Fact("mdns", "service", example='"Lucas’s iMac._airplay._tcp.local"', reads=readers.mdns_service),
        Fact("mdns", "srv", example='("_ipp._tcp", 631, "BRN3C2AF4")', kind=tuple, reads=readers.mdns_srv),
        Fact("mdns", "hinfo", example='("ARMV7L", "LINUX")', kind=tuple, reads=readers.mdns_hinfo),
        Fact("mdns", "model", example='"MacBookPro18,3"', reads=one(rules.mdns_model)),
        Fact("mdns", "manufacturer", example='"Brother"', reads=readers.mdns_maker),
        *(Fact("mdns", key) for key in ("os_version", "os", "friendly_name", "device_id", "firmware")),
    ),
)
