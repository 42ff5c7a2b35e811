"""VMware streamOptimized VMDK from a sparse raw disk ("Virtual Disk Format 5.0").

streamOptimized is the one VMDK variant an OVA may carry: a sparse extent whose
grains (64 KiB) are deflated one by one, each behind a marker giving its address, so
that ESXi can import it as a stream. Layout written here, in order:

    header (gdOffset = GD_AT_END) | descriptor | grains, each: marker + zlib data,
    and after the grains of each 32 MiB span: GT marker + grain table |
    GD marker + grain directory | footer marker + footer (the header, with gdOffset) |
    end-of-stream marker

All-zero grains are not written, and grain tables that would hold no grain neither
(their directory entry is 0): streamOptimized allocates tables on demand, as VMware's
own readers expect. Nothing random goes in: the content ID (CID) is a hash of every
grain's address and checksum, so the same raw disk always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from .deflate import map_ordered, zlib_compress
from .extents import data_extents, read_units, units_with_data
from .progress import Advance, no_progress

SECTOR = 512
GRAIN_SECTORS = 128  # 64 KiB grains, what VMware writes
GRAIN = GRAIN_SECTORS * SECTOR
GTES_PER_GT = 512  # one grain table maps 32 MiB
MAGIC = 0x564D444B  # b"KDMV" on disk
VERSION = 3  # the streamOptimized version
FLAG_NL_DETECT = 1 << 0
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
COMPRESS_DEFLATE = 1
GD_AT_END = 0xFFFFFFFFFFFFFFFF
DESCRIPTOR_OFFSET = 1
DESCRIPTOR_SECTORS = 20
OVERHEAD = 128  # sectors before the first grain: grains start 64 KiB in
MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3
FORMAT_URL = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

_HEADER = struct.Struct("<IIIQQQQIQQQB4sH433x")
_GRAIN_MARKER = struct.Struct("<QI")
_META_MARKER = struct.Struct("<QII")
_ZERO_GRAIN = bytes(GRAIN)
_BATCH = 8  # grains per compression task


class DiskFormatError(ValueError):
    """The input cannot become this disk format; the message says why."""


@dataclass(frozen=True)
class SparseHeader:
    """The sparse extent header (and footer): 512 bytes, little-endian."""

    capacity: int  # sectors
    gd_offset: int = GD_AT_END
    version: int = VERSION
    flags: int = FLAG_NL_DETECT | FLAG_COMPRESSED | FLAG_MARKERS
    grain_size: int = GRAIN_SECTORS
    descriptor_offset: int = DESCRIPTOR_OFFSET
    descriptor_size: int = DESCRIPTOR_SECTORS
    num_gtes_per_gt: int = GTES_PER_GT
    rgd_offset: int = 0
    overhead: int = OVERHEAD
    compress_algorithm: int = COMPRESS_DEFLATE
    magic: int = MAGIC
    newline_chars: bytes = b"\n \r\n"  # lets a reader detect a file mangled by text-mode transfer

    def pack(self) -> bytes:
        return _HEADER.pack(
            self.magic,
            self.version,
            self.flags,
            self.capacity,
            self.grain_size,
            self.descriptor_offset,
            self.descriptor_size,
            self.num_gtes_per_gt,
            self.rgd_offset,
            self.gd_offset,
            self.overhead,
            0,  # uncleanShutdown
            self.newline_chars,
            self.compress_algorithm,
        )

    @classmethod
    def unpack(cls, data: bytes) -> SparseHeader:
        """Parse the first 512 bytes of a sparse extent; ValueError if they are not one."""
        if len(data) < _HEADER.size:
            raise ValueError(f"{len(data)} bytes, a sparse extent header has {_HEADER.size}")
        f = _HEADER.unpack_from(data)
        if f[0] != MAGIC:
            raise ValueError(f"magic {data[:4]!r}, not b'KDMV'")
        return cls(
            magic=f[0],
            version=f[1],
            flags=f[2],
            capacity=f[3],
            grain_size=f[4],
            descriptor_offset=f[5],
            descriptor_size=f[6],
            num_gtes_per_gt=f[7],
            rgd_offset=f[8],
            gd_offset=f[9],
            overhead=f[10],
            newline_chars=f[12],
            compress_algorithm=f[13],
        )

    @property
    def stream_optimized(self) -> bool:
        """Compressed grains with markers: what streamOptimized means in the header."""
        wanted = FLAG_COMPRESSED | FLAG_MARKERS
        return self.flags & wanted == wanted and self.compress_algorithm == COMPRESS_DEFLATE


@dataclass(frozen=True)
class VmdkInfo:
    """What the OVF descriptor needs to say about the disk."""

    path: Path
    file_size: int  # bytes of the .vmdk (ovf:size)
    capacity: int  # bytes of the virtual disk (ovf:capacity)
    populated: int  # bytes of the grains holding data (ovf:populatedSize)
    cid: int


def descriptor(capacity: int, extent_name: str, cid: int, long_content_id: str) -> str:
    """The embedded disk descriptor.

    - ddb.adapterType: "lsilogic", although the appliance runs on a paravirtual SCSI
      controller, on purpose. The controller an imported VM gets is the OVF's
      VirtualSCSI item (pvscsi); ovftool and ESXi take it from there, not from this
      hint, which only matters to products attaching the bare disk. The format's values
      are ide, buslogic, lsilogic and legacyESX: VMware's stream writers (open-vmdk,
      ovftool) never write "pvscsi"; VMware support told SUSE that the hint must stay
      lsilogic for the disk to be extended (bsc#1180539, kiwi issue 1847, after which
      kiwi stopped writing pvscsi there), and VMware Workstation refuses to import a
      disk that says pvscsi ("Invalid target disk adapter type: pvscsi").
    - ddb.virtualHWVersion: "4", as VMware's open-vmdk writes. The field dates from
      ESX 3 and is ignored since; the VM's hardware version is the OVF's vmx-13.
    - ddb.toolsVersion 2147483647: the guest's tools are open-vm-tools, managed by the
      guest's package manager, so vSphere does not offer to upgrade them.
    """
    if any(c in extent_name for c in '"\n\r') or not extent_name.isascii():
        raise DiskFormatError(f"extent name {extent_name!r}: ASCII without quotes or line breaks")
    cylinders = min(65535, -(-capacity // (255 * 63)))
    return (
        "# Disk DescriptorFile\n"
        "version=1\n"
        'encoding="UTF-8"\n'
        f"CID={cid:08x}\n"
        "parentCID=ffffffff\n"
        'createType="streamOptimized"\n'
        "\n"
        "# Extent description\n"
        f'RW {capacity} SPARSE "{extent_name}"\n'
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        'ddb.adapterType = "lsilogic"\n'
        f'ddb.geometry.cylinders = "{cylinders}"\n'
        'ddb.geometry.heads = "255"\n'
        'ddb.geometry.sectors = "63"\n'
        f'ddb.longContentID = "{long_content_id}"\n'
        'ddb.toolsVersion = "2147483647"\n'
        'ddb.virtualHWVersion = "4"\n'
    )


def read_descriptor(f: BinaryIO, header: SparseHeader, base: int = 0) -> str:
    """The embedded descriptor of the extent that starts at byte `base` of `f`."""
    f.seek(base + header.descriptor_offset * SECTOR)
    raw = f.read(min(header.descriptor_size, 2048) * SECTOR)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % SECTOR)


def _grains(batch: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Grains as stored: marker (LBA, compressed size), zlib stream, padding to a sector.

    A batch per task rather than a grain: one thread hand-off per 64 KiB costs more
    than it saves.
    """
    out = []
    for index, data in batch:
        compressed = zlib_compress(data)
        out.append((index, _padded(_GRAIN_MARKER.pack(index * GRAIN_SECTORS, len(compressed)) + compressed)))
    return out


