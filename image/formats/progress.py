"""Progress of the long byte-moving steps (disk conversion, packaging, hashing).

A bar on a terminal; nothing at all otherwise, so that CI logs and pipes get the
steps' one-line results rather than thousands of redraws. The writers take a plain
`advance(nbytes)` callable, so they know nothing of the display.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

Advance = Callable[[int], None]


def no_progress(nbytes: int) -> None:
    """The advance callable for callers that show nothing."""


@contextmanager
def byte_progress(description: str, total: int, console: Console | None = None) -> Iterator[Advance]:
    """An `advance(nbytes)` callable that moves a bar of `total` bytes on a terminal."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield no_progress
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=total)

        def advance(nbytes: int) -> None:
            progress.advance(task, nbytes)

        yield advance
