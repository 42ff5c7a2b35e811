"""Fingerprint databases, read at run time from a data directory and never shipped in the source.

They come under their own licenses (p0f.fp LGPL, Wireshark's manuf and Satori GPL,
FingerBank ODbL, the IEEE lists unrestricted), so the sensor reads them from files:
`$NPS_DATA_DIR`, else `/usr/share/nps-sensor/data`, where the image links p0f.fp,
oui.csv and manuf from their Debian packages and copies an optional directory
(FingerBank, Satori) into `extra/`. Each database is looked for in the data
directory, then in `extra/`, under the names of both layouts (the Debian packages'
and the `shared/fingerprints` tree's), then at its Debian package's own path.

Each database loads on first use, once per process: an `analyze` run whose assets
carry no fingerprint never reads one. A missing or unreadable database is one
warning naming the file, and predictions go on without that source.

What is worked out from the databases is kept beside them (`Databases.memo`): one
fact always says the same to the same databases, and a network repeats its facts
(one User-Agent, one option 55 list, one TCP stack on a hundred hosts).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nps_sensor import phases

log = logging.getLogger("nps_sensor.discovery.fingerprints")

DEFAULT_DATA_DIR = Path("/usr/share/nps-sensor/data")
MEMO_LIMIT = 50_000  # results kept in `Databases.memo` before it starts afresh (bounded memory)

# Database -> (names relative to the data directory or its extra/, Debian path or None, required)
# "Required" databases come with the image; a missing one is a warning. The optional
# ones (FingerBank, Satori, the 28/36-bit IEEE lists) are a debug line.
FILES: dict[str, tuple[tuple[str, ...], str | None, bool]] = {
    "p0f": (("p0f.fp", "p0f/p0f.fp"), "/etc/p0f/p0f.fp", True),
    "oui": (("oui.csv", "ieee-oui.csv", "oui/ieee-oui.csv", "ieee-data/oui.csv"), "/usr/share/ieee-data/oui.csv", True),
    "mam": (
        ("mam.csv", "ieee-mam.csv", "oui/ieee-mam.csv", "ieee-data/mam.csv"),
        "/usr/share/ieee-data/mam.csv",
        False,
    ),
    "oui36": (
        ("oui36.csv", "ieee-oui36.csv", "oui/ieee-oui36.csv", "ieee-data/oui36.csv"),
        "/usr/share/ieee-data/oui36.csv",
        False,
    ),
    "iab": (
        ("iab.csv", "ieee-iab.csv", "oui/ieee-iab.csv", "ieee-data/iab.csv"),
        "/usr/share/ieee-data/iab.csv",
        False,
    ),
    "manuf": (("manuf", "wireshark/manuf"), "/usr/share/wireshark/manuf", True),
    "fingerbank": (("dhcp_fingerprints.conf", "fingerbank/dhcp_fingerprints.conf"), None, False),
    "satori-dhcp": (("satori/dhcp.xml", "dhcp.xml"), None, False),
    "satori-ssh": (("satori/ssh.xml", "ssh.xml"), None, False),
    "satori-smb": (("satori/smb.xml", "smb.xml"), None, False),
    "satori-web": (("satori/web.xml", "web.xml"), None, False),
    "satori-ssl": (("satori/ssl.xml", "ssl.xml"), None, False),  # read twice: client names, OS claims
    "satori-ssl-os": (("satori/ssl.xml", "ssl.xml"), None, False),
}


class Corrupt(Exception):
    """A database file that cannot be understood; the message says why."""


def data_dir() -> Path:
    env = os.environ.get("NPS_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR


T = TypeVar("T")


class Databases:
    """The databases under one data directory, each loaded on first use.

    `get(name, loader, empty)` returns `loader(path)`'s result, or `empty` when the
    file is missing or corrupt (after one log line); later calls return the same.
    """

    def __init__(self, root: Path | None = None, *, system: bool = True) -> None:
        self.root = data_dir() if root is None else root
        self.system = system  # also look at the Debian packages' own paths
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Results derived from these databases and nothing else, keyed by what they were
        # derived from (see `remember`); safe to share between threads, as each value is
        # computed from its key alone.
        self.memo: dict[Any, Any] = {}

    def remember(self, key: Any, value: T) -> T:
        """Keep `value` in `memo` under `key` (emptied first when it holds MEMO_LIMIT) and return it."""
        if len(self.memo) >= MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = value
        return value

    def path(self, name: str) -> Path | None:
        names, debian, _ = FILES[name]
        for base in (self.root, self.root / "extra"):
            for rel in names:
                p = base / rel
                if p.is_file():
                    return p
        if self.system and debian and Path(debian).is_file():
            return Path(debian)
        return None

    def get(self, name: str, loader: Callable[[Path], T], empty: T) -> T:
        if name in self._loaded:
            return self._loaded[name]  # type: ignore[no-any-return]
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]  # type: ignore[no-any-return]
            value = self._load(name, loader, empty)
            self._loaded[name] = value
            return value

    def _load(self, name: str, loader: Callable[[Path], T], empty: T) -> T:
        with phases.phase("fingerprint data"):
            return self._read(name, loader, empty)

    def _read(self, name: str, loader: Callable[[Path], T], empty: T) -> T:
        path = self.path(name)
        required = FILES[name][2]
        if path is None:
            names = FILES[name][0]
            where = self.root / names[0]
            if required:
                log.warning("fingerprint database %s not found: predictions go on without it", where)
            else:
                log.debug("optional fingerprint database %s not found", where)
            return empty
        try:
            return loader(path)
        except (OSError, UnicodeDecodeError, ValueError, Corrupt) as e:
            log.warning("fingerprint database %s is unreadable (%s): predictions go on without it", path, e)
            return empty


class _Default:
    """The process's databases, made on first use (a holder rather than a module global)."""

    db: Databases | None = None
    lock = threading.Lock()


def databases() -> Databases:
    """The process's databases under `data_dir()`, created on first call."""
    if _Default.db is None:
        with _Default.lock:
            if _Default.db is None:
                _Default.db = Databases()
    return _Default.db


def use(db: Databases | None) -> None:
    """Replace the process's databases (tests, or a service given another data directory);
    None makes the next `databases()` read `data_dir()` again."""
    with _Default.lock:
        _Default.db = db
