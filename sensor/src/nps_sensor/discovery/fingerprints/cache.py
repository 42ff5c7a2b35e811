"""A database's parsed form, kept between runs: the IEEE lists parse in ~60 ms, load in ~10.

The IEEE registries are 4.3 MB of CSV (some 46,000 rows) that every `analyze` run with
a MAC to name would parse whole: a tenth of a 1 M-packet run's CPU time. What the
parser makes of a file is plain data (dicts of ints and strings), so it is kept in
marshal's format in a per-user cache directory, under the SHA-256 of the file's bytes
and the parser's version, and read back when a file has those bytes again (hashing
the 4.3 MB takes ~2 ms; a modification time would miss an edit within its
granularity). Anything else (no cache yet, a changed file, an unreadable or damaged
entry, a directory that cannot be written) parses the file as before; the cache never
changes an answer, only how soon it comes. It holds what was derived from the databases on this machine, for
this machine's user (mode 0600 in a 0700 directory), and nothing is shipped.

`$NPS_CACHE_DIR` chooses the directory (empty: no cache); else `$XDG_CACHE_HOME/nps-sensor`,
else `~/.cache/nps-sensor`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def directory() -> Path | None:
    """Where parsed databases are kept, or None for nowhere."""
    env = os.environ.get("NPS_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "nps-sensor"
    home = os.environ.get("HOME")
    return Path(home) / ".cache" / "nps-sensor" if home else None


def cached(path: Path, kind: str, parse: Callable[[Path], Any], valid: Callable[[Any], bool]) -> Any:
    """`parse(path)`, or what it gave for the same file before. `kind` names the parser
    and its version (a new format is a new kind); `valid` checks a loaded entry's shape."""
    where = directory()
    if where is None:
        return parse(path)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return parse(path)  # which says what is wrong with the file
    entry = where / f"{kind}-{digest}.marshal"
    try:
        data = marshal.loads(entry.read_bytes())
        if valid(data):
            return data
    except (OSError, ValueError, EOFError, TypeError):
        pass
    data = parse(path)
    _store(where, entry, data)
    return data


def _store(where: Path, entry: Path, data: Any) -> None:
    """Write `entry` atomically; a cache that cannot be written is no cache."""
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps(data))
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass
