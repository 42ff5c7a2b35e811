"""A batch of captured frames: where each frame lies in one shared buffer.

The sensor never builds an object per packet: a reader (pcap, pcapng, the live ring)
walks its record chain in the packet core and hands over a `Batch` (the core's
`Frames`): for each frame its offset, captured and wire lengths, timestamp, link type
and capture interface, over the buffer it was read from (a mapped file, a ring block,
bytes). The core decodes the frames in place; Python sees only what it asks for.
"""

from __future__ import annotations

from nps_sensor.packetcore import Frames

Batch = Frames


def batch_from_frames(
    frames: list[bytes],
    ts: list[float] | None = None,
    linktype: int = 1,
    wirelen: list[int] | None = None,
) -> Batch:
    """A batch built from frames in memory: for tests, calibration and the generator."""
    offsets = []
    pos = 0
    for f in frames:
        offsets.append(pos)
        pos += len(f)
    n = len(frames)
    caps = [len(f) for f in frames]
    return Frames(
        b"".join(frames),
        offsets,
        caps,
        caps if wirelen is None else wirelen,
        [i * 1e-3 for i in range(n)] if ts is None else ts,
        [linktype] * n,
        [0] * n,
    )
