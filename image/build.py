"""`inv image.build`: the appliance, from nothing to the OVA and the VHDX zip.

Steps: the sensor's wheels; the Debian base (cached); the appliance layer; the raw
disk; the packages for each hypervisor; checksums and the build manifest. Each step
shows its progress, and a failing one says what failed in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from . import disk, rootfs
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
    timings: dict[str, float] = field(default_factory=dict)


def _build_debris(directory: str, names: list[str]) -> set[str]:
    """What a build of the sensor leaves in its source tree: not sources, never wheel inputs."""
    top = Path(directory) == ROOT / "sensor"
    return {
        n for n in names if n.endswith((".egg-info", ".pyc")) or n == "__pycache__" or (top and n in ("build", "dist"))
    }


def wheels(b: Build, console: Console) -> Path:
    """The sensor and its dependencies as wheels for Debian 12's Python 3.11.

    Built from a clean copy of `sensor/`: setuptools builds in the source tree and
    packs what its build/lib holds, where a module deleted from the sources would live on.
    """
    out = b.cache / "wheels"
    source = b.cache / "sensor-source"
    for d in (out, source):
        if d.exists():
            shutil.rmtree(d)
    out.mkdir(parents=True)
    shutil.copytree(ROOT / "sensor", source, ignore=_build_debris, symlinks=True)
    try:
        run(
            "sensor wheels (pip wheel)",
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out), str(source)],
            env={"SOURCE_DATE_EPOCH": str(b.epoch)},
        )
    finally:
        shutil.rmtree(source, ignore_errors=True)
    return out


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
        wheel_dir = wheels(b, console)
    with step("Debian base (mmdebstrap; cached)"):
        base = rootfs.base(b.cache, b.epoch)
    with step("appliance layer"):
        root = rootfs.appliance(base, work, wheel_dir, b.fingerprints, APPLIANCE_TEMPLATES, b.epoch)
        manifest = {
            "name": NAME,
            "version": b.version,
            "source_date_epoch": b.epoch,
            "sensor": rootfs.python_packages(root).get("nps-sensor"),
            "debian_packages": rootfs.packages(root),
            "python_packages": rootfs.python_packages(root),
            "inputs": {
                "base": base.name,
                "wheels": tree_digest(wheel_dir),
                "templates": tree_digest(ROOT / "templates"),
                "fingerprints": tree_digest(b.fingerprints) if b.fingerprints else None,
            },
            "tools": tools(),
        }
    with step("bootable raw disk (50 GiB, sparse)"):
        disk.build(root, raw, b.epoch)
    outputs: list[Path] = []
    manifest_path = b.output / f"{NAME}-{b.version}-manifest.json"
    b.output.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    with step("OVA and VHDX"):
        from .package import package

        outputs = package(raw, NAME, b.version, b.output, b.epoch, extra_sums=[manifest_path], console=console)
    for p in [*outputs, manifest_path]:
        console.print(f"  {p}  {p.stat().st_size / 2**20:.1f} MiB", highlight=False)
    console.print("  steps: " + ", ".join(f"{k} {v:.0f} s" for k, v in b.timings.items()), highlight=False)
    return [*outputs, manifest_path]


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
