"""The bootable raw disk, built without mounting anything.

Loop devices and device-mapper are not dependable on build machines, so the disk is
assembled from files: `sfdisk` writes an MBR partition table into a sparse file,
`mke2fs -d` writes the root file system into the partition at its offset (every
inode table initialised now, or the first boot would inflate the thin disk), and
GRUB's boot.img and a core.img made by `grub-mkimage` make it BIOS-bootable, which
both ESXi and Hyper-V Generation 1 VMs do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .rootfs import KERNEL_ARGS, ROOT_UUID
from .steps import GRUB_I386, BuildError, run

DISK_BYTES = 50 * 2**30  # 50 GiB, thin in every format
START = 2048  # first partition sector: 1 MiB, room for GRUB's core.img before it
SECTOR = 512
GRUB_MODULES = (
    "biosdisk",
    "part_msdos",
    "ext2",
    "normal",
    "linux",
    "echo",
    "serial",
    "terminal",
    "search",
    "search_fs_uuid",
    "configfile",
    "gzio",
    "test",
)
HASH_SEED = "6e70732d-7365-4e73-af72-0000000000ff"


def grub_config() -> str:
    return (
        "serial --unit=0 --speed=115200\n"
        "terminal_input console serial\n"
        "terminal_output console serial\n"
        "set timeout=1\n"
        f"search --no-floppy --fs-uuid --set=root {ROOT_UUID}\n"
        "menuentry 'nps-sensor' {\n"
        f"  linux /vmlinuz root=UUID={ROOT_UUID} ro quiet {KERNEL_ARGS}\n"
        "  initrd /initrd.img\n"
        "}\n"
    )


def install_grub_files(root: Path) -> None:
    """GRUB's modules and configuration inside the root file system (/boot/grub)."""
    target = root / "boot/grub/i386-pc"
    target.mkdir(parents=True, exist_ok=True)
    for f in GRUB_I386.iterdir():
        if f.suffix in (".mod", ".lst"):
            shutil.copy2(f, target / f.name)
    (root / "boot/grub/grub.cfg").write_text(grub_config())
    for link, pattern in (("vmlinuz", "vmlinuz-*"), ("initrd.img", "initrd.img-*")):
        found = sorted((root / "boot").glob(pattern))
        if not found:
            raise BuildError(f"no {pattern} in the root file system's /boot: the kernel package did not install")
        dest = root / link
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.symlink_to(f"boot/{found[-1].name}")


