"""A batch of captured frames, described by arrays over one shared buffer.

The sensor never builds an object per packet: a reader (pcap, pcapng, the live ring)
finds where each frame starts and hands over the offsets, lengths and timestamps as
numpy arrays; every later stage reads header fields for the whole batch at once with
one fancy-index per field. Python-level work per packet is limited to walking the
record chain, which no vector operation can do.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

I64 = np.int64
WINDOW = 112  # bytes of each frame's headers the decoder copies out in one read


class Buffer:
    """Byte views over a capture buffer (an mmap, bytes, or a live ring block).

    `be16[i]` / `be32[i]` / `be64[i]` / `le32[i]` read an integer that starts at *any* byte offset
    `i`: they are stride-1 views with a multi-byte dtype, so one gather reads a whole
    field without assembling it from bytes.
    """

    __slots__ = ("_released", "be16", "be32", "be64", "le16", "le32", "raw", "record", "size", "u8", "window")

    def __init__(self, obj: Any) -> None:
        self.raw = obj  # for struct.unpack_from in record walks, and to keep it alive
        u8 = np.frombuffer(obj, dtype=np.uint8)
        self.u8 = u8
        self.size = n = len(u8)
        self.be16 = _shifted(obj, ">u2", n)
        self.le16 = _shifted(obj, "<u2", n)
        self.be32 = _shifted(obj, ">u4", n)
        self.be64 = _shifted(obj, ">u8", n)
        self.le32 = _shifted(obj, "<u4", n)
        self.window = _shifted(obj, f"V{WINDOW}", n)  # WINDOW bytes from any offset, in one read
        self.record = _shifted(obj, "V16", n)  # a pcap record header
        self._released = 0
        if isinstance(obj, mmap.mmap):
            obj.madvise(mmap.MADV_SEQUENTIAL)

    def release(self, upto: int) -> None:
        """Done with bytes before `upto`: let the kernel drop their pages from this
        process, so that reading a capture of any size keeps memory flat."""
        raw = self.raw
        if not isinstance(raw, mmap.mmap):
            return
        end = upto - upto % mmap.PAGESIZE
        if end - self._released >= 1 << 24:
            raw.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end


def _shifted(obj: Any, dtype: str, n: int) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    if n < width:
        return np.zeros(0, dtype=dtype)
    base = np.frombuffer(obj, dtype=dtype, count=1)
    return as_strided(base, shape=(n - width + 1,), strides=(1,), writeable=False)


@dataclass(slots=True)
class Batch:
    """Frames of one buffer: `off[i]` is where frame i's link-layer header starts."""

    buf: Buffer
    off: np.ndarray  # int64, frame start in buf
    caplen: np.ndarray  # int64, bytes present in buf
    wirelen: np.ndarray  # int64, length on the wire
    ts: np.ndarray  # float64, seconds since the epoch
    linktype: np.ndarray  # int64, LINKTYPE_* per frame
    iface: np.ndarray  # int64, capture interface number per frame
    vlan_tci: np.ndarray | None = None  # int64, VLAN TCI stripped by the kernel, -1 if none

    def __len__(self) -> int:
        return len(self.off)

    def take(self, idx: np.ndarray | slice) -> Batch:
        """The frames at `idx`, sharing the buffer."""
        return Batch(
            self.buf,
            self.off[idx],
            self.caplen[idx],
            self.wirelen[idx],
            self.ts[idx],
            self.linktype[idx],
            self.iface[idx],
            None if self.vlan_tci is None else self.vlan_tci[idx],
        )


def batch_from_frames(
    frames: list[bytes],
    ts: list[float] | None = None,
    linktype: int = 1,
    wirelen: list[int] | None = None,
) -> Batch:
    """A batch built from frames in memory: for tests, calibration and the generator."""
    offsets = np.zeros(len(frames), dtype=I64)
    pos = 0
    for i, f in enumerate(frames):
        offsets[i] = pos
        pos += len(f)
    blob = b"".join(frames)
    caps = np.array([len(f) for f in frames], dtype=I64)
    n = len(frames)
    return Batch(
        Buffer(blob),
        offsets,
        caps,
        caps.copy() if wirelen is None else np.array(wirelen, dtype=I64),
        np.arange(n, dtype=np.float64) * 1e-3 if ts is None else np.array(ts, dtype=np.float64),
        np.full(n, linktype, dtype=I64),
        np.zeros(n, dtype=I64),
    )
