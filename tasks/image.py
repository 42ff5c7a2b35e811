"""`inv image.*`: build the appliance image, check it, boot it in QEMU."""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import ROOT

# The release key's options, as image.bundle and release take them.
SIGNING_HELP = {
    "sign_key": "the release's RSA key (a PEM file only you can read; or NPS_SIGN_KEY=FILE)",
    "sign_cert": "its certificate chain, PEM, signer first (or NPS_SIGN_CERT=FILE)",
}


@task(
    auto_shortflags=False,
    name="build",
    help={
        "version": "version in the file names (default 0.1.0)",
        "output": "where the OVA, the VHDX zip, SHA256SUMS and the manifest go (default dist/)",
        "cache": "build cache: the Debian base, the wheels, the raw disk (default build/cache)",
        "fingerprints": "optional directory of fingerprint databases to ship (Satori, FingerBank)",
        "sign_key": "sign the release with this RSA key (a PEM file only you can read; or NPS_SIGN_KEY=FILE)",
        "sign_cert": "the signing key's certificate chain, PEM, signer first (or NPS_SIGN_CERT=FILE)",
    },
)
def image_build(
    c: Context,
    version: str = "0.1.0",
    output: str = "dist",
    cache: str = "build/cache",
    fingerprints: str = "",
    sign_key: str = "",
    sign_cert: str = "",
) -> None:
    """Build the appliance: OVA for ESXi and zipped VHDX for Hyper-V, from Debian 12; signed
    (the OVF certificate, SHA256SUMS.sig) and trusting that key for updates when given one."""
    from nps_image import signing
    from nps_image.build import Build, build
    from nps_image.steps import BuildError

    os.chdir(ROOT)
    try:
        signer = signing.from_options(sign_key, sign_cert)
        build(Build(version, Path(output), Path(cache), Path(fingerprints) if fingerprints else None, signer=signer))
    except BuildError as e:
        raise Exit(f"image.build: {e}", code=1) from None


@task(
    auto_shortflags=False,
    name="bundle",
    help={
        "version": "the sensor's version in the bundle (PEP 440, e.g. 1.4.1; appliances install only newer ones)",
        "output": "where the bundle goes, beside the release's other files (default dist/)",
        "cache": "build cache for the wheels (default build/cache)",
        **SIGNING_HELP,
    },
)
def image_bundle(
    c: Context, version: str, output: str = "dist", cache: str = "build/cache", sign_key: str = "", sign_cert: str = ""
) -> None:
    """Make the signed update bundle (the sensor's wheels and the appliance templates) that
    `nps-sensor appliance update` installs on appliances built with the same key."""
    from nps_image import signing
    from nps_image.build import DEFAULT_EPOCH
    from nps_image.bundle import make
    from nps_image.steps import BuildError

    os.chdir(ROOT)
    try:
        signer = signing.from_options(sign_key, sign_cert)
        if signer is None:
            raise BuildError("a bundle is signed or useless: give --sign-key and --sign-cert (or NPS_SIGN_KEY/_CERT)")
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))
        for path in make(version, Path(output), Path(cache), signer, epoch):
            print(f"{path}  {path.stat().st_size / 2**20:.1f} MiB")
    except BuildError as e:
        raise Exit(f"image.bundle: {e}", code=1) from None


@task(
    auto_shortflags=False,
    name="verify",
    help={
        "target": "a release folder (SHA256SUMS and what it lists) or one OVA",
        "ca": "the certificate authority (PEM) to trust for the signer (default: the system's authorities)",
    },
)
def image_verify(c: Context, target: str, ca: str = "") -> None:
    """Check a release or an OVA: every digest, the signatures, the signer's chain to the CA and
    its dates. One line per file checked; one line per problem, with its reason."""
    from nps_image.verify_release import verify

    try:
        report = verify(Path(target), Path(ca) if ca else None)
    except ValueError as e:
        raise Exit(f"image.verify: --ca {e}", code=2) from None
    for line in report.checked:
        print(f"ok    {line}")
    for line in report.problems:
        print(f"FAIL  {line}")
    if not report.ok:
        raise Exit(code=1)


