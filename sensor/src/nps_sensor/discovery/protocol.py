"""What a protocol module declares, so that the dispatcher needs no list of its own.

Each module of `discovery/dissectors` that dissects a protocol ends with a `PROTOCOL`
(a `Protocol`): its name, how its packets are recognised (transports and ports, the
first payload bytes on any port, an EtherType, an LLC SNAP header, ICMPv6 types, TCP
handshakes), which of the packets on its ports carry something worth a dissector
(`naming`), what makes a message the same as one already read (`repeat`), and the
facts it records with the rule that reads each (`Fact`). `registry` finds them and
builds the dispatcher's tables; `predict` reads a fact through the rule its
declaration names. Like Zeek's analyzers, a protocol declares itself in its own
module: adding one touches that module, its rules and its tests.

Recognition is data (ports, first payload bytes, a `signature.Signature` of the
messages worth reading, an EtherType, an LLC SNAP header, ICMPv6 types), because the
compiled packet core (sensor/csrc/select.c) chooses the packets from tables built of
it (`registry.selection`) without calling Python per packet. Where a protocol keeps
state across packets it names a class (`state`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from typing import Protocol as Interface

from nps_sensor.discovery.facts import Value
from nps_sensor.discovery.fingerprints.claims import Claim
from nps_sensor.discovery.packet import Packet
from nps_sensor.discovery.signature import Signature

if TYPE_CHECKING:
    from nps_sensor.discovery.matchers import Matchers


@dataclass(frozen=True)
class Reading:
    """What a rule may consult besides the fact's value: the fingerprint databases, and
    the value of the fact its declaration `needs` (an ICS product's vendor)."""

    m: Matchers
    needed: str | None = None


Reader = Callable[[Value, Reading], list[Claim]]
About = Literal["sender", "receiver", "named", "link"]


@dataclass(frozen=True)
class Fact:
    """One kind of fact a protocol records: `(source, key) -> value`.

    `about` says whose it is: the sender's, the receiver's (a server's software seen in
    a client's request), a device the message names by address or MAC, or the
    sender's MAC for link-layer frames. `example` shows a value's form. `reads` is the rule that says
    what the fact tells of a device (none: it is reported, not voted on); `needs` names
    another key of the same source whose value that rule reads too.
    """

    source: str
    key: str
    about: tuple[About, ...] = ("sender",)
    example: str = ""
    kind: type[str] | type[tuple[object, ...]] = str
    reads: Reader | None = None
    needs: str | None = None


class Stateful(Interface):
    """A dissector with state across packets (one per dispatcher): TLS hellos cut by a
    segment's end, QUIC Initials spread over datagrams."""

    def dissect(self, p: Packet) -> None: ...


# (data, offset of the transport header, offset of the payload) -> what identifies the message
Repeat = Callable[[bytes, int, int], bytes]


@dataclass(frozen=True)
class Payload:
    """A repeat the packet core finds too (sensor/csrc/select.c), so that a UDP message
    already read this window is never handed to Python: the payload's bytes in `spans`,
    each (start, stop) from the payload's first byte, stop None for its end."""

    spans: tuple[tuple[int, int | None], ...]

    def __call__(self, data: bytes, l4: int, body: int) -> bytes:
        return b"".join(data[body + a : None if b is None else body + b] for a, b in self.spans)

    def spec(self) -> list[tuple[int, int]]:
        """As the core reads it: -1 for the payload's end."""
        return [(a, -1 if b is None else b) for a, b in self.spans]


@dataclass(frozen=True)
class Protocol:
    """A protocol as the dispatcher sees it. `name` is also the suffix of its decode-error
    counter (`malformed-NAME`)."""

    name: str
    dissect: Callable[[Packet], None] | None = None
    state: Callable[[], Stateful] | None = None  # instead of `dissect`: one per dispatcher
    udp: tuple[int, ...] = ()  # ports, either side (the destination's first)
    tcp: tuple[int, ...] = ()
    magic: tuple[bytes, ...] = ()  # first TCP payload bytes (1 to 4), on any port
    handshakes: bool = False  # TCP SYN and SYN+ACK, the first of each sender per window
    icmpv6: tuple[int, ...] = ()  # ICMPv6 message types
    ethertype: int = 0  # link-layer frames: by EtherType, the payload right after it
    snap: int = 0  # link-layer frames: by LLC SNAP header (8 bytes), the payload after it
    naming: Signature | None = None  # of the packets on its ports, those worth reading; none: all
    repeat: Repeat | None = None  # a message repeated by its sender within a harvest is read once
    facts: tuple[Fact, ...] = ()

    def parser(self) -> Callable[[Packet], None]:
        """The function that dissects one packet, made afresh for stateful protocols."""
        if self.state is not None:
            return self.state().dissect
        assert self.dissect is not None, f"protocol {self.name}: neither dissect nor state"
        return self.dissect


def one(rule: Callable[[str], Claim | None]) -> Reader:
    """A reader from a rule that reads a text value alone and gives one claim or none."""

    def read(value: Value, r: Reading) -> list[Claim]:
        c = rule(value) if isinstance(value, str) else None
        return [c] if c else []

    return read


def fixed(claim: Claim, value: str | None = None) -> Reader:
    """A reader that says `claim` whatever the value (or only for `value`)."""

    def read(v: Value, r: Reading) -> list[Claim]:
        return [claim] if value is None or v == value else []

    return read
