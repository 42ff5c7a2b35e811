"""Dynamic VHDX from a sparse raw disk ([MS-VHDX] v1.0), for Hyper-V.

Layout written here (every region 1 MiB-aligned, as the format requires):

    0       file type identifier ("vhdxfile", creator)
    64 KiB  header 1, 128 KiB header 2 (CRC-32C; both valid, 2 is current)
    192 KiB region table 1, 256 KiB region table 2 (BAT and metadata regions)
    1 MiB   log (1 MiB, empty: LogGuid is zero, nothing to replay)
    2 MiB   metadata (file parameters, virtual disk size, page 83 id, sector sizes)
    3 MiB   BAT (block allocation table)
    then    the payload blocks holding data, in disk order

Blocks are 32 MiB, as Hyper-V makes them; a block with no data is "not present" and
takes no space, and zero runs inside a present block stay holes in the output file,
which is therefore as sparse as the input. Logical sectors are 512 bytes (the BIOS
and Generation 1's IDE disk expect them) and physical sectors 4096, as Hyper-V
creates. The GUIDs are derived with uuid5 from a fingerprint of the content (the
address and CRC-32 of every 1 MiB piece written): no randomness.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from .crc32c import crc32c
from .deflate import crc32
from .extents import data_extents, units_with_data
from .progress import Advance, no_progress
from .vmdk import DiskFormatError

KiB, MiB = 1024, 1024 * 1024
BLOCK_SIZE = 32 * MiB
LOGICAL_SECTOR = 512
PHYSICAL_SECTOR = 4096
CREATOR = "nps-kit"

HEADER_OFFSETS = (64 * KiB, 128 * KiB)
REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)
LOG_OFFSET, LOG_LENGTH = 1 * MiB, 1 * MiB
METADATA_OFFSET, METADATA_LENGTH = 2 * MiB, 1 * MiB
BAT_OFFSET = 3 * MiB

BAT_REGION = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
PAGE_83_DATA = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
# The namespace of this kit's derived GUIDs (itself a uuid5, so it is reproducible too).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://nps-kit/vhdx")

PAYLOAD_BLOCK_FULLY_PRESENT = 6
META_IS_VIRTUAL_DISK = 1 << 1
META_IS_REQUIRED = 1 << 2
READ_UNIT = _PIECE = 1 * MiB  # granularity of reads, writes and holes inside a block
_ZERO_PIECE = bytes(_PIECE)


@dataclass(frozen=True)
class VhdxInfo:
    path: Path
    file_size: int  # apparent size of the .vhdx
    capacity: int  # bytes of the virtual disk
    blocks: int  # payload blocks present
    disk_id: uuid.UUID  # the page 83 identifier the guest sees


def _with_crc(data: bytes, offset: int = 4) -> bytes:
    """Fill the CRC-32C field at `offset` of a structure checksummed with that field zero."""
    return data[:offset] + struct.pack("<I", crc32c(data)) + data[offset + 4 :]


def _header(sequence: int, file_write: uuid.UUID, data_write: uuid.UUID) -> bytes:
    body = struct.pack(
        "<4sIQ16s16s16sHHIQ",
        b"head",
        0,
        sequence,
        file_write.bytes_le,
        data_write.bytes_le,
        bytes(16),  # LogGuid: zero, the log is empty
        0,  # LogVersion
        1,  # Version
        LOG_LENGTH,
        LOG_OFFSET,
    )
    return _with_crc(body + bytes(4 * KiB - len(body)))


def _region_table(bat_length: int) -> bytes:
    entries = [
        (BAT_REGION, BAT_OFFSET, bat_length),
        (METADATA_REGION, METADATA_OFFSET, METADATA_LENGTH),
    ]
    body = struct.pack("<4sIII", b"regi", 0, len(entries), 0)
    for guid, offset, length in entries:
        body += struct.pack("<16sQII", guid.bytes_le, offset, length, 1)  # Required
    return _with_crc(body + bytes(64 * KiB - len(body)))


def _metadata(size: int, disk_id: uuid.UUID) -> bytes:
    """The metadata region: a 64 KiB table of entries, then the items they point at."""
    items = [
        (FILE_PARAMETERS, struct.pack("<II", BLOCK_SIZE, 0), META_IS_REQUIRED),
        (VIRTUAL_DISK_SIZE, struct.pack("<Q", size), META_IS_VIRTUAL_DISK | META_IS_REQUIRED),
        (PAGE_83_DATA, disk_id.bytes_le, META_IS_VIRTUAL_DISK | META_IS_REQUIRED),
        (LOGICAL_SECTOR_SIZE, struct.pack("<I", LOGICAL_SECTOR), META_IS_VIRTUAL_DISK | META_IS_REQUIRED),
        (PHYSICAL_SECTOR_SIZE, struct.pack("<I", PHYSICAL_SECTOR), META_IS_VIRTUAL_DISK | META_IS_REQUIRED),
    ]
    table = struct.pack("<8sHH20x", b"metadata", 0, len(items))
    data = b""
    for guid, value, flags in items:
        table += struct.pack("<16sIIII", guid.bytes_le, 64 * KiB + len(data), len(value), flags, 0)
        data += value + bytes(-len(value) % 8)
    return table + bytes(64 * KiB - len(table)) + data


def _file_identifier() -> bytes:
    creator = CREATOR.encode("utf-16-le")
    return b"vhdxfile" + creator + bytes(512 - len(creator))


def _bat_geometry(size: int) -> tuple[int, int, int]:
    """(payload blocks, chunk ratio, BAT entries) for a dynamic disk of `size` bytes.

    One sector-bitmap entry follows every `chunk ratio` payload entries; a disk with
    no parent never uses them, but they hold their places in the table.
    """
    blocks = -(-size // BLOCK_SIZE)
    chunk_ratio = (1 << 23) * LOGICAL_SECTOR // BLOCK_SIZE
    return blocks, chunk_ratio, blocks + (blocks - 1) // chunk_ratio


def write_dynamic(raw: Path, out: Path, *, advance: Advance = no_progress) -> VhdxInfo:
    """Convert the raw disk `raw` into the dynamic VHDX `out`.

    Reads only the raw file's data regions and writes only non-zero 1 MiB pieces,
    so a mostly empty 50 GiB disk converts in about the time it takes to copy its data.
    """
    size = os.stat(raw).st_size
    if size == 0 or size % LOGICAL_SECTOR:
        raise DiskFormatError(f"{raw}: {size} bytes is not a whole number of {LOGICAL_SECTOR}-byte sectors")
    if size > 64 * 1024**4:
        raise DiskFormatError(f"{raw}: {size} bytes is over the VHDX maximum of 64 TiB")
    _, chunk_ratio, n_entries = _bat_geometry(size)
    bat_length = -(-n_entries * 8 // MiB) * MiB
    next_offset = BAT_OFFSET + bat_length
    bat = [0] * n_entries
    digest = hashlib.sha256(b"nps-vhdx\0" + size.to_bytes(8, "little"))
    present = 0
    with open(raw, "rb") as src, open(out, "wb") as dst:
        fd, out_fd = src.fileno(), dst.fileno()
        pieces = units_with_data(data_extents(fd, size), _PIECE)
        per_block = BLOCK_SIZE // _PIECE
        i = 0
        while i < len(pieces):
            block = pieces[i] // per_block
            written = False
            while i < len(pieces) and pieces[i] // per_block == block:
                piece = pieces[i]
                i += 1
                data = os.pread(fd, _PIECE, piece * _PIECE)
                advance(_PIECE)
                if data == (_ZERO_PIECE if len(data) == _PIECE else bytes(len(data))):
                    continue
                written = True
                digest.update(piece.to_bytes(8, "little") + crc32(data).to_bytes(4, "little"))
                os.pwrite(out_fd, data, next_offset + (piece % per_block) * _PIECE)
            if written:
                bat[block + block // chunk_ratio] = PAYLOAD_BLOCK_FULLY_PRESENT | (next_offset // MiB) << 20
                next_offset += BLOCK_SIZE
                present += 1
        ids = digest.hexdigest()
        disk_id = uuid.uuid5(NAMESPACE, f"page83:{ids}")
        file_write = uuid.uuid5(NAMESPACE, f"file-write:{ids}")
        data_write = uuid.uuid5(NAMESPACE, f"data-write:{ids}")
        os.pwrite(out_fd, _file_identifier(), 0)
        for sequence, offset in enumerate(HEADER_OFFSETS, start=1):
            os.pwrite(out_fd, _header(sequence, file_write, data_write), offset)
        for offset in REGION_TABLE_OFFSETS:
            os.pwrite(out_fd, _region_table(bat_length), offset)
        os.pwrite(out_fd, _metadata(size, disk_id), METADATA_OFFSET)
        os.pwrite(out_fd, struct.pack(f"<{n_entries}Q", *bat), BAT_OFFSET)
        # The BAT region and a last block that ends in zeros end in holes: set the length.
        os.ftruncate(out_fd, next_offset)
    return VhdxInfo(out, next_offset, size, present, disk_id)
