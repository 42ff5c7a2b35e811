"""NetBIOS names (RFC 1001/1002) as the name and datagram services carry them.

A name is 15 characters and a suffix byte that says what the name stands for (a
workstation, a file server, a workgroup), sent "first-level encoded" as 32 letters.
"""

from __future__ import annotations

from nps_sensor.discovery.packet import Malformed, text

# Suffixes of a host's own name: workstation (0x00) and file server (0x20).
HOST_SUFFIXES = (0x00, 0x20)


def decode_name(encoded: bytes) -> tuple[str, int]:
    """First-level decoding (RFC 1001 14.1): 32 letters to 16 bytes; (name, suffix)."""
    if len(encoded) != 32:
        raise Malformed("NetBIOS name is not 32 characters")
    raw = bytes(((encoded[i] - 0x41) << 4 | (encoded[i + 1] - 0x41)) & 0xFF for i in range(0, 32, 2))
    return text(raw[:15].rstrip(b" \0")), raw[15]


def encoded_name(msg: bytes, at: int) -> tuple[str, int, int]:
    """A (possibly compressed) encoded name: (name, suffix, position after it)."""
    if at >= len(msg):
        raise Malformed("name runs past the message")
    if msg[at] & 0xC0 == 0xC0:
        target = ((msg[at] & 0x3F) << 8) | msg[at + 1]
        if target >= at:
            raise Malformed("forward compression pointer")
        name, suffix, _ = encoded_name(msg, target)
        return name, suffix, at + 2
    if msg[at] != 32:
        raise Malformed("NetBIOS name label is not 32 bytes")
    name, suffix = decode_name(msg[at + 1 : at + 33])
    at += 33
    while at < len(msg) and msg[at]:  # scope labels
        at += 1 + msg[at]
    return name, suffix, at + 1
