"""Types of the compiled packet core (sensor/csrc; module.c says what each call does)."""

from collections.abc import Callable, Sequence
from mmap import mmap
from typing import Any, final

Buffer = bytes | bytearray | memoryview | mmap

ENCAPS: tuple[str, ...]
REASONS: tuple[str, ...]
DUPLICATE_REASONS: tuple[str, ...]
FLOW_RECORD_SIZE: int
HOST_RECORD_SIZE: int
LLC: int
SEEN_LIMIT: int  # keys per "seen this window" set (sensor/csrc/core.h, NPS_SEEN_LIMIT)

# (kind, ts, src, dst, smac, dmac, proto, sport, dport, data, l4, body)
Pick = tuple[int, float, int, int, int, int, int, int, int, bytes, int, int]
Outputs = tuple[list[Pick], list[Pick], list[bytes]]
Hellos = Callable[[float, bool], Sequence[int] | None] | None

@final
class Frames:
    """Frames of one capture buffer (a batch)."""

    def __new__(
        cls,
        buffer: Buffer,
        off: Sequence[int],
        caplen: Sequence[int],
        wirelen: Sequence[int],
        ts: Sequence[float],
        linktype: Sequence[int],
        iface: Sequence[int],
    ) -> Frames: ...
    def __len__(self) -> int: ...
    def time(self, i: int, /) -> float: ...
    def first_late(self, start: int, when: float, /) -> int: ...
    def wire_bytes(self) -> int: ...
    def take(self, start: int, stop: int, /) -> Frames: ...
    def frame(self, i: int, /) -> tuple[int, int, int, float, int, int]: ...
    @property
    def off(self) -> list[int]: ...
    @property
    def caplen(self) -> list[int]: ...
    @property
    def wirelen(self) -> list[int]: ...
    @property
    def ts(self) -> list[float]: ...
    @property
    def linktype(self) -> list[int]: ...
    @property
    def iface(self) -> list[int]: ...
    @property
    def buffer(self) -> Any: ...

@final
class Source:
    """A capture file's frames, pulled batch by batch."""

    def __new__(
        cls,
        buffer: Buffer,
        kind: str,
        big: bool = ...,
        unit: float = ...,
        rec_len: int = ...,
        linktype: int = ...,
        limit: int = ...,
        /,
    ) -> Source: ...
    def begin(self, size: int, /) -> bool: ...
    def peek_ts(self) -> float | None: ...
    def frames(self) -> Frames: ...
    @property
    def damage(self) -> tuple[int, int, int]: ...
    @property
    def done(self) -> int: ...
    @property
    def pos(self) -> int: ...

@final
class Core:
    """One collector's packet state."""

    def __new__(
        cls,
        roles: dict[str, bytes],
        *,
        window: float,
        identical_window: float,
        max_flows: int,
        idle_timeout: float,
        watch_dns: bool,
        selection: dict[str, Any] | None,
    ) -> Core: ...
    def configure(
        self,
        *,
        window: float,
        identical_window: float,
        max_flows: int,
        idle_timeout: float,
        watch_dns: bool,
        selection: dict[str, Any] | None,
    ) -> None: ...
    def process(self, frames: Frames, start: int, stop: int, hellos: Hellos, /) -> Outputs: ...
    def run(self, source: Source, stop: float, hellos: Hellos, /) -> tuple[int, bool, Outputs]: ...
    def harvest(self, final: bool, /) -> tuple[bytes, bytes]: ...
    def stats(self) -> dict[str, Any]: ...

def tpacket_block(ring: Buffer, base: int, block_size: int, count: int, iface: int, /) -> Frames: ...
def aggregate(
    flows: Buffer, address: Callable[[int, int, int, int, float], int], /
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int, int, int, int, int, int, int, int, float, float]]]: ...
def decode(frames: Frames, /) -> list[dict[str, Any]]: ...
def tables_blob(roles: dict[str, bytes], selection: dict[str, Any], /) -> bytes: ...
def dns_name(msg: bytes, pos: int, /) -> tuple[str, int] | str: ...
def dns_records(msg: bytes, /) -> tuple[list[tuple[str, int, int, int]], str | None]: ...
def tcp_signature(data: bytes, l4: int, /) -> tuple[str, bool] | None: ...
def dhcp_options(raw: bytes, at: int, /) -> tuple[list[tuple[int, bytes]], bool]: ...
def http_head(data: bytes, body: int, /) -> tuple[bool, bytes | None] | tuple[bool, bytes | None, bytes | None]: ...
