"""The ingest threads' turns: reports refused in a burst are booked one after another at
the pace the threads keep, behind those still waiting, instead of a blind wait each."""

from __future__ import annotations

import asyncio

from nps_hub.limits import LATEST_TURN, Ingest


def test_refused_reports_get_successive_turns_at_the_threads_pace() -> None:
    ingest = Ingest(slots=2)
    ingest.seconds = 20.0  # a report takes 20 s in a thread: one each 10 s in all
    turns = [ingest.turn() for _ in range(6)]
    assert turns == [10, 20, 30, 40, 50, 60]
    ingest.close()


def test_turns_come_after_the_reports_still_waiting_and_are_bounded() -> None:
    ingest = Ingest(slots=2)
    ingest.seconds = 10.0
    ingest.waiting = 10  # 50 s of work ahead
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
