"""DNS, mDNS and LLMNR: names for addresses, and what devices announce on the link.

All three share the DNS message format. DNS answers name the addresses they carry
(A, AAAA) or ask about (PTR). mDNS responses carry a device's own names and its
services: instance names, SRV targets, and TXT records whose keys (`model`, `md`,
`ty`, `usb_MDL`, ...) name the hardware. LLMNR answers name their sender.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from nps_sensor.config import V4_MAPPED
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.dns import DNSError, read_name

A, PTR, HINFO, TXT, AAAA, SRV = 1, 12, 13, 16, 28, 33
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


def records(msg: bytes) -> Iterator[tuple[str, int, int, int]]:
    """(owner name, type, rdata offset, rdata length) of every answer, authority and
    additional record, in order; stops at the first malformed one."""
    if len(msg) < 12:
        raise Malformed("shorter than a DNS header")
    qd, an, ns, ar = struct.unpack_from(">HHHH", msg, 4)
    try:
        pos = 12
        for _ in range(qd):
            _, pos = read_name(msg, pos)
            pos += 4
        for _ in range(an + ns + ar):
            name, pos = read_name(msg, pos)
            if pos + 10 > len(msg):
                raise Malformed("truncated resource record")
            rtype, _, _, rdlen = struct.unpack_from(">HHIH", msg, pos)
            pos += 10
            if pos + rdlen > len(msg):
                raise Malformed("record data runs past the message")
            yield name, rtype, pos, rdlen
            pos += rdlen
    except DNSError as e:
        raise Malformed(str(e)) from None


def address(msg: bytes, rtype: int, at: int, size: int) -> int | None:
    if rtype == A and size == 4:
        return V4_MAPPED | int.from_bytes(msg[at : at + 4], "big")
    if rtype == AAAA and size == 16:
        return int.from_bytes(msg[at : at + 16], "big")
    return None


def ptr_address(name: str) -> int | None:
    """The address a reverse-lookup name stands for (in-addr.arpa, ip6.arpa)."""
    if name.endswith(".in-addr.arpa"):
        parts = name[: -len(".in-addr.arpa")].split(".")
        if len(parts) == 4 and all(x.isdigit() and int(x) < 256 for x in parts):
            return V4_MAPPED | int.from_bytes(bytes(int(x) for x in reversed(parts)), "big")
    elif name.endswith(".ip6.arpa"):
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(x) == 1 and x in "0123456789abcdef" for x in nibbles):
            return int("".join(reversed(nibbles)), 16)
    return None


def _is_response(msg: bytes) -> bool:
    return len(msg) >= 12 and bool(msg[2] & 0x80)


def dissect_dns(p: Packet) -> None:
    msg = p.payload
    if not _is_response(msg):
        return
    assert p.out is not None
    wanted = p.out.wanted
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size)
        if addr is not None and name:
            if wanted(addr):
                p.fact("dns", "name", name, ip=addr)
        elif rtype == PTR:
            owner = ptr_address(name)
            if owner is not None and wanted(owner):
                target, _ = _name(msg, at)
                if target:
                    p.fact("dns", "name", target, ip=owner)


def dissect_llmnr(p: Packet) -> None:
    msg = p.payload
    if not _is_response(msg):
        return
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size)
        if addr is not None and name:
            p.fact("llmnr", "hostname", name, ip=addr, mac=p.smac if addr == p.src else None)


def dissect_mdns(p: Packet) -> None:
    msg = p.payload
    if not _is_response(msg):
        return
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size)
        if addr is not None:
            host = _strip_local(name)
            if host:  # a responder announces its own addresses
                p.fact("mdns", "hostname", host, ip=addr, mac=p.smac)
        elif rtype == PTR and name.startswith("_") and not name.endswith(".arpa"):
            target, _ = _name(msg, at)
            if target and not target.startswith("_"):
                p.fact("mdns", "service", target)
        elif rtype == SRV and size > 6:
            target, _ = _name(msg, at + 6)
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


def _name(msg: bytes, at: int) -> tuple[str, int]:
    try:
        return read_name(msg, at)
    except DNSError as e:
        raise Malformed(str(e)) from None


def _strip_local(name: str) -> str:
    return name[: -len(".local")] if name.endswith(".local") else name
