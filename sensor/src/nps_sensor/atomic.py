"""Files replaced whole: written beside the target, synced, then renamed over it.

A reader (the service starting, the uplink, whatever runs after a crash) sees the old
file or the new one, never half of either; a failed write leaves the old file and no
temporary behind. Temporaries start with `.tmp-`, so that a directory's owner can
sweep the ones a crash left (the spool does, at start).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".tmp-"


def write(
    path: str | Path,
    data: bytes,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    sync_directory: bool = False,
) -> None:
    """Replace `path` with `data` (mode and, if given, (uid, gid) set before the rename).
    `sync_directory` also makes the rename itself durable (the spool's reports)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_directory:
        dirfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def read_state(path: str | Path) -> dict[str, Any]:
    """A JSON object such files hold (a spool's or quarantine's state), or {} when it is
    missing, unreadable or not an object: state is rebuilt rather than trusted."""
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
