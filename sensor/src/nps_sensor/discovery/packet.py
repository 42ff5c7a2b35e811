"""The packet a dissector sees: its addresses, ports and bytes, already decoded."""

from __future__ import annotations

from dataclasses import dataclass

from nps_sensor.discovery.facts import NO_IP, NO_MAC, Facts, Seen, Value
from nps_sensor.discovery.printable import clean

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
        """A fact about the sender (by default) or about the device `ip`/`mac` names.

        A text with nothing to clean (most facts) goes straight into `out`'s items, as
        `Facts.add` would add it, inline: the dissectors say some 8,600 facts in a 1
        M-packet run, and each call fewer is some 5 M instructions (discovery's cost,
        issue 18)."""
        if ip is None:
            ip = self.src
            if mac is None:
                mac = self.smac
        elif mac is None:
            mac = NO_MAC
        if value.isprintable() and "\ufffd" not in value if type(value) is str else _printable_items(value):
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
        else:
            self._add(ip, mac, source, key, value)

    def fact_dst(self, source: str, key: str, value: Value) -> None:
        """A fact about the receiver (a server's software seen in a client's request)."""
        self.fact(source, key, value, self.dst, self.dmac)

    def _add(self, ip: int, mac: int, source: str, key: str, value: Value) -> None:
        """Every fact's text is made printable here, whichever dissector found it; what
        was removed is a fact of its own, (source, "removed", (key, kinds...))."""
        assert self.out is not None
        if _printable(value):  # most facts: nothing to clean
            self.out.add(self.ts, ip, mac, source, key, value)
            return
        removed: tuple[str, ...] = ()
        if isinstance(value, str):
            value, removed = clean(value)
            if not value and removed:  # nothing printable: only the mark
                self.out.add(self.ts, ip, mac, source, "removed", (key, *removed))
                return
        else:
            parts = [clean(v) if isinstance(v, str) else (v, ()) for v in value]
            value = tuple(v for v, _ in parts)
            removed = tuple(sorted({kind for _, kinds in parts for kind in kinds}))
        self.out.add(self.ts, ip, mac, source, key, value)
        if removed:
            self.out.add(self.ts, ip, mac, source, "removed", (key, *removed))


def _printable(value: Value) -> bool:
    """Whether `clean` would leave `value` as it is (no NUL, control, invalid or unprintable
    character: `str.isprintable` says no to all but U+FFFD)."""
    if isinstance(value, str):
        return value.isprintable() and "\ufffd" not in value
    return _printable_items(value)


def _printable_items(value: Value) -> bool:
    """`_printable` of a tuple fact (a service's ("tcp", 80, "http")): a loop rather than
    all() over a generator, a third of its cost, for the some 1,800 tuple facts of a
    1 M-packet run (discovery's cost, issue 18)."""
    for v in value:  # noqa: SIM110 (all() over a generator is what this avoids)
        if not (isinstance(v, int) or (v.isprintable() and "\ufffd" not in v)):
            return False
    return True


def text(raw: bytes, limit: int = 256) -> str:
    """Bytes from the wire as text, bounded; `Packet.fact` makes it printable. What
    `printable.decode` does, here rather than through a call: some 3,400 texts a 1
    M-packet run (discovery's cost, issue 18)."""
    return raw[:limit].decode("utf-8", "surrogateescape").strip()


__all__ = ["NO_IP", "NO_MAC", "Malformed", "Packet", "text"]
