"""`inv image.build`: the appliance, from nothing to the OVA and the VHDX zip.

Steps: the sensor's wheels; the Debian base (cached); the appliance layer; the raw
disk; the packages for each hypervisor; checksums and the build manifest. Each step
shows its progress, and a failing one says what failed in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from . import disk, rootfs
from .signing import Signer
from .steps import BuildError, check_space, require, run

ROOT = Path(__file__).resolve().parents[1]
# The appliance's templates are the sensor's package data: the image renders the files the
# installed sensor (first boot, console, roles) renders later.
APPLIANCE_TEMPLATES = ROOT / "sensor" / "src" / "nps_sensor" / "appliance" / "templates"
NAME = "nps-sensor"
DEFAULT_EPOCH = 1_767_225_600  # 2026-01-01: images are reproducible unless told otherwise


@dataclass
class Build:
    version: str
    output: Path
    cache: Path
    fingerprints: Path | None = None
    epoch: int = DEFAULT_EPOCH
    signer: Signer | None = None  # signs the OVA and SHA256SUMS; its key is the one updates need
    timings: dict[str, float] = field(default_factory=dict)


def build_debris(directory: str, names: list[str]) -> set[str]:
    """What a build of the sensor leaves in its source tree: not sources, never wheel inputs."""
    top = (Path(directory) / "pyproject.toml").is_file()
    return {
        n
        for n in names
        if n.endswith((".egg-info", ".pyc", ".so")) or n == "__pycache__" or (top and n in ("build", "dist"))
    }


def sensor_version(release: str) -> str | None:
    """The sensor's version in release `release`: the release's own when it is a version
    pip knows (PEP 440: 1.4.0, 1.4.0rc1), so that the hub shows what was released; None
    for a label (0.0.0-test), which leaves the sensor at its source's version."""
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(release))
    except InvalidVersion:
        return None


def stamp(source: Path, version: str) -> None:
    """Write `version` into a copy of the sensor's sources (its two version lines)."""
    for path, pattern, line in (
        (source / "pyproject.toml", r'^version = "[^"]*"$', f'version = "{version}"'),
        (source / "src" / "nps_sensor" / "__init__.py", r'^__version__ = "[^"]*"$', f'__version__ = "{version}"'),
    ):
        text, count = re.subn(pattern, line, path.read_text(), count=1, flags=re.MULTILINE)
        if count != 1:
            raise BuildError(f"{path}: no version line to write {version} into")
        path.write_text(text)


def wheels(cache: Path, epoch: int, version: str | None = None, source: Path = ROOT / "sensor") -> Path:
    """The sensor (at `version`, else its own) and its dependencies as wheels for Debian
    12's Python 3.11, in `cache/wheels`.

    Built from a clean copy of `source`: setuptools builds in the source tree and
    packs what its build/lib holds, where a module deleted from the sources would live on.
    """
    out = cache / "wheels"
    copy = cache / "sensor-source"
    for d in (out, copy):
        if d.exists():
            shutil.rmtree(d)
    out.mkdir(parents=True)
    shutil.copytree(source, copy, ignore=build_debris, symlinks=True)
    normalise_modes(copy)
    umask = os.umask(0o022)  # a wheel records its members' modes: the builder's umask must not show
    try:
        if version:
            stamp(copy, version)
        run(
            "sensor wheels (pip wheel)",
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out), str(copy)],
            env={"SOURCE_DATE_EPOCH": str(epoch), "CFLAGS": _path_free_cflags(copy)},
        )
    finally:
        os.umask(umask)
        shutil.rmtree(copy, ignore_errors=True)
    return out


def _path_free_cflags(source: Path) -> str:
    """The packet core's compiler flags without the build folder in its debug information
    (a build elsewhere would give other bytes): the source's path is mapped to the one
    it has in no particular place."""
    return " ".join(filter(None, [os.environ.get("CFLAGS", ""), f"-ffile-prefix-map={source}=/usr/src/nps-sensor"]))


def normalise_modes(tree: Path) -> None:
    """Give a copied source tree the modes a checkout made with umask 022 has (0755
    for folders and executables, else 0644): the wheel keeps them, and a checkout made
    with another umask would otherwise give other wheel bytes."""
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o100
        path.chmod(0o755 if executable else 0o644)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# The host's packages whose code writes bytes of the image: the file system, GRUB's
# modules and core.img, the partition table, the base. With zlib (the deliverables'
# deflate) and the inputs above, they are what "the same inputs" means for a
# reproducible build.
HOST_TOOLS = ("e2fsprogs", "grub-common", "grub-pc-bin", "fdisk", "mmdebstrap")


