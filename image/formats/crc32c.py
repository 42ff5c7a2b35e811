"""CRC-32C (Castagnoli), the checksum of VHDX headers, region tables and log entries.

Written out rather than taken from a package: it covers only a few 4 KiB and 64 KiB
metadata structures per disk (the payload has no checksum), so a table-driven loop
costs milliseconds, and a native dependency would buy nothing.
"""

from __future__ import annotations

_POLY = 0x82F63B78  # reflected 0x1EDC6F41


def _table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C of `data` (check value: crc32c(b"123456789") == 0xE3069283)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
