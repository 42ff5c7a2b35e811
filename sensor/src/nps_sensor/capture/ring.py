"""Live capture: an AF_PACKET socket with a TPACKET_V3 receive ring, as batches.

The kernel fills blocks of the memory-mapped ring with packets and hands a whole
block to user space at once (when it is full, or after `retire_ms`): one block is
one batch for the engine, read in place without a copy. Promiscuous mode is set
through a packet-socket membership, which the kernel drops with the socket, so a
crash cannot leave an interface promiscuous. Several capture processes share an
interface through a fanout group; `fanout.py` chooses which process gets a packet.

The kernel takes the outer VLAN tag (802.1Q or 802.1ad) out of a received frame
before a packet socket sees it and hands it over beside the frame. It is put back
in place, as libpcap does (the socket reserves the room in front of each frame):
the engine then reads the frame the switch mirrored, byte for byte, so a tagged,
QinQ or ERSPAN frame decodes live exactly as it does from a capture file.

A socket outlives its link: when the interface goes down the kernel reports
ENETDOWN once and delivers again when it comes back up; when the interface is
deleted the socket is left bound to nothing and must be replaced (`state()`).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from nps_sensor import packetcore
from nps_sensor.capture.batch import Batch
from nps_sensor.errors import SensorError

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
PACKET_FANOUT_DATA = 22
PACKET_IGNORE_OUTGOING = 23
PACKET_RESERVE = 12
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000  # the kernel picks a group id nobody uses
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
ETH_P_ALL = 0x0003

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1 (the packets'
# own headers are read by the core, sensor/csrc/readers.c).
BLOCK_STATUS = 8
BLOCK_NUM_PKTS = 12
VLAN_TAG_LEN = 4


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
    """One interface's receive ring; iterate `ready()` to read it."""

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

    @classmethod
    def adopt(
        cls, sock: socket.socket, ifindex: int, interface: str, settings: RingSettings, iface_number: int
    ) -> Ring:
        """A ring another process set up, bound to `ifindex` and joined to its fanout
        group: this process maps it and reads it from the first block on."""
        ring = cls.__new__(cls)
        ring.interface, ring.settings, ring.iface_number = interface, settings, iface_number
        ring.stats = RingStats()
        ring.sock, ring.ifindex = sock, ifindex
        ring._map()
        ring._next = 0
        return ring

    def _setup(self) -> None:
        s, cfg = self.sock, self.settings
        try:
            self.ifindex = socket.if_nametoindex(self.interface)
        except OSError:
            raise SensorError(f"{self.interface}: no such interface (check the sniffing interface names)") from None
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        s.setsockopt(SOL_PACKET, PACKET_RESERVE, VLAN_TAG_LEN)  # room to put a stripped tag back
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
        self._map()
        s.bind((self.interface, ETH_P_ALL))  # Python puts the protocol in network order
        with contextlib.suppress(OSError):  # Linux < 4.20: a sniffing interface sends nothing anyway
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
        s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)

    def _map(self) -> None:
        self.size = self.settings.block_size * self.settings.blocks
        self.map = mmap.mmap(self.sock.fileno(), self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._u32 = memoryview(self.map).cast("I")  # the blocks' status words

    def join_fanout(self, group: int | None, mode: int, program: bytes | None = None) -> int:
        """Share the interface with the other members of `group` (see fanout.py); None
        makes a new group with an id the kernel picks. Returns the group's id."""
        arg = mode << 16 | (PACKET_FANOUT_FLAG_UNIQUEID << 16 if group is None else group)
        self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, arg)
        if program is not None:
            self._program = ctypes.create_string_buffer(program)
            fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(self._program))
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT_DATA, fprog)
        return int(self.sock.getsockopt(SOL_PACKET, PACKET_FANOUT)) & 0xFFFF

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

    def error(self) -> int:
        """The socket's pending error (0 if none); reading it clears it."""
        return int(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))

    def state(self) -> str:
        """ "up", "down" (the socket delivers again when the link comes back) or
        "missing": the interface was deleted, or replaced by another of the same
        name, and this socket is bound to nothing."""
        try:
            if socket.if_nametoindex(self.interface) != self.ifindex:
                return "missing"
        except OSError:
            return "missing"
        try:
            with open(f"/sys/class/net/{self.interface}/flags", encoding="ascii") as f:
                return "up" if int(f.read(), 16) & 1 else "down"  # IFF_UP
        except (OSError, ValueError):
            return "missing"

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
            if count:
                yield block_batch(self.map, base, cfg.block_size, count, self.iface_number)
            u32[(base + BLOCK_STATUS) // 4] = TP_STATUS_KERNEL
            self._next = (self._next + 1) % cfg.blocks

    def has_ready(self) -> bool:
        """Whether the kernel has handed over the next block."""
        base = self._next * self.settings.block_size
        return bool(self._u32[(base + BLOCK_STATUS) // 4] & TP_STATUS_USER)

    def close(self) -> None:
        """Close the socket: the kernel drops the promiscuous membership with it."""
        self._u32.release()
        with contextlib.suppress(BufferError, ValueError):  # batches remain: the mapping goes with the process
            self.map.close()
        self.sock.close()


def block_batch(ring: mmap.mmap | bytearray, base: int, block_size: int, count: int, iface_number: int = 0) -> Batch:
    """The `count` packets of the ring block at `base` as a batch; a VLAN tag the kernel
    took out is put back in front of its frame (the ring is written in place)."""
    batch: Batch = packetcore.tpacket_block(ring, base, block_size, count, iface_number)
    return batch
