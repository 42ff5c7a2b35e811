"""`inv image.verify`: is this release what its publisher signed, and does its signer chain
to an authority the operator trusts? (`nps_image.verify` is `inv appliance.check`'s.)

For a release folder: `SHA256SUMS` signed (`SHA256SUMS.sig`, the chain in
`SHA256SUMS.pem`), every file it lists present with its digest, and every OVA among
them verified as below. For an OVA: every member matches the manifest, the manifest
matches its certificate member's signature, and that certificate chains to the CA
(`--ca FILE`, else the system's authorities) and is valid today. Each problem is one
line naming the file and the reason; nothing is trusted because it merely parses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from nps_sensor.appliance.update_bundle import verify_signature

from .lint import Member, check_manifest, read_members
from .ovfsig import authorities, check_certificate_member, trusted
from .signing import SUMS_CHAIN, SUMS_SIGNATURE

_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S.*)$")


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)  # what verified, one line each
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.checked)


def verify(target: Path, ca: Path | None = None, now: dt.datetime | None = None) -> Report:
    """Verify a release folder or one OVA. ValueError when the CA file cannot be read."""
    cas = authorities(ca)
    now = now or dt.datetime.now(dt.UTC)
    report = Report()
    if target.is_dir():
        verify_release(target, cas, now, report)
    elif target.is_file():
        verify_ova(target, cas, now, report)
    else:
        report.problems.append(f"{target}: no such file or folder")
    return report


def _read(f: BinaryIO, m: Member, limit: int | None = None) -> bytes:
    f.seek(m.offset)
    return f.read(m.size if limit is None else min(m.size, limit))


def verify_ova(path: Path, cas: list[x509.Certificate], now: dt.datetime, report: Report) -> None:
    name = path.name
    with open(path, "rb") as f:
        members, findings = read_members(f)
        problems = [f"{name}: {x.problem}" for x in findings]
        manifests = [m for m in members if m.name.endswith(".mf")]
        if not manifests:
            report.problems += [*problems, f"{name}: no manifest (.mf): nothing to verify"]
            return
        problems += [f"{name}: {x.problem}" for x in check_manifest(f, members, manifests[0])]
        certs = [m for m in members if m.name.endswith(".cert")]
        if not certs:
            report.problems += [*problems, f"{name}: not signed (no .cert member): vSphere shows it as not signed"]
            return
        checked = check_certificate_member(
            certs[0].name, _read(f, certs[0], 1 << 20), manifests[0].name, _read(f, manifests[0])
        )
    problems += [f"{name}: {p}" for p in checked.problems]
    if not checked.problems:
        problems += trusted(name, checked.chain, cas, now)
    report.problems += problems
    if not problems:
        leaf = checked.chain[0]
        report.checked.append(
            f"{name}: every file matches the manifest, signed by {checked.signer} "
            f"(certificate valid until {leaf.not_valid_after_utc:%Y-%m-%d})"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_release(folder: Path, cas: list[x509.Certificate], now: dt.datetime, report: Report) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        report.problems.append(f"{folder}: no SHA256SUMS: not a release folder")
        return
    text = sums.read_bytes()
    _check_sums_signature(folder, text, cas, now, report)
    listed: list[tuple[str, str]] = []
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
        match = _SUMS_LINE.match(line)
        if match is None or "/" in match.group(2):
            report.problems.append(f"SHA256SUMS line {number}: not `<sha256>  <file>`")
            continue
        listed.append((match.group(1), match.group(2)))
    for digest, name in listed:
        path = folder / name
        if not path.is_file():
            report.problems.append(f"{name}: listed in SHA256SUMS but missing")
        elif _sha256(path) != digest:
            report.problems.append(f"{name}: its SHA-256 is not the one SHA256SUMS lists: altered or damaged")
        elif name.endswith(".ova"):
            verify_ova(path, cas, now, report)
        else:
            report.checked.append(f"{name}: matches SHA256SUMS")


def _check_sums_signature(
    folder: Path, text: bytes, cas: list[x509.Certificate], now: dt.datetime, report: Report
) -> None:
    sig, pem = folder / SUMS_SIGNATURE, folder / SUMS_CHAIN
    if not sig.is_file():
        report.problems.append(f"SHA256SUMS: not signed (no {SUMS_SIGNATURE} beside it)")
        return
    try:
        chain = x509.load_pem_x509_certificates(pem.read_bytes())
    except (OSError, ValueError):
        report.problems.append(f"{SUMS_CHAIN}: missing or no PEM certificate: the signer of SHA256SUMS is unknown")
        return
    key = chain[0].public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) or not (
        verify_signature(key, sig.read_bytes(), text)
    ):
        signer = chain[0].subject.rfc4514_string()
        report.problems.append(
            f"SHA256SUMS: {SUMS_SIGNATURE} is not {signer}'s signature of it: changed after signing, or another key"
        )
        return
    problems = trusted("SHA256SUMS", chain, cas, now)
    report.problems += problems
    if not problems:
        report.checked.append(f"SHA256SUMS: signed by {chain[0].subject.rfc4514_string()}")
