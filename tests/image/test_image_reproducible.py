"""Two builds from the same inputs give byte-identical images.

Fast: the root file system step alone, on a small image, from a tree with the names
that broke it (a backslash as in systemd's unit names, a space, a quote), made twice
at different moments. Slow: the whole appliance built twice, SHA256SUMS compared;
on a difference the message names the file-system blocks and the files they belong
to, which is where a new source of difference has always been found so far.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from nps_image import disk
from nps_image.steps import BuildError

ROOT = Path(__file__).resolve().parents[2]
EPOCH = 1_767_225_600
MiB = 1024 * 1024
OFFSET = 1 * MiB  # the file system starts inside the image, as on the appliance's disk
AWKWARD = ("system-systemd\\x2dcryptsetup.slice", "No Reassembly", 'say "hi"', "it's")

needs_e2fsprogs = pytest.mark.skipif(
    not (shutil.which("mke2fs") and shutil.which("debugfs")), reason="mke2fs and debugfs: apt-get install e2fsprogs"
)


def _tree(root: Path) -> Path:
    for sub in ("etc", "usr/lib/systemd/system", "usr/share/wireshark/profiles"):
        (root / sub).mkdir(parents=True)
    (root / "etc/hostname").write_text("nps-sensor\n")
    for name in AWKWARD:
        (root / "usr/lib/systemd/system" / name).write_text(f"{name}\n")
    (root / "usr/share/wireshark/profiles/No Reassembly/recent").parent.mkdir()
    (root / "usr/share/wireshark/profiles/No Reassembly/recent").write_text("x\n")
    (root / "etc/link").symlink_to("hostname")
    return root


def _filesystem(tree: Path, image: Path) -> bytes:
    disk.clamp_times(tree, EPOCH)  # what disk.build does first; it sets every ctime to now
    with image.open("wb") as f:
        f.truncate(OFFSET + 64 * MiB)
    disk.filesystem(tree, image, EPOCH, OFFSET, 64 * MiB)
    return image.read_bytes()


def _stat(image: Path, path: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", f'stat "{path}"', f"{image}?offset={OFFSET}"], capture_output=True, text=True, check=True
    ).stdout


@needs_e2fsprogs
def test_the_file_system_is_the_same_made_twice(tmp_path: Path) -> None:
    first = _filesystem(_tree(tmp_path / "a"), tmp_path / "a.img")
    time.sleep(1.1)  # every source file gets another change time
    second = _filesystem(_tree(tmp_path / "b"), tmp_path / "b.img")
    slice_ = _stat(tmp_path / "b.img", f"/usr/lib/systemd/system/{AWKWARD[0]}")
    assert f"ctime: 0x{EPOCH:08x}:00000000" in slice_
    assert first == second


@needs_e2fsprogs
def test_a_file_debugfs_misses_fails_the_step(tmp_path: Path) -> None:
    """debugfs exits 0 when a command fails: the step must notice, or an inode keeps its build time."""
    tree = _tree(tmp_path / "tree")
    image = tmp_path / "fs.img"
    _filesystem(tree, image)
    (tree / "etc/added-later").write_text("not in the image\n")
    with pytest.raises(BuildError, match=r"^file times \(debugfs\): .*added-later.*not found"):
        disk._fix_ctimes(tree, image, EPOCH, OFFSET)


def test_debugfs_paths_are_quoted_its_way() -> None:
    assert disk._debugfs_path("/a\\x2db") == '"/a\\x2db"'
    assert disk._debugfs_path('/say "hi"') == '"/say ""hi"""'
    with pytest.raises(BuildError, match="line break"):
        disk._debugfs_path("/two\nlines")


def test_deflate_pieces_make_one_stream_and_the_same_bytes() -> None:
    """The zip member's stream: independent pieces (zeros among them), then the end block."""
    import random
    import zlib

    from nps_image.formats.deflate import RAW_END, map_ordered, raw_piece

    rng = random.Random(5)
    pieces = [rng.randbytes(MiB), bytes(4 * MiB), b"text " * 50_000, bytes(4 * MiB), bytes(17)]
    streams = [b"".join([*map_ordered(raw_piece, pieces, workers=2), RAW_END]) for _ in range(2)]
    assert streams[0] == streams[1]
    assert zlib.decompress(streams[0], -15) == b"".join(pieces)
    assert len(raw_piece(bytes(4 * MiB))) < 8 * 1024  # zeros: a thousandfold, not zlib level 1's 230


