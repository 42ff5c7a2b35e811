"""Where a sparse raw disk holds data, asked of the file system (SEEK_DATA/SEEK_HOLE).

The appliance's 50 GiB disk holds about 1 GiB of data. Reading its holes would mean
zero-filling 49 GiB for nothing; the file system knows where the data is and lseek
tells. Where it cannot (no SEEK_DATA support), the whole file counts as data: slower,
never wrong, because the writers still skip all-zero units by their content.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The [start, end) byte ranges of `fd` below `size` that may hold data, in order."""
    extents: list[tuple[int, int]] = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after pos
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            extents.append((start, end))
            pos = end
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            return [(0, size)] if size else []
        raise
    return extents


def units_with_data(extents: list[tuple[int, int]], unit: int) -> list[int]:
    """Indexes of the `unit`-byte pieces of the disk that overlap a data extent, ascending."""
    out: list[int] = []
    for start, end in extents:
        first = start // unit
        if out and first <= out[-1]:
            first = out[-1] + 1
        out.extend(range(first, (end - 1) // unit + 1))
    return out


def read_units(fd: int, indexes: list[int], unit: int, size: int, batch: int = 64) -> Iterator[tuple[int, bytes]]:
    """(index, bytes) for each unit, zero-padded at the end of the disk.

    Consecutive units are read in one pread of up to `batch` units: a 64 KiB grain
    per system call would spend more time in the kernel than in the compressor.
    """
    i = 0
    while i < len(indexes):
        first = indexes[i]
        count = 1
        while count < batch and i + count < len(indexes) and indexes[i + count] == first + count:
            count += 1
        offset = first * unit
        data = os.pread(fd, count * unit, offset)
        if len(data) < count * unit:
            data += bytes(count * unit - len(data))
        for k in range(count):
            yield first + k, data[k * unit : (k + 1) * unit]
        i += count
