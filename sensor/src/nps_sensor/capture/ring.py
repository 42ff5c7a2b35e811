"""Live capture: an AF_PACKET socket with a TPACKET_V3 receive ring, as batches.

The kernel fills blocks of the memory-mapped ring with packets and hands a whole
block to user space at once (when it is full, or after `retire_ms`): one block is
one batch for the engine, read in place without a copy. Promiscuous mode is set
through a packet-socket membership, which the kernel drops with the socket, so a
crash cannot leave an interface promiscuous. Several capture processes share an
interface through a fanout group; `fanout.py` chooses which process gets a packet.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nps_sensor.capture.batch import I64, Batch, Buffer
from nps_sensor.errors import SensorError

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
PACKET_FANOUT_DATA = 22
PACKET_IGNORE_OUTGOING = 23
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
BLOCK_STATUS = 8
BLOCK_NUM_PKTS = 12
BLOCK_FIRST = 16
# struct tpacket3_hdr
PKT_NEXT, PKT_SEC, PKT_NSEC, PKT_SNAPLEN, PKT_LEN, PKT_STATUS, PKT_MAC = 0, 4, 8, 12, 16, 20, 24
PKT_VLAN_TCI = 32
LINKTYPE_ETHERNET = 1


@dataclass(frozen=True)
class RingSettings:
    block_size: int = 1 << 22  # 4 MiB: a few thousand packets per batch at full rate
    blocks: int = 64  # 256 MiB of ring per socket: ~0.3 s of a saturated 10G link
    frame_size: int = 2048  # only a placement hint for TPACKET_V3
    retire_ms: int = 50  # hand over a partly filled block after this long


@dataclass
class RingStats:
    received: int = 0
    dropped: int = 0
    freezes: int = 0


class Ring:
    """One interface's receive ring; iterate `batches()` to read it."""

    def __init__(
        self,
        interface: str,
        settings: RingSettings = RingSettings(),
        iface_number: int = 0,
    ) -> None:
        self.interface = interface
        self.settings = settings
        self.iface_number = iface_number
        self.stats = RingStats()
        try:
            # Protocol 0: no packet until bind() names the interface (a socket opened
            # with ETH_P_ALL takes every interface's traffic until then).
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise SensorError(
                f"{interface}: permission denied opening a packet socket (run as root or grant CAP_NET_RAW)"
            ) from None
        try:
            self._setup()
        except BaseException:
            self.sock.close()
            raise
        self._next = 0

    def _setup(self) -> None:
        s, cfg = self.sock, self.settings
        try:
            ifindex = socket.if_nametoindex(self.interface)
        except OSError:
            raise SensorError(f"{self.interface}: no such interface (check the sniffing interface names)") from None
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        req = struct.pack(
            "IIIIIII",
            cfg.block_size,
            cfg.blocks,
            cfg.frame_size,
            cfg.block_size // cfg.frame_size * cfg.blocks,
            cfg.retire_ms,
            0,
            0,
        )
        try:
            s.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        except OSError as e:
            raise SensorError(f"{self.interface}: cannot set up the capture ring: {e.strerror}") from None
        self.size = cfg.block_size * cfg.blocks
        self.map = mmap.mmap(s.fileno(), self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.buf = Buffer(self.map)
        self._u32 = np.frombuffer(self.map, dtype=np.uint32)
        s.bind((self.interface, ETH_P_ALL))  # Python puts the protocol in network order
        with contextlib.suppress(OSError):  # Linux < 4.20: a sniffing interface sends nothing anyway
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
        s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)

    def join_fanout(self, group: int, mode: int, program: bytes | None = None) -> None:
        """Share the interface with the other members of `group` (see fanout.py)."""
        if program is not None:
            self._program = ctypes.create_string_buffer(program)
            fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(self._program))
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, group | mode << 16)
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT_DATA, fprog)
        else:
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, group | mode << 16)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_stats(self) -> RingStats:
        """Add the kernel's counters (which reset on every read) to the totals."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        packets, drops, freezes = struct.unpack("III", raw)
        # tp_packets counts the dropped packets too.
        self.stats.received += packets - drops
        self.stats.dropped += drops
        self.stats.freezes += freezes
        return self.stats

    def ready(self) -> Iterator[Batch]:
        """Every block the kernel has handed over, in ring order, as batches.

        A block goes back to the kernel when the consumer asks for the next one, so
        a batch must be processed before iterating further.
        """
        cfg = self.settings
        u32 = self._u32
        while True:
            base = self._next * cfg.block_size
            if not u32[(base + BLOCK_STATUS) // 4] & TP_STATUS_USER:
                return
            count = int(u32[(base + BLOCK_NUM_PKTS) // 4])
            batch = self._batch(base, count)
            if batch is not None:
                yield batch
            u32[(base + BLOCK_STATUS) // 4] = TP_STATUS_KERNEL
            self._next = (self._next + 1) % cfg.blocks

    def has_ready(self) -> bool:
        """Whether the kernel has handed over the next block."""
        base = self._next * self.settings.block_size
        return bool(self._u32[(base + BLOCK_STATUS) // 4] & TP_STATUS_USER)

    def _batch(self, base: int, count: int) -> Batch | None:
        if not count:
            return None
        raw = self.map
        nxt = struct.Struct("I").unpack_from
        pos = base + int(self._u32[(base + BLOCK_FIRST) // 4])
        offs: list[int] = []
        app = offs.append
        for _ in range(count):
            app(pos)
            pos += nxt(raw, pos)[0]
        hdr = np.array(offs, dtype=I64)
        u32 = self.buf.le32 if _LITTLE else self.buf.be32
        status = u32[hdr + PKT_STATUS]
        mac = self.buf.le16[hdr + PKT_MAC] if _LITTLE else self.buf.be16[hdr + PKT_MAC]
        tci = np.where(status & TP_STATUS_VLAN_VALID, u32[hdr + PKT_VLAN_TCI], -1).astype(I64)
        n = len(hdr)
        return Batch(
            self.buf,
            hdr + mac.astype(I64),
            u32[hdr + PKT_SNAPLEN].astype(I64),
            u32[hdr + PKT_LEN].astype(I64),
            u32[hdr + PKT_SEC].astype(np.float64) + u32[hdr + PKT_NSEC].astype(np.float64) * 1e-9,
            np.full(n, LINKTYPE_ETHERNET, dtype=I64),
            np.full(n, self.iface_number, dtype=I64),
            tci,
        )

    def close(self) -> None:
        """Close the socket: the kernel drops the promiscuous membership with it."""
        with contextlib.suppress(BufferError, ValueError):  # views remain: the mapping goes with the process
            self.map.close()
        self.sock.close()


_LITTLE = struct.pack("=I", 1)[0] == 1
