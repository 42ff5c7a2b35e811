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
import collections
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass(eq=False)
class Waiter:
    """A report waiting for an ingest thread; `key` is its Network."""

    key: str
    ready: asyncio.Future[None]


class Ingest:
    """The threads that parse, check and merge reports: `slots` at a time.

    A thread that frees up takes the oldest waiting report of a Network no thread of
    this process is merging, else the oldest report. The merges of one Network wait for
    each other (ingest.network_lock), so a second thread on it would mostly wait: in a
    fleet's burst (100 sensors in 5 Networks, two hub processes) about one database
    session in four waited for a Network's lock, and a quarter fewer with this choice
    (the processes still choose without knowing each other's).

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
        self.seconds = 1.0  # a report's time in a thread (moving average)
        self.queue: list[Waiter] = []  # reports waiting for a thread, oldest first
        self.merging: collections.Counter[str] = collections.Counter()  # reports in a thread, by Network
        self.booked = 0.0  # when the last turn given to a refused report comes (monotonic)
        self.last = 0.0  # when the last report came (monotonic)

    @property
    def waiting(self) -> int:
        return len(self.queue)

    @property
    def busy(self) -> int:
        return self.merging.total()

    def queued(self) -> bool:
        """Do reports wait for a thread? (Then their records wait too: backlog.py.)"""
        return bool(self.queue)

    def quiet(self, seconds: float) -> bool:
        """Has no report come for `seconds`, and none is waiting or in a thread?"""
        return self.busy == 0 and not self.queue and time.monotonic() - self.last >= seconds

    def turn(self) -> int:
        """Seconds until a refused report's turn (event loop only: no lock needed)."""
        now = time.monotonic()
        pace = self.seconds / self.slots
        self.booked = max(self.booked, now + self.waiting * pace) + pace
        return max(1, min(LATEST_TURN, math.ceil(self.booked - now)))

    @contextlib.asynccontextmanager
    async def slot(self, key: str = "") -> AsyncIterator[None]:
        self.last = time.monotonic()
        if self.busy < self.slots and not self.queue:
            self.merging[key] += 1
        else:
            await self._wait(key)
        try:
            yield
        finally:
            self._release(key)

    async def _wait(self, key: str) -> None:
        """Until `_next` gives this report a thread (counted in `merging`), or WAIT
        seconds have gone (503)."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(key, loop.create_future())
        self.queue.append(waiter)
        timer = loop.call_later(WAIT, self._expire, waiter)
        try:
            await waiter.ready
        except TimeoutError:
            raise busy("every ingest thread has reports waiting", self.turn()) from None
        except BaseException:  # cancelled (the sensor went away): give back what it was given
            if waiter in self.queue:
                self.queue.remove(waiter)
            elif waiter.ready.done() and not waiter.ready.cancelled() and waiter.ready.exception() is None:
                self._release(key)
            raise
        finally:
            timer.cancel()

    def _expire(self, waiter: Waiter) -> None:
        if waiter in self.queue:
            self.queue.remove(waiter)
            waiter.ready.set_exception(TimeoutError())

    def _release(self, key: str) -> None:
        """A report of Network `key` leaves its thread: the thread goes to the next one."""
        self.merging[key] -= 1
        if not self.merging[key]:
            del self.merging[key]
        self._next()

    def _next(self) -> None:
        """Free threads to waiting reports: the oldest of a Network no thread merges,
        else the oldest."""
        while self.busy < self.slots and self.queue:
            waiter = next((w for w in self.queue if not self.merging[w.key]), self.queue[0])
            self.queue.remove(waiter)
            if not waiter.ready.done():  # not cancelled meanwhile
                self.merging[waiter.key] += 1
                waiter.ready.set_result(None)

    async def run(self, work: Callable[[], T], key: str = "") -> T:
        """`work` in an ingest thread, once a slot is free; `key`: the report's Network."""
        async with self.slot(key):
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
