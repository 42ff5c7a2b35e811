"""Bounds on what a request may cost the hub, enforced before anything is parsed.

* Each route has a body limit (small for the login and the forms; a report's is its
  compressed size); a larger declared `Content-Length` is answered 413 at once,
  without reading the body, and a body that grows past its limit while it streams in
  is cut off with 413 at that point. The connection is closed after a 413.
* Bodies being received share a budget per hub process (`BODY_BUDGET`): past it,
  further reading waits (the senders wait in their TCP windows), and a request that
  waits too long is answered 503 with Retry-After. Whatever arrives at once, the hub's
  memory for bodies stays bounded.
* Reports are parsed, checked and merged by a few threads of their own (`Ingest`), off
  the event loop: the API's other routes and the web UI answer meanwhile. A report that
  waits too long for one is answered 503 with a Retry-After booked for it (`Ingest`), and
  the uplink tries again then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nps_hub import report

KiB, MiB = 1 << 10, 1 << 20
DEFAULT_LIMIT = 16 * KiB  # login, users, sensors, actions, the forms
LIMITS: tuple[tuple[str, str, int], ...] = (  # (method, path, bytes): the first that matches
    ("POST", "/api/v1/agent/reports", report.MAX_WIRE),
    ("POST", "/api/v1/agent/heartbeat", 256 * KiB),  # a status with its counters
    ("PUT", "/api/v1/configuration", 2 * MiB),  # thousands of ranges
    ("POST", "/api/v1/tags", 1 * MiB),
    ("POST", "/api/v1/bundles", 1 << 31),  # update bundles: streamed to disk and checked there
    ("POST", "/configuration", 2 * MiB),  # the web form, and its tags' form
)
BODY_BUDGET = 32 * MiB
WAIT = 20.0  # seconds a request may wait for the budget or an ingest thread
LATEST_TURN = 120  # the longest Retry-After an ingest turn is booked with (1,000 sensors at once)
T = TypeVar("T")


def limit_for(method: str, path: str) -> int:
    for m, prefix, size in LIMITS:
        if method == m and (path == prefix or path.startswith(prefix + "/")):
            return size
    return DEFAULT_LIMIT


def too_large(limit: int) -> HTTPException:
    what = f"{limit >> 20} MiB" if limit >= MiB else f"{limit >> 10} KiB"
    return HTTPException(413, f"the body is larger than this request takes ({what})", headers={"Connection": "close"})


def busy(what: str, wait: int | None = None) -> HTTPException:
    if wait is None:
        wait = random.randint(5, 30)  # spread the retries of many senders
    return HTTPException(503, f"the hub is busy ({what}): try again in {wait} s", headers={"Retry-After": str(wait)})


class Budget:
    """Bytes of request bodies held at once in this process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self.changed = asyncio.Condition()

    async def take(self, n: int) -> None:
        async with self.changed:
            if self.used + n > self.size and self.used:
                try:
                    await asyncio.wait_for(self.changed.wait_for(lambda: self.used + n <= self.size), WAIT)
                except TimeoutError:
                    raise busy("too many bodies arriving at once") from None
            self.used += n

    async def give(self, n: int) -> None:
        if n:
            async with self.changed:
                self.used -= n
                self.changed.notify_all()


class BodyLimits:
    """ASGI middleware: the per-route limit and the process's budget, on every request."""

    def __init__(self, app: ASGIApp, budget: int = BODY_BUDGET) -> None:
        self.app = app
        self.budget_size = budget
        self.budget: Budget | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.budget is None:  # made in the server's event loop
            self.budget = Budget(self.budget_size)
        limit = limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, too_large(limit).detail)
            return
        held = 0
        received = 0
        budget = self.budget
        streamed = limit > self.budget_size  # written to disk as it comes (update bundles), not held

        async def limited_receive() -> Message:
            nonlocal held, received
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                received += size
                if received > limit:
                    raise too_large(limit)
                if not streamed:
                    await budget.take(size)
                    held += size
            return message

        try:
            await self.app(scope, limited_receive, send)
        finally:
            await budget.give(held)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        }
    )  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class Ingest:
    """The threads that parse, check and merge reports: `slots` at a time.

    A report that waited WAIT seconds for one is refused (503) with a Retry-After booked
    for it: refused reports get turns one after another, behind those still waiting, at
    the pace the threads have kept (a moving average of a report's time in one). A burst
    of sensors comes back spread over the time the hub needs for them; with a blind
    5-30 s each, they came back together or after the threads had gone idle (a burst of
    100 sensors at load 5: 30 reports refused, and 48 s for 15 CPU-s of work).
    """

    def __init__(self, slots: int = 2) -> None:
        self.slots = slots
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="ingest")
        self._free: asyncio.Semaphore | None = None
        self.seconds = 1.0  # a report's time in a thread (moving average)
        self.waiting = 0  # reports waiting for a thread
        self.booked = 0.0  # when the last turn given to a refused report comes (monotonic)
        self.last = 0.0  # when the last report came (monotonic)
        self.busy = 0  # reports in a thread

    def queued(self) -> bool:
        """Do reports wait for a thread? (Then their records wait too: backlog.py.)"""
        return self.waiting > 0

    def quiet(self, seconds: float) -> bool:
        """Has no report come for `seconds`, and none is waiting or in a thread?"""
        return self.busy == 0 and self.waiting == 0 and time.monotonic() - self.last >= seconds

    def turn(self) -> int:
        """Seconds until a refused report's turn (event loop only: no lock needed)."""
        now = time.monotonic()
        pace = self.seconds / self.slots
        self.booked = max(self.booked, now + self.waiting * pace) + pace
        return max(1, min(LATEST_TURN, math.ceil(self.booked - now)))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._free is None:
            self._free = asyncio.Semaphore(self.slots)
        self.waiting += 1
        self.last = time.monotonic()
        try:
            await asyncio.wait_for(self._free.acquire(), WAIT)
        except TimeoutError:
            self.waiting -= 1
            raise busy("every ingest thread has reports waiting", self.turn()) from None
        except BaseException:
            self.waiting -= 1
            raise
        self.waiting -= 1
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            self._free.release()

    async def run(self, work: Callable[[], T]) -> T:
        """`work` in an ingest thread, once a slot is free."""
        async with self.slot():
            start = time.monotonic()
            try:
                return await asyncio.get_running_loop().run_in_executor(self.pool, work)
            finally:
                self.seconds += (time.monotonic() - start - self.seconds) / 8

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


async def read_body(stream: AsyncIterator[bytes]) -> bytes:
    """The whole body (its limit is enforced by BodyLimits as it streams in)."""
    out = bytearray()
    async for chunk in stream:
        out += chunk
    return bytes(out)
