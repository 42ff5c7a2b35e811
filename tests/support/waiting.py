"""Waiting in tests for something that happens elsewhere (a hub, a VM, a service): poll
until it is true, with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: Callable[[], T], timeout: float = 60, every: float = 0.3, why: str = "") -> T:
    """`what()`'s first true value; AssertionError naming `why` once `timeout` passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting" + (f" for {why}" if why else ""))
        time.sleep(every)
