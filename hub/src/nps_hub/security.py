"""Secrets: passwords (argon2id), and the high-entropy or short-lived tokens the hub hands
out (personalization codes, sensor credentials, login sessions) kept only as HMAC-SHA256
digests under the hub's secret key.

A personalization code has 14 digits (about 46 bits): a plain hash of one could be
reversed by trying every code, so the digest is keyed with a secret that lives outside
the database. Online guessing is hopeless (10^14 codes, each valid for days at most).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

CODE_DIGITS = 14
SENSOR_PREFIX = "nps-s1-"
SESSION_PREFIX = "nps-u1-"

_hasher = PasswordHasher()


class Keyed:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def digest(self, kind: str, value: str) -> str:
        """The stored form of a code or token; `kind` keeps one kind from matching another."""
        return hmac.new(self.key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def normalise_code(text: str) -> str:
    """People type codes with spaces or dashes (1234 5678 9012 34): only the digits count."""
    return "".join(c for c in text if not c.isspace() and c != "-")


def new_sensor_token() -> str:
    return SENSOR_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this when the user does not exist keeps the time the same either way.
DUMMY_HASH = _hasher.hash(secrets.token_hex(8))