@task(name="lint", auto_shortflags=False, help={"ova": "the OVA to check (for example dist/nps-sensor-VERSION.ova)"})
def image_lint(c: Context, ova: str) -> None:
    """Check an OVA for what makes VMware reject it: one line per failure, naming the rule and the fix."""
    from nps_image.lint import RULES, lint_ova

    path = Path(ova)
    if not path.is_file():
        raise Exit(f"image.lint: {ova}: no such file", code=2)
    try:
        findings = lint_ova(path)
    except OSError as exc:
        raise Exit(f"image.lint: {ova}: {exc.strerror or exc}", code=2) from None
    for finding in findings:
        print(finding)
    if findings:
        raise Exit(code=1)
    print(f"{ova}: passes the {len(RULES)} rules ({', '.join(RULES)})")


@task(
    auto_shortflags=False,
    name="test",
    help={
        "format": "vmdk (ESXi-like hardware), vhdx (Hyper-V Gen 1-like) or both (default)",
        "output": "where the built image is (default dist/)",
    },
)
def image_test(c: Context, format: str = "both", output: str = "dist") -> None:
    """Boot the built image in QEMU and check that it works: network, sensor, OVF properties."""
    import tempfile

    from nps_image import qemu
    from nps_image.steps import BuildError
    from nps_sensor.synth.traffic import generate

    os.chdir(ROOT)
    (ROOT / "build").mkdir(exist_ok=True)
    dist = Path(output)
    formats = ("vmdk", "vhdx") if format == "both" else (format.lower().replace("ova", "vmdk"),)
    failed = False
    try:
        version = qemu.latest(dist, "nps-sensor")
        frames = [f for _, f in generate(3000, seed=3)]
        for fmt in formats:
            with tempfile.TemporaryDirectory(prefix=f"nps-{fmt}-", dir=ROOT / "build") as work:
                disk = qemu.extract_disk(dist, "nps-sensor", version, fmt, Path(work))
                print(f"{fmt}: booting {disk.name} in QEMU (software emulation: a minute or two) ...")
                result = qemu.check(disk, fmt, Path(work) / "vm", frames)
                qemu.keep_logs(Path(work) / "vm", ROOT / "build" / f"image-test-{fmt}")
            print(f"{fmt}: answered on SSH after {result.boot_seconds:.0f} s")
            for name, ok in result.checks.items():
                print(f"  {'pass' if ok else 'FAIL'}  {name}")
            failed |= not result.ok
    except BuildError as e:
        raise Exit(f"image.test: {e}", code=1) from None
    if failed:
        raise Exit("image.test: some checks failed (logs in build/image-test-*)", code=1)


@task(
    auto_shortflags=False,
    name="run",
    iterable=["prop"],
    help={
        "format": "vmdk (ESXi-like hardware, default) or vhdx (Hyper-V Gen 1-like)",
        "output": "where the built image is (default dist/)",
        "prop": "an OVF property KEY=VALUE for the first boot (repeatable; keys as `inv image.lint` lists them)",
    },
)
def image_run(c: Context, format: str = "vmdk", output: str = "dist", prop: list[str] | None = None) -> None:
    """Boot the built image in QEMU with this terminal on its serial line: the appliance's
    console as an operator meets it. Ctrl-] leaves and stops the VM; nothing is kept."""
    import tempfile

    from nps_image import qemu
    from nps_image.steps import BuildError

    os.chdir(ROOT)
    (ROOT / "build").mkdir(exist_ok=True)
    properties = dict(p.split("=", 1) for p in prop or [] if "=" in p)
    if len(properties) != len(prop or []):
        raise Exit("image.run: --prop takes KEY=VALUE", code=2)
    fmt = format.lower().replace("ova", "vmdk")
    try:
        dist = Path(output)
        version = qemu.latest(dist, "nps-sensor")
        with tempfile.TemporaryDirectory(prefix="nps-run-", dir=ROOT / "build") as work:
            disk = qemu.extract_disk(dist, "nps-sensor", version, fmt, Path(work))
            with qemu.booted(disk, fmt, properties, Path(work) / "vm") as vm:
                print(
                    f"{disk.name} booting in QEMU (software emulation: a minute or two); Ctrl-L redraws the console, "
                    f"Ctrl-] leaves.\nSSH once it is up: ssh -p {vm.ssh_port} -i {vm.key} nps-admin@127.0.0.1\r"
                )
                time.sleep(0.5)  # QEMU's serial socket listens once it has started
                qemu.attach(vm.serial_port)
    except BuildError as e:
        raise Exit(f"image.run: {e}", code=1) from None
    except OSError as e:
        raise Exit(f"image.run: {e.strerror or e} (is this a terminal?)", code=1) from None
    print("\nimage.run: the VM is stopped")


image = Collection("image", image_build, image_bundle, image_verify, image_lint, image_test, image_run)
