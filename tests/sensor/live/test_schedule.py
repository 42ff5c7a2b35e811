"""Report windows on the monotonic clock: a fake clock whose wall time steps back and
forward around window boundaries, with the engine's real collector and reporter."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import pytest

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.classify import Classifier
from nps_sensor.config import Config
from nps_sensor.live.schedule import Close, Schedule
from nps_sensor.pipeline import Collector
from nps_sensor.report import Report, Reporter
from nps_sensor.synth import generate

NEW, UPDATES = 60.0, 300.0
START = 1_750_000_200.0 + 17  # wall clock at start: 17 s into a new-assets (and an update) window


@dataclass
class FakeClock:
    real: float = 0.0  # seconds since start: the monotonic clock
    offset: float = START  # wall minus monotonic

    def wall(self) -> float:
        return self.real + self.offset

    def mono(self) -> float:
        return 1000.0 + self.real

    def step(self, by: float) -> None:
        self.offset += by


def run(steps: dict[int, float], seconds: int) -> tuple[list[tuple[float, Close]], list[Report], int]:
    """`seconds` of traffic, a batch every few seconds, the schedule polled every second
    and the wall clock stepped by steps[t] at second t; the closes (at which real time),
    the reports and the IP packets sent."""
    clock = FakeClock()
    cfg = Config()
    cfg.reporting.new_assets, cfg.reporting.updates = NEW, UPDATES
    reports: list[Report] = []
    reporter = Reporter(cfg, Classifier(cfg), reports.append)
    collector = Collector(cfg)
    reporter.start_at(clock.wall())
    schedule = Schedule(NEW, UPDATES, clock)
    frames = [f for _, f in generate(seconds * 2, seed=3)]
    closes: list[tuple[float, Close]] = []
    for t in range(seconds):
        clock.real = t + 0.5
        if t in steps:
            clock.step(steps[t])
        if t % 4 == 0:
            chunk = frames[t * 2 : (t + 4) * 2]
            collector.process(batch_from_frames(chunk, ts=[clock.wall()] * len(chunk)))
        close = schedule.poll()
        if close is not None:
            closes.append((clock.real, close))
            reporter.close_at(collector.harvest(), close.end, close.update, close.stepped)
    reporter.finish(collector.harvest(final=True), clock.wall())
    return closes, reports, collector.stats.ip_packets


def check(closes: list[tuple[float, Close]], reports: list[Report], sent: int, seconds: int, steps: int = 0) -> None:
    at = [0.0] + [real for real, _ in closes]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert gaps[0] <= NEW  # the first window is what is left of the one the start fell in
    assert all(NEW / 2 <= g <= NEW * 3 / 2 for g in gaps[1:]), gaps  # none empty, none owed
    # One report per window of real time; a step moves one boundary by up to half a window.
    assert abs(len(closes) - seconds / NEW) <= 1 + steps
    updates = [real for real, c in closes if c.update]
    assert all(b - a <= UPDATES + NEW for a, b in itertools.pairwise(updates)), updates
    # Every packet's traffic in exactly one report.
    reported = sum(f["client_packets"] + f["server_packets"] for r in reports for f in r.flows)
    assert reported == sent
    for r in reports:
        assert r.start < r.end


def test_a_steady_clock_gives_one_report_per_window_on_the_grid() -> None:
    closes, reports, sent = run({}, 1200)
    check(closes, reports, sent, 1200)
    assert [c.end % NEW for _, c in closes] == [0.0] * len(closes)
    assert [c.end % UPDATES == 0 for _, c in closes] == [c.update for _, c in closes]
    assert not any(c.stepped for _, c in closes)


@pytest.mark.parametrize(
    "steps",
    [
        {42: -30.0},  # back half a window, just before a boundary (43 s into the run: wall :00)
        {44: -30.0},  # the same, just after it
        {42: 200.0},  # forward past three boundaries
        {42: -3600.0, 300: 3590.0},  # an hour back, then nearly all of it forward again
        {100: -90.0, 101: 90.0, 400: 45.0, 640: -45.0},  # back and forth, on and off boundaries
    ],
    ids=["back-before-boundary", "back-after-boundary", "forward-200s", "back-an-hour", "back-and-forth"],
)
def test_a_clock_step_neither_empties_nor_floods_the_schedule(
    steps: dict[int, float], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="nps-sensor"):
        closes, reports, sent = run(steps, 1200)
    check(closes, reports, sent, 1200, len(steps))
    assert sum(c.stepped for _, c in closes) == pytest.approx(sum(steps.values()))
    logged = [r.getMessage() for r in caplog.records if "wall clock stepped" in r.getMessage()]
    assert len(logged) == len(steps)
    # Reports name their windows in the clock's time: each within a second of the
    # wall clock when it closed.
    for real, c in closes:
        wall = real + START + sum(v for t, v in steps.items() if t + 0.5 <= real)
        assert abs(c.end - wall) <= 1.0


def test_after_a_step_the_windows_return_to_the_grid() -> None:
    closes, _, _ = run({42: 17.0}, 600)
    ends = [c.end for _, c in closes]
    assert ends[0] % NEW != 0  # the window the step fell in ends on the new clock's time
    assert all(e % NEW == 0 for e in ends[1:])  # and the next ones on its grid