def test_the_sensor_wheels_do_not_show_the_builders_umask(tmp_path: Path) -> None:
    """A wheel records its members' modes: built under umask 002 (a shared build host's
    default) and 022, with the sources checked out under either, the bytes must not
    differ. CI caught this once, on the compiled packet core's wheel."""
    from nps_image.build import tree_digest, wheels

    source = tmp_path / "sensor"
    shutil.copytree(
        ROOT / "sensor", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so", "__pycache__")
    )
    digests = []
    for umask in (0o022, 0o002):
        for p in [source, *source.rglob("*")]:
            p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)  # as a checkout under that umask
        previous = os.umask(umask)
        try:
            digests.append(tree_digest(wheels(tmp_path / f"cache-{umask:o}", EPOCH, source=source)))
        finally:
            os.umask(previous)
    assert digests[0] == digests[1]


# The whole appliance, twice.


def _build_missing() -> str | None:
    if os.geteuid() != 0:
        return "building the image needs root (mmdebstrap, chroot)"
    for tool in ("mmdebstrap", "mke2fs", "debugfs", "sfdisk", "grub-mkimage"):
        if not shutil.which(tool):
            return f"{tool} is not installed (run ./bootstrap)"
    return None


def _differing_blocks(a: Path, b: Path, limit: int = 8) -> list[int]:
    """Offsets of the first 4 KiB blocks that differ between two raw disks (data regions only)."""
    from nps_image.formats.extents import data_extents, units_with_data

    out: list[int] = []
    with a.open("rb") as fa, b.open("rb") as fb:
        size = max(os.fstat(fa.fileno()).st_size, os.fstat(fb.fileno()).st_size)
        units = sorted(
            set(units_with_data(data_extents(fa.fileno(), size), MiB))
            | set(units_with_data(data_extents(fb.fileno(), size), MiB))
        )
        for unit in units:
            da, db = os.pread(fa.fileno(), MiB, unit * MiB), os.pread(fb.fileno(), MiB, unit * MiB)
            out += [unit * MiB + k for k in range(0, MiB, 4096) if da[k : k + 4096] != db[k : k + 4096]]
            if len(out) >= limit:
                return out[:limit]
    return out


def _explain(a: Path, b: Path) -> str:
    """Where two raw disks differ, as file-system blocks and the files that own them."""
    offsets = _differing_blocks(a, b)
    if not offsets:
        return "the raw disks are identical: the difference is in the packaging"
    start = disk.START * disk.SECTOR
    blocks = [(o - start) // 4096 for o in offsets if o >= start]
    lines = [f"raw disks differ at byte offsets {offsets} (file-system blocks {blocks})"]
    if blocks:
        out = subprocess.run(
            ["debugfs", "-R", "icheck " + " ".join(map(str, blocks)), f"{b}?offset={start}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        lines.append(out.strip() + "\n(<block not found>: metadata, e.g. an inode table; see dumpe2fs)")
    return "\n".join(lines)


@pytest.mark.slow
def test_two_builds_give_the_same_bytes(
    appliance_dist: Path, release_pki: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second build of the run's image (`appliance_dist`), later, in another time zone
    and locale, with another umask: none of them may show in the image. Signed with the
    same key, as that one was (its signatures are deterministic)."""
    if (reason := _build_missing()) is not None:
        pytest.skip(reason)
    from nps_image.build import Build, build
    from nps_image.qemu import extract_disk
    from nps_image.signing import load

    cache = ROOT / "build" / "cache"
    dists = [appliance_dist, tmp_path / "b"]
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    umask = os.umask(0o002)
    try:
        build(Build("0.0.0-test", dists[1], cache, signer=load(release_pki.key, release_pki.chain)))
    finally:
        os.umask(umask)
    inputs = [json.loads(next(d.glob("*-manifest.json")).read_text())["inputs"] for d in dists]
    assert inputs[0] == inputs[1], "sensor/ or templates/ changed between the two builds: not the same inputs"
    sums = [(d / "SHA256SUMS").read_text() for d in dists]
    assert len(sums[0].splitlines()) == 4  # the OVA, the zip, the build manifest, the SBOM
    assert (dists[0] / "SHA256SUMS.sig").read_bytes() == (dists[1] / "SHA256SUMS.sig").read_bytes()
    if sums[0] != sums[1]:
        # Only now is the first build's disk needed: out of its OVA, back to raw.
        vmdk = extract_disk(dists[0], "nps-sensor", "0.0.0-test", "vmdk", tmp_path / "a")
        first_disk = tmp_path / "a.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(vmdk), str(first_disk)], check=True)
        pytest.fail(_explain(first_disk, cache / "work" / "disk.raw"))
