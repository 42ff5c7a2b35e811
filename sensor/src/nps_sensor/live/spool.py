"""The durable report spool: what the uploader drains, surviving restarts and crashes.

Each report is one file, written to a temporary name, flushed to disk and renamed
into place (then the directory is flushed too), so a reader never sees half a
report and a report that was announced as written survives a power cut. Names sort
in writing order. The spool has a size bound: when a new report does not fit, the
oldest ones go first, and every report lost that way is counted in a state file
that survives restarts, so the loss is reported, never silent.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from nps_sensor import atomic
from nps_sensor.errors import SensorError

NAME = re.compile(r"^(\d{12})-([a-z-]+)\.json$")
STATE = "state.json"


@dataclass
class SpoolStatus:
    directory: str
    reports: int
    bytes: int
    max_bytes: int
    written: int  # reports written since the service started
    dropped: int  # reports deleted unsent to make room, ever
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Spool:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.written = 0
        self.last_error: str | None = None
        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
        except OSError as e:
            raise SensorError(f"spool {directory}: cannot create it: {e.strerror}") from None
        for name in os.listdir(directory):
            if name.startswith(atomic.TEMP_PREFIX):
                os.unlink(os.path.join(directory, name))  # a write that a crash interrupted
        self._files = self._scan()
        self.dropped = int(self._read_state().get("dropped", 0))
        self._seq = max((int(NAME.match(n).group(1)) for n, _ in self._files if NAME.match(n)), default=0)  # type: ignore[union-attr]

    def _scan(self) -> list[tuple[str, int]]:
        out = []
        for name in sorted(os.listdir(self.directory)):
            if NAME.match(name):
                out.append((name, os.path.getsize(os.path.join(self.directory, name))))
        return out

    def _read_state(self) -> dict[str, Any]:
        return atomic.read_state(os.path.join(self.directory, STATE))

    def _write_atomic(self, name: str, data: bytes) -> None:
        atomic.write(os.path.join(self.directory, name), data, 0o640, sync_directory=True)

    @property
    def size(self) -> int:
        return sum(n for _, n in self._files)

    def write(self, report: dict[str, Any]) -> str | None:
        """Store a report; returns its file name, or None if it could not be stored."""
        data = json.dumps(report, separators=(",", ":")).encode()
        self._seq += 1
        name = f"{self._seq:012d}-{report.get('kind', 'report')}.json"
        with contextlib.suppress(OSError):
            self._files = self._scan()  # the uplink deletes what the hub stored: see what is left
        self._make_room(len(data))
        for attempt in range(2):
            try:
                self._write_atomic(name, data)
                break
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT) and attempt == 0 and self._files:
                    self._drop_oldest()  # the disk is fuller than the bound allows for: make room
                    continue
                self.last_error = f"cannot write to the spool {self.directory}: {e.strerror}"
                self._count_dropped(1)
                return None
        self._files.append((name, len(data)))
        self.written += 1
        self.last_error = None
        return name

    def _make_room(self, incoming: int) -> None:
        while self._files and self.size + incoming > self.max_bytes:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        name, _ = self._files.pop(0)
        try:
            os.unlink(os.path.join(self.directory, name))
        except FileNotFoundError:
            return  # uploaded and deleted meanwhile: not a loss
        self._count_dropped(1)

    def _count_dropped(self, n: int) -> None:
        self.dropped += n
        with contextlib.suppress(OSError):
            self._write_atomic(STATE, json.dumps({"dropped": self.dropped, "updated": time.time()}).encode())

    def room_mb(self) -> float:
        """How large the spool can grow here: what it holds and its file system's free space."""
        st = os.statvfs(self.directory)
        return (self.size + st.f_bavail * st.f_frsize) / 2**20

    def pending(self) -> list[str]:
        """Report files in writing order (what an uploader sends, then deletes)."""
        self._files = self._scan()
        return [os.path.join(self.directory, n) for n, _ in self._files]

    def status(self) -> SpoolStatus:
        return SpoolStatus(
            self.directory, len(self._files), self.size, self.max_bytes, self.written, self.dropped, self.last_error
        )
