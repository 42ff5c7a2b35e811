"""libpcap capture files: both byte orders, micro- and nanosecond timestamps."""

from __future__ import annotations

import struct

from nps_sensor import packetcore
from nps_sensor.capture.buffer import Buffer
from nps_sensor.capture.source import CaptureFile
from nps_sensor.errors import CaptureError

# magic as read little-endian -> (byte order, seconds per timestamp unit, record header size)
MAGICS = {
    0xA1B2C3D4: ("<", 1e-6, 16),
    0xA1B23C4D: ("<", 1e-9, 16),
    0xD4C3B2A1: (">", 1e-6, 16),
    0x4D3CB2A1: (">", 1e-9, 16),
    0xA1B2CD34: ("<", 1e-6, 24),  # Kuznetsov's "modified" pcap (extra per-record fields)
    0x34CDB2A1: (">", 1e-6, 24),
}
FILE_HEADER = 24
# Larger than any snap length a capture tool writes; a bigger record length is damage.
MAX_RECORD = 0x4000000


class PcapFile(CaptureFile):
    """Frames read straight out of the mapped file (the core walks the record chain)."""

    def __init__(self, path: str, data: Buffer) -> None:
        super().__init__(path, data)
        if data.size < FILE_HEADER:
            raise CaptureError(f"{path}: truncated pcap file header ({data.size} bytes)")
        (magic,) = struct.unpack_from("<I", data.raw, 0)
        self.order, self.unit, self.rec_len = MAGICS[magic]
        _, _, _, _, snaplen, linktype = struct.unpack_from(self.order + "HHiIII", data.raw, 4)
        # The upper bits of the link type carry FCS information, not the type.
        self.linktype = linktype & 0x0FFFFFFF
        self.snaplen = snaplen
        self.limit = max(snaplen, 262144, MAX_RECORD if snaplen == 0 else 0)

    def source(self) -> packetcore.Source:
        big = self.order == ">"
        return packetcore.Source(self.buf.raw, "pcap", big, self.unit, self.rec_len, self.linktype, self.limit)
