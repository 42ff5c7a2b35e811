"""When the live service closes a report window: on the monotonic clock, labelled in UTC.

Windows are aligned on multiples of their length since the epoch, as the product's
reports are (a new-assets window every 5 minutes, an update every 30), and their
labels are wall-clock times. But the wall clock steps: NTP corrects a clock that
booted wrong, an operator sets it by hand. Waiting for a wall-clock boundary would
then mean no report for as long as the clock went back, or every overdue window
at once when it went forward. So each window ends when the monotonic clock says
its length has passed; the wall clock only names it.

A step is noticed as a change of the difference between the two clocks (NTP's
slewing moves it by at most half a millisecond per second, far below the
tolerance). It is logged, the planned boundaries are named in the new time, and
the next window ends on the new clock's grid, between half and one and a half
window lengths later: one report per window, none lost, none twice.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("nps-sensor")
STEP_TOLERANCE = 2.0  # seconds the wall clock may move against the monotonic one without being a step


class Clock(Protocol):
    def wall(self) -> float: ...

    def mono(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class Close:
    """A window to close now: its end as a wall-clock time, whether it is an update
    window, and how far the wall clock stepped while it was open (0.0: it did not)."""

    end: float
    update: bool
    stepped: float


class Schedule:
    def __init__(self, new_assets: float, updates: float, clock: Clock) -> None:
        self.clock = clock
        self.new_len = new_assets
        self.update_len = updates
        wall, mono = clock.wall(), clock.mono()
        self.offset = wall - mono  # wall minus monotonic time, as the plan knows it
        self.end = _next_on_grid(wall, new_assets)  # the open window's end (wall clock)
        self.update_end = _next_on_grid(wall, updates)
        self.stepped = 0.0  # steps since the open window began

    @property
    def deadline(self) -> float:
        """When the open window ends, on the monotonic clock."""
        return self.end - self.offset

    def reconfigure(self, new_assets: float, updates: float) -> None:
        """New window lengths, from the next window on."""
        self.new_len, self.update_len = new_assets, updates

    def poll(self) -> Close | None:
        """Notice a clock step; the window to close if the open one has ended."""
        wall, mono = self.clock.wall(), self.clock.mono()
        drift = (wall - mono) - self.offset
        if abs(drift) > STEP_TOLERANCE:
            log.warning(
                "the wall clock stepped %s by %.0f s: report windows keep their length; "
                "their times follow the new clock",
                "forward" if drift > 0 else "back",
                abs(drift),
            )
            self.offset += drift
            self.end += drift
            self.update_end += drift
            self.stepped += drift
        if mono < self.deadline:
            return None
        end = self.end
        update = end >= self.update_end - 1e-6
        close = Close(end, update, self.stepped)
        self.stepped = 0.0
        # The next boundary on the grid, at least half a window on: after a step, or
        # when this loop ran late, no window is empty and none is owed.
        base = max(end, wall)
        self.end = _next_on_grid(base + self.new_len / 2, self.new_len)
        if update:
            self.update_end = _next_on_grid(end + self.update_len / 2, self.update_len)
        return close


def _next_on_grid(t: float, length: float) -> float:
    """The first multiple of `length` after `t`."""
    return (math.floor(t / length) + 1) * length
