"""The appliance image end to end: build it, lint the OVA, boot both disks in QEMU.

Slow (a Debian base, two software-emulated boots): `inv test --all` runs it, as CI does.
Needs root and the build tools (./bootstrap installs them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(appliance_dist: Path) -> Path:
    """The image built once per run (tests/conftest.py), shared with the Ansible roles' tests;
    it skips, with the reason, where the image cannot be built."""
    return appliance_dist


def test_build_gives_the_deliverables(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == sorted(
        [f"nps-sensor-0.0.0-test{s}" for s in (".ova", "-vhdx.zip", "-manifest.json", ".cdx.json")]
        + ["SHA256SUMS", "SHA256SUMS.sig", "SHA256SUMS.pem"]
    )
    manifest = (dist / "nps-sensor-0.0.0-test-manifest.json").read_text()
    assert '"linux-image-cloud-amd64"' in manifest and '"nps-sensor"' in manifest


def test_the_ova_passes_lint(dist: Path) -> None:
    from nps_image.lint import lint

    assert lint(dist / "nps-sensor-0.0.0-test.ova") == []


def test_the_release_verifies_against_its_ca(dist: Path, release_pki: Any) -> None:
    from nps_image.verify_release import verify

    report = verify(dist, release_pki.ca)
    assert report.problems == [] and len(report.checked) == 5  # SHA256SUMS, then the four files it lists


def test_the_sbom_lists_every_package_of_the_manifest_and_validates(dist: Path) -> None:
    from tests.image.test_sbom import schema_errors

    manifest = json.loads((dist / "nps-sensor-0.0.0-test-manifest.json").read_text())
    sbom = json.loads((dist / "nps-sensor-0.0.0-test.cdx.json").read_text())
    assert schema_errors(sbom) == []
    listed = {(c["name"], c["version"]) for c in sbom["components"]}
    for kind in ("debian_packages", "python_packages"):
        missing = set(manifest[kind].items()) - listed
        assert not missing, f"{kind} not in the SBOM: {sorted(missing)[:5]}"
    assert len(sbom["components"]) == len(manifest["debian_packages"]) + len(manifest["python_packages"])
    debs = [c for c in sbom["components"] if c["purl"].startswith("pkg:deb/")]
    licensed = [c for c in debs if c.get("licenses")]
    assert len(licensed) > 0.75 * len(debs)


@pytest.mark.parametrize("fmt", ["vmdk", "vhdx"])
def test_the_disk_boots_and_senses(dist: Path, fmt: str, tmp_path: Path) -> None:
    from nps_image.qemu import check, extract_disk
    from nps_sensor.synth.traffic import generate

    disk = extract_disk(dist, "nps-sensor", "0.0.0-test", fmt, tmp_path)
    result = check(disk, fmt, tmp_path / "vm", [f for _, f in generate(3000, seed=3)])
    failed = [name for name, ok in result.checks.items() if not ok]
    assert not failed, f"{fmt}: {failed}; logs in {tmp_path / 'vm'}"
