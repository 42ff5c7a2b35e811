"""Limits on guessing: failed logins and failed personalization-code registrations, each
counted per source address and per user name (or per code) in a sliding window.

A key that failed `limit` times within the last `window` seconds is refused until its
oldest failure leaves the window (HTTP 429 with Retry-After), before any password or
code is looked at. Only failures count: a user who types the password right is never
slowed down, and a successful login forgets that user name's failures (not the
address's). The counts live in the hub's memory (one `nps-hub serve` process): a
restart forgets them, which at worst gives a guesser one more window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 100_000  # past this, keys with no failure in the window are dropped


class Limited(Exception):
    """Refused for now; `retry_after` is in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Limiter:
    def __init__(self, what: str, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what  # "login attempts", "registration attempts"
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, t: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= t - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def check(self, keys: dict[str, str]) -> None:
        """Raise Limited when any of the keys ({"address": "192.0.2.1", "user": "admin"})
        has failed too often lately; the reason names which."""
        if self.limit <= 0:
            return
        t = self.clock()
        with self._lock:
            for kind, value in keys.items():
                q = self._recent(f"{kind}\0{value}", t)
                if len(q) >= self.limit:
                    wait = max(1, math.ceil(q[0] + self.window - t))
                    raise Limited(
                        f"too many failed {self.what} for this {kind} ({len(q)} in {self.window:g} s): "
                        f"try again in {wait} s",
                        wait,
                    )

    def failed(self, keys: dict[str, str]) -> None:
        if self.limit <= 0:
            return
        t = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                for key in list(self._failures):
                    self._recent(key, t)
            for kind, value in keys.items():
                self._failures.setdefault(f"{kind}\0{value}", deque(maxlen=self.limit)).append(t)

    def forget(self, kind: str, value: str) -> None:
        with self._lock:
            self._failures.pop(f"{kind}\0{value}", None)
