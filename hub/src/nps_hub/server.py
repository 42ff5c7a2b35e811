"""Building the hub from its settings: database, migrations, first admin, the app.

`nps-hub serve --workers N` runs N processes (PostgreSQL only): the parent migrates the
database once, then each worker builds its app from the environment (`worker_app`).
Everything they share (sessions, guessing limits, the merge's locks) lives in the
database.
"""

from __future__ import annotations

import gc
import logging
import os

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nps_hub import accounts, roles, security
from nps_hub import db as dbmod
from nps_hub.app import create_app
from nps_hub.context import Hub
from nps_hub.models import User
from nps_hub.settings import Settings, from_env

ADMIN_ENV = "NPS_HUB_ADMIN_PASSWORD"
MIGRATED_ENV = "NPS_HUB_MIGRATED"  # set by the parent of several workers

# The cycle collector's first generation, in containers allocated and not yet freed.
# Python's 700 ran it about fifteen times per report of 900 assets in the parse alone,
# while the parse (a dict per asset and per traffic record, and their lists) was still
# alive: each run promoted those objects, and the oldest generation's runs scanned them
# again. They hold no cycles, so their reference counts free them once the report is
# merged. At 100,000 the hub's CPU per 10,000 assets fell from 0.45-0.47 to 0.42-0.43 in
# the fleet bench (PostgreSQL, two processes); its memory grew by at most 18 MiB
# (SQLite: 197-198 MiB before, 209-216 after).
GC_YOUNG = 100_000


def prepare(settings: Settings) -> None:
    """The data directory, the database's schema, the first admin, the secret key."""
    settings.prepare()
    engine = dbmod.engine_for(settings.url, pool_size=1)
    dbmod.migrate(engine)
    first_admin(dbmod.sessions(engine))
    settings.secret()
    engine.dispose()


def build(settings: Settings, migrate: bool = True) -> FastAPI:
    if migrate:
        prepare(settings)
    # Connections per process: the ingest threads, the API's threads, the sweep.
    engine = dbmod.engine_for(settings.url, pool_size=settings.ingest_threads + 8)
    app = create_app(Hub(settings, engine, dbmod.sessions(engine), security.Keyed(settings.secret())))
    # What is loaded by now lives as long as the process: the collector need not scan it
    # again each time a report's objects come and go.
    gc.freeze()
    gc.set_threshold(GC_YOUNG)
    return app


def worker_app() -> FastAPI:
    """The app of one of several `serve --workers` processes (uvicorn's factory)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return build(from_env(), migrate=os.environ.get(MIGRATED_ENV) != "1")


def first_admin(sessions: sessionmaker[Session]) -> None:
    """With no user yet, NPS_HUB_ADMIN_PASSWORD (and NPS_HUB_ADMIN_USER, default admin) make one."""
    password = os.environ.get(ADMIN_ENV)
    with sessions() as db:
        if db.scalar(select(func.count()).select_from(User)):
            return
        if not password:
            logging.getLogger("nps-hub").warning(
                "no user yet: create one with `nps-hub user NAME --role administrator` (or start with %s set)",
                ADMIN_ENV,
            )
            return
        accounts.set_password(db, os.environ.get("NPS_HUB_ADMIN_USER", "admin"), password, roles.ADMINISTRATOR)
