"""Running the build's external tools: one line of explanation when one fails.

A build step that fails must say what failed and what to do (a missing host
package, no space left, an mmdebstrap error), in one line, not a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# Tool -> the Debian package that provides it (bootstrap installs them all).
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "mke2fs": "e2fsprogs",
    "sfdisk": "fdisk",
    "grub-mkimage": "grub2-common",
    "qemu-img": "qemu-utils",
    "qemu-system-x86_64": "qemu-system-x86",
    "xorriso": "xorriso",
}
GRUB_I386 = Path("/usr/lib/grub/i386-pc")


class BuildError(Exception):
    """A step failed: the message is one line with the cause and the fix."""


def require(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pkgs = sorted({TOOLS.get(t, t) for t in missing})
        raise BuildError(f"missing host tools {', '.join(missing)}: apt-get install {' '.join(pkgs)} (or ./bootstrap)")
    if "grub-mkimage" in tools and not (GRUB_I386 / "boot.img").exists():
        raise BuildError("missing BIOS GRUB images in /usr/lib/grub/i386-pc: apt-get install grub-pc-bin")


def run(step: str, cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a tool; on failure raise BuildError with the step and the tool's last words."""
    try:
        out = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError:
        require(cmd[0])
        raise
    if out.returncode != 0:
        lines = [line.strip() for line in (out.stderr or out.stdout).splitlines() if line.strip()]
        # apt and mmdebstrap say what went wrong first ("E: ..."), then that they failed.
        errors = [line for line in lines if line.startswith("E:") and "failed to run" not in line]
        reason = errors[0] if errors else (lines[-1] if lines else f"exit status {out.returncode}")
        if "No space left" in (out.stderr or ""):
            reason = "no space left on the build disk (free some, or pass --output/--cache elsewhere)"
        raise BuildError(f"{step}: {cmd[0]} failed: {reason.strip()}")
    return out.stdout


def check_space(path: Path, need_bytes: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise BuildError(
            f"not enough free space in {path}: {free / 2**30:.1f} GiB free, {need_bytes / 2**30:.1f} GiB needed"
        )
