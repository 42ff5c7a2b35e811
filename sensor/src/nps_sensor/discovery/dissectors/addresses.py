"""Small helpers the link-layer and industrial dissectors share: addresses as text."""

from __future__ import annotations

import ipaddress

from nps_sensor.config import V4_MAPPED


def mac_text(raw: bytes) -> str:
    """Six bytes as `aa:bb:cc:dd:ee:ff`."""
    return ":".join(f"{b:02x}" for b in raw)


def ip_key(raw: bytes) -> int:
    """A 4- or 16-byte address as the engine's 128-bit key (IPv4 mapped); -1 otherwise."""
    if len(raw) == 4:
        return V4_MAPPED | int.from_bytes(raw, "big")
    if len(raw) == 16:
        return int.from_bytes(raw, "big")
    return -1


def ip_text(key: int) -> str:
    """The engine's 128-bit key as an address in its usual notation."""
    if key >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(key & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(key))


def usable(key: int) -> bool:
    """An address worth naming a device by: not 0.0.0.0, ::, a broadcast or a multicast."""
    if key < 0:
        return False
    if key >> 32 == 0xFFFF:
        v4 = key & 0xFFFFFFFF
        return v4 not in (0, 0xFFFFFFFF) and v4 >> 28 != 0xE
    return key != 0 and key >> 120 != 0xFF
