"""Signed deliverables: the OVF certificate member and the signature of SHA256SUMS.

A release is packed from a small raw disk by `package()` (the build's own code) with a
throwaway CA, intermediate and code-signing certificate, then checked three ways: by
`inv image.verify` (our reader), by `openssl` alone (the signature line turned back
into bytes, `openssl dgst -verify`, `openssl verify` for the chain: what an operator
without the kit does), and by `inv image.lint`. Then it is broken one way at a time: a
changed byte in each member, another key's certificate, an untrusted CA, an expired
certificate, each refused with its reason.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from nps_image import signing
from nps_image.lint import lint_ova
from nps_image.package import package, seal
from nps_image.steps import BuildError
from nps_image.verify_release import verify
from tests.support import pki

MiB = 1024 * 1024
NAME, VERSION = "nps-sensor", "2.1.0"
OVA = f"{NAME}-{VERSION}.ova"
INV = str(Path(sys.executable).parent / "inv")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl: apt-get install openssl")


def release(directory: Path, signer: signing.Signer | None) -> Path:
    """A release folder as `inv image.build` leaves it: OVA, VHDX zip, SHA256SUMS (signed)."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory.parent / f"{directory.name}.raw"
    with open(raw, "wb") as f:
        f.truncate(8 * MiB)
        f.seek(MiB)
        f.write(os.urandom(64 * 1024))
    dist = directory / "dist"
    package(raw, NAME, VERSION, dist, 1_700_000_000, signer=signer)
    (dist / f"{NAME}-{VERSION}-manifest.json").write_text('{"name": "nps-sensor"}\n')
    seal(dist, NAME, VERSION, signer)
    return dist


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.make(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, ca: pki.Pki) -> Path:
    return release(tmp_path_factory.mktemp("signed"), signing.load(ca.key, ca.chain))


