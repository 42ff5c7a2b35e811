"""The database: an engine for SQLite (default) or PostgreSQL, and Alembic's migrations.

SQLite runs in WAL mode with a busy timeout, so the API's threads and a reader
(`sqlite3`, a backup) do not block each other for long. Migrations run at every
start: a new version of the hub upgrades the schema before it serves.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nps_hub.errors import HubError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def engine_for(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(conn: Any, record: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise HubError(f"database URL {redact(url)}: {e} (use sqlite:///FILE or postgresql://USER@HOST/DB)") from None


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        cred, _, host = rest.rpartition("@")
        rest = f"{cred.split(':')[0]}:***@{host}" if ":" in cred else rest
    return scheme + sep + rest


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
        reason = " ".join(str(e.orig).split())  # psycopg's messages run over several lines
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
