"""Fixtures the hub's in-process tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from nps_hub import db
from tests.hub.databases import KINDS, database


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The hub's database, migrated, on SQLite and on a throwaway PostgreSQL."""
    with database(request.param) as (url, _):
        e = db.engine_for(url or f"sqlite:///{tmp_path}/hub.sqlite3")
        db.migrate(e)
        try:
            yield e
        finally:
            e.dispose()
