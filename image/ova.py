"""The OVA: descriptor, manifest and disk in one ustar archive, byte-for-byte reproducible.

VMware reads an OVA as a stream, so it is strict about what a tar tool would let
pass: the descriptor first, the manifest right after it, then the files in the order
the descriptor references them; plain ustar headers (a GNU or PAX extension header
is an unknown member to it); a manifest of `SHA256(name)= hex` lines. Every header
field that could vary between builds is fixed: mtime is SOURCE_DATE_EPOCH, owner
0:0 without names, mode 0644.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, cast

from .formats.progress import Advance, no_progress

MANIFEST_ALGORITHMS = ("SHA256", "SHA1")  # SHA1 only for hosts older than ESXi 6.5
_CHUNK = 4 * 1024 * 1024


def file_digest(path: Path, algorithm: str = "sha256", advance: Advance = no_progress) -> str:
    """Hex digest of a file, read in large chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


def manifest(files: Sequence[tuple[str, Path]], algorithm: str = "SHA256") -> str:
    """The .mf text: one `ALGO(name)= hex` line per file, in order, LF line ends.

    The one space after "=" and none before it is the form ovftool writes and the
    one every VMware release parses; `SHA256 (name) = hex` (coreutils' BSD style)
    is rejected by some.
    """
    if algorithm not in MANIFEST_ALGORITHMS:
        raise ValueError(f"manifest algorithm {algorithm!r}: one of {', '.join(MANIFEST_ALGORITHMS)}")
    return "".join(f"{algorithm}({name})= {file_digest(path, algorithm.lower())}\n" for name, path in files)


def _member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    if "/" in name or len(name.encode()) > 100 or not name.isascii():
        raise ValueError(f"OVA member {name!r}: an ASCII name of at most 100 bytes, without '/'")
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_ova(out: Path, members: Sequence[tuple[str, Path]], mtime: int, advance: Advance = no_progress) -> None:
    """Write the ustar archive `out` of `members` (name in the archive, file), in order.

    A member of 8 GiB or more cannot be stored in ustar: ValueError, rather than a
    silent switch to a GNU or PAX header that VMware would not read.
    """
    with tarfile.open(out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path in members:
            size = path.stat().st_size
            if size >= 8 * 1024**3:
                raise ValueError(f"{name}: {size} bytes; ustar stores members below 8 GiB")
            with open(path, "rb") as f:
                tar.addfile(_member(name, size, mtime), cast(BinaryIO, _Counted(f, advance)))


class _Counted:
    """A readable file that reports what is read from it (tarfile copies in its own chunks)."""

    def __init__(self, f: BinaryIO, advance: Advance) -> None:
        self.f = f
        self.advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.advance(len(data))
        return data
