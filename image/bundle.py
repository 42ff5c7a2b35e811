"""`inv image.bundle`: the signed update bundle a deployed appliance installs in place.

    NAME-VERSION-update.tar   bundle.json, bundle.sig, wheels/*.whl

The wheels are the sensor (its version stamped) and every library it needs, built as
for the image, so the appliance installs them without a network; the appliance's
templates (network, configuration, units) travel inside the sensor's wheel, as its
package data. bundle.json
lists every file with its SHA-256 and size; bundle.sig is the release key's signature
of it (`nps_sensor.appliance.update_bundle` reads all this on the appliance). Written
reproducibly (SOURCE_DATE_EPOCH mtimes, root owner, fixed order), beside the release's
other deliverables, and listed in its SHA256SUMS.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from nps_sensor.appliance.update_bundle import MANIFEST, SIGNATURE, manifest

from .signing import Signer


def bundle_name(name: str, version: str) -> str:
    return f"{name}-{version}-update.tar"


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest(), path.stat().st_size


def _info(name: str, size: int, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, epoch, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_bundle(wheel_dir: Path, name: str, version: str, out_dir: Path, signer: Signer, epoch: int) -> Path:
    """Write the bundle of `version` into `out_dir` (atomically) and return its path."""
    files = {f"wheels/{w.name}": w for w in sorted(wheel_dir.glob("*.whl"))}
    if not any(n.startswith(f"wheels/{name.replace('-', '_')}-{version}-") for n in files):
        raise ValueError(f"{wheel_dir}: no {name} {version} wheel among the wheels")
    head = manifest(version, {n: _digest(p) for n, p in files.items()})
    out = out_dir / bundle_name(name, version)
    tmp = out.with_name(f".{out.name}.tmp")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in ((MANIFEST, head), (SIGNATURE, signer.sign(head))):
            tar.addfile(_info(member, len(data), epoch), io.BytesIO(data))
        for member, path in files.items():
            with path.open("rb") as f:
                tar.addfile(_info(member, path.stat().st_size, epoch), f)
    os.replace(tmp, out)
    return out


def make(version: str, output: Path, cache: Path, signer: Signer, epoch: int) -> list[Path]:
    """`inv image.bundle`: the wheels of the sensor at `version` (a PEP 440 version, which
    the appliance compares with its own), the bundle, and the release's SHA256SUMS again."""
    from .build import NAME, sensor_version, wheels
    from .package import seal
    from .steps import BuildError

    stamped = sensor_version(version)
    if stamped is None:
        raise BuildError(
            f"version {version!r}: a bundle's version is the sensor's, a PEP 440 version (1.4.0, 1.4.1rc1)"
        )
    wheel_dir = wheels(cache, epoch, stamped)
    bundle = build_bundle(wheel_dir, NAME, stamped, output, signer, epoch)
    return [bundle, *seal(output, NAME, version, signer)]
