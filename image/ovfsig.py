"""The OVF certificate member (`NAME.cert`) read back: its signature, its chain, its trust.

DSP0243 (5.3) and VMware's tools agree on the member's form: a line in the manifest's
own format naming the manifest and giving its signed digest in hex,
`SHA256(NAME.mf)= 0a1b...`, then the certificate chain in PEM, the signer's
certificate first. The signature is over the manifest's bytes, as `openssl dgst
-sha256 -sign` makes it. `inv image.lint` checks the signature (anyone can, with the
OVA alone); `inv image.verify` also checks that the chain leads to a trusted
authority and is valid today, as vSphere does before it calls the package signed.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from nps_sensor.appliance.update_bundle import verify_signature

_LINE = re.compile(r"^(SHA256|SHA512|SHA1)\(([^()]+)\)= ?([0-9a-fA-F]+)\s*$")
_HASHES: dict[str, hashes.HashAlgorithm] = {"SHA256": hashes.SHA256(), "SHA512": hashes.SHA512()}


@dataclass
class Checked:
    """What reading a signature found: its problems (one line each) and the chain it carries."""

    problems: list[str] = field(default_factory=list)
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def signer(self) -> str:
        return self.chain[0].subject.rfc4514_string() if self.chain else "nobody"


def check_certificate_member(cert_name: str, cert: bytes, manifest_name: str, manifest: bytes) -> Checked:
    """The `.cert` member against the manifest it signs (no trust decision: see `trusted`)."""
    out = Checked()
    text = cert.decode("utf-8", "replace")
    first, _, rest = text.partition("\n")
    match = _LINE.match(first.rstrip("\r"))
    if match is None:
        out.problems.append(f"{cert_name}: its first line is not `SHA256({manifest_name})= <signature in hex>`")
        return out
    algorithm, named, signature = match.group(1), match.group(2), bytes.fromhex(match.group(3))
    try:
        out.chain = x509.load_pem_x509_certificates(rest.encode())
    except ValueError:
        out.problems.append(f"{cert_name}: no PEM certificate after the signature line")
        return out
    if named != manifest_name:
        out.problems.append(f"{cert_name}: signs {named}, but the manifest is {manifest_name}")
    elif algorithm not in _HASHES:
        out.problems.append(f"{cert_name}: a {algorithm} signature; vSphere and this kit want SHA256 or SHA512")
    elif not _verify(out.chain[0].public_key(), signature, manifest, _HASHES[algorithm]):
        out.problems.append(
            f"{cert_name}: the signature does not match {manifest_name} with {out.signer}'s key: "
            "the manifest was changed after signing, or another key signed it"
        )
    return out


def _verify(key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm) -> bool:
    if isinstance(algorithm, hashes.SHA256) and isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return verify_signature(key, signature, data)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def authorities(ca: Path | None) -> list[x509.Certificate]:
    """The trusted certificates: the --ca file, else the system's bundle (ca-certificates)."""
    path = ca or Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except ValueError:
        raise ValueError(f"{path}: no readable PEM certificate in it") from None


def trusted(what: str, chain: list[x509.Certificate], cas: list[x509.Certificate], now: dt.datetime) -> list[str]:
    """Why `chain` (signer first) is not a trusted, valid code signer today; [] if it is."""
    if not chain:
        return [f"{what}: no certificate"]
    problems = []
    for c in chain:
        name = c.subject.rfc4514_string()
        if c.not_valid_after_utc < now:
            problems.append(f"{what}: the certificate {name} expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        elif c.not_valid_before_utc > now:
            problems.append(f"{what}: the certificate {name} is valid only from {c.not_valid_before_utc:%Y-%m-%d}")
    if problems:
        return problems
    try:
        eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            problems.append(f"{what}: {chain[0].subject.rfc4514_string()} is not for code signing (its key usage)")
    except x509.ExtensionNotFound:
        pass  # no restriction
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(cas))
            .time(now)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        verifier.verify(chain[0], chain[1:])
    except verification.VerificationError as e:
        reason = str(e).split(" (encountered", 1)[0].removeprefix("validation failed: ")
        problems.append(
            f"{what}: {chain[0].subject.rfc4514_string()} does not lead to a trusted authority ({reason}): "
            "give the release's CA with --ca"
        )
    return problems
