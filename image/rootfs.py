"""The appliance's root file system: Debian 12 minbase, the kernel, the sensor, its files.

Two stages with a cache each. The base (mmdebstrap, minbase, the Debian packages) is
a tarball keyed by everything that goes into it: the package list, the host's apt
sources (mmdebstrap takes the host's apt configuration when given no mirror, so a
proxy or a local mirror works as for apt), SOURCE_DATE_EPOCH. The appliance layer
(the sensor in its own virtual environment, the configuration files rendered from
the sensor's templates, the services) is applied to a copy of it on every build: that part is
quick, and it is where the code changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from nps_sensor.appliance.render import ADMIN, VENV, File, files, write
from nps_sensor.appliance.settings import Settings
from nps_sensor.appliance.update_layout import INSTALLED, RELEASE_KEY, VERSIONS

from .sbom import DebPackage, PyPackage
from .steps import BuildError, run

SUITE = "bookworm"
PACKAGES = (
    # the kernel for VMware and Hyper-V (vmxnet3, pvscsi, hv_netvsc, hv_storvsc, ata_piix)
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "systemd",
    "systemd-sysv",
    "systemd-resolved",
    "udev",
    "dbus",
    "python3",
    "python3-venv",
    "iproute2",
    "ethtool",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "open-vm-tools",  # VMware guestinfo: the OVF environment without a CD
    "p0f",  # p0f.fp, TCP fingerprints
    "unattended-upgrades",  # Debian's security updates, on a schedule (nps_sensor.appliance.updates_os)
    "ieee-data",  # IEEE OUI lists
    "libwireshark-data",  # Wireshark's manuf: vendor names
    "less",
    "nano",
)
# The appliance's static files, as they lie in the image (mkosi's "extra trees"); the
# rendered ones come from the templates.
OVERLAY = Path(__file__).parent / "overlay"
MODES = {f"etc/sudoers.d/{ADMIN}": 0o440}  # sudo ignores a file others may read
PRESET = "/usr/lib/systemd/system-preset/80-nps.preset"  # in the overlay: the services enabled
UNITS = (  # the appliance's own units, rendered from their templates
    "nps-sensor.service",
    "nps-firstboot.service",
    "nps-uplink.service",
    "nps-register.service",
    "nps-update-recover.service",
)
KERNEL_ARGS = "net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8"
ROOT_UUID = "6e70732d-7365-4e73-af72-000000000001"  # fixed: reproducible images, stable fstab


def apt_sources() -> str:
    """The host's apt sources, part of the base's cache key."""
    out = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.is_file():
            out.append(f"{p}\n{p.read_text()}")
    return "\n".join(out)


def base_key(epoch: int) -> str:
    h = hashlib.sha256()
    for part in (SUITE, " ".join(PACKAGES), apt_sources(), str(epoch), _version("mmdebstrap")):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def _version(tool: str) -> str:
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def base(cache: Path, epoch: int) -> Path:
    """The base tarball, from the cache or built now."""
    tar = cache / f"base-{SUITE}-{base_key(epoch)}.tar"
    if tar.exists():
        return tar
    cache.mkdir(parents=True, exist_ok=True)
    tmp = tar.with_suffix(".tmp.tar")
    mirrors = _mirrors(apt_sources())
    if not mirrors:
        raise BuildError(
            "no Debian 12 (bookworm) source in the host's apt configuration: add one to /etc/apt/sources.list"
        )
    run(
        "base system (mmdebstrap)",
        [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--format=tar",
            "--include=" + ",".join(PACKAGES),
            "--components=main",
            "--aptopt=Acquire::Retries 3",
            # apt-key looks for gpgv as if inside the new system, where it is not yet.
            '--aptopt=Apt::Key::gpgvcommand "/usr/bin/gpgv"',
            # No documentation, locales or package lists in the image.
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*.bin",
            SUITE,
            str(tmp),
            *mirrors,
        ],
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )
    tmp.replace(tar)
    return tar


DEBIAN_SUITES = {SUITE, f"{SUITE}-updates", f"{SUITE}-security", f"{SUITE}-backports"}


def _mirrors(text: str) -> list[str]:
    """mmdebstrap's mirror lines: the host's sources for Debian's own suites only (other
    repositories configured on the host, a cloud SDK or Node.js, have no business in
    the appliance). Both the one-line and the deb822 formats."""
    out: list[str] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for raw in stanza.splitlines():
            line = raw.strip()
            if line.startswith("deb ") and not line.startswith("deb-src"):
                parts = line.split()
                if "[" in parts[1]:  # options like [signed-by=...]
                    parts = [parts[0], *[p for p in parts[1:] if not (p.startswith("[") or p.endswith("]"))]]
                if len(parts) >= 3 and parts[2] in DEBIAN_SUITES:
                    out.append(f"deb {parts[1]} {parts[2]} main")
            elif ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                fields[key.strip()] = value.split()
        if "deb" in fields.get("Types", []):
            for uri in fields.get("URIs", []):
                out.extend(f"deb {uri} {suite} main" for suite in fields.get("Suites", []) if suite in DEBIAN_SUITES)
    return list(dict.fromkeys(out))


def appliance(
    base_tar: Path,
    work: Path,
    wheels: Path,
    fingerprints: Path | None,
    templates: Path,
    epoch: int,
    release_key: bytes | None = None,
) -> Path:
    """Unpack the base into `work/rootfs` and add the appliance layer to it.

    The tools run in it see SOURCE_DATE_EPOCH `epoch`: useradd writes the day of the
    last password change into /etc/shadow, today's date unless told otherwise.
    `release_key` (PEM) is the key whose update bundles the appliance will install.
    """
    root = work / "rootfs"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    run("unpack the base system", ["tar", "-xf", str(base_tar), "-C", str(root), "--numeric-owner"])
    version = _sensor(root, wheels, epoch)
    _config(root, templates, fingerprints, epoch)
    _versioned(root, version, release_key)
    return root


def _chroot(root: Path, step: str, *cmd: str, epoch: int | None = None) -> str:
    env = {
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
        # pip neither asks PyPI for a newer pip nor caches: it would leave dated files in /root.
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    return run(step, ["chroot", str(root), *cmd], env=env)


def wheel_version(wheels: Path) -> str:
    """The sensor's version, from its wheel's name (nps_sensor-VERSION-py3-none-any.whl)."""
    found = sorted(wheels.glob("nps_sensor-*.whl"))
    if len(found) != 1:
        raise BuildError(f"{wheels}: {len(found)} nps_sensor wheels, not one")
    return found[0].name.split("-")[1]


def _sensor(root: Path, wheels: Path, epoch: int) -> str:
    """The sensor in a virtual environment of its version, from the wheels (no network);
    returns the version. /opt/nps-sensor becomes a link to it (`_versioned`)."""
    version = wheel_version(wheels)
    target = f"{VERSIONS}/{version}"
    inside = root / "tmp" / "wheels"
    shutil.copytree(wheels, inside)
    try:
        _chroot(root, "sensor environment", "/usr/bin/python3", "-m", "venv", target, epoch=epoch)
        _chroot(
            root,
            "sensor install",
            f"{target}/bin/pip",
            "install",
            "--no-index",
            "--no-compile",
            "--find-links=/tmp/wheels",
            "nps-sensor",
            epoch=epoch,
        )
        # Byte-code compiled once, with fixed timestamps (reproducible), not on first run.
        _chroot(
            root,
            "byte-compile",
            f"{target}/bin/python",
            "-m",
            "compileall",
            "-q",
            "-f",  # pip's own files were compiled with timestamps when it ran: redo them all
            "--invalidation-mode",
            "unchecked-hash",
            target,
            epoch=epoch,
        )
    finally:
        shutil.rmtree(inside, ignore_errors=True)
    return version


def _versioned(root: Path, version: str, release_key: bytes | None) -> None:
    """The layout in-place updates switch within (nps_sensor.appliance.update_layout):
    /opt/nps-sensor a link to the version, the release key, the version marked complete."""
    target = root / VERSIONS.lstrip("/") / version
    link = root / VENV.lstrip("/")
    link.symlink_to(os.path.relpath(target, link.parent))
    if release_key:
        key = root / RELEASE_KEY.lstrip("/")
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(release_key)
    (target / INSTALLED).write_text(json.dumps({"version": version, "image": True}) + "\n")


def _config(root: Path, templates: Path, fingerprints: Path | None, epoch: int) -> None:
    """The appliance's files: the static ones from the overlay tree, the rendered ones
    from the templates, then the services the preset enables."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), keep_trailing_newline=True)
    _chroot(
        root,
        "management user",
        *("useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", ADMIN),
        epoch=epoch,
    )
    overlay(root)
    rendered = files(Settings())
    for unit in UNITS:
        rendered[f"/etc/systemd/system/{unit}"] = File(env.get_template(f"systemd/{unit}.j2").render(venv=VENV))
    # The console in place of the login prompt, on the screen (tty1) and the serial line.
    rendered["/etc/systemd/system/nps-console@.service"] = File(
        env.get_template("systemd/nps-console@.service.j2").render(venv=VENV, term="linux")
    )
    rendered["/etc/fstab"] = File(f"UUID={ROOT_UUID} / ext4 errors=remount-ro,noatime 0 1\n")
    write(root, rendered, _passwd(root))
    # Host keys are made at first boot (overlay: ssh.service.d/keys.conf): two VMs from
    # one image must not share them.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    preset(root)
    overlay(root)  # again: disabling a template removes its instances' masks too
    if fingerprints:
        if not fingerprints.is_dir():
            raise BuildError(f"--fingerprints {fingerprints}: not a directory")
        shutil.copytree(fingerprints, root / "usr/share/nps-sensor/data/extra", dirs_exist_ok=True)


