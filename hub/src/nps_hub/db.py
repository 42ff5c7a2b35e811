"""The database: an engine for SQLite (default) or PostgreSQL, and Alembic's migrations.

SQLite runs in WAL mode with a busy timeout, so the API's threads and a reader
(`sqlite3`, a backup) do not block each other for long; its file is made 0600 whatever
the directory's mode (it holds password hashes), and SQLite gives its -wal and -shm
files the same mode. Migrations run at every start: a new version of the hub upgrades
the schema before it serves. A database URL's password never appears in a message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nps_hub.errors import HubError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def engine_for(url: str, pool_size: int = 10) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            private_file(url)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(conn: Any, record: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=20)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        reason = scrub(str(e), url)
        raise HubError(
            f"database URL {redact(url)}: {reason} (use sqlite:///FILE or postgresql://USER@HOST/DB)"
        ) from None


def private_file(url: str) -> None:
    """The SQLite file, made (or kept) readable by the hub's user only."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as e:
        raise HubError(f"database {path}: {e.strerror} (check the data directory)") from None


_SECRET_PARAM = re.compile(r"((?:password|passwd|sslpassword|pass)=)[^&\s'\"]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL without its password (in the user part or as a query parameter), for messages."""
    try:
        text = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        scheme, sep, rest = url.partition("://")
        cred, at, host = rest.rpartition("@")
        text = scheme + sep + (f"{cred.split(':')[0]}:***@{host}" if at and ":" in cred else rest)
    return _SECRET_PARAM.sub(r"\1***", text)


def scrub(message: str, url: str) -> str:
    """A message with the URL's secrets (its password wherever it appears) masked."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return _SECRET_PARAM.sub(r"\1***", message)
    secrets = [parsed.password, *(v for k, v in parsed.query.items() if k.lower() in ("password", "sslpassword"))]
    for secret in secrets:
        for text in [secret] if isinstance(secret, str) else list(secret or ()):
            if text:
                message = message.replace(str(text), "***")
    return _SECRET_PARAM.sub(r"\1***", message)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest version (idempotent)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except OperationalError as e:
        reason = scrub(" ".join(str(e.orig).split()), str(engine.url.render_as_string(hide_password=False)))
        raise HubError(
            f"database {redact(str(engine.url))}: {reason} (is the server running, the URL right?)"
        ) from None


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.UTC)


def iso(t: dt.datetime | None) -> str | None:
    """Every time the API gives, in one form: ISO 8601 in UTC with its offset written
    `Z`, as the sensors write theirs (`2026-12-05T04:00:00.123456Z`)."""
    t = aware(t)
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t else None


@contextlib.contextmanager
def only_one(engine: Engine, name: str) -> Iterator[Session | None]:
    """A session for work that one hub process at a time does (the event sweep, whose
    e-mails must go out once): on PostgreSQL, None when another process holds the named
    lock; on SQLite, one process, always a session."""
    if engine.dialect.name != "postgresql":
        with Session(engine, expire_on_commit=False) as db:
            yield db
        return
    key = int.from_bytes(hashlib.sha256(f"nps-hub {name}".encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:  # the session's own connection: the lock is this connection's
        if not conn.scalar(select(func.pg_try_advisory_lock(key))):
            conn.rollback()
            yield None
            return
        conn.commit()
        try:
            with Session(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint") as db:
                yield db
        finally:
            conn.rollback()
            conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()
