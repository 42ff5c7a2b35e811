"""The ingest threads' turns: reports refused in a burst are booked one after another at
the pace the threads keep, behind those still waiting, instead of a blind wait each."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest
from starlette.exceptions import HTTPException

from nps_hub import limits
from nps_hub.limits import LATEST_TURN, Ingest, Waiter


def test_refused_reports_get_successive_turns_at_the_threads_pace() -> None:
    ingest = Ingest(slots=2)
    ingest.seconds = 20.0  # a report takes 20 s in a thread: one each 10 s in all
    turns = [ingest.turn() for _ in range(6)]
    assert turns == [10, 20, 30, 40, 50, 60]
    ingest.close()


def test_turns_come_after_the_reports_still_waiting_and_are_bounded() -> None:
    ingest = Ingest(slots=2)
    ingest.seconds = 10.0
    ingest.queue += [Waiter("", cast(Any, None)) for _ in range(10)]  # 50 s of work ahead
    assert ingest.turn() == 55
    ingest.seconds = 1000.0
    assert ingest.turn() == LATEST_TURN
    ingest.close()


def test_the_pace_follows_the_reports_time_in_a_thread() -> None:
    ingest = Ingest(slots=1)

    async def main() -> None:
        for _ in range(40):
            await ingest.run(lambda: None)

    asyncio.run(main())
    assert ingest.seconds < 0.5 and ingest.waiting == 0  # from the first guess of 1 s, down to what it takes
    ingest.close()


def test_reports_queued_and_quiet_as_the_records_backlog_sees_them() -> None:
    """backlog.py keeps a report's records for later while others wait for a thread, and
    stores them once no report came for a while and none is in a thread."""
    ingest = Ingest(slots=1)
    seen: list[tuple[bool, bool]] = []

    async def main() -> None:
        started = asyncio.Event()

        async def first() -> None:
            async with ingest.slot():
                started.set()
                await asyncio.sleep(0.2)

        task = asyncio.create_task(first())
        await started.wait()
        seen.append((ingest.queued(), ingest.quiet(0)))  # one in a thread, none waiting
        second = asyncio.create_task(ingest.run(lambda: seen.append((ingest.queued(), ingest.quiet(0)))))
        await asyncio.sleep(0.05)
        seen.append((ingest.queued(), ingest.quiet(0)))  # the second waits
        await task
        await second

    asyncio.run(main())
    assert seen == [(False, False), (True, False), (False, False)]
    assert ingest.quiet(0) and not ingest.quiet(60)  # nothing now; but a report came less than 60 s ago
    ingest.close()


def test_a_free_thread_takes_a_report_of_a_network_no_thread_merges() -> None:
    """The merges of one Network wait for each other: a thread takes the oldest report
    of another Network first, and the oldest report when every one waiting is of a
    Network being merged."""
    ingest = Ingest(slots=2)
    started: list[str] = []

    async def main() -> None:
        release = {name: asyncio.Event() for name in ("a1", "b1", "a2", "a3", "c1")}

        async def report(name: str) -> None:
            async with ingest.slot(name[0]):
                started.append(name)
                await release[name].wait()

        tasks = []
        for name in ("a1", "b1", "a2", "a3", "c1"):  # arrival order
            tasks.append(asyncio.create_task(report(name)))
            await asyncio.sleep(0)
        assert started == ["a1", "b1"] and ingest.waiting == 3
        for name in ("b1", "c1", "a1", "a2", "a3"):
            release[name].set()
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert started == ["a1", "b1", "c1", "a2", "a3"]  # c1 before a2 and a3, which waited for a1
    assert ingest.busy == 0 and ingest.waiting == 0 and not ingest.merging
    ingest.close()


async def holding(ingest: Ingest, key: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A report of Network `key` in the thread until the event is set."""
    hold = asyncio.Event()

    async def report() -> None:
        async with ingest.slot(key):
            await hold.wait()

    running = asyncio.create_task(report())
    await asyncio.sleep(0)
    return running, hold


def test_a_report_that_waits_too_long_is_refused_and_a_cancelled_one_gives_its_turn_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "WAIT", 0.05)
    ingest = Ingest(slots=1)

    async def main() -> tuple[int, int]:
        running, hold = await holding(ingest, "a")
        with pytest.raises(HTTPException) as refused:
            await ingest.run(lambda: None, "b")
        gone = asyncio.create_task(ingest.run(lambda: None, "c"))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0)
        hold.set()
        await running
        await ingest.run(lambda: None, "d")  # the thread is free again: nothing was lost
        return refused.value.status_code, ingest.waiting

    assert asyncio.run(main()) == (503, 0)
    assert ingest.busy == 0
    ingest.close()


def test_a_report_cancelled_just_as_it_was_given_a_thread_gives_it_back() -> None:
    ingest = Ingest(slots=1)

    async def main() -> tuple[int, int]:
        running, hold = await holding(ingest, "a")
        second = asyncio.create_task(ingest.run(lambda: None, "b"))
        await asyncio.sleep(0)
        hold.set()
        await asyncio.sleep(0)  # the first leaves: its thread is given to the second, which has not run yet
        assert running.done() and ingest.merging == {"b": 1}
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        await ingest.run(lambda: None, "c")
        return ingest.busy, ingest.waiting

    assert asyncio.run(main()) == (0, 0)
    assert not ingest.merging
    ingest.close()
