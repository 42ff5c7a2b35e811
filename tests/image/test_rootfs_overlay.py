"""The appliance's static files as data: the overlay tree lands on a root as it lies, and
the preset enables the services and consoles (and disables Debian's getty) as the
image had them when a loop of symlinks made them.

A stand-in root with the base's relevant units; `systemctl --root` does the preset
offline, as the build does. About a second.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from nps_image import rootfs

UNIT = "[Unit]\nDescription={name}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy={target}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root as the base leaves it: Debian's getty on tty1 enabled, a resolv.conf file."""
    if not shutil.which("systemctl"):
        pytest.skip("systemctl not found (Debian's systemd package)")
    r = tmp_path / "root"
    lib = r / "usr/lib/systemd/system"
    etc = r / "etc/systemd/system"
    lib.mkdir(parents=True)
    etc.mkdir(parents=True)
    (r / "lib").symlink_to("usr/lib")  # merged /usr, as in Debian 12
    for unit in ("systemd-networkd.service", "systemd-resolved.service", "systemd-networkd-wait-online.service"):
        (lib / unit).write_text(UNIT.format(name=unit, target="multi-user.target"))
    (lib / "getty@.service").write_text(UNIT.format(name="getty", target="getty.target") + "DefaultInstance=tty1\n")
    (etc / "getty.target.wants").mkdir()
    (etc / "getty.target.wants/getty@tty1.service").symlink_to("/lib/systemd/system/getty@.service")
    for unit in (*rootfs.UNITS, "nps-console@.service"):
        (etc / unit).write_text(UNIT.format(name=unit, target="getty.target" if "@" in unit else "multi-user.target"))
    (r / "etc/resolv.conf").write_text("nameserver 192.0.2.1\n")
    return r


def links(root: Path) -> dict[str, str]:
    etc = root / "etc/systemd/system"
    return {str(p.relative_to(etc)): os.readlink(p) for p in sorted(etc.rglob("*")) if p.is_symlink()}


def test_overlay_and_preset_make_the_appliance_files(root: Path) -> None:
    rootfs.overlay(root)
    rootfs.preset(root)
    rootfs.overlay(root)  # as the build does: the preset's disable took the masks
    nps = "/etc/systemd/system/"
    assert links(root) == {
        "getty.target.wants/nps-console@tty1.service": nps + "nps-console@.service",
        "getty.target.wants/nps-console@ttyS0.service": nps + "nps-console@.service",
        "getty@tty1.service": "/dev/null",
        "serial-getty@ttyS0.service": "/dev/null",
        **{f"multi-user.target.wants/{u}": nps + u for u in rootfs.UNITS},
        "multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
        "multi-user.target.wants/systemd-resolved.service": "/lib/systemd/system/systemd-resolved.service",
    }
    assert os.readlink(root / "etc/resolv.conf") == "/run/systemd/resolve/stub-resolv.conf"
    assert os.readlink(root / "usr/share/nps-sensor/data/oui.csv") == "/usr/share/ieee-data/oui.csv"
    sudoers = root / "etc/sudoers.d/nps-admin"
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert sudoers.read_text() == "nps-admin ALL=(ALL) NOPASSWD:ALL\n"
    assert stat.S_IMODE((root / "etc/ssh/sshd_config.d/nps.conf").stat().st_mode) == 0o644
    assert (root / "etc/machine-id").read_text() == ""  # systemd makes one at first boot: every VM its own


def test_overlay_is_only_data() -> None:
    """Every file of the tree is a plain file or a link: nothing to run, nothing rendered."""
    for path in rootfs.OVERLAY.rglob("*"):
        assert path.is_symlink() or path.is_dir() or (path.is_file() and path.suffix != ".j2"), path
    assert (rootfs.OVERLAY / f"etc/sudoers.d/{rootfs.ADMIN}").read_text().startswith(f"{rootfs.ADMIN} ")
