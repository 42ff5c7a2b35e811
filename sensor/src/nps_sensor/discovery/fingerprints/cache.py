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

Hashing is cheap on a CPU with SHA instructions and not elsewhere: callgrind counts
121 M instructions for the four lists, a sixth of discovery's work in a 1 M-packet run
(issue 18). So a file also has a stamp record, `KIND-at-HASH` under the SHA-256 of its
path and `stat` (device, inode, size, modification and change times in nanoseconds),
which holds its content's digest: a file whose stamp has a record is not read at all.
Any write to a file moves its change time, which no program can set back; the record
is made only for a file whose times are older than `SETTLED` seconds, so that a write
within the timestamps' granularity (the kernel's coarse clock) after the record was
made cannot leave the stamp as it was (git's "racy" index entries, the same answer).

`$NPS_CACHE_DIR` chooses the directory (empty: no cache); else `$XDG_CACHE_HOME/nps-sensor`,
else `~/.cache/nps-sensor`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SETTLED = 2.0  # seconds: a file whose times are older than this is not being written
DIGEST = 64  # a SHA-256 in hexadecimal


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
        st = os.stat(path)
    except OSError:
        return parse(path)  # which says what is wrong with the file
    stamp = f"{os.path.abspath(path)}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    record = where / f"{kind}-at-{hashlib.sha256(stamp.encode('utf-8', 'surrogateescape')).hexdigest()}"
    try:
        known = record.read_bytes()
        if len(known) == DIGEST and known.isalnum() and known.isascii():
            data = _entry(where / f"{kind}-{known.decode()}.marshal", valid)
            if data is not None:
                return data
    except OSError:
        pass
    try:
        digest = _digest(path)
    except OSError:
        return parse(path)
    entry = where / f"{kind}-{digest}.marshal"
    data = _entry(entry, valid)
    if data is None:
        data = parse(path)
        _store(where, entry, marshal.dumps(data))
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > SETTLED * 1e9:
        _store(where, record, digest.encode())
    return data


def _digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, in hexadecimal."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(entry: Path, valid: Callable[[Any], bool]) -> Any:
    """The data kept in `entry`, or None when it is missing, damaged or of another shape."""
    try:
        data = marshal.loads(entry.read_bytes())
        if valid(data):
            return data
    except (OSError, ValueError, EOFError, TypeError):
        pass
    return None


def _store(where: Path, entry: Path, data: bytes) -> None:
    """Write `entry` atomically; a cache that cannot be written is no cache."""
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass
