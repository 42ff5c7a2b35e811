"""The update bundle: what `inv image.bundle` writes and `nps-sensor appliance update` reads.

A plain tar of the sensor's wheels (the appliance's templates are the sensor's package
data), led by its manifest:

    bundle.json   {"format": 1, "name": "nps-sensor", "version": V, "files": {name: {sha256, size}}}
    bundle.sig    the release key's signature of bundle.json (as `openssl dgst -sha256 -sign`)
    wheels/*.whl

A bundle arrives from a hub, a share or a USB stick: it is hostile until proven
otherwise. It is read as a stream, in order: the manifest (bounded), its signature,
checked against the release keys the image carries before anything else is read or
written; then each file, which must be listed, of its listed size and digest, under a
plain relative name. Anything else stops the reading with one line saying what.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from nps_sensor.errors import SensorError

FORMAT = 1
NAME = "nps-sensor"
MANIFEST = "bundle.json"
SIGNATURE = "bundle.sig"
MAX_MANIFEST = 1 << 20
MAX_SIGNATURE = 16 << 10
MAX_TOTAL = 1 << 30  # the sensor's wheels are some 40 MB; a gigabyte is a mistake or an attack
MAX_FILES = 10_000
_FILE = re.compile(r"^wheels/[A-Za-z0-9][A-Za-z0-9._+-]*\.whl$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,63}$")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class BundleError(SensorError):
    """The bundle is refused: the message says why, in one line."""


@dataclass(frozen=True)
class Bundle:
    version: str
    files: dict[str, dict[str, Any]]
    directory: Path  # where its files were unpacked

    @property
    def wheels(self) -> Path:
        return self.directory / "wheels"


def manifest(version: str, files: dict[str, tuple[str, int]]) -> bytes:
    """bundle.json for `files` (name -> (sha256, size)): canonical, so the same files give the same bytes."""
    doc = {
        "format": FORMAT,
        "name": NAME,
        "version": version,
        "files": {name: {"sha256": digest, "size": size} for name, (digest, size) in sorted(files.items())},
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether `signature` is `key`'s over `data` (SHA-256; PKCS #1 v1.5 for RSA, as openssl dgst signs)."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_keys(path: Path) -> list[PublicKey]:
    """The public keys in a PEM file: public keys, or certificates whose keys are meant."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(
            f"this appliance has no release key ({path}): its image was built unsigned, so it trusts no bundle; "
            "deploy a signed release"
        ) from None
    except OSError as e:
        raise BundleError(f"release key {path}: {e.strerror}") from None
    keys: list[PublicKey] = []
    for block in re.findall(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", data, re.DOTALL):
        try:
            if b"CERTIFICATE" in block.split(b"\n", 1)[0]:
                key: Any = x509.load_pem_x509_certificate(block).public_key()
            else:
                key = serialization.load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise BundleError(f"release key {path}: not a readable PEM public key ({e})") from None
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            keys.append(key)
    if not keys:
        raise BundleError(f"release key {path}: no public key in it")
    return keys


def unpack(path: Path, keys: list[PublicKey], into: Path) -> Bundle:
    """Check the bundle at `path` against `keys` and unpack its files into `into` (made
    empty first). BundleError, and `into` removed, on the first thing wrong."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    try:
        with tarfile.open(path, mode="r:") as tar:
            return _unpack(tar, keys, into)
    except BundleError:
        shutil.rmtree(into, ignore_errors=True)
        raise
    except FileNotFoundError:
        shutil.rmtree(into, ignore_errors=True)
        raise BundleError(f"{path}: no such bundle") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        shutil.rmtree(into, ignore_errors=True)
        raise BundleError(f"{path}: not a readable bundle (tar): {e}") from None


def peek(path: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """The version and files a bundle's manifest claims, its signature not checked (the hub
    shows what was uploaded; the appliance checks everything before it installs)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            return _parse(_read_member(tar, MANIFEST, MAX_MANIFEST))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleError(f"not a readable bundle (tar): {e}") from None


def check(path: Path, keys: list[PublicKey]) -> str:
    """Check the whole bundle at `path` against `keys` without unpacking it; its version."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            return _unpack(tar, keys, None).version
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleError(f"not a readable bundle (tar): {e}") from None


def _unpack(tar: tarfile.TarFile, keys: list[PublicKey], into: Path | None) -> Bundle:
    """Read and check the bundle; its files go into `into` (None: only checked)."""
    head = _read_member(tar, MANIFEST, MAX_MANIFEST)
    signature = _read_member(tar, SIGNATURE, MAX_SIGNATURE)
    if not any(verify_signature(k, signature, head) for k in keys):
        raise BundleError("its signature is not the release key's: a bundle signed by another key, or altered")
    version, files = _parse(head)
    seen: set[str] = set()
    while (info := tar.next()) is not None:
        name = info.name
        if info.isdir():
            continue
        entry = files.get(name)
        if entry is None or name in seen:
            raise BundleError(f"{name!r} is {'twice in it' if name in seen else 'not in its manifest'}")
        if not info.isreg():
            raise BundleError(f"{name!r} is not a regular file")
        if info.size != entry["size"]:
            raise BundleError(f"{name} holds {info.size} bytes, its manifest says {entry['size']}")
        digest = hashlib.sha256()
        source = tar.extractfile(info)
        assert source is not None  # a regular file
        target = into / name if into is not None else None
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        with source, target.open("wb") if target is not None else contextlib.nullcontext() as out:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise BundleError(f"{name} does not match its manifest's SHA-256: the bundle was altered or damaged")
        seen.add(name)
    missing = sorted(set(files) - seen)
    if missing:
        raise BundleError(f"{missing[0]} is in its manifest but not in the bundle (cut short?)")
    if not any(n.startswith("wheels/") for n in files):
        raise BundleError("it holds no wheel: nothing to install")
    return Bundle(version, files, into or Path())


def _read_member(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    info = tar.next()
    if info is None or info.name != name or not info.isreg():
        found = "nothing" if info is None else repr(info.name)
        raise BundleError(f"not an update bundle: {name} should come next, found {found}")
    if info.size > limit:
        raise BundleError(f"{name} is {info.size} bytes, more than a bundle's {limit}")
    f = tar.extractfile(info)
    assert f is not None
    with f:
        return f.read()


def _parse(head: bytes) -> tuple[str, dict[str, dict[str, Any]]]:
    """The signed manifest, checked field by field (signed is not the same as well-formed)."""
    try:
        doc = json.loads(head)
    except ValueError as e:
        raise BundleError(f"{MANIFEST}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("name") != NAME:
        raise BundleError(f"{MANIFEST}: not a format {FORMAT} bundle of {NAME}")
    version, files = doc.get("version"), doc.get("files")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise BundleError(f"{MANIFEST}: version {version!r} is not a version")
    if not isinstance(files, dict) or not 0 < len(files) <= MAX_FILES:
        raise BundleError(f"{MANIFEST}: files must list 1 to {MAX_FILES} files")
    total = 0
    for name, entry in files.items():
        parts = name.split("/")
        if not _FILE.match(name) or any(p in ("", ".", "..") for p in parts):
            raise BundleError(f"{MANIFEST}: {name!r} is not a wheel's path (wheels/NAME.whl)")
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _SHA256.match(entry["sha256"])):
            raise BundleError(f"{MANIFEST}: {name} has no SHA-256")
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BundleError(f"{MANIFEST}: {name} has no size")
        total += size
    if total > MAX_TOTAL:
        raise BundleError(f"{MANIFEST}: {total} bytes of files, more than a bundle's {MAX_TOTAL}")
    return version, files
