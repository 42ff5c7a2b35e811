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
SERVICES = (  # the appliance's own units, enabled at boot (multi-user.target)
    "nps-sensor.service",
    "nps-firstboot.service",
    "nps-uplink.service",
    "nps-register.service",
    "nps-update-recover.service",
)
CONSOLES = ("tty1", "ttyS0")  # where nps-sensor console runs instead of a login prompt
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
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), keep_trailing_newline=True)
    _chroot(
        root,
        "management user",
        *("useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", ADMIN),
        epoch=epoch,
    )
    defaults = files(Settings())
    defaults.update(
        {f"/etc/systemd/system/{u}": File(env.get_template(f"systemd/{u}.j2").render(venv=VENV)) for u in SERVICES}
    )
    defaults.update(
        {
            # The console in place of the login prompt, on the screen (tty1) and the serial line.
            "/etc/systemd/system/nps-console@.service": File(
                env.get_template("systemd/nps-console@.service.j2").render(venv=VENV, term="linux")
            ),
            # What serial-getty assumes of the far end; the palette shows the focus in monochrome.
            "/etc/systemd/system/nps-console@ttyS0.service.d/serial.conf": File(
                "[Unit]\nBindsTo=dev-ttyS0.device\nAfter=dev-ttyS0.device\n\n[Service]\nEnvironment=TERM=vt220\n"
            ),
            "/etc/fstab": File(f"UUID={ROOT_UUID} / ext4 errors=remount-ro,noatime 0 1\n"),
            "/etc/hosts": File("127.0.0.1 localhost\n127.0.1.1 nps-sensor\n::1 localhost ip6-localhost\n"),
            "/etc/machine-id": File(""),  # systemd makes one at first boot: every VM its own
            # Password login is off: the management user logs in with a key (OVF property).
            "/etc/ssh/sshd_config.d/nps.conf": File("PasswordAuthentication no\nPermitRootLogin no\n"),
            f"/etc/sudoers.d/{ADMIN}": File(f"{ADMIN} ALL=(ALL) NOPASSWD:ALL\n", 0o440),
            "/etc/systemd/journald.conf.d/nps.conf": File("[Journal]\nSystemMaxUse=200M\n"),
        }
    )
    write(root, defaults, _passwd(root))
    # Host keys are made at first boot: two VMs from one image must not share them.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    os.makedirs(root / "etc/systemd/system/ssh.service.d", exist_ok=True)
    (root / "etc/systemd/system/ssh.service.d/keys.conf").write_text(
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
    )
    for unit, target in (
        *((unit, "multi-user.target.wants") for unit in SERVICES),
        ("systemd-networkd.service", "multi-user.target.wants"),
        ("systemd-resolved.service", "multi-user.target.wants"),
        *((f"nps-console@{tty}.service", "getty.target.wants") for tty in CONSOLES),
    ):
        link = root / "etc/systemd/system" / target / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        name, at, _instance = unit.partition("@")
        template = f"{name}@.service" if at else unit  # an instance links to its template
        source = f"/etc/systemd/system/{template}" if unit.startswith("nps-") else f"/lib/systemd/system/{template}"
        if not link.is_symlink():
            link.symlink_to(source)
    # No login prompt where the console runs: Debian's getty on tty1 (wanted by the
    # preset, and logind's autovt), the generator's serial getty for console=ttyS0.
    for unit in ("getty@tty1.service", "serial-getty@ttyS0.service"):
        (root / "etc/systemd/system/getty.target.wants" / unit).unlink(missing_ok=True)
        mask = root / "etc/systemd/system" / unit
        if not mask.is_symlink():
            mask.symlink_to("/dev/null")
    resolv = root / "etc/resolv.conf"
    if resolv.exists() or resolv.is_symlink():
        resolv.unlink()
    resolv.symlink_to("/run/systemd/resolve/stub-resolv.conf")
    _data(root, fingerprints)


def _data(root: Path, fingerprints: Path | None) -> None:
    """Fingerprint databases, each under its own license, where the sensor reads them."""
    data = root / "usr/share/nps-sensor/data"
    data.mkdir(parents=True, exist_ok=True)
    for name, target in (
        ("p0f.fp", "/etc/p0f/p0f.fp"),
        ("oui.csv", "/usr/share/ieee-data/oui.csv"),
        ("manuf", "/usr/share/wireshark/manuf"),
    ):
        link = data / name
        if not link.is_symlink():
            link.symlink_to(target)
    if fingerprints:
        if not fingerprints.is_dir():
            raise BuildError(f"--fingerprints {fingerprints}: not a directory")
        shutil.copytree(fingerprints, data / "extra", dirs_exist_ok=True)


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
