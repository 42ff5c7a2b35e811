"""The VMDK and VHDX writers, read back by qemu-img (the real peer), and their determinism.

qemu-img must say streamOptimized / vhdx, find no error, and give back the raw
disk's bytes exactly. The disks are small (a few MiB) except one sparse 50 GiB disk
with a few MiB of data, which must convert in seconds because only data is read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nps_image.formats.crc32c import crc32c
from nps_image.formats.extents import data_extents, units_with_data
from nps_image.formats.vhdx import write_dynamic
from nps_image.formats.vmdk import (
    GD_AT_END,
    GRAIN,
    SECTOR,
    DiskFormatError,
    SparseHeader,
    read_descriptor,
    write_stream_optimized,
)

QEMU_IMG = shutil.which("qemu-img")
needs_qemu_img = pytest.mark.skipif(
    QEMU_IMG is None, reason="qemu-img not found: install the Debian package qemu-utils (./bootstrap does)"
)
MiB = 1024 * 1024


def make_raw(path: Path, size: int, writes: list[tuple[int, bytes]]) -> Path:
    """A sparse raw disk of `size` bytes holding `writes` (offset, data), holes elsewhere."""
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in writes:
            f.seek(offset)
            f.write(data)
    return path


@pytest.fixture
def raw_disk(tmp_path: Path) -> Path:
    """5 MiB and one sector: a partial last grain and block, and each kind of content."""
    rng = random.Random(4)
    return make_raw(
        tmp_path / "disk.raw",
        5 * MiB + 512,
        [
            (0, rng.randbytes(446) + b"\x55\xaa"),  # a boot sector
            (GRAIN - 100, b"spans two grains " * 20),  # text across a grain boundary
            (3 * MiB, bytes(2 * GRAIN)),  # written zeros: data to SEEK_DATA, skipped by content
            (4 * MiB, rng.randbytes(200 * 1024)),  # incompressible
            (5 * MiB, b"\x01" * 512),  # the last sector
        ],
    )


def vmdk(raw: Path, out: Path) -> None:
    write_stream_optimized(raw, out)


def vhdx(raw: Path, out: Path) -> None:
    write_dynamic(raw, out)


WRITERS: dict[str, Callable[[Path, Path], None]] = {"vmdk": vmdk, "vhdx": vhdx}


def qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    assert QEMU_IMG is not None
    return subprocess.run([QEMU_IMG, *args], capture_output=True, text=True, timeout=120, check=False)


@needs_qemu_img
@pytest.mark.parametrize("fmt", WRITERS)
def test_qemu_img_reads_back_the_raw_disk(fmt: str, raw_disk: Path, tmp_path: Path) -> None:
    image = tmp_path / f"disk.{fmt}"
    WRITERS[fmt](raw_disk, image)
    info = json.loads(qemu_img("info", "--output=json", str(image)).stdout)
    assert info["format"] == fmt
    assert info["virtual-size"] == raw_disk.stat().st_size
    if fmt == "vmdk":
        assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
        assert info["format-specific"]["data"]["extents"][0]["compressed"] is True
    check = qemu_img("check", "-f", fmt, str(image))
    assert check.returncode == 0, check.stdout + check.stderr
    compare = qemu_img("compare", "-f", "raw", "-F", fmt, str(raw_disk), str(image))
    assert compare.returncode == 0, compare.stdout + compare.stderr
    back = tmp_path / "back.raw"
    convert = qemu_img("convert", "-f", fmt, "-O", "raw", str(image), str(back))
    assert convert.returncode == 0, convert.stderr
    assert back.read_bytes() == raw_disk.read_bytes()


@pytest.mark.parametrize("fmt", WRITERS)
def test_same_input_same_bytes(fmt: str, raw_disk: Path, tmp_path: Path) -> None:
    for run in ("a", "b"):  # the same file name: the VMDK's descriptor names its extent
        (tmp_path / run).mkdir()
        WRITERS[fmt](raw_disk, tmp_path / run / f"disk.{fmt}")
    assert (tmp_path / "a" / f"disk.{fmt}").read_bytes() == (tmp_path / "b" / f"disk.{fmt}").read_bytes()


def test_ids_follow_the_content(raw_disk: Path, tmp_path: Path) -> None:
    first_vmdk = write_stream_optimized(raw_disk, tmp_path / "a.vmdk")
    first_vhdx = write_dynamic(raw_disk, tmp_path / "a.vhdx")
    with open(raw_disk, "r+b") as f:
        f.seek(4 * MiB + 10)
        f.write(b"changed")
    assert write_stream_optimized(raw_disk, tmp_path / "b.vmdk").cid != first_vmdk.cid
    assert write_dynamic(raw_disk, tmp_path / "b.vhdx").disk_id != first_vhdx.disk_id


def test_vmdk_stream_layout(raw_disk: Path, tmp_path: Path) -> None:
    """Header with the directory at the end; footer marker, footer and end-of-stream last."""
    out = tmp_path / "disk.vmdk"
    info = write_stream_optimized(raw_disk, out)
    data = out.read_bytes()
    assert len(data) == info.file_size and len(data) % SECTOR == 0
    header = SparseHeader.unpack(data[:SECTOR])
    assert header.version == 3 and header.stream_optimized and header.gd_offset == GD_AT_END
    assert header.capacity * SECTOR == raw_disk.stat().st_size
    assert data[-3 * SECTOR : -3 * SECTOR + 16] == struct.pack("<QII", 1, 0, 3)  # footer marker
    footer = SparseHeader.unpack(data[-2 * SECTOR : -SECTOR])
    assert footer.gd_offset not in (0, GD_AT_END)
    assert data[-SECTOR:] == bytes(SECTOR)  # end-of-stream marker
    with open(out, "rb") as f:
        text = read_descriptor(f, header)
    assert 'createType="streamOptimized"' in text
    assert f"CID={info.cid:08x}" in text
    assert 'ddb.adapterType = "lsilogic"' in text  # what VMware's writers put there (see vmdk.descriptor)
    # grains 0 and 1 (boot sector, text), 64 to 67 (random), 80 (the last sector); not the written zeros
    assert info.populated == 6 * GRAIN + 512


def test_vhdx_headers_and_regions_are_checksummed(raw_disk: Path, tmp_path: Path) -> None:
    out = tmp_path / "disk.vhdx"
    info = write_dynamic(raw_disk, out)
    data = out.read_bytes()
    assert data[:8] == b"vhdxfile"
    for offset, length, signature in ((64 << 10, 4096, b"head"), (192 << 10, 64 << 10, b"regi")):
        block = data[offset : offset + length]
        assert block[:4] == signature
        stored = struct.unpack_from("<I", block, 4)[0]
        assert stored == crc32c(block[:4] + bytes(4) + block[8:])
    assert info.blocks == 1  # all data sits in the first 32 MiB block


@pytest.mark.parametrize("size", [0, 1000])
@pytest.mark.parametrize("fmt", WRITERS)
def test_rejects_a_disk_that_is_not_whole_sectors(fmt: str, size: int, tmp_path: Path) -> None:
    raw = make_raw(tmp_path / "odd.raw", size, [])
    with pytest.raises(DiskFormatError, match="512"):
        WRITERS[fmt](raw, tmp_path / "out")


def test_data_extents_find_only_the_data(tmp_path: Path) -> None:
    raw = make_raw(tmp_path / "s.raw", 64 * MiB, [(8 * MiB, b"x" * 4096), (40 * MiB, b"y")])
    fd = os.open(raw, os.O_RDONLY)
    try:
        extents = data_extents(fd, 64 * MiB)
    finally:
        os.close(fd)
    covered = sum(end - start for start, end in extents)
    assert covered < 2 * MiB  # the file system's blocks around the writes, not the holes
    assert units_with_data(extents, GRAIN) == [8 * MiB // GRAIN, 40 * MiB // GRAIN]


@needs_qemu_img
def test_sparse_50_gib_disk_converts_by_its_data(tmp_path: Path) -> None:
    """A 50 GiB disk with 3 MiB of data: both formats read only the data and stay small.

    qemu-img compares the VMDK whole (it knows where a VMDK's data is); for the VHDX,
    whose holes qemu 7.2 reads as data (18 s for 50 GiB), qemu-io checks the byte
    patterns written and zeros in the holes around them.
    """
    size = 50 * 1024**3
    data = [(0, 0xEB, 512), (20 * 1024**3, 0x5A, MiB), (size - 2 * MiB, 0x33, 2 * MiB)]
    holes = [(512, MiB - 512), (10 * 1024**3, MiB), (20 * 1024**3 + MiB, MiB), (size - 3 * MiB, MiB)]
    raw = make_raw(tmp_path / "big.raw", size, [(offset, bytes([b]) * n) for offset, b, n in data])
    for fmt, writer in WRITERS.items():
        image = tmp_path / f"big.{fmt}"
        writer(raw, image)
        assert image.stat().st_blocks * 512 < 80 * MiB  # allocated: the data, not 50 GiB
        check = qemu_img("check", "-f", fmt, str(image))
        assert check.returncode == 0, check.stdout + check.stderr
    compare = qemu_img("compare", "-f", "raw", "-F", "vmdk", str(raw), str(tmp_path / "big.vmdk"))
    assert compare.returncode == 0, compare.stdout + compare.stderr
    reads = [f"read -P {b:#x} {offset} {n}" for offset, b, n in data] + [f"read -P 0 {o} {n}" for o, n in holes]
    qemu_io = shutil.which("qemu-io", path=str(Path(QEMU_IMG or "").parent))
    assert qemu_io is not None, "qemu-io comes with qemu-img (qemu-utils)"
    args = [qemu_io, "-r", "-f", "vhdx", *(a for r in reads for a in ("-c", r)), str(tmp_path / "big.vhdx")]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and "failed" not in out.stdout, out.stdout + out.stderr
