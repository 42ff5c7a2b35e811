"""The hub's database for a test: SQLite in the hub's data directory, or a throwaway
PostgreSQL cluster (benchmarks.hublab.Postgres), the test skipped where there is none."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from benchmarks.hublab import Postgres

KINDS = ["sqlite", "postgresql"]


@contextlib.contextmanager
def database(kind: str) -> Iterator[tuple[str, int | None]]:
    """(URL, PostgreSQL's process): ("", None) for SQLite, which the hub makes itself."""
    if kind == "sqlite":
        yield "", None
        return
    try:
        pg = Postgres()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    pg.start()
    try:
        yield pg.url, pg.pid
    finally:
        pg.stop()
