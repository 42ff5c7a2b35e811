"""SSDP (UPnP discovery, HTTP over UDP 1900): what a device says it is.

A device's NOTIFY and its answers to searches carry its SERVER string (the OS and
UPnP stack, often the model), its USN (a stable UUID and the device and service
types it offers), NT or ST (one of those types) and LOCATION (the URL of its
description, itself a TCP service on the device). A search (M-SEARCH) tells only the
client's User-Agent.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from nps_sensor.discovery.dissectors.addresses import ip_key
from nps_sensor.discovery.dissectors.http import headers
from nps_sensor.discovery.fingerprints import rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol, one

HEADERS_MAX = 4096
SSDP_PORT = 1900


def dissect(p: Packet) -> None:
    b = p.payload[:HEADERS_MAX]
    end = b.find(b"\r\n\r\n")
    head = b if end < 0 else b[:end]
    line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
    fields = headers(head)
    if line.startswith(b"M-SEARCH "):
        agent = fields.get(b"user-agent")
        if agent:
            p.fact("ssdp", "user_agent", text(agent, 512))
        return
    if line.startswith(b"NOTIFY "):
        kind_key, kind = "nt", fields.get(b"nt")
    elif line.startswith(b"HTTP/"):
        kind_key, kind = "st", fields.get(b"st")
    else:
        raise Malformed("not an SSDP request or response")
    server = fields.get(b"server")
    product = text(server) if server else ""
    if product:
        p.fact("ssdp", "server", product)
    p.fact("ssdp", "service", ("udp", SSDP_PORT, product or "ssdp"))
    usn = fields.get(b"usn")
    if usn:
        p.fact("ssdp", "usn", text(usn))
        if usn[:5].lower() == b"uuid:":
            p.fact("ssdp", "uuid", text(usn[5:].split(b"::")[0]).lower())
    if kind:
        p.fact("ssdp", kind_key, text(kind))
    location = fields.get(b"location")
    if location:
        url = text(location, 512)
        p.fact("ssdp", "location", url)
        _location(p, url, product)


def _location(p: Packet, url: str, product: str) -> None:
    """The description URL: a TCP service when it points at the sender, else a name."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if not host:
        return
    try:
        key = ip_key(ipaddress.ip_address(host).packed)
    except ValueError:
        p.fact("ssdp", "hostname", host)  # a name, not an address literal
        return
    if key == p.src:
        port = port or (443 if parts.scheme == "https" else 80)
        p.fact("ssdp", "service", ("tcp", port, product or "upnp"))


PROTOCOL = Protocol(
    "ssdp",
    dissect,
    udp=(SSDP_PORT,),
    repeat=Payload(((0, None),)),
    facts=(
        Fact("ssdp", "service", example='("tcp", 49152, "Linux/3.14 UPnP/1.0 IpBridge/1.26.0")', kind=tuple),
        Fact("ssdp", "server", example='"Linux/3.14 UPnP/1.0 IpBridge/1.26.0"', reads=one(rules.ssdp_server)),
        Fact("ssdp", "user_agent", example='"Google Chrome/120.0 Windows"', reads=one(rules.ssdp_server)),
        Fact("ssdp", "usn", example='"uuid:2f402f80-da50-11e1-9b23-001788255acb::upnp:rootdevice"'),
        Fact("ssdp", "uuid", example='"2f402f80-da50-11e1-9b23-001788255acb"'),
        Fact("ssdp", "nt", example='"urn:schemas-upnp-org:device:basic:1"'),
        Fact("ssdp", "st", example='"upnp:rootdevice"'),
        Fact("ssdp", "location", example='"http://10.0.0.5:80/description.xml"'),
        Fact("ssdp", "hostname", example='"printer.local"'),
    ),
)
