"""Where a run's CPU time goes, phase by phase: for `inv bench`, which sets NPS_PHASES.

`inv bench` measures the whole `nps-sensor analyze` process from outside; this says
what the process spent its CPU seconds on: start-up (the interpreter and the imports,
until the first packet), the packet loop, discovery's dissectors (on the packets the
core chose), the fingerprint databases' loading, report building and the JSON writing.
With NPS_PHASES=FILE the process writes them to FILE as JSON when it ends; without it
nothing is recorded but a few additions per batch.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

SPENT: dict[str, float] = {}


def add(name: str, seconds: float) -> None:
    SPENT[name] = SPENT.get(name, 0.0) + seconds


@contextmanager
def phase(name: str) -> Iterator[None]:
    """CPU seconds spent in the block count under `name` (and not under an enclosing
    phase: each phase's time is its own)."""
    start = time.process_time()
    outer = sum(SPENT.values())
    try:
        yield
    finally:
        inner = sum(SPENT.values()) - outer
        add(name, time.process_time() - start - inner)


def mark_start() -> None:
    """The process's CPU time so far is its start-up's."""
    SPENT["startup"] = time.process_time()


def _write(path: str) -> None:
    out = dict(SPENT)
    out["total"] = time.process_time()
    out["other"] = out["total"] - sum(v for k, v in SPENT.items())
    with open(path, "w", encoding="utf-8") as f:
        json.dump({k: round(v, 4) for k, v in out.items()}, f)


_PATH = os.environ.get("NPS_PHASES")
if _PATH:
    atexit.register(_write, _PATH)
