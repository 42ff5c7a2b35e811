"""Alembic's environment: the engine comes from the hub (db.alembic_config)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from nps_hub.models import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