def _adler32(stored: bytes) -> bytes:
    """The Adler-32 of a stored grain's data: the last 4 bytes of its zlib stream.

    The compressor computes it anyway, so fingerprinting the disk through it costs
    nothing, where hashing the data again would take a core-second per GiB.
    """
    end = _GRAIN_MARKER.size + int.from_bytes(stored[8:12], "little")
    return stored[end - 4 : end]


class _Out:
    """The output file, counted in sectors (every offset in the format is a sector number)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sector = 0

    def write(self, data: bytes) -> int:
        """Write sector-aligned `data`; return the sector it starts at."""
        assert len(data) % SECTOR == 0
        start = self.sector
        self.f.write(data)
        self.sector += len(data) // SECTOR
        return start

    def metadata(self, kind: int, data: bytes) -> int:
        """A marker and its table; return the table's sector (what the footer or GD points at)."""
        body = _padded(data)
        self.write(_META_MARKER.pack(len(body) // SECTOR, 0, kind) + bytes(SECTOR - _META_MARKER.size))
        return self.write(body)


def _content_ids(digest: bytes) -> tuple[int, str]:
    """CID and long content ID from the content's fingerprint (VMware ends the long one with the CID)."""
    cid = int.from_bytes(digest[:4], "big")
    if cid >= 0xFFFFFFFE:  # ffffffff means "no parent" and fffffffe "all zeros" to some readers
        cid &= 0x7FFFFFFF
    return cid, digest[4:16].hex() + f"{cid:08x}"


def write_stream_optimized(
    raw: Path,
    out: Path,
    *,
    extent_name: str | None = None,
    workers: int = 0,
    advance: Advance = no_progress,
) -> VmdkInfo:
    """Convert the raw disk `raw` into the streamOptimized VMDK `out`.

    Only the file's data regions are read (SEEK_DATA); grains are deflated on
    `workers` threads (default: every core). `advance(n)` is told of every n bytes
    read, for a progress bar.
    """
    size = os.stat(raw).st_size
    if size == 0 or size % SECTOR:
        raise DiskFormatError(f"{raw}: {size} bytes is not a whole number of 512-byte sectors")
    capacity = size // SECTOR
    n_gts = -(-size // (GRAIN * GTES_PER_GT))
    name = extent_name or out.name
    descriptor(capacity, name, 0, "0" * 32)  # reject a bad name before any work
    digest = hashlib.sha256(b"nps-vmdk\0" + size.to_bytes(8, "little"))
    populated = 0
    with open(raw, "rb") as src, open(out, "wb") as dst:
        fd = src.fileno()
        indexes = units_with_data(data_extents(fd, size), GRAIN)

        def batches() -> Iterator[list[tuple[int, bytes]]]:
            batch: list[tuple[int, bytes]] = []
            for index, data in read_units(fd, indexes, GRAIN, size):
                advance(GRAIN)
                if data != _ZERO_GRAIN:
                    batch.append((index, data))
                    if len(batch) == _BATCH:
                        yield batch
                        batch = []
            if batch:
                yield batch

        w = _Out(dst)
        w.write(SparseHeader(capacity).pack())
        w.write(bytes((OVERHEAD - 1) * SECTOR))  # descriptor, written last, and padding
        gd = [0] * n_gts
        gt: list[int] = []
        gt_index = -1
        for index, stored in chain.from_iterable(map_ordered(_grains, batches(), workers)):
            if index // GTES_PER_GT != gt_index:
                if gt:
                    gd[gt_index] = w.metadata(MARKER_GT, struct.pack(f"<{GTES_PER_GT}I", *gt))
                gt_index, gt = index // GTES_PER_GT, [0] * GTES_PER_GT
            gt[index % GTES_PER_GT] = w.write(stored)
            digest.update(index.to_bytes(8, "little") + _adler32(stored))
            populated += min(GRAIN, size - index * GRAIN)
        if gt:
            gd[gt_index] = w.metadata(MARKER_GT, struct.pack(f"<{GTES_PER_GT}I", *gt))
        gd_sector = w.metadata(MARKER_GD, struct.pack(f"<{n_gts}I", *gd))
        w.metadata(MARKER_FOOTER, replace(SparseHeader(capacity), gd_offset=gd_sector).pack())
        w.write(_META_MARKER.pack(0, 0, MARKER_EOS) + bytes(SECTOR - _META_MARKER.size))
        cid, long_id = _content_ids(digest.digest())
        text = descriptor(capacity, name, cid, long_id).encode()
        if len(text) > DESCRIPTOR_SECTORS * SECTOR:
            raise DiskFormatError(f"descriptor of {len(text)} bytes exceeds {DESCRIPTOR_SECTORS} sectors")
        dst.seek(DESCRIPTOR_OFFSET * SECTOR)
        dst.write(text)
        file_size = w.sector * SECTOR
    return VmdkInfo(out, file_size, size, populated, cid)
