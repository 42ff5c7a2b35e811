"""The appliance image end to end: build it, lint the OVA, boot both disks in QEMU.

Slow (a Debian base, two software-emulated boots): `inv test --all` runs it, as CI does.
Needs root and the build tools (./bootstrap installs them).
"""

from __future__ import annotations

from pathlib import Path

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
    assert "nps-sensor-0.0.0-test.ova" in names
    assert "nps-sensor-0.0.0-test-vhdx.zip" in names
    assert "SHA256SUMS" in names
    manifest = (dist / "nps-sensor-0.0.0-test-manifest.json").read_text()
    assert '"linux-image-cloud-amd64"' in manifest and '"nps-sensor"' in manifest


def test_the_ova_passes_lint(dist: Path) -> None:
    from nps_image.lint import lint

    assert lint(dist / "nps-sensor-0.0.0-test.ova") == []


@pytest.mark.parametrize("fmt", ["vmdk", "vhdx"])
def test_the_disk_boots_and_senses(dist: Path, fmt: str, tmp_path: Path) -> None:
    from nps_image.qemu import check, extract_disk
    from nps_sensor.synth.traffic import generate

    disk = extract_disk(dist, "nps-sensor", "0.0.0-test", fmt, tmp_path)
    result = check(disk, fmt, tmp_path / "vm", [f for _, f in generate(3000, seed=3)])
    failed = [name for name, ok in result.checks.items() if not ok]
    assert not failed, f"{fmt}: {failed}; logs in {tmp_path / 'vm'}"