def tools() -> dict[str, str]:
    """The versions of the host's tools that write the image, for the build manifest."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package} ${Version}\\n", *HOST_TOOLS],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:  # not a Debian host: the versions are unknown, not a failure
        out = ""
    found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {**{t: found.get(t, "") for t in HOST_TOOLS}, "zlib": zlib.ZLIB_RUNTIME_VERSION}


def build(b: Build, console: Console | None = None) -> list[Path]:
    """Build the deliverables into `b.output`; return their paths.

    The umask is fixed for the build: files the appliance layer creates take their
    modes from it, and a build machine's umask must not show in the image.
    """
    previous = os.umask(0o022)
    try:
        return _build(b, console or Console(stderr=True))
    finally:
        os.umask(previous)


def _build(b: Build, console: Console) -> list[Path]:
    require("mmdebstrap", "mke2fs", "sfdisk", "grub-mkimage")
    if os.geteuid() != 0:
        raise BuildError("image.build needs root (mmdebstrap's root mode, chroot, device files in the image)")
    check_space(b.cache, 6 * 2**30)
    check_space(b.output, 2 * 2**30)
    work = b.cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "disk.raw"

    def step(name: str) -> _Step:
        return _Step(name, b, console)

    with step("sensor wheels"):
        wheel_dir = wheels(b.cache, b.epoch, sensor_version(b.version))
    with step("Debian base (mmdebstrap; cached)"):
        base = rootfs.base(b.cache, b.epoch)
    with step("appliance layer"):
        release_key = b.signer.public_key_pem() if b.signer else None
        root = rootfs.appliance(base, work, wheel_dir, b.fingerprints, APPLIANCE_TEMPLATES, b.epoch, release_key)
        documents = _documents(b, root, base, wheel_dir)
    with step("bootable raw disk (50 GiB, sparse)"):
        disk.build(root, raw, b.epoch)
    b.output.mkdir(parents=True, exist_ok=True)
    for path, text in documents.items():
        path.write_text(text)
    with step("OVA and VHDX"):
        from .package import package, seal

        outputs = package(raw, NAME, b.version, b.output, b.epoch, signer=b.signer, console=console)[:2]
        sealed = seal(b.output, NAME, b.version, b.signer, console)
    for p in [*outputs, *documents]:
        console.print(f"  {p}  {p.stat().st_size / 2**20:.1f} MiB", highlight=False)
    signed = f"signed by {b.signer.subject}" if b.signer else "unsigned (no --sign-key)"
    console.print(f"  {', '.join(p.name for p in sealed)}: {signed}", highlight=False)
    console.print("  steps: " + ", ".join(f"{k} {v:.0f} s" for k, v in b.timings.items()), highlight=False)
    return [*outputs, *documents, *sealed]


def _documents(b: Build, root: Path, base: Path, wheel_dir: Path) -> dict[Path, str]:
    """The build manifest (our own format, kept for scripts that read it) and the SBOM."""
    from . import sbom

    debian = rootfs.debian_packages(root)
    python = rootfs.python_metadata(root)
    inputs = {
        "base": base.name,
        "wheels": tree_digest(wheel_dir),
        "templates": tree_digest(ROOT / "templates"),
        "fingerprints": tree_digest(b.fingerprints) if b.fingerprints else None,
    }
    versions = {p.name: p.version for p in python}
    manifest = {
        "name": NAME,
        "version": b.version,
        "source_date_epoch": b.epoch,
        "sensor": versions.get("nps-sensor"),
        "debian_packages": {p.name: p.version for p in debian},
        "python_packages": versions,
        "inputs": inputs,
        "tools": tools(),
        "signed_by": b.signer.subject if b.signer else None,
    }
    hashes = {k: v for k, v in inputs.items() if v}
    copyrights = sbom.copyright_files(root, [p.name for p in debian])
    doc = sbom.document(sbom.Inputs(NAME, b.version, b.epoch, hashes), debian, python, copyrights)
    return {
        b.output / f"{NAME}-{b.version}-manifest.json": json.dumps(manifest, indent=1, sort_keys=True) + "\n",
        b.output / f"{NAME}-{b.version}.cdx.json": sbom.dumps(doc),
    }


class _Step:
    def __init__(self, name: str, b: Build, console: Console) -> None:
        self.name, self.b, self.console = name, b, console

    def __enter__(self) -> None:
        self.start = time.monotonic()
        self.console.print(f"{self.name} ...", highlight=False)

    def __exit__(self, *exc: object) -> None:
        took = time.monotonic() - self.start
        self.b.timings[self.name] = round(took, 1)
        mark = "failed" if exc[0] else "done"
        self.console.print(f"{self.name}: {mark} in {took:.0f} s", highlight=False)
