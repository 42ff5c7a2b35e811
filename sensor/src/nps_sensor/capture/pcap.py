"""libpcap capture files: both byte orders, micro- and nanosecond timestamps."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from nps_sensor.capture.batch import I64, Batch, Buffer
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


class PcapFile:
    """Reads frames straight out of the mapped file, a batch at a time."""

    def __init__(self, path: str, data: Buffer) -> None:
        self.path = path
        self.buf = data
        if data.size < FILE_HEADER:
            raise CaptureError(f"{path}: truncated pcap file header ({data.size} bytes)")
        (magic,) = struct.unpack_from("<I", data.raw, 0)
        self.order, self.unit, self.rec_len = MAGICS[magic]
        _, _, _, _, snaplen, linktype = struct.unpack_from(self.order + "HHiIII", data.raw, 4)
        # The upper bits of the link type carry FCS information, not the type.
        self.linktype = linktype & 0x0FFFFFFF
        self.snaplen = snaplen
        self.limit = max(snaplen, 262144, MAX_RECORD if snaplen == 0 else 0)

    def batches(self, size: int = 16384) -> Iterator[Batch]:
        buf = self.buf
        mem = buf.raw
        total = buf.size
        rec = self.rec_len
        last_header = total - rec
        caplen_at = struct.Struct(self.order + "I").unpack_from
        off = FILE_HEADER
        n_done = 0
        while off <= last_header:
            # The one loop per packet in Python: follow the record chain.
            offs: list[int] = []
            app = offs.append
            for _ in range(size):
                if off > last_header:
                    break
                app(off)
                off += rec + caplen_at(mem, off + 8)[0]
            hdr = np.array(offs, dtype=I64)
            # One read per record header: seconds, fraction, captured and original length.
            fields = np.ascontiguousarray(buf.record[hdr]).view(self.order + "u4").reshape(-1, 4).astype(I64)
            cap = fields[:, 2]
            damage = ""
            bad = np.flatnonzero(cap > self.limit)
            if len(bad):
                cut = int(bad[0])
                damage = f"corrupt record header at byte {int(hdr[cut])} (record length {int(cap[cut])})"
                hdr, fields = hdr[:cut], fields[:cut]
            elif off > total:
                # The last record runs past the end of the file: a cut-off capture.
                damage = f"capture truncated in record {n_done + len(hdr)} at byte {int(hdr[-1])}"
                hdr, fields = hdr[:-1], fields[:-1]
            if len(hdr):
                n = len(hdr)
                yield Batch(
                    buf,
                    hdr + rec,
                    fields[:, 2],
                    fields[:, 3],
                    fields[:, 0] + fields[:, 1] * self.unit,
                    np.full(n, self.linktype, dtype=I64),
                    np.zeros(n, dtype=I64),
                )
                n_done += n
                buf.release(int(hdr[0]))
            if damage:
                raise CaptureError(f"{self.path}: {damage}; results cover the {n_done} packets before it")
        if off < total:
            raise CaptureError(
                f"{self.path}: capture truncated in a record header at byte {off}; "
                f"results cover the {n_done} packets before it"
            )
