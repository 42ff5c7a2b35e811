"""A throwaway PKI for the release-signing tests: a CA, an intermediate, a code-signing
certificate, written as PEM files the way an operator would keep them (keys 0600)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def key() -> rsa.RSAPrivateKey:
    """An RSA key (2048 bits: the smallest the kit signs with; quick to make)."""
    return rsa.generate_private_key(65537, 2048)


def certificate(
    subject: str,
    public: rsa.RSAPrivateKey,
    issuer: tuple[str, rsa.RSAPrivateKey] | None = None,
    ca: bool = False,
    days: tuple[int, int] = (-1, 365),
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, public)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(public.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_key(path: Path, k: rsa.RSAPrivateKey) -> Path:
    path.touch(mode=0o600)
    path.write_bytes(
        k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@dataclass
class Pki:
    """Files: ca.pem (the root to trust), signer.key and signer.pem (its chain, signer first)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def key(self) -> Path:
        return self.directory / "signer.key"

    @property
    def chain(self) -> Path:
        return self.directory / "signer.pem"


def make(directory: Path, name: str = "nps release", days: tuple[int, int] = (-1, 365)) -> Pki:
    """A root CA, an intermediate and a code-signing certificate valid for `days`."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, inter_key, signer_key = key(), key(), key()
    start = min(days[0], 0) - 10  # the authorities were there before the signer
    root = certificate(f"{name} root CA", root_key, ca=True, days=(start, 3650))
    inter = certificate(f"{name} intermediate", inter_key, (f"{name} root CA", root_key), ca=True, days=(start, 1000))
    issuer = (f"{name} intermediate", inter_key)
    signer = certificate(f"{name} signing", signer_key, issuer, days=days, eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    pki = Pki(directory)
    pki.ca.write_bytes(pem(root))
    write_key(pki.key, signer_key)
    pki.chain.write_bytes(pem(signer, inter))
    return pki
