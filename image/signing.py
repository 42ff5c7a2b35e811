"""The release's signing key and certificate chain, and the signatures made with them.

One key signs everything a release publishes: the OVA's manifest (the OVF certificate
member, `NAME.cert`), `SHA256SUMS` (a detached signature, `SHA256SUMS.sig`, with the
chain beside it in `SHA256SUMS.pem`) and the update bundles. The signature is the one
`openssl dgst -sha256 -sign KEY` makes: RSA PKCS #1 v1.5 over SHA-256, which is what
the OVF certificate carries and what every VMware release and VirtualBox verify. RSA
signatures of this kind are deterministic, so a signed build stays reproducible.

The key never comes from a command-line argument: a path (`--sign-key FILE`) or an
environment variable naming one (`NPS_SIGN_KEY`), a file no other user can read. An
encrypted key's passphrase comes from the file `NPS_SIGN_PASSPHRASE_FILE` names.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .steps import BuildError

KEY_ENV = "NPS_SIGN_KEY"
CERT_ENV = "NPS_SIGN_CERT"
PASSPHRASE_ENV = "NPS_SIGN_PASSPHRASE_FILE"
MIN_RSA_BITS = 2048
SUMS_SIGNATURE = "SHA256SUMS.sig"
SUMS_CHAIN = "SHA256SUMS.pem"


@dataclass(frozen=True)
class Signer:
    """The private key and its certificate chain (the signer's certificate first)."""

    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def subject(self) -> str:
        return self.chain[0].subject.rfc4514_string()

    def sign(self, data: bytes) -> bytes:
        """`openssl dgst -sha256 -sign KEY`'s signature of `data`."""
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)

    def public_key_pem(self) -> bytes:
        """The public key alone (SubjectPublicKeyInfo), what the image trusts for bundles."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def ovf_certificate(manifest_name: str, manifest: bytes, signer: Signer) -> str:
    """The OVF certificate member: the manifest's signed SHA-256 in the manifest's own
    line format (DSP0243 5.3; `SHA256(NAME.mf)= hex`, as ovftool writes it), then the
    chain in PEM, the signer's certificate first."""
    return f"SHA256({manifest_name})= {signer.sign(manifest).hex()}\n{signer.chain_pem()}"


def sign_sums(directory: Path, signer: Signer) -> list[Path]:
    """`SHA256SUMS.sig` (detached, binary, as `openssl dgst -sign -out` writes it) and
    `SHA256SUMS.pem` (the chain that verifies it) beside `directory/SHA256SUMS`."""
    sums = directory / "SHA256SUMS"
    sig, chain = directory / SUMS_SIGNATURE, directory / SUMS_CHAIN
    sig.write_bytes(signer.sign(sums.read_bytes()))
    chain.write_text(signer.chain_pem())
    return [sig, chain]


def from_options(key: str = "", cert: str = "", now: dt.datetime | None = None) -> Signer | None:
    """The signer the options or the environment name; None when neither names a key.

    A certificate without a key (or the reverse) is a mistake, not an unsigned build.
    """
    key = key or os.environ.get(KEY_ENV, "")
    cert = cert or os.environ.get(CERT_ENV, "")
    if not key and not cert:
        return None
    if not key:
        raise BuildError(f"a signing certificate without its key: give --sign-key FILE (or {KEY_ENV}=FILE)")
    if not cert:
        raise BuildError(f"a signing key without its certificate: give --sign-cert FILE (or {CERT_ENV}=FILE)")
    return load(Path(key), Path(cert), now)


def load(key_path: Path, cert_path: Path, now: dt.datetime | None = None) -> Signer:
    """Read and check the key and chain: BuildError with the one reason they cannot sign."""
    now = now or dt.datetime.now(dt.UTC)
    key = _private_key(key_path)
    chain = _chain(cert_path)
    if chain[0].public_key() != key.public_key():
        raise BuildError(f"{cert_path}: its first certificate is not {key_path}'s: put the signer's certificate first")
    for c in chain:
        if c.not_valid_after_utc < now:
            raise BuildError(f"{cert_path}: {c.subject.rfc4514_string()} expired on {c.not_valid_after_utc:%Y-%m-%d}")
        if c.not_valid_before_utc > now:
            raise BuildError(
                f"{cert_path}: {c.subject.rfc4514_string()} is valid only from {c.not_valid_before_utc:%Y-%m-%d}"
            )
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as e:
            raise BuildError(
                f"{cert_path}: {child.subject.rfc4514_string()} is not issued by the next certificate, "
                f"{parent.subject.rfc4514_string()} ({type(e).__name__}): order the chain signer first, then "
                "each issuer"
            ) from None
    return Signer(key, tuple(chain))


def _private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise BuildError(f"signing key {path}: {e.strerror}") from None
    if mode & stat.S_IROTH:
        raise BuildError(f"signing key {path}: every user can read it (mode {mode & 0o777:o}): chmod 600 it")
    passphrase = _passphrase()
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError:
        raise BuildError(
            f"signing key {path} is encrypted: put its passphrase in a file and name it in {PASSPHRASE_ENV}"
        ) from None
    except ValueError as e:
        raise BuildError(f"signing key {path}: not a readable PEM private key ({e})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BuildError(
            f"signing key {path}: a {type(key).__name__.removeprefix('_')} key; the OVF certificate VMware "
            f"verifies is RSA: use an RSA key of {MIN_RSA_BITS} bits or more"
        )
    if key.key_size < MIN_RSA_BITS:
        raise BuildError(f"signing key {path}: RSA {key.key_size} bits; use {MIN_RSA_BITS} bits or more")
    return key


def _passphrase() -> bytes | None:
    name = os.environ.get(PASSPHRASE_ENV, "")
    if not name:
        return None
    try:
        return Path(name).read_bytes().rstrip(b"\r\n")
    except OSError as e:
        raise BuildError(f"{PASSPHRASE_ENV} {name}: {e.strerror}") from None


def _chain(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BuildError(f"signing certificate {path}: {e.strerror}") from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise BuildError(f"signing certificate {path}: no readable PEM certificate ({e})") from None
    return chain
