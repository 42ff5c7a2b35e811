"""Decapsulation, frame by frame: what the packet core reads of each frame (for tests
and diagnostics; the engine itself never builds this).

The decoder is the core's (sensor/csrc/dec.c, docs/engine.md): Ethernet, 802.1Q/QinQ,
MPLS, PPPoE, cooked and raw link types, IPv4, IPv6 with its extension headers, and
the tunnels mirrored traffic comes in (GRE, ERSPAN I/II/III, VXLAN, VXLAN-GPE, Geneve,
IP-in-IP) nested in any order, to the innermost IP header. `decode` gives one column
per field, one element per frame.
"""

from __future__ import annotations

from typing import Any

from nps_sensor import packetcore
from nps_sensor.capture.batch import Batch

ENCAPS: tuple[str, ...] = packetcore.ENCAPS
REASONS: tuple[str, ...] = packetcore.REASONS
LLC: int = packetcore.LLC  # the pseudo EtherType of an 802.2 LLC frame (802.3 length field)

# Frame states.
ACTIVE, IP, L2, ERROR = 0, 1, 2, 3


class Decoded:
    """Every frame's fields as columns (`d.proto[i]`): offsets in the batch's buffer,
    addresses as 128-bit integers (IPv4 mapped), MACs as integers (-1 where none)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.n = len(rows)

        def col(name: str) -> list[Any]:
            return [r[name] for r in rows]

        self.state: list[int] = col("state")  # ACTIVE, IP, L2, ERROR
        self.err: list[int] = col("err")  # REASONS index while ERROR
        self.et: list[int] = col("et")  # the last header's kind: an EtherType, or LLC
        self.p: list[int] = col("p")
        self.end: list[int] = col("end")
        self.mac_at: list[int] = col("mac_at")
        self.vlan_outer: list[int] = col("vlan_outer")
        self.vlan_inner: list[int] = col("vlan_inner")
        self.tunnel_id: list[int] = col("tunnel_id")
        self.encap: list[int] = col("encap")  # bits of ENCAPS
        self.depth: list[int] = col("depth")  # tunnels entered
        self.l3: list[int] = col("l3")
        self.l4: list[int] = col("l4")
        self.ipver: list[int] = col("ipver")
        self.frag: list[int] = col("frag")  # 0 whole, 1 first fragment, 2 a later one
        self.proto: list[int] = col("proto")
        self.sport: list[int] = col("sport")
        self.dport: list[int] = col("dport")
        self.has_ports: list[bool] = col("has_ports")
        self.short_l4: list[bool] = col("short_l4")
        self.iplen: list[int] = col("iplen")
        self.src: list[int] = col("src")
        self.dst: list[int] = col("dst")
        self.smac: list[int] = col("smac")
        self.dmac: list[int] = col("dmac")
        self.tcpflags: list[int] = col("tcpflags")
        self.icmptype: list[int] = col("icmptype")
        self.head: list[int] = col("head")  # the IP header's first 8 bytes, TTL left out
        self.fraghdr: list[int] = col("fraghdr")
        self.t0: list[int] = col("t0")  # the first 16 bytes after the IP header
        self.t1: list[int] = col("t1")
        self.ipid: list[int] = col("ipid")
        self.path: list[int] = col("path")  # the tunnels' sources, mixed

    def reason(self, i: int) -> str | None:
        """The decode error of frame i, if it has one."""
        return REASONS[self.err[i]] if self.state[i] == ERROR else None

    def encapsulations(self, i: int) -> set[str]:
        return {name for b, name in enumerate(ENCAPS) if self.encap[i] >> b & 1}


def decode(batch: Batch) -> Decoded:
    return Decoded(packetcore.decode(batch))


__all__ = ["ACTIVE", "ENCAPS", "ERROR", "IP", "L2", "LLC", "REASONS", "Decoded", "decode"]
