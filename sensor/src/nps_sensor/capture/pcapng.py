"""pcapng capture files: several sections, interfaces, link types and time resolutions."""

from __future__ import annotations

from nps_sensor import packetcore
from nps_sensor.capture.buffer import Buffer
from nps_sensor.capture.source import CaptureFile
from nps_sensor.errors import CaptureError

SHB = 0x0A0D0D0A


class PcapngFile(CaptureFile):
    """Packet blocks (enhanced, simple, obsolete) of every section, each read with its
    interface's link type, time resolution and offset; a batch is a run of blocks of one
    type within one section. The core walks the blocks and keeps the interfaces."""

    def __init__(self, path: str, data: Buffer) -> None:
        super().__init__(path, data)
        if data.size < 28:
            raise CaptureError(f"{path}: truncated pcapng section header ({data.size} bytes)")

    def source(self) -> packetcore.Source:
        return packetcore.Source(self.buf.raw, "pcapng")
