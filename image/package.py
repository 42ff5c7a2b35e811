"""From the bootable raw disk to the deliverables: the OVA, the zipped VHDX and SHA256SUMS.

    NAME-VERSION.ova          NAME-VERSION.ovf, NAME-VERSION.mf, [NAME-VERSION.cert,] NAME-VERSION-disk1.vmdk
    NAME-VERSION-vhdx.zip     NAME-VERSION-disk1.vhdx
    SHA256SUMS                `sha256sum -c` checks the two (and any extra files given)

Everything is written beside the deliverables in a temporary folder and moved into
place at the end, so a failed or interrupted run never leaves a half-written OVA
that looks finished. The same raw disk, name, version and SOURCE_DATE_EPOCH give
the same bytes (and the same key: RSA signatures of this kind are deterministic).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from .formats.extents import data_extents, units_with_data
from .formats.progress import Bars
from .formats.vhdx import READ_UNIT, write_dynamic
from .formats.vmdk import GRAIN, write_stream_optimized
from .ova import MANIFEST_ALGORITHMS, file_digest, manifest, write_ova
from .ovf import OvfDisk, render_ovf
from .signing import SUMS_CHAIN, SUMS_SIGNATURE, Signer, ovf_certificate, sign_sums
from .ziparchive import write_zip

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _bytes_read(path: Path, unit: int) -> int:
    """What a writer reading `path` in `unit`-sized pieces reads: its progress bar's total."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return len(units_with_data(data_extents(fd, os.fstat(fd).st_size), unit)) * unit
    finally:
        os.close(fd)


def write_sha256sums(out_dir: Path, files: Sequence[Path], console: Console | None = None) -> Path:
    """SHA256SUMS in `out_dir` for `files`, in coreutils' format (`sha256sum -c` reads it)."""
    lines = []
    with Bars(console) as bars:
        for path in files:
            advance = bars.bar(f"SHA-256 {path.name}", path.stat().st_size)
            lines.append(f"{file_digest(path, 'sha256', advance)}  {path.name}\n")
    sums = out_dir / "SHA256SUMS"
    tmp = out_dir / ".SHA256SUMS.tmp"
    tmp.write_text("".join(lines))
    os.replace(tmp, sums)
    return sums


def deliverables(out_dir: Path, name: str, version: str) -> list[Path]:
    """The files of release `version` in `out_dir` (NAME-VERSION.* and NAME-VERSION-*), sorted."""
    found = [*out_dir.glob(f"{name}-{version}.*"), *out_dir.glob(f"{name}-{version}-*")]
    return sorted(p for p in found if p.is_file())


def seal(out_dir: Path, name: str, version: str, signer: Signer | None, console: Console | None = None) -> list[Path]:
    """SHA256SUMS of every deliverable of `version` in `out_dir` and, with a signer, its
    signature and chain (an unsigned build removes a signature left from an earlier one,
    which would no longer match)."""
    sums = write_sha256sums(out_dir, deliverables(out_dir, name, version), console)
    for stale in (out_dir / SUMS_SIGNATURE, out_dir / SUMS_CHAIN):
        stale.unlink(missing_ok=True)
    return [sums, *(sign_sums(out_dir, signer) if signer else [])]


def _ova(
    raw_disk: Path, tmp: Path, name: str, version: str, epoch: int, algorithm: str, bars: Bars, signer: Signer | None
) -> Path:
    """The OVA branch: VMDK, descriptor, manifest, certificate (when signed), archive."""
    base = f"{name}-{version}"
    vmdk = tmp / f"{base}-disk1.vmdk"
    advance = bars.bar("VMDK (streamOptimized)", _bytes_read(raw_disk, GRAIN))
    disk = write_stream_optimized(raw_disk, vmdk, advance=advance)
    ovf = tmp / f"{base}.ovf"
    ovf.write_text(render_ovf(name, version, OvfDisk(vmdk.name, disk.file_size, disk.capacity, disk.populated)))
    mf = tmp / f"{base}.mf"
    mf.write_text(manifest([(ovf.name, ovf), (vmdk.name, vmdk)], algorithm))
    signed = []
    if signer is not None:
        cert = tmp / f"{base}.cert"
        cert.write_text(ovf_certificate(mf.name, mf.read_bytes(), signer))
        signed = [cert]
    ova = tmp / f"{base}.ova"
    members = [(p.name, p) for p in (ovf, mf, *signed, vmdk)]
    write_ova(ova, members, epoch, bars.bar("OVA", sum(p.stat().st_size for _, p in members)))
    vmdk.unlink()  # the OVA holds it
    return ova


def _zip(raw_disk: Path, tmp: Path, base: str, epoch: int, bars: Bars) -> Path:
    """The Hyper-V branch: VHDX, zip."""
    vhdx = tmp / f"{base}-disk1.vhdx"
    write_dynamic(raw_disk, vhdx, advance=bars.bar("VHDX (dynamic)", _bytes_read(raw_disk, READ_UNIT)))
    zipped = tmp / f"{base}-vhdx.zip"
    write_zip(zipped, [(vhdx.name, vhdx)], epoch, bars.bar("zip", vhdx.stat().st_size))
    vhdx.unlink()
    return zipped


def package(
    raw_disk: Path,
    name: str,
    version: str,
    out_dir: Path,
    source_date_epoch: int,
    *,
    manifest_algorithm: str = "SHA256",
    extra_sums: Sequence[Path] = (),
    signer: Signer | None = None,
    console: Console | None = None,
) -> list[Path]:
    """Build the OVA and the zipped VHDX from `raw_disk`; return [ova, zip, SHA256SUMS].

    The two are built side by side, each deflating on every core: while one
    branch waits for its reads, hashes or writes, the other computes. `extra_sums`
    are other files of `out_dir` (the build manifest) to list in SHA256SUMS.
    `manifest_algorithm` "SHA1" is for hosts older than ESXi 6.5. With `signer` the
    OVA carries the OVF certificate member. Pass `console` when the caller already
    shows a live status on it.
    """
    base = f"{name}-{version}"
    if not _NAME.match(base):
        raise ValueError(f"name and version {base!r}: letters, digits and . _ + - only")
    if source_date_epoch < 0:
        raise ValueError(f"SOURCE_DATE_EPOCH {source_date_epoch}: seconds since 1970, not negative")
    if manifest_algorithm not in MANIFEST_ALGORITHMS:
        raise ValueError(f"manifest algorithm {manifest_algorithm!r}: one of {', '.join(MANIFEST_ALGORITHMS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[Path] = []
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".package-") as tmp_name, Bars(console) as bars:
        tmp = Path(tmp_name)
        with ThreadPoolExecutor(2, thread_name_prefix="package") as pool:
            jobs = [
                pool.submit(_ova, raw_disk, tmp, name, version, source_date_epoch, manifest_algorithm, bars, signer),
                pool.submit(_zip, raw_disk, tmp, base, source_date_epoch, bars),
            ]
            built = [job.result() for job in jobs]
        for path in built:
            os.replace(path, out_dir / path.name)
            outputs.append(out_dir / path.name)
    sums = write_sha256sums(out_dir, [*outputs, *extra_sums], console)
    return [*outputs, sums]
