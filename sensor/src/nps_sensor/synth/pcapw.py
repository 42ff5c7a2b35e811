"""Capture writers: libpcap (micro- or nanosecond) and pcapng (several interfaces).

The pcap writer is on the generator's hot path: records are packed with one
precompiled struct and written in large chunks, so writing costs well under a
microsecond per frame. The pcapng writer exists for the readers' tests: several
interfaces with different link types and time resolutions, Enhanced and Simple
Packet Blocks, new sections.

Timestamps are given as float seconds or, exactly, as integer nanoseconds
(`write_ns`): a float cannot hold nanoseconds of a current date (its resolution
there is about 240 ns).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Self

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_SLL = 113
LINKTYPE_SLL2 = 276

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
DEFAULT_SNAPLEN = 262144
_FLUSH_BYTES = 1 << 22

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


def _split_ns(ts_ns: int, nanosecond: bool) -> tuple[int, int]:
    sec, rest = divmod(ts_ns, 1_000_000_000)
    return sec, rest if nanosecond else rest // 1000


def _to_units(ts: float, per_second: int) -> int:
    """Float seconds in units of 1/per_second, rounded to the nearest unit.

    Whole seconds and the fraction are scaled apart: the fraction keeps all the
    precision the float has, and rounding (not truncating) keeps 0.001 from
    becoming 999 microseconds.
    """
    sec = math.floor(ts)
    return sec * per_second + round((ts - sec) * per_second)


class _Writer:
    """What both writers share: the file they write, closed by close() or at the end of a `with` block."""

    _f: IO[bytes]

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PcapWriter(_Writer):
    """Writes a libpcap file: `with PcapWriter(path) as w: w.write(ts, frame)`.

    Frames longer than `snaplen` are cut to it, keeping their original length in the
    record, as a capture with that snap length would; `orig_len` states a longer
    original length outright (for truncated-frame tests).
    """

    def __init__(
        self,
        path: str,
        linktype: int = LINKTYPE_ETHERNET,
        *,
        nanosecond: bool = False,
        snaplen: int = DEFAULT_SNAPLEN,
    ) -> None:
        self.path = path
        self.linktype = linktype
        self.nanosecond = nanosecond
        self.snaplen = snaplen
        self.count = 0
        self._f: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close() / __exit__
        self._chunk: list[bytes] = []
        self._pending = 0
        magic = MAGIC_NS if nanosecond else MAGIC_US
        self._f.write(_FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts: float, frame: bytes, orig_len: int | None = None) -> None:
        """A record at `ts` seconds, rounded to the file's resolution."""
        if self.nanosecond:
            self.write_ns(_to_units(ts, 1_000_000_000), frame, orig_len)
        else:
            self.write_ns(_to_units(ts, 1_000_000) * 1000, frame, orig_len)

    def write_ns(self, ts_ns: int, frame: bytes, orig_len: int | None = None) -> None:
        sec, frac = _split_ns(ts_ns, self.nanosecond)
        wire = len(frame) if orig_len is None else orig_len
        if len(frame) > self.snaplen:
            frame = frame[: self.snaplen]
        self._chunk.append(_RECORD.pack(sec, frac, len(frame), wire))
        self._chunk.append(frame)
        self.count += 1
        self._pending += len(frame) + 16
        if self._pending >= _FLUSH_BYTES:
            self.flush()

    def write_all_ns(self, records: Iterable[tuple[int, bytes]]) -> int:
        """Write (nanoseconds, frame) pairs not longer than the snap length; returns how many.

        The generator's path: one loop with everything bound locally, no per-frame
        method call.
        """
        pack = _RECORD.pack
        ns = self.nanosecond
        snap = self.snaplen
        chunk = self._chunk
        app = chunk.append
        write = self._f.write
        n = 0
        pending = self._pending
        for ts_ns, frame in records:
            sec, rest = divmod(ts_ns, 1_000_000_000)
            size = len(frame)
            if size > snap:
                app(pack(sec, rest if ns else rest // 1000, snap, size))
                app(frame[:snap])
            else:
                app(pack(sec, rest if ns else rest // 1000, size, size))
                app(frame)
            n += 1
            pending += size
            if pending >= _FLUSH_BYTES:
                write(b"".join(chunk))
                chunk.clear()
                pending = 0
        self._pending = pending
        self.count += n
        return n

    def flush(self) -> None:
        if self._chunk:
            self._f.write(b"".join(self._chunk))
            self._chunk.clear()
        self._pending = 0
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
        super().close()


# --- pcapng ------------------------------------------------------------------------

SHB = 0x0A0D0D0A
IDB = 1
SPB = 3
EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END = 0
OPT_COMMENT = 1
IF_NAME = 2
IF_TSRESOL = 9
SHB_USERAPPL = 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


class PcapngWriter(_Writer):
    """Writes a pcapng file with any number of interfaces and sections.

        with PcapngWriter(path) as w:
            eth = w.add_interface(LINKTYPE_ETHERNET)              # microseconds
            raw = w.add_interface(LINKTYPE_RAW, tsresol=9)        # nanoseconds
            w.write(eth, ts, frame)
            w.write_simple(frame)                                 # SPB: interface 0

    `tsresol` is the if_tsresol option byte: n means 10**-n seconds per unit, 0x80 | n
    means 2**-n; None leaves the option out (readers then assume microseconds).
    """

    def __init__(self, path: str, application: str = "nps-sensor synth") -> None:
        self.path = path
        self.application = application
        self.count = 0
        self._f: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close() / __exit__
        self._ifaces: list[tuple[int, int, int | None]] = []  # linktype, snaplen, tsresol
        self.new_section()

    def new_section(self) -> None:
        """Start a section: interfaces added before it are no longer valid after it."""
        opts = _option(SHB_USERAPPL, self.application.encode()) + _option(OPT_END, b"")
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts
        self._f.write(_block(SHB, body))
        self._ifaces = []

    def add_interface(
        self,
        linktype: int,
        *,
        snaplen: int = 0,
        tsresol: int | None = 6,
        name: str | None = None,
    ) -> int:
        """Describe an interface of the current section; returns its number for `write`."""
        opts = b""
        if name is not None:
            opts += _option(IF_NAME, name.encode())
        if tsresol is not None:
            opts += _option(IF_TSRESOL, bytes([tsresol]))
        if opts:
            opts += _option(OPT_END, b"")
        self._f.write(_block(IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts))
        self._ifaces.append((linktype, snaplen, tsresol))
        return len(self._ifaces) - 1

    def _per_second(self, iface: int) -> int:
        if not 0 <= iface < len(self._ifaces):
            raise ValueError(f"interface {iface} not described in this section")
        res = self._ifaces[iface][2]
        if res is None:
            return 1_000_000
        return 1 << (res & 0x7F) if res & 0x80 else int(10**res)

    def write(
        self, iface: int, ts: float, frame: bytes, orig_len: int | None = None, comment: str | None = None
    ) -> None:
        """An Enhanced Packet Block on interface `iface` (of the current section), at `ts`
        seconds rounded to the interface's resolution."""
        self._epb(iface, _to_units(ts, self._per_second(iface)), frame, orig_len, comment)

    def write_ns(
        self,
        iface: int,
        ts_ns: int,
        frame: bytes,
        orig_len: int | None = None,
        comment: str | None = None,
    ) -> None:
        """An Enhanced Packet Block at `ts_ns` nanoseconds (cut to a coarser resolution)."""
        self._epb(iface, ts_ns * self._per_second(iface) // 1_000_000_000, frame, orig_len, comment)

    def _epb(self, iface: int, units: int, frame: bytes, orig_len: int | None, comment: str | None) -> None:
        snaplen = self._ifaces[iface][1]
        wire = len(frame) if orig_len is None else orig_len
        if snaplen and len(frame) > snaplen:
            frame = frame[:snaplen]
        body = struct.pack("<IIIII", iface, units >> 32 & 0xFFFFFFFF, units & 0xFFFFFFFF, len(frame), wire)
        body += frame + bytes(-len(frame) % 4)
        if comment is not None:
            body += _option(OPT_COMMENT, comment.encode()) + _option(OPT_END, b"")
        self._f.write(_block(EPB, body))
        self.count += 1

    def write_simple(self, frame: bytes, orig_len: int | None = None) -> None:
        """A Simple Packet Block: no timestamp, always interface 0 of the section."""
        if not self._ifaces:
            raise ValueError("a Simple Packet Block needs interface 0 described first")
        snaplen = self._ifaces[0][1]
        wire = len(frame) if orig_len is None else orig_len
        if snaplen and len(frame) > snaplen:
            frame = frame[:snaplen]
        # The block has no captured length: readers take min(original length, snap length).
        if len(frame) != (min(wire, snaplen) if snaplen else wire):
            raise ValueError("a Simple Packet Block can only cut a frame at the interface's snap length")
        self._f.write(_block(SPB, struct.pack("<I", wire) + frame + bytes(-len(frame) % 4)))
        self.count += 1
