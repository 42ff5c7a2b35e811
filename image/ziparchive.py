"""Deterministic zip archives of big disk files, for the Hyper-V deliverable.

Written here rather than with `zipfile` because zipfile deflates a member on one
core, which is the whole cost of the step: here the member's stream is deflated in
independent 4 MiB pieces on every core (nps_image.formats.deflate). The format
part is small (PKWARE APPNOTE 6.3): per member a local header, the deflated data and a central
directory entry, then the end records; Zip64 fields only for a member or an
archive too big for 32-bit fields, so that every unzip tool reads the usual case.
Reproducible: the one timestamp is SOURCE_DATE_EPOCH, no extra fields but Zip64,
fixed attributes. The tests read the archives back with `zipfile`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from .formats.deflate import RAW_END, crc32, map_ordered, raw_piece
from .formats.progress import Advance, no_progress

_LIMIT = 0xFFFFFFFF
_CHUNK = 4 * 1024 * 1024
_DEFLATED = 8
_UNIX = 3  # "version made by" host: external attributes carry a Unix mode
_MODE = 0o100644


@dataclass
class _Entry:
    name: bytes
    offset: int
    crc: int = 0
    compressed: int = 0
    size: int = 0
    zip64: bool = False


def _dos_time(epoch: int) -> tuple[int, int]:
    """(time, date) in MS-DOS format, UTC; zip cannot say before 1980."""
    t = time.gmtime(max(epoch, 315532800))
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return dos_time, ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


def _local_header(e: _Entry, dos: tuple[int, int]) -> bytes:
    extra = struct.pack("<HHQQ", 1, 16, e.size, e.compressed) if e.zip64 else b""
    sizes = (_LIMIT, _LIMIT) if e.zip64 else (e.compressed, e.size)
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            45 if e.zip64 else 20,
            0,  # flags: sizes are in this header (patched after the data)
            _DEFLATED,
            *dos,
            e.crc,
            *sizes,
            len(e.name),
            len(extra),
        )
        + e.name
        + extra
    )


def _central_header(e: _Entry, dos: tuple[int, int]) -> bytes:
    values = []
    if e.zip64:
        values += [e.size, e.compressed]
    if e.offset >= _LIMIT:
        values.append(e.offset)
    extra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""
    version = 45 if extra else 20
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (_UNIX << 8) | version,
            version,
            0,
            _DEFLATED,
            *dos,
            e.crc,
            _LIMIT if e.zip64 else e.compressed,
            _LIMIT if e.zip64 else e.size,
            len(e.name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            _MODE << 16,
            min(e.offset, _LIMIT),
        )
        + e.name
        + extra
    )


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    out = b""
    if count >= 0xFFFF or cd_offset >= _LIMIT or cd_size >= _LIMIT:
        zip64_end = cd_offset + cd_size
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (_UNIX << 8) | 45, 45, 0, 0, count, count, cd_size, cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    entries = min(count, 0xFFFF)
    return out + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, min(cd_size, _LIMIT), min(cd_offset, _LIMIT), 0
    )


def _deflate_into(src: BinaryIO, out: BinaryIO, e: _Entry, advance: Advance) -> None:
    def chunks() -> Iterator[bytes]:
        while chunk := src.read(_CHUNK):
            e.crc = crc32(chunk, e.crc)
            e.size += len(chunk)
            advance(len(chunk))
            yield chunk

    for data in chain(map_ordered(raw_piece, chunks()), [RAW_END]):
        out.write(data)
        e.compressed += len(data)


def write_zip(
    out: Path,
    members: Sequence[tuple[str, Path]],
    mtime: int,
    advance: Advance = no_progress,
    *,
    force_zip64: bool = False,
) -> None:
    """Write the zip `out` of `members` (name in the archive, file), deflated, in order.

    Zip64 fields are used for members that need them, or for all with `force_zip64`
    (as zipfile's option of the same name; the tests use it to read them back fast).
    """
    dos = _dos_time(mtime)
    entries: list[_Entry] = []
    with open(out, "wb") as f:
        for name, path in members:
            if not name.isascii() or "\\" in name or name.startswith("/"):
                raise ValueError(f"zip member {name!r}: a relative ASCII name")
            size = path.stat().st_size
            # Deflate can grow incompressible data a little: decide Zip64 with room to spare.
            e = _Entry(name.encode(), f.tell(), zip64=force_zip64 or size + size // 100 + 65536 >= _LIMIT)
            f.write(_local_header(e, dos))  # CRC and sizes are known after the data: rewritten below
            with open(path, "rb") as src:
                _deflate_into(src, f, e, advance)
            end = f.tell()
            f.seek(e.offset)
            f.write(_local_header(e, dos))
            f.seek(end)
            entries.append(e)
        cd_offset = f.tell()
        central = b"".join(_central_header(e, dos) for e in entries)
        f.write(central + _end_records(len(entries), cd_offset, len(central)))
