"""The packet a dissector sees: its addresses, ports and bytes, already decoded."""

from __future__ import annotations

from dataclasses import dataclass

from nps_sensor.discovery.facts import NO_IP, NO_MAC, Facts, Seen, Value
from nps_sensor.discovery.printable import clean
from nps_sensor.discovery.printable import decode as text  # bytes from the wire as text, bounded

RECENT_MAX = 100_000  # repeated messages remembered per harvest


class Malformed(ValueError):
    """A dissector met bytes it cannot read; the facts it found before stay."""


@dataclass(slots=True)
class Packet:
    ts: float
    src: int  # 128-bit address (IPv4 mapped), NO_IP for link-layer packets
    dst: int
    smac: int  # NO_MAC where the link carries none
    dmac: int
    proto: int  # IP protocol; 0 for link-layer packets
    sport: int
    dport: int
    data: bytes  # from the IP header (link-layer: the frame's payload) to its end
    l4: int  # offset of the transport header in `data`
    body: int  # offset of the transport payload in `data`
    ttl: int = 0
    out: Facts | None = None

    @property
    def payload(self) -> bytes:
        return self.data[self.body :]

    def fact(self, source: str, key: str, value: Value, ip: int | None = None, mac: int | None = None) -> None:
        """A fact about the sender (by default) or about the device `ip`/`mac` names: the
        one way a fact enters `out`. Every text is made printable here, whichever
        dissector found it; what was removed is a fact of its own, (source, "removed",
        (key, kinds...)).

        A fact with nothing to clean (most) is tested and stored inline, no call: the
        dissectors say some 8,600 facts in a 1 M-packet run, and a call each is some
        6 M instructions (discovery's cost, issue 18)."""
        if ip is None:
            ip = self.src
            if mac is None:
                mac = self.smac
        elif mac is None:
            mac = NO_MAC
        removed: tuple[str, ...] = ()
        if not (value.isprintable() and "\ufffd" not in value if type(value) is str else _printable_items(value)):
            value, removed = _cleaned(value)
            if not value and removed and isinstance(value, str):  # nothing printable: only the mark
                key, value, removed = "removed", (key, *removed), ()
        out = self.out
        assert out is not None
        k = (ip, mac, source, key, value)
        items = out.items
        seen = items.get(k)
        ts = self.ts
        if seen is not None:
            seen.count += 1
            if ts > seen.last:
                seen.last = ts
            elif ts < seen.first:
                seen.first = ts
        elif len(items) < out.limit:
            items[k] = Seen(ts, ts)
        else:
            out.overflow += 1
        if removed:
            self.fact(source, "removed", (key, *removed), ip, mac)

    def fact_dst(self, source: str, key: str, value: Value) -> None:
        """A fact about the receiver (a server's software seen in a client's request)."""
        self.fact(source, key, value, self.dst, self.dmac)


def _cleaned(value: Value) -> tuple[Value, tuple[str, ...]]:
    """`value` made printable by `clean`, with the kinds of what was removed."""
    if isinstance(value, str):
        return clean(value)
    parts = [clean(v) if isinstance(v, str) else (v, ()) for v in value]
    return tuple(v for v, _ in parts), tuple(sorted({kind for _, kinds in parts for kind in kinds}))


def _printable_items(value: Value) -> bool:
    """Whether `clean` would leave every text of a tuple fact (a service's ("tcp", 80,
    "http")) as it is (no NUL, control, invalid or unprintable character: `isprintable`
    says no to all but U+FFFD). A loop rather than all() over a generator, a third of
    its cost, for the some 1,800 tuple facts of a 1 M-packet run (discovery's cost,
    issue 18)."""
    for v in value:  # noqa: SIM110 (all() over a generator is what this avoids)
        if not (isinstance(v, int) or (v.isprintable() and "\ufffd" not in v)):
            return False
    return True


__all__ = ["NO_IP", "NO_MAC", "Malformed", "Packet", "text"]
