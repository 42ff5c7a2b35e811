"""Building the hub from its settings: database, migrations, first admin, the app."""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nps_hub import db as dbmod
from nps_hub import security
from nps_hub.api import Hub, create_app
from nps_hub.errors import HubError
from nps_hub.models import User
from nps_hub.settings import Settings

ADMIN_ENV = "NPS_HUB_ADMIN_PASSWORD"


def build(settings: Settings) -> FastAPI:
    settings.prepare()
    engine = dbmod.engine_for(settings.url)
    dbmod.migrate(engine)
    sessions = dbmod.sessions(engine)
    first_admin(sessions)
    return create_app(Hub(settings, sessions, security.Keyed(settings.secret())))


def first_admin(sessions: sessionmaker[Session]) -> None:
    """With no user yet, NPS_HUB_ADMIN_PASSWORD (and NPS_HUB_ADMIN_USER, default admin) make one."""
    password = os.environ.get(ADMIN_ENV)
    with sessions() as db:
        if db.scalar(select(func.count()).select_from(User)):
            return
        if not password:
            logging.getLogger("nps-hub").warning(
                "no user yet: create one with `nps-hub user NAME --admin` (or start with %s set)", ADMIN_ENV
            )
            return
        add_user(db, os.environ.get("NPS_HUB_ADMIN_USER", "admin"), password, admin=True)


def add_user(db: Session, name: str, password: str, admin: bool = False) -> User:
    if len(password) < 8:
        raise HubError(f"the password of {name!r} is too short: at least 8 characters")
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, password_hash=security.hash_password(password), admin=admin)
        db.add(user)
    else:
        user.password_hash = security.hash_password(password)
    db.commit()
    return user
