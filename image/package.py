"""From the bootable raw disk to the deliverables: the OVA, the zipped VHDX and SHA256SUMS.

    NAME-VERSION.ova          NAME-VERSION.ovf, NAME-VERSION.mf, NAME-VERSION-disk1.vmdk
    NAME-VERSION-vhdx.zip     NAME-VERSION-disk1.vhdx
    SHA256SUMS                `sha256sum -c` checks the two (and any extra files given)

Everything is written beside the deliverables in a temporary folder and moved into
place at the end, so a failed or interrupted run never leaves a half-written OVA
that looks finished. The same raw disk, name, version and SOURCE_DATE_EPOCH give
the same bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from .formats.extents import data_extents
from .formats.progress import byte_progress
from .formats.vhdx import write_dynamic
from .formats.vmdk import write_stream_optimized
from .ova import file_digest, manifest, write_ova
from .ovf import OvfDisk, render_ovf
from .ziparchive import write_zip

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _data_bytes(path: Path) -> int:
    """Bytes of the raw disk's data regions: the amount a conversion reads."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return sum(end - start for start, end in data_extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def write_sha256sums(out_dir: Path, files: Sequence[Path], console: Console | None = None) -> Path:
    """SHA256SUMS in `out_dir` for `files`, in coreutils' format (`sha256sum -c` reads it)."""
    lines = []
    for path in files:
        with byte_progress(f"SHA-256 {path.name}", path.stat().st_size, console) as advance:
            lines.append(f"{file_digest(path, 'sha256', advance)}  {path.name}\n")
    sums = out_dir / "SHA256SUMS"
    tmp = out_dir / ".SHA256SUMS.tmp"
    tmp.write_text("".join(lines))
    os.replace(tmp, sums)
    return sums


def package(
    raw_disk: Path,
    name: str,
    version: str,
    out_dir: Path,
    source_date_epoch: int,
    *,
    manifest_algorithm: str = "SHA256",
    extra_sums: Sequence[Path] = (),
    console: Console | None = None,
) -> list[Path]:
    """Build the OVA and the zipped VHDX from `raw_disk`; return [ova, zip, SHA256SUMS].

    `extra_sums` are other files of `out_dir` (the build manifest) to list in
    SHA256SUMS. `manifest_algorithm` "SHA1" is for hosts older than ESXi 6.5.
    """
    base = f"{name}-{version}"
    if not _NAME.match(base):
        raise ValueError(f"name and version {base!r}: letters, digits and . _ + - only")
    if source_date_epoch < 0:
        raise ValueError(f"SOURCE_DATE_EPOCH {source_date_epoch}: seconds since 1970, not negative")
    out_dir.mkdir(parents=True, exist_ok=True)
    ova, zipped = out_dir / f"{base}.ova", out_dir / f"{base}-vhdx.zip"
    data = _data_bytes(raw_disk)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".package-") as tmp_name:
        tmp = Path(tmp_name)
        vmdk = tmp / f"{base}-disk1.vmdk"
        with byte_progress("VMDK (streamOptimized)", data, console) as advance:
            disk = write_stream_optimized(raw_disk, vmdk, advance=advance)
        ovf = tmp / f"{base}.ovf"
        ovf.write_text(render_ovf(name, version, OvfDisk(vmdk.name, disk.file_size, disk.capacity, disk.populated)))
        mf = tmp / f"{base}.mf"
        mf.write_text(manifest([(ovf.name, ovf), (vmdk.name, vmdk)], manifest_algorithm))
        with byte_progress("OVA", disk.file_size, console) as advance:
            write_ova(tmp / ova.name, [(p.name, p) for p in (ovf, mf, vmdk)], source_date_epoch, advance)
        vmdk.unlink()  # the OVA holds it; free the space before the VHDX needs its own
        vhdx = tmp / f"{base}-disk1.vhdx"
        with byte_progress("VHDX (dynamic)", data, console) as advance:
            write_dynamic(raw_disk, vhdx, advance=advance)
        with byte_progress("zip", vhdx.stat().st_size, console) as advance:
            write_zip(tmp / zipped.name, [(vhdx.name, vhdx)], source_date_epoch, advance)
        os.replace(tmp / ova.name, ova)
        os.replace(tmp / zipped.name, zipped)
    sums = write_sha256sums(out_dir, [ova, zipped, *extra_sums], console)
    return [ova, zipped, sums]
