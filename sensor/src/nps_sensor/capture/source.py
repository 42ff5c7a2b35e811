"""A capture file as the packet core reads it: a `Source` of frames, batch by batch.

The core pulls each frame from the mapped file as it decodes it (sensor/csrc/readers.c),
so that a frame's bytes are fetched from memory once; `batches` gives the same frames
as `Batch`es to whoever wants them without the engine. A damaged file ends with the
frames before the damage and a `CaptureError` that says where.
"""

from __future__ import annotations

from collections.abc import Iterator

from nps_sensor import packetcore
from nps_sensor.capture.batch import Batch
from nps_sensor.capture.buffer import Buffer
from nps_sensor.errors import CaptureError

# The core's damage kinds (readers.h) -> what a person reads.
DAMAGE = {
    1: "corrupt record header at byte {at} (record length {value})",
    2: "capture truncated in record {value} at byte {at}",
    3: "capture truncated in a record header at byte {at}",
    4: "truncated section header at byte {at}",
    5: "bad byte-order magic in section header at byte {at}",
    6: "corrupt block length {value} at byte {at}",
    7: "capture truncated in a block at byte {at}",
    8: "packet block at byte {at} names an unknown interface or is longer than its block",
    9: "capture truncated in a block header at byte {at}",
}
BATCH = 16384  # frames per batch: the flow table's sweeps and bounds are checked after each


class CaptureFile:
    """A capture file mapped in memory; the format's reader says how to walk it."""

    def __init__(self, path: str, buf: Buffer) -> None:
        self.path = path
        self.buf = buf

    def source(self) -> packetcore.Source:
        raise NotImplementedError

    def error(self, src: packetcore.Source) -> CaptureError | None:
        """The damage that ended `src`'s walk, if any, as the one-line error to show."""
        kind, at, value = src.damage
        if not kind:
            return None
        what = DAMAGE[kind].format(at=at, value=value)
        return CaptureError(f"{self.path}: {what}; results cover the {src.done} packets before it")

    def batches(self, size: int = BATCH) -> Iterator[Batch]:
        """Yield the frames in order; raise CaptureError after the last good one on damage."""
        src = self.source()
        while src.begin(size):
            yield src.frames()
            self.buf.release(src.pos)
        error = self.error(src)
        if error is not None:
            raise error
