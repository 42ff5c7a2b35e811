"""The packet a dissector sees: its addresses, ports and bytes, already decoded."""

from __future__ import annotations

from dataclasses import dataclass

from nps_sensor.discovery.facts import NO_IP, NO_MAC, Facts, Value

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
        """A fact about the sender (by default) or about the device `ip`/`mac` names."""
        assert self.out is not None
        self.out.add(
            self.ts,
            self.src if ip is None else ip,
            self.smac if mac is None and ip is None else (NO_MAC if mac is None else mac),
            source,
            key,
            value,
        )

    def fact_dst(self, source: str, key: str, value: Value) -> None:
        """A fact about the receiver (a server's software seen in a client's request)."""
        assert self.out is not None
        self.out.add(self.ts, self.dst, self.dmac, source, key, value)


CONTROL = bytes([*range(32), 127])


def text(raw: bytes, limit: int = 256) -> str:
    """Bytes from the wire as printable text: bounded, control characters dropped.
    (ASCII control bytes go in one C-level pass; other unprintables are rare.)"""
    s = raw[:limit].translate(None, CONTROL).decode("utf-8", "replace")
    if not s.isprintable():
        s = "".join(ch for ch in s if ch.isprintable())
    return s.strip()


__all__ = ["NO_IP", "NO_MAC", "Malformed", "Packet", "text"]
