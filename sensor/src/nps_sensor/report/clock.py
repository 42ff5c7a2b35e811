"""The window clock: when a report's window starts and ends.

Two windows run side by side, aligned on multiples of their length since the epoch: a
new-assets window of `new_len` seconds and an update window of `update_len`; an update
closes with the new-assets window that ends at (or after) its end. The contract: the
clock only keeps these times; `Reporter` asks it which window closes next
(`next_close`) and tells it when one has closed (`closed`, `advanced`). The live service
closes windows on the monotonic clock instead (live/schedule.py) and says how far the
wall clock stepped meanwhile (`step`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPSILON = 1e-9  # window ends are sums of floats


@dataclass
class Clock:
    new_len: float
    update_len: float
    window_start: float = math.nan  # start of the current new-assets window
    update_start: float = math.nan  # start of the current update window
    next_boundary: float = math.inf  # end of the current new-assets window

    @property
    def started(self) -> bool:
        return not math.isnan(self.window_start)

    def align(self, ts: float) -> None:
        """Both windows as the grid puts them around `ts`."""
        self.window_start = math.floor(ts / self.new_len) * self.new_len
        self.update_start = math.floor(ts / self.update_len) * self.update_len
        self.next_boundary = self.window_start + self.new_len

    def due(self, ts: float) -> bool:
        """Has the current new-assets window ended by `ts`?"""
        return ts >= self.next_boundary

    def next_close(self) -> tuple[float, bool]:
        """The end of the current new-assets window, and whether an update closes with it."""
        end = self.next_boundary
        return end, end >= self.update_start + self.update_len - EPSILON

    def step(self, stepped: float) -> None:
        """The wall clock stepped by `stepped` seconds while the windows were open."""
        self.window_start += stepped
        self.update_start += stepped

    def closed(self, end: float, update: bool) -> None:
        """A window (an update window too, if `update`) closed at `end`: the next starts there."""
        self.window_start = end
        if update:
            self.update_start = end

    def advanced(self, end: float, update: bool) -> None:
        """After a window closed on the grid: the next boundary, the update window on the grid."""
        if update:
            self.update_start = math.floor(end / self.update_len) * self.update_len
        self.next_boundary = end + self.new_len
