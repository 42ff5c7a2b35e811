"""Progress of the long byte-moving steps (disk conversion, packaging, hashing).

Bars on a terminal, one per step, in one display (steps that run side by side each
move their own); nothing at all otherwise, so that CI logs and pipes get the steps'
one-line results rather than thousands of redraws. The writers take a plain
`advance(nbytes)` callable, so they know nothing of the display.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

Advance = Callable[[int], None]


def no_progress(nbytes: int) -> None:
    """The advance callable for callers that show nothing."""


class Bars:
    """Byte bars for the steps of one job; a context manager around the display.

    Pass the caller's console when it already shows something live (a status line):
    rich nests live displays of one console, while two consoles would draw over
    each other.
    """

    def __init__(self, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self._progress: Progress | None = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )

    def __enter__(self) -> Bars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def bar(self, description: str, total: int) -> Advance:
        """A new bar of `total` bytes; returns its thread-safe `advance(nbytes)`."""
        progress = self._progress
        if progress is None:
            return no_progress
        task = progress.add_task(description, total=total)

        def advance(nbytes: int) -> None:
            progress.advance(task, nbytes)

        return advance
