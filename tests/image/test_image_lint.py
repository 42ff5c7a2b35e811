"""`inv image.lint`: a good OVA passes; for each rule, an OVA broken in that one way fails that one rule.

The good OVA is what `package()` builds from a small raw disk; each broken one takes
its members, changes one thing and repacks them (with a correct manifest, unless the
manifest is what is broken), so that the rule under test is the only one that fires.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from nps_image.lint import RULES, lint_ova
from nps_image.package import package
from tests.support import pki

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
OVF, MF, VMDK = "nps-sensor-2.0.ovf", "nps-sensor-2.0.mf", "nps-sensor-2.0-disk1.vmdk"
CERT = "nps-sensor-2.0.cert"
Parts = dict[str, bytes]


@pytest.fixture(scope="module")
def good_ova(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("good")
    raw = work / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(4 * MiB)
        f.write(os.urandom(4096))
    ova: Path = package(raw, "nps-sensor", "2.0", work / "dist", 1_700_000_000)[0]
    return ova


@pytest.fixture(scope="module")
def parts(good_ova: Path) -> Parts:
    with tarfile.open(good_ova) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def manifest_of(parts: Parts) -> bytes:
    return "".join(
        f"SHA256({name})= {hashlib.sha256(data).hexdigest()}\n"
        for name, data in parts.items()
        if name not in (MF, CERT)  # the manifest lists neither itself nor its signature
    ).encode()


def pack(
    path: Path,
    parts: Parts,
    *,
    order: tuple[str, ...] = (OVF, MF, VMDK),
    manifest: bytes | None = None,
    tar_format: int = tarfile.USTAR_FORMAT,
    pax_headers: dict[str, str] | None = None,
) -> Path:
    """An OVA of `parts` in `order`, with a manifest computed from them unless one is given."""
    parts = {**parts, MF: manifest if manifest is not None else manifest_of(parts)}
    with tarfile.open(path, "w", format=tar_format, pax_headers=pax_headers) as tar:
        for name in order:
            info = tarfile.TarInfo(name)
            info.size = len(parts[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(parts[name]))
    return path


def edit_ovf(old: str, new: str, count: int = 1) -> Callable[[Parts], Parts]:
    def edit(parts: Parts) -> Parts:
        text = parts[OVF].decode()
        assert old in text, old
        return {**parts, OVF: text.replace(old, new, count).encode()}

    return edit


def edit_manifest_line(line: int, change: Callable[[str], str]) -> Callable[[Parts], bytes]:
    def edit(parts: Parts) -> bytes:
        lines = manifest_of(parts).decode().splitlines(keepends=True)
        lines[line - 1] = change(lines[line - 1])
        return "".join(lines).encode()

    return edit


def clear_compression_flags(parts: Parts) -> Parts:
    disk = bytearray(parts[VMDK])
    disk[8:12] = (0x3).to_bytes(4, "little")  # newline detection and redundant tables: monolithicSparse's flags
    return {**parts, VMDK: bytes(disk)}


def with_foreign_signature(parts: Parts) -> Parts:
    """A certificate member whose signature is not over this manifest (a key's signature of nothing)."""
    key = pki.key()
    cert = pki.certificate("someone", key)
    line = f"SHA256({MF})= {key.sign(b'another manifest', padding.PKCS1v15(), hashes.SHA256()).hex()}\n"
    return {**parts, CERT: line.encode() + pki.pem(cert)}


def with_size(parts: Parts) -> Parts:
    size = len(parts[VMDK])
    return edit_ovf(f'ovf:size="{size}"', f'ovf:size="{size + 512}"')(parts)


SCSI_DESCRIPTION = "<rasd:Description>SCSI controller</rasd:Description>"
SCSI_NAME = "<rasd:ElementName>SCSI controller 0</rasd:ElementName>"
INDENT = "\n        "

# rule (/variant) -> (change to the members, keyword arguments of pack, computed from the members)
CASES: dict[str, tuple[Callable[[Parts], Parts], Callable[[Parts], dict[str, object]]]] = {
    "tar-format/gnu": (lambda p: p, lambda p: {"tar_format": tarfile.GNU_FORMAT}),
    "tar-format/pax": (lambda p: p, lambda p: {"tar_format": tarfile.PAX_FORMAT, "pax_headers": {"comment": "x"}}),
    "tar-order": (lambda p: p, lambda p: {"order": (OVF, VMDK, MF)}),
    "manifest-syntax": (
        lambda p: p,
        lambda p: {"manifest": edit_manifest_line(2, lambda line: line.replace(")= ", ") = "))(p)},
    ),
    "manifest-digest": (
        lambda p: p,
        lambda p: {
            "manifest": edit_manifest_line(2, lambda line: line[:-2] + ("0" if line[-2] != "0" else "1") + "\n")(p)
        },
    ),
    "manifest-entries": (lambda p: p, lambda p: {"manifest": manifest_of(p).splitlines(keepends=True)[0]}),
    "ovf-schema": (
        edit_ovf(SCSI_DESCRIPTION + INDENT + SCSI_NAME, SCSI_NAME + INDENT + SCSI_DESCRIPTION),
        lambda p: {},
    ),
    "ovf-references": (with_size, lambda p: {}),
    "hardware-family": (edit_ovf(">vmx-13<", ">vmx-15<"), lambda p: {}),
    "scsi-controller": (edit_ovf(">VirtualSCSI<", ">lsilogic<"), lambda p: {}),
    "nic-type": (edit_ovf(">VmxNet3</rasd:ResourceSubType>", ">E1000</rasd:ResourceSubType>"), lambda p: {}),
    "disk-format/flags": (clear_compression_flags, lambda p: {}),
    "disk-format/declared": (edit_ovf("vmdk.html#streamOptimized", "vmdk.html#monolithicSparse"), lambda p: {}),
    "network-names": (
        edit_ovf("<rasd:Connection>Sniffing Interface<", "<rasd:Connection>Sniffing<"),
        lambda p: {},
    ),
    "guest-os": (edit_ovf('"debian10_64Guest"', '"debian12_64Guest"'), lambda p: {}),
    "signature": (with_foreign_signature, lambda p: {"order": (OVF, MF, CERT, VMDK)}),
}


def test_the_good_ova_passes(good_ova: Path) -> None:
    assert lint_ova(good_ova) == []


def test_a_sha1_manifest_passes(tmp_path: Path) -> None:
    """The manifest for hosts older than ESXi 6.5 is as valid as the SHA-256 one."""
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(MiB)
        f.write(b"boot")
    ova: Path = package(raw, "old-host", "1", tmp_path / "dist", 0, manifest_algorithm="SHA1")[0]
    with tarfile.open(ova) as tar:
        assert tar.extractfile("old-host-1.mf").read().startswith(b"SHA1(old-host-1.ovf)= ")  # type: ignore[union-attr]
    assert lint_ova(ova) == []


def test_every_rule_has_a_broken_ova() -> None:
    assert {case.split("/")[0] for case in CASES} == set(RULES)


@pytest.mark.parametrize("case", CASES)
def test_each_rule_catches_its_broken_ova_and_only_it(case: str, parts: Parts, tmp_path: Path) -> None:
    change, options = CASES[case]
    broken = change(parts)
    ova = pack(tmp_path / "broken.ova", broken, **options(broken))  # type: ignore[arg-type]
    findings = lint_ova(ova)
    rule = case.split("/", maxsplit=1)[0]
    assert findings, f"{case}: nothing found"
    assert {f.rule for f in findings} == {rule}, [str(f) for f in findings]
    for finding in findings:
        line = str(finding)
        assert "\n" not in line and line.startswith(f"{rule}: ") and line.count(": ") >= 2


def test_repacked_good_parts_pass(parts: Parts, tmp_path: Path) -> None:
    """The repacking helper alone breaks nothing: the cases' findings are their changes'."""
    assert lint_ova(pack(tmp_path / "same.ova", parts)) == []


def test_manifest_syntax_names_the_line_and_the_fix(parts: Parts, tmp_path: Path) -> None:
    manifest = edit_manifest_line(2, lambda line: line.replace(")= ", ") = "))(parts)
    [finding] = lint_ova(pack(tmp_path / "m.ova", parts, manifest=manifest))
    assert str(finding) == 'manifest-syntax: line 2 has a space before "=": write SHA256(name)= hex'


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda line: line.replace(")= ", ")="), 'line 1 has no space after "="'),
        (lambda line: line.replace(")= ", ")=  "), 'line 1 has more than one space after "="'),
        (lambda line: line.replace("SHA256(", "SHA256 ("), 'line 1 has a space before "("'),
        (lambda line: line.replace("\n", "\r\n"), "line 1 ends with a carriage return"),
        (lambda line: line[:-3] + "\n", "line 1 has a 62-digit SHA256 digest"),
        (lambda line: line.replace("SHA256", "MD5"), "line 1 does not start with"),
    ],
)
def test_manifest_syntax_problems(change: Callable[[str], str], problem: str, parts: Parts, tmp_path: Path) -> None:
    findings = lint_ova(pack(tmp_path / "m.ova", parts, manifest=edit_manifest_line(1, change)(parts)))
    assert any(f.rule == "manifest-syntax" and problem in f.problem for f in findings), [str(f) for f in findings]


def test_not_a_tar(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ova"
    junk.write_bytes(b"PK\x03\x04" + bytes(2000))
    assert [f.rule for f in lint_ova(junk)] == ["tar-format"]
    empty = tmp_path / "empty.ova"
    empty.write_bytes(b"")
    assert [f.rule for f in lint_ova(empty)] == ["tar-format"]


def inv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "inv"), *args], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_task_passes_a_good_ova(good_ova: Path) -> None:
    out = inv("image.lint", str(good_ova))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(RULES)} rules" in out.stdout


def test_task_prints_one_line_per_failure_and_fails(parts: Parts, tmp_path: Path) -> None:
    broken = edit_ovf(">VirtualSCSI<", ">lsilogic<")(edit_ovf('"debian10_64Guest"', '"debian12_64Guest"')(parts))
    out = inv("image.lint", str(pack(tmp_path / "b.ova", broken)))
    assert out.returncode == 1
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == ["scsi-controller", "guest-os"]
    missing = inv("image.lint", str(tmp_path / "nothing.ova"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