def members(ova: Path) -> dict[str, bytes]:
    with tarfile.open(ova) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_a_signed_release_verifies_with_its_ca(signed: Path, ca: pki.Pki) -> None:
    report = verify(signed, ca.ca)
    assert report.problems == []
    assert any(
        line.startswith(f"{OVA}: every file matches the manifest, signed by CN=nps release signing")
        for line in report.checked
    )
    assert "SHA256SUMS: signed by CN=nps release signing" in report.checked
    assert sorted(p.name for p in signed.iterdir()) == sorted(
        ["SHA256SUMS", "SHA256SUMS.pem", "SHA256SUMS.sig", OVA, f"{NAME}-{VERSION}-manifest.json",
         f"{NAME}-{VERSION}-vhdx.zip"]
    )  # fmt: skip
    # The member order VMware reads: descriptor, manifest, certificate, then the disk.
    assert list(members(signed / OVA)) == [f"{NAME}-{VERSION}.{s}" for s in ("ovf", "mf", "cert")] + [
        f"{NAME}-{VERSION}-disk1.vmdk"
    ]
    assert lint_ova(signed / OVA) == []
    out = subprocess.run(
        [INV, "image.verify", str(signed), "--ca", str(ca.ca)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SHA256SUMS: signed by" in out.stdout


@needs_openssl
def test_openssl_alone_verifies_the_certificate_member_and_the_sums(signed: Path, ca: pki.Pki, tmp_path: Path) -> None:
    parts = members(signed / OVA)
    cert = parts[f"{NAME}-{VERSION}.cert"].decode()
    first, _, chain = cert.partition("\n")
    assert first.startswith(f"SHA256({NAME}-{VERSION}.mf)= ")  # the manifest line form, one space after "="
    (tmp_path / "signature").write_bytes(bytes.fromhex(first.split("= ", 1)[1]))
    (tmp_path / "manifest").write_bytes(parts[f"{NAME}-{VERSION}.mf"])
    (tmp_path / "chain.pem").write_text(chain)
    signer_pem = chain[: chain.index("-----END CERTIFICATE-----") + 26]
    (tmp_path / "signer.pem").write_text(signer_pem)

    def openssl(*args: str) -> str:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    (tmp_path / "key.pem").write_text(openssl("x509", "-in", "signer.pem", "-pubkey", "-noout"))
    assert openssl("dgst", "-sha256", "-verify", "key.pem", "-signature", "signature", "manifest") == "Verified OK\n"
    assert "signer.pem: OK" in openssl("verify", "-CAfile", str(ca.ca), "-untrusted", "chain.pem", "signer.pem")
    # The detached signature of SHA256SUMS, with the chain published beside it.
    shutil.copy(signed / "SHA256SUMS.pem", tmp_path / "sums-chain.pem")
    (tmp_path / "sums-key.pem").write_text(openssl("x509", "-in", "sums-chain.pem", "-pubkey", "-noout"))
    sig, sums = str(signed / "SHA256SUMS.sig"), str(signed / "SHA256SUMS")
    assert openssl("dgst", "-sha256", "-verify", "sums-key.pem", "-signature", sig, sums) == "Verified OK\n"
    # And the digests themselves, as `sha256sum -c` reads them.
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=signed, check=True)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("suffix", ["ovf", "mf", "cert", "vmdk"])
def test_a_changed_byte_in_any_member_is_refused(signed: Path, ca: pki.Pki, tmp_path: Path, suffix: str) -> None:
    """The archive is rewritten with one byte of one member changed (a digit of the
    signature, for the certificate), as a mirror or a share could."""
    ova = tmp_path / OVA
    with tarfile.open(signed / OVA) as src, tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name.endswith("." + suffix) and suffix == "cert":  # another hex digit, still hex
                data = data[:40] + (b"0" if data[40:41] != b"0" else b"1") + data[41:]
            elif info.name.endswith("." + suffix):
                data = flip(data, len(data) // 2)
            dst.addfile(info, io.BytesIO(data))
    problems = verify(ova, ca.ca).problems
    expected = {
        "ovf": "SHA256 of nps-sensor-2.1.0.ovf does not match",
        "vmdk": "SHA256 of nps-sensor-2.1.0-disk1.vmdk does not match",
        "mf": "the signature does not match nps-sensor-2.1.0.mf",
        "cert": "the signature does not match nps-sensor-2.1.0.mf",
    }[suffix]
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(f"{OVA}: ") for p in problems)


def test_a_changed_byte_in_sha256sums_or_a_file_is_refused(signed: Path, ca: pki.Pki, tmp_path: Path) -> None:
    copy = tmp_path / "dist"
    shutil.copytree(signed, copy)
    sums = copy / "SHA256SUMS"
    sums.write_bytes(flip(sums.read_bytes(), 3))
    problems = verify(copy, ca.ca).problems
    assert any("SHA256SUMS: SHA256SUMS.sig is not CN=nps release signing's signature of it" in p for p in problems)
    shutil.copy(signed / "SHA256SUMS", sums)
    manifest = copy / f"{NAME}-{VERSION}-manifest.json"
    manifest.write_bytes(flip(manifest.read_bytes(), 2))
    assert verify(copy, ca.ca).problems == [
        f"{manifest.name}: its SHA-256 is not the one SHA256SUMS lists: altered or damaged"
    ]


def test_another_keys_certificate_and_an_untrusted_ca_are_refused(signed: Path, ca: pki.Pki, tmp_path: Path) -> None:
    other = pki.make(tmp_path / "other", name="someone else")
    # The signature stays, the certificate is another key's: the signature does not match it.
    parts = members(signed / OVA)
    cert = f"{NAME}-{VERSION}.cert"
    line = parts[cert].split(b"\n", 1)[0]
    parts[cert] = line + b"\n" + other.chain.read_bytes()
    ova = tmp_path / OVA
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as dst:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    (problem,) = verify(ova, ca.ca).problems
    assert "the signature does not match nps-sensor-2.1.0.mf with CN=someone else signing's key" in problem
    # Signed right, but by a chain the operator's CA did not issue.
    theirs = release(tmp_path / "theirs", signing.load(other.key, other.chain))
    problems = verify(theirs, ca.ca).problems
    assert any("CN=someone else signing does not lead to a trusted authority" in p for p in problems), problems
    assert verify(theirs, other.ca).problems == []


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    """Signed while it was valid (a year ago), verified today."""
    old = pki.make(tmp_path / "old", days=(-500, -100))
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=300)
    dist = release(tmp_path / "r", signing.load(old.key, old.chain, now=then))
    problems = verify(dist, old.ca).problems
    assert any(f"{OVA}: the certificate CN=nps release signing expired on" in p for p in problems), problems
    assert any(p.startswith("SHA256SUMS: the certificate CN=nps release signing expired on") for p in problems)
    assert verify(dist, old.ca, now=then).problems == []


