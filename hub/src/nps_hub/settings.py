"""Where the hub keeps its data and how it behaves, from the command line and the environment.

The defaults need nothing else: a data directory holding the SQLite database and the
secret key. A PostgreSQL URL (`postgresql+psycopg://...`) moves the database to a server;
the secret key stays in the data directory, outside the database, so a copy of the
database alone reveals no personalization code nor credential.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nps_hub.errors import HubError

DEFAULT_DATA = "/var/lib/nps-hub"
DEFAULT_PORT = 8480


@dataclass
class Settings:
    data_dir: Path
    database_url: str = ""  # empty: SQLite in the data directory
    offline_after: float = 300.0  # seconds without a heartbeat before a sensor is Not Connected
    code_ttl: float = 7 * 86400.0  # seconds a personalization code stays valid
    session_ttl: float = 8 * 3600.0  # seconds a user's login lasts
    heartbeat_interval: float = 30.0  # what sensors are told to use
    sweep_interval: float = 30.0  # seconds between looks for events (and their e-mails)
    reporting_stopped_after: float = 3600.0  # seconds without a report, while sensing, for an event
    # Failed attempts allowed per source address and per user name (or code) within
    # limit_window seconds before further attempts get HTTP 429 (0: no limit).
    login_limit: int = 10
    code_limit: int = 10
    limit_window: float = 300.0
    ingest_threads: int = 2  # reports parsed and merged at once per hub process (limits.Ingest)
    flows_keep_days: int = 30  # days a report's traffic records are kept after it arrived (0: forever; retention.py)

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.sqlite3'}"

    def prepare(self) -> None:
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise HubError(
                f"data directory {self.data_dir}: cannot create it: {e.strerror} (choose one with --data)"
            ) from None
        if not os.access(self.data_dir, os.W_OK):
            raise HubError(f"data directory {self.data_dir} is not writable (choose one with --data)")

    def secret(self) -> bytes:
        """The key that codes and credentials are hashed with (HMAC-SHA256); made at first start."""
        path = self.data_dir / "secret.key"
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            raise HubError(f"{path}: unreadable secret key ({e}); restore it from a backup") from None
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
        return key


def from_env(data_dir: str | None = None, database: str | None = None) -> Settings:
    data = data_dir or os.environ.get("NPS_HUB_DATA") or DEFAULT_DATA
    url = database if database is not None else os.environ.get("NPS_HUB_DATABASE", "")
    s = Settings(Path(data))
    s.database_url = url
    for attr, var in (
        ("offline_after", "NPS_HUB_OFFLINE_AFTER"),
        ("code_ttl", "NPS_HUB_CODE_TTL"),
        ("session_ttl", "NPS_HUB_SESSION_TTL"),
        ("heartbeat_interval", "NPS_HUB_HEARTBEAT"),
        ("sweep_interval", "NPS_HUB_SWEEP"),
        ("reporting_stopped_after", "NPS_HUB_REPORTING_STOPPED_AFTER"),
        ("limit_window", "NPS_HUB_LIMIT_WINDOW"),
    ):
        if os.environ.get(var):
            try:
                setattr(s, attr, float(os.environ[var]))
            except ValueError:
                raise HubError(f"{var}={os.environ[var]!r} is not a number of seconds") from None
    for attr, var in (
        ("login_limit", "NPS_HUB_LOGIN_LIMIT"),
        ("code_limit", "NPS_HUB_CODE_LIMIT"),
        ("ingest_threads", "NPS_HUB_INGEST_THREADS"),
        ("flows_keep_days", "NPS_HUB_FLOWS_KEEP_DAYS"),
    ):
        if os.environ.get(var):
            try:
                setattr(s, attr, int(os.environ[var]))
            except ValueError:
                raise HubError(f"{var}={os.environ[var]!r} is not a whole number") from None
    if s.ingest_threads < 1:
        raise HubError("NPS_HUB_INGEST_THREADS: at least 1")
    check_keep_days(s.flows_keep_days, "NPS_HUB_FLOWS_KEEP_DAYS")
    return s


MAX_KEEP_DAYS = 36_500  # a hundred years: anything longer is a typo (0 keeps forever)


def check_keep_days(days: int, name: str) -> None:
    """Refuse a retention the hub cannot mean: negative, or beyond any date it can compute."""
    if not 0 <= days <= MAX_KEEP_DAYS:
        raise HubError(f"{name}={days}: days between 1 and {MAX_KEEP_DAYS}, or 0 to keep the traffic records forever")