def overlay(root: Path, tree: Path = OVERLAY) -> None:
    """Copy the overlay tree onto `root`: files (mode 0644, or as `MODES` says),
    directories and symbolic links, each replacing what the base had there."""
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        dest = root / rel
        if path.is_symlink():
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(os.readlink(path))
        elif path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_symlink():
                dest.unlink()
            shutil.copyfile(path, dest)
            os.chmod(dest, MODES.get(str(rel), 0o644))


def preset(root: Path) -> None:
    """Enable and disable what the overlay's preset file says (systemd.preset(5)), as
    `systemctl preset` does on a running system, here offline in `root`: one unit at a
    time in the file's order, so that a later line overrides what an earlier one's
    `Also=` brought."""
    for line in (root / PRESET.lstrip("/")).read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("enable", "disable"):
            run(f"services: {words[1]}", ["systemctl", f"--root={root}", "preset", words[1]])


def _passwd(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, gid, *_ = line.split(":")
        out[name] = (int(uid), int(gid))
    return out


def debian_packages(root: Path) -> list[DebPackage]:
    """Every Debian package in the image: version, architecture, source package and version."""
    fields = "${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n"
    out = _chroot(root, "package list", "dpkg-query", "-W", f"-f={fields}")
    return [DebPackage(*line.split("\t")) for line in out.splitlines() if line.count("\t") == 4]


def python_metadata(root: Path) -> list[PyPackage]:
    """Every Python package of the sensor's environment, from its installed metadata (the
    wheels' METADATA: name, version, License-Expression, License, classifiers), read as
    files: what the image holds, whichever pip made it."""
    from email.parser import HeaderParser

    from .sbom import inside

    packages = []
    site = inside(root, f"{VENV}/lib")
    for meta in sorted(site.glob("python3*/site-packages/*.dist-info/METADATA")):
        msg = HeaderParser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        packages.append(
            PyPackage(
                str(msg.get("Name", "")),
                str(msg.get("Version", "")),
                str(msg.get("License-Expression", "") or ""),
                str(msg.get("License", "") or ""),
                tuple(str(c) for c in msg.get_all("Classifier") or ()),
            )
        )
    return sorted(packages, key=lambda p: p.name.lower())
