"""Where the sensor's versions live on the appliance, and the one switch between them.

    /opt/nps-sensor-versions/0.4.0/   a virtual environment: the sensor (its templates with
                                      it), its libraries, and `.installed` (written last)
    /opt/nps-sensor-versions/0.5.0/
    /opt/nps-sensor -> nps-sensor-versions/0.5.0    what runs (the services' ExecStart)

A version is installed beside the one that runs, from its own wheels, and only a
version whose `.installed` marker was written (the last step) is ever switched to.
The switch is one rename of a symbolic link over `/opt/nps-sensor`: whatever reads
the path sees the old version or the new one. Each process keeps the version it was
started with (its scripts name their own interpreter), so a restart is what moves a
service over. Registration, configuration and the spool live in /etc/nps-sensor and
/var/lib/nps-sensor: no version owns them, a switch never touches them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from nps_sensor.appliance.render import VENV
from nps_sensor.appliance.update_bundle import Bundle, BundleError

VERSIONS = "/opt/nps-sensor-versions"
RELEASE_KEY = "/usr/share/nps-sensor/release-key.pem"  # written by `inv image.build --sign-key`
INSTALLED = ".installed"
KEEP = 2  # the running version and the one before it (what a rollback needs)

Run = Callable[[Sequence[str]], str]


def path(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def running(root: Path) -> str:
    """The version `/opt/nps-sensor` points at: BundleError when it is not a switchable link
    (an image from before in-place updates: the sensor is a plain directory there)."""
    link = path(root, VENV)
    if not link.is_symlink():
        raise BundleError(
            f"{VENV} is not a link to a version: this appliance's image predates in-place updates; "
            "deploy the new release's OVA"
        )
    return Path(os.readlink(link)).name


def installed(root: Path, version: str) -> bool:
    return (path(root, VERSIONS) / version / INSTALLED).is_file()


def versions(root: Path) -> list[str]:
    base = path(root, VERSIONS)
    return sorted(p.name for p in base.iterdir() if (p / INSTALLED).is_file()) if base.is_dir() else []


def install(root: Path, bundle: Bundle, run: Run) -> Path:
    """Install `bundle` as its own version beside the running one, with `run` for the
    commands (a virtual environment made where it stays: its scripts name it). A half
    installation (no marker) is removed first; a complete one is kept as it is."""
    target = path(root, VERSIONS) / bundle.version
    inside = f"{VERSIONS}/{bundle.version}"  # as the appliance names it
    if (target / INSTALLED).is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        run(["/usr/bin/python3", "-m", "venv", inside])
        run(
            [
                f"{inside}/bin/pip", "install", "--quiet", "--no-index", "--no-cache-dir",
                "--disable-pip-version-check", f"--find-links={bundle.wheels}", f"nps-sensor=={bundle.version}",
            ]
        )  # fmt: skip
        said = run([f"{inside}/bin/nps-sensor", "--version"]).strip()
        if said != f"nps-sensor {bundle.version}":
            raise BundleError(f"the installed sensor says {said!r}, not nps-sensor {bundle.version}")
        marker = {"version": bundle.version, "files": len(bundle.files)}
        (target / INSTALLED).write_text(json.dumps(marker) + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def switch(root: Path, version: str) -> None:
    """Point /opt/nps-sensor at `version`, atomically (a new link renamed over the old)."""
    if not installed(root, version):
        raise BundleError(f"version {version} is not installed completely: not switching to it")
    link = path(root, VENV)
    relative = os.path.relpath(path(root, VERSIONS) / version, link.parent)
    tmp = link.with_name(f".{link.name}.switch")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(relative)
    os.replace(tmp, link)
    fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(root: Path, version: str) -> None:
    if version and version != running(root):
        shutil.rmtree(path(root, VERSIONS) / version, ignore_errors=True)


def prune(root: Path, keep: Sequence[str]) -> list[str]:
    """Remove versions other than `keep` (the running one and the one to roll back to);
    half installations go too."""
    base = path(root, VERSIONS)
    gone = []
    for p in sorted(base.iterdir()) if base.is_dir() else []:
        if p.is_dir() and p.name not in keep and p.name != running(root):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
    return gone
