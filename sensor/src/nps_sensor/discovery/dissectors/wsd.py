"""WS-Discovery (OASIS WS-Discovery 1.1, and the 2005 draft Windows speaks): SOAP over
UDP 3702, multicast to 239.255.255.250 and ff02::c.

A device announces itself when it joins (Hello) and answers searches (ProbeMatches,
ResolveMatches) with what it is: its endpoint's UUID, its `Types` (`pub:Computer` for
a Windows machine's Function Discovery publication, `wprt:PrintDeviceType` for a
printer, `dn:NetworkVideoTransmitter` for an ONVIF camera), its `Scopes` (ONVIF
cameras name their hardware and maker there: `onvif://www.onvif.org/hardware/M3045-V`)
and its `XAddrs`, the URLs of its metadata service. A search (Probe, Resolve) or a
farewell (Bye) says nothing of its sender's kind and is not read.

The message is XML, read here with bounded patterns over a bounded payload rather
than a parser: only a few elements' text is wanted, and no entity, DTD or nesting of
a hostile packet is ever expanded.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from nps_sensor.discovery.dissectors.addresses import ip_key
from nps_sensor.discovery.fingerprints import wsd as rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol

WSD_PORT = 3702
MESSAGE_MAX = 8192  # Hellos and matches are 1 to 3 KiB; what follows is not read
ANNOUNCING = (b"/Hello", b"/ProbeMatches", b"/ResolveMatches")  # the actions that describe their sender
ONVIF_SCOPE = "onvif://www.onvif.org/"


def _element(name: bytes) -> re.Pattern[bytes]:
    """An element's text, whatever its namespace prefix: `<wsd:Types>…</wsd:Types>`."""
    return re.compile(rb"<(?:[\w.-]{1,32}:)?" + name + rb"(?:\s[^<>]{0,256})?>([^<]{0,1024})</")


ACTION, TYPES, SCOPES, XADDRS, ADDRESS = map(_element, (b"Action", b"Types", b"Scopes", b"XAddrs", b"Address"))
BODY = re.compile(rb"<(?:[\w.-]{1,32}:)?Body[\s>]")


def dissect(p: Packet) -> None:
    msg = p.payload[:MESSAGE_MAX]
    action = ACTION.search(msg)
    if action is None:
        raise Malformed("no WS-Addressing Action")
    if not action.group(1).strip().endswith(ANNOUNCING):
        return
    body = BODY.search(msg)
    if body is None:
        raise Malformed("no SOAP Body")
    part = msg[body.end() :]
    p.fact("wsd", "service", ("udp", WSD_PORT, "ws-discovery"))
    address = ADDRESS.search(part)
    if address is not None:
        endpoint = text(address.group(1).strip())
        if endpoint.lower().startswith("urn:uuid:"):
            p.fact("wsd", "uuid", endpoint[9:].lower())
    types = TYPES.search(part)
    if types is not None and types.group(1).strip():
        p.fact("wsd", "types", " ".join(text(types.group(1)).split()))
    scopes = SCOPES.search(part)
    if scopes is not None:
        _scopes(p, text(scopes.group(1), 1024).split())
    xaddrs = XADDRS.search(part)
    if xaddrs is not None:
        for url in text(xaddrs.group(1), 1024).split()[:4]:
            _xaddr(p, url)


def _scopes(p: Packet, scopes: list[str]) -> None:
    """ONVIF's scopes: `hardware/` names the model, `name/` the name its owner or maker gave."""
    for scope in scopes[:32]:
        if not scope.lower().startswith(ONVIF_SCOPE):
            continue
        kind, _, value = scope[len(ONVIF_SCOPE) :].partition("/")
        value = unquote(value).strip()
        if value and kind.lower() == "hardware":
            p.fact("wsd", "model", value)
        elif value and kind.lower() == "name":
            p.fact("wsd", "name", value)


def _xaddr(p: Packet, url: str) -> None:
    """A metadata URL on the sender's own address is a TCP service it offers."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        key = ip_key(ipaddress.ip_address(host or "").packed)
    except ValueError:
        return
    if key == p.src:
        p.fact("wsd", "service", ("tcp", port or (443 if parts.scheme == "https" else 80), "ws-discovery metadata"))


def _repeat(data: bytes, l4: int, body: int) -> bytes:
    """The SOAP body: not the header, whose MessageID and sequence numbers change every time."""
    at = data.find(b"Body", body)
    return data[at:] if at > 0 else data[body:]


PROTOCOL = Protocol(
    "wsd",
    dissect,
    udp=(WSD_PORT,),
    repeat=_repeat,
    facts=(
        Fact(
            "wsd",
            "service",
            example='("udp", 3702, "ws-discovery"), ("tcp", 5357, "ws-discovery metadata")',
            kind=tuple,
        ),
        Fact("wsd", "uuid", example='"8c4b4f0e-2a4c-4a4e-9d3b-0013f2a1b2c3"'),
        Fact(
            "wsd", "types", example='"wsdp:Device pub:Computer", "wsdp:Device wprt:PrintDeviceType"', reads=rules.types
        ),
        Fact("wsd", "model", example='"M3045-V" (ONVIF hardware scope)', reads=rules.model),
        Fact("wsd", "name", example='"AXIS" (ONVIF name scope)'),
    ),
)
