"""A certificate of the hub's own for sites without a certificate authority.

Made once in the data directory and kept, so its fingerprint stays what the sensors
pin: the operator gives the SHA-256 the hub prints to each sensor (the OVF property
registration.fingerprint, the console's certificate field, `nps-sensor register
--fingerprint`), and a sensor sends its code only to a hub showing that certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
from pathlib import Path

from nps_hub.errors import HubError

VALID_DAYS = 3650  # pinned by fingerprint: its expiry protects nothing, and ends registrations


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate (DER), as browsers and `openssl x509 -fingerprint` show it."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def names(host: str, extra: list[str]) -> list[str]:
    """What the certificate is for: the names given, the address listened on (unless it
    is every address), this machine's host names."""
    out = list(extra)
    if host not in ("0.0.0.0", "::", ""):
        out.append(host.strip("[]"))
    out += [socket.gethostname(), socket.getfqdn(), "localhost"]
    return list(dict.fromkeys(n for n in out if n))


def ensure(directory: Path, host: str, extra: list[str]) -> tuple[Path, Path, str]:
    """The certificate and key in `directory/tls` (made now if absent), and the fingerprint."""
    tls = directory / "tls"
    cert, key = tls / "hub.crt", tls / "hub.key"
    if not (cert.exists() and key.exists()):
        try:
            tls.mkdir(mode=0o700, parents=True, exist_ok=True)
            _make(cert, key, names(host, extra))
        except OSError as e:
            raise HubError(f"{tls}: cannot write the hub's certificate: {e.strerror}") from None
    try:
        return cert, key, fingerprint(cert.read_bytes())
    except (OSError, ValueError) as e:
        raise HubError(f"{cert}: not a readable certificate ({e}); remove {tls} to make a new one") from None


def _make(cert: Path, key: Path, hosts: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"nps-hub {hosts[0]}"[:64])])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private, hashes.SHA256())
    )
    pem_key = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "wb") as f:
        f.write(pem_key)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