def test_lint_flags_a_signature_that_does_not_match(signed: Path, tmp_path: Path) -> None:
    parts = members(signed / OVA)
    mf = f"{NAME}-{VERSION}.mf"
    ova = tmp_path / OVA
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as dst:
        for name, original in parts.items():
            data = original
            if name.endswith(".cert"):  # another signature line over the same chain
                data = b"SHA256(" + mf.encode() + b")= " + b"00" * 256 + b"\n" + original.split(b"\n", 1)[1]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    findings = lint_ova(ova)
    assert [f.rule for f in findings] == ["signature"]
    assert "the signature does not match nps-sensor-2.1.0.mf" in str(findings[0])
    out = subprocess.run([INV, "image.lint", str(ova)], capture_output=True, text=True, check=False)
    assert out.returncode == 1 and out.stdout.startswith("signature: ")


def test_an_unsigned_release_says_so(tmp_path: Path, ca: pki.Pki) -> None:
    dist = release(tmp_path / "u", None)
    assert sorted(verify(dist, ca.ca).problems) == [
        "SHA256SUMS: not signed (no SHA256SUMS.sig beside it)",
        f"{OVA}: not signed (no .cert member): vSphere shows it as not signed",
    ]
    assert lint_ova(dist / OVA) == []  # unsigned is not broken


def test_keys_that_cannot_sign_are_refused_with_the_reason(tmp_path: Path, ca: pki.Pki, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(BuildError, match="a signing key without its certificate"):
        signing.from_options(key=str(ca.key))
    monkeypatch.setenv(signing.KEY_ENV, str(ca.key))
    monkeypatch.setenv(signing.CERT_ENV, str(ca.chain))
    assert signing.from_options() is not None  # both from the environment: nothing in arguments
    open_key = tmp_path / "open.key"
    shutil.copy(ca.key, open_key)
    open_key.chmod(0o644)
    with pytest.raises(BuildError, match=r"every user can read it \(mode 644\): chmod 600 it"):
        signing.load(open_key, ca.chain)
    other = pki.make(tmp_path / "other")
    with pytest.raises(BuildError, match=r"its first certificate is not .*signer\.key's"):
        signing.load(other.key, ca.chain)
    ec_key = tmp_path / "ec.key"
    ec_key.touch(mode=0o600)
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(BuildError, match="the OVF certificate VMware verifies is RSA"):
        signing.load(ec_key, ca.chain)
    expired = pki.make(tmp_path / "expired", days=(-30, -1))
    with pytest.raises(BuildError, match="CN=nps release signing expired on"):
        signing.load(expired.key, expired.chain)
    chain = ca.chain.read_bytes()
    reversed_chain = tmp_path / "reversed.pem"
    split = chain.index(b"-----BEGIN", 10)
    reversed_chain.write_bytes(chain[:split] + ca.ca.read_bytes())  # signer, then the root: the intermediate missing
    with pytest.raises(BuildError, match="is not issued by the next certificate"):
        signing.load(ca.key, reversed_chain)
