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
    part_bytes = DISK_BYTES - START * SECTOR
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
            f"offset={START * SECTOR},lazy_itable_init=0,lazy_journal_init=0,hash_seed={HASH_SEED},root_owner=0:0",
            "-d",
            str(root),
            str(disk),
            f"{part_bytes // 1024}k",
        ],
        env={"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch)},
    )
    _fix_ctimes(root, disk, epoch)
    _bootloader(disk, root)


def _fix_ctimes(root: Path, disk: Path, epoch: int) -> None:
    """mke2fs copies each file's change time (ctime) into its inode, and no one can set
    a ctime: it is the moment of the build. debugfs sets them (and the access times)
    to SOURCE_DATE_EPOCH, so that two builds of the same inputs give the same image."""
    commands = [f"sif / ctime @{epoch}", f"sif / atime @{epoch}"]
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            rel = "/" + os.path.relpath(os.path.join(dirpath, name), root)
            quoted = '"' + rel.replace("\\", "\\\\").replace('"', '\\"') + '"'
            # atime too: mke2fs reading a directory updated its source's access time.
            commands.append(f"sif {quoted} ctime @{epoch}")
            commands.append(f"sif {quoted} atime @{epoch}")
    script = disk.with_name("ctimes.debugfs")
    script.write_text("\n".join(commands) + "\n")
    out = run(
        "file times (debugfs)",
        ["debugfs", "-w", "-f", str(script), f"{disk}?offset={START * SECTOR}"],
        env={"E2FSPROGS_FAKE_TIME": str(epoch)},  # the superblock's last write time
    )
    script.unlink()
    if "not found" in out or "Couldn't" in out:
        bad = next(line for line in out.splitlines() if "not found" in line or "Couldn't" in line)
        raise BuildError(f"file times (debugfs): {bad.strip()}")


def _partition(disk: Path) -> None:
    import subprocess

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
