"""A capture file mapped into memory, given back to the kernel as the reader goes."""

from __future__ import annotations

import mmap


class Buffer:
    """The bytes of a capture (an mmap, or bytes in tests); `release` lets the kernel
    drop the pages already read, so that reading a capture of any size keeps memory flat."""

    __slots__ = ("_released", "raw", "size")

    def __init__(self, obj: mmap.mmap | bytes) -> None:
        self.raw = obj
        self.size = len(obj)
        self._released = 0
        if isinstance(obj, mmap.mmap):
            obj.madvise(mmap.MADV_SEQUENTIAL)

    def release(self, upto: int) -> None:
        """Done with the bytes before `upto` (16 MiB at a time)."""
        raw = self.raw
        if not isinstance(raw, mmap.mmap):
            return
        end = upto - upto % mmap.PAGESIZE
        if end - self._released >= 1 << 24:
            raw.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end
