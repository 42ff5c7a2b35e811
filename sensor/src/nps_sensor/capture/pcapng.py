"""pcapng capture files: several sections, interfaces, link types and time resolutions."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from nps_sensor.capture.batch import I64, Batch, Buffer
from nps_sensor.errors import CaptureError

SHB = 0x0A0D0D0A
IDB = 1
OPB = 2  # obsolete packet block, still written by old tools
SPB = 3
EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_TSRESOL = 9
OPT_TSOFFSET = 14


@dataclass
class _Interfaces:
    """Interface descriptions of all sections; a packet names its section-local index."""

    linktype: list[int] = field(default_factory=list)
    unit: list[float] = field(default_factory=list)
    offset: list[float] = field(default_factory=list)
    snaplen: list[int] = field(default_factory=list)

    def add(self, linktype: int, snaplen: int, unit: float, offset: float) -> None:
        self.linktype.append(linktype)
        self.snaplen.append(snaplen)
        self.unit.append(unit)
        self.offset.append(offset)


class PcapngFile:
    def __init__(self, path: str, data: Buffer) -> None:
        self.path = path
        self.buf = data
        self._done = 0
        if data.size < 28:
            raise CaptureError(f"{path}: truncated pcapng section header ({data.size} bytes)")

    def _damage(self, what: str, done: int) -> CaptureError:
        return CaptureError(f"{self.path}: {what}; results cover the {done} packets before it")

    def batches(self, size: int = 16384) -> Iterator[Batch]:
        raw = self.buf.raw
        total = self.buf.size
        ifaces = _Interfaces()
        base = 0  # global number of the current section's first interface
        order = "<"
        head = struct.Struct("<II").unpack_from
        run: list[int] = []
        run_type = EPB
        self._done = 0
        off = 0
        while off + 12 <= total:
            btype, blen = head(raw, off)
            if btype == SHB:
                if run:
                    yield self._flush(run, run_type, order, ifaces, base)
                    self._done += len(run)
                    run = []
                if off + 16 > total:
                    raise self._damage(f"truncated section header at byte {off}", self._done)
                (bom,) = struct.unpack_from("<I", raw, off + 8)
                if bom == BYTE_ORDER_MAGIC:
                    order = "<"
                elif bom == 0x4D3C2B1A:
                    order = ">"
                else:
                    raise self._damage(f"bad byte-order magic in section header at byte {off}", self._done)
                head = struct.Struct(order + "II").unpack_from
                btype, blen = head(raw, off)
                base = len(ifaces.linktype)
            if blen < 12 or blen % 4:
                raise self._damage(f"corrupt block length {blen} at byte {off}", self._done)
            if off + blen > total:
                raise self._damage(f"capture truncated in a block at byte {off}", self._done)
            if btype in (EPB, SPB, OPB):
                if btype != run_type and run:
                    yield self._flush(run, run_type, order, ifaces, base)
                    self._done += len(run)
                    run = []
                run_type = btype
                run.append(off)
                if len(run) >= size:
                    yield self._flush(run, run_type, order, ifaces, base)
                    self._done += len(run)
                    run = []
            elif btype == IDB:
                self._interface(raw, off, blen, order, ifaces)
            off += blen
        if run:
            yield self._flush(run, run_type, order, ifaces, base)
            self._done += len(run)
        if off < total:
            raise self._damage(f"capture truncated in a block header at byte {off}", self._done)

    def _interface(self, raw: object, off: int, blen: int, order: str, ifaces: _Interfaces) -> None:
        linktype, _, snaplen = struct.unpack_from(order + "HHI", raw, off + 8)  # type: ignore[arg-type]
        unit, tsoffset = 1e-6, 0.0
        pos, end = off + 16, off + blen - 4
        while pos + 4 <= end:
            code, length = struct.unpack_from(order + "HH", raw, pos)  # type: ignore[arg-type]
            if code == 0:
                break
            value = pos + 4
            if value + length > end:
                break
            if code == OPT_TSRESOL and length >= 1:
                v = raw[value]  # type: ignore[index]
                unit = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0**-v
            elif code == OPT_TSOFFSET and length >= 8:
                (tsoffset,) = struct.unpack_from(order + "q", raw, value)  # type: ignore[arg-type]
            pos = value + ((length + 3) & ~3)
        ifaces.add(linktype, snaplen, unit, float(tsoffset))

    def _flush(self, run: list[int], btype: int, order: str, ifaces: _Interfaces, base: int) -> Batch:
        buf = self.buf
        u32 = buf.le32 if order == "<" else buf.be32
        u16 = buf.le16 if order == "<" else buf.be16
        blk = np.array(run, dtype=I64)
        blen = u32[blk + 4].astype(I64)
        if btype == SPB:
            local = np.zeros(len(blk), dtype=I64)
            wire = u32[blk + 8].astype(I64)
            cap = np.minimum(wire, blen - 16)
            data = blk + 12
            raw_ts = None
        else:
            local = (u32[blk + 8] if btype == EPB else u16[blk + 8]).astype(I64)
            raw_ts = (u32[blk + 12].astype(np.uint64) << np.uint64(32)) | u32[blk + 16]
            cap = u32[blk + 20].astype(I64)
            wire = u32[blk + 24].astype(I64)
            data = blk + 28
        n_if = len(ifaces.linktype) - base
        known = (local < n_if) & (cap <= blen - (data - blk) - 4)
        if not known.all():
            bad = int(np.flatnonzero(~known)[0])
            raise self._damage(
                f"packet block at byte {int(blk[bad])} names an unknown interface or is longer than its block",
                self._done,
            )
        glob = base + local
        lt = np.array(ifaces.linktype, dtype=I64)[glob]
        if raw_ts is None:
            ts = np.zeros(len(blk), dtype=np.float64)
        else:
            unit = np.array(ifaces.unit)[glob]
            ts = raw_ts.astype(np.float64) * unit + np.array(ifaces.offset)[glob]
        buf.release(int(blk[0]))  # the previous batch is done with by now
        return Batch(buf, data, cap, wire, ts, lt, glob)
