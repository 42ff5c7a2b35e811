"""What a packet's payload must hold to be worth a dissector: signatures on bytes.

Discovery chooses its packets in the packet core, which cannot call Python for each
packet; so a protocol says in data which of its messages to look at. A signature is a
list of alternatives; an alternative holds when the payload has `min_room` bytes and
each of its tests holds: the big-endian field of 1, 2 or 4 bytes at an offset, masked,
equals (or is less than) a value. `to_port`: only packets sent to the protocol's port.
"""

from __future__ import annotations

from dataclasses import dataclass

EQ, LT = 0, 1
FULL = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}


@dataclass(frozen=True)
class Test:
    offset: int
    width: int
    value: int
    mask: int | None = None
    op: int = EQ

    def spec(self) -> tuple[int, int, int, int, int]:
        return (self.offset, self.width, FULL[self.width] if self.mask is None else self.mask, self.op, self.value)


def eq(offset: int, width: int, value: int, mask: int | None = None) -> Test:
    return Test(offset, width, value, mask)


def lt(offset: int, width: int, value: int) -> Test:
    return Test(offset, width, value, None, LT)


@dataclass(frozen=True)
class Alternative:
    min_room: int
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class Signature:
    alternatives: tuple[Alternative, ...]
    to_port: bool = False

    def spec(self) -> tuple[bool, list[tuple[int, list[tuple[int, int, int, int, int]]]]]:
        """As the core reads it (sensor/csrc/select.h)."""
        return (self.to_port, [(a.min_room, [t.spec() for t in a.tests]) for a in self.alternatives])


def words(offset: int, texts: list[bytes], min_room: int = 4) -> Signature:
    """Any of these 4-byte words at `offset` (an HTTP method, a banner's start)."""
    return Signature(tuple(Alternative(min_room, (eq(offset, 4, int.from_bytes(t, "big")),)) for t in texts))