def clamp_times(root: Path, epoch: int) -> None:
    """Every file's times to SOURCE_DATE_EPOCH: mke2fs copies them into the image, and
    two builds of the same inputs must give the same bytes."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.utime(os.path.join(dirpath, name), (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def build(root: Path, disk: Path, epoch: int) -> None:
    """Write the bootable sparse raw disk `disk` from the root file system `root`."""
    install_grub_files(root)
    clamp_times(root, epoch)
    if disk.exists():
        disk.unlink()
    with disk.open("wb") as f:
        f.truncate(DISK_BYTES)
    _partition(disk)
    filesystem(root, disk, epoch, START * SECTOR, DISK_BYTES - START * SECTOR)
    _bootloader(disk, root)


# The tools' messages in English (they are parsed), and mke2fs -d's file order (it sorts
# each directory with alphasort) the same whatever the build machine's locale.
_TOOL_ENV = {"LC_ALL": "C"}


def filesystem(root: Path, image: Path, epoch: int, offset: int, size: int) -> None:
    """The ext4 root file system of `size` bytes, from `root`, at byte `offset` of `image`.

    Reproducible: fixed UUID and directory hash seed, the superblock's times from
    E2FSPROGS_FAKE_TIME, every inode's times SOURCE_DATE_EPOCH (see _fix_ctimes).
    """
    run(
        "root file system (mke2fs)",
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-L",
            "nps-root",
            "-U",
            ROOT_UUID,
            "-E",
            f"offset={offset},lazy_itable_init=0,lazy_journal_init=0,hash_seed={HASH_SEED},root_owner=0:0",
            "-d",
            str(root),
            str(image),
            f"{size // 1024}k",
        ],
        env={**_TOOL_ENV, "E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch)},
    )
    _fix_ctimes(root, image, epoch, offset)


def _debugfs_path(rel: str) -> str:
    r"""A path as one argument of a debugfs command: its parser (libss) knows double quotes,
    with "" for a quote inside them, and no backslash escapes (systemd's unit names have
    backslashes: system-systemd\x2dcryptsetup.slice)."""
    if "\n" in rel or "\r" in rel:
        raise BuildError(f"file times (debugfs): {rel!r} has a line break in its name, which debugfs cannot take")
    return '"' + rel.replace('"', '""') + '"'


def _fix_ctimes(root: Path, image: Path, epoch: int, offset: int) -> None:
    """mke2fs copies each file's change time (ctime) into its inode, and no one can set
    a ctime: it is the moment of the build. debugfs sets them (and the access times)
    to SOURCE_DATE_EPOCH, so that two builds of the same inputs give the same image.
    Any path debugfs does not find fails the build: a missed inode is a silent
    difference between two builds."""
    commands = [f"sif / ctime @{epoch}", f"sif / atime @{epoch}"]
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted((*dirnames, *filenames)):
            path = _debugfs_path("/" + os.path.relpath(os.path.join(dirpath, name), root))
            # atime too: mke2fs reading a directory updated its source's access time.
            commands.append(f"sif {path} ctime @{epoch}")
            commands.append(f"sif {path} atime @{epoch}")
    script = image.with_name(image.name + ".times.debugfs")
    script.write_text("\n".join(commands) + "\n")
    try:
        # Not steps.run: debugfs reports a failed command on stderr and still exits 0.
        out = subprocess.run(
            ["debugfs", "-w", "-f", str(script), f"{image}?offset={offset}"],
            capture_output=True,
            text=True,
            env={**os.environ, **_TOOL_ENV, "E2FSPROGS_FAKE_TIME": str(epoch)},  # the superblock's write time
            check=False,
        )
    except FileNotFoundError:
        raise BuildError("file times: debugfs is missing: apt-get install e2fsprogs (or ./bootstrap)") from None
    finally:
        script.unlink()
    # stderr holds the version banner ("debugfs 1.47.0 (5-Feb-2023)"), then any error.
    errors = [line.strip() for line in out.stderr.splitlines() if line.strip() and not line.startswith("debugfs ")]
    if out.returncode or errors:
        reason = errors[0] if errors else f"exit status {out.returncode}"
        raise BuildError(f"file times (debugfs): {reason}")


def _partition(disk: Path) -> None:
    table = f"label: dos\nlabel-id: 0x6e70730a\nstart={START}, type=83, bootable\n"
    out = subprocess.run(
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(disk)],
        input=table,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise BuildError(f"partition table: sfdisk failed: {out.stderr.strip().splitlines()[-1:]}")


def _bootloader(disk: Path, root: Path) -> None:
    core = disk.with_name("core.img")
    run(
        "boot loader (grub-mkimage)",
        [
            "grub-mkimage",
            "-O",
            "i386-pc",
            "-o",
            str(core),
            "-p",
            "(hd0,msdos1)/boot/grub",
            *GRUB_MODULES,
        ],
    )
    size = core.stat().st_size
    if size > (START - 1) * SECTOR:
        raise BuildError(f"GRUB core image is {size} bytes: it does not fit before the first partition")
    boot = (GRUB_I386 / "boot.img").read_bytes()
    with disk.open("r+b") as f:
        f.write(boot[:440])  # the boot code; the partition table after it stays
        f.seek(SECTOR)
        f.write(core.read_bytes())
    core.unlink()
    os.sync()
