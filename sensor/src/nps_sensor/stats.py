"""Counters of what the engine saw, dropped and could not decode."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nps_sensor.decode import ENCAPS, ERROR, IP, L2, LLC, REASONS, Decoded

ETHERTYPE_NAMES = {
    0x0806: "arp",
    0x8035: "rarp",
    0x88CC: "lldp",
    0x888E: "eapol",
    0x8809: "slow-protocols",
    0x88F7: "ptp",
    0x8863: "pppoe-discovery",
    0x8864: "ppp-control",
    0x88E5: "macsec",
    0x8100: "vlan",
    0x893A: "ieee1905",
    0x0842: "wake-on-lan",
    0x88E1: "homeplug",
    0x22F0: "avb",
    0x9000: "loopback",
    0x88BA: "iec61850-sv",
    0x88B8: "iec61850-goose",
    0x8892: "profinet",
    0x88A4: "ethercat",
    0x80F3: "aarp",
    0x809B: "appletalk",
    0x8137: "ipx",
}


def ethertype_name(et: int) -> str:
    if et == LLC:
        return "llc"
    return ETHERTYPE_NAMES.get(et, f"0x{et:04x}")


@dataclass
class Stats:
    packets: int = 0
    bytes: int = 0  # on the wire
    ip_packets: int = 0
    non_ip: Counter[str] = field(default_factory=Counter)
    decode_errors: Counter[str] = field(default_factory=Counter)
    truncated_transport: int = 0
    encapsulation: Counter[str] = field(default_factory=Counter)
    first: float = float("inf")
    last: float = float("-inf")
    capture_errors: list[str] = field(default_factory=list)

    def count(self, d: Decoded) -> None:
        b = d.batch
        n = len(b)
        if not n:
            return
        self.packets += n
        self.bytes += int(b.wirelen.sum())
        self.first = min(self.first, float(b.ts.min()))
        self.last = max(self.last, float(b.ts.max()))
        states = np.bincount(d.state, minlength=4)
        self.ip_packets += int(states[IP])
        if states[ERROR]:
            for reason, k in enumerate(np.bincount(d.err[d.state == ERROR], minlength=len(REASONS))):
                if k:
                    self.decode_errors[REASONS[reason]] += int(k)
        if states[L2]:
            kinds, counts = np.unique(d.et[d.state == L2], return_counts=True)
            for et, k in zip(kinds.tolist(), counts.tolist(), strict=True):
                self.non_ip[ethertype_name(et)] += k
        short = int(d.short_l4.sum())
        if short:
            self.decode_errors["truncated-transport"] += short
        if d.encap.any():
            for i, name in enumerate(ENCAPS):
                k = int(np.count_nonzero(d.encap & (1 << i)))
                if k:
                    self.encapsulation[name] += k

    def as_dict(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "ip_packets": self.ip_packets,
            "non_ip": dict(sorted(self.non_ip.items())),
            "decode_errors": dict(sorted(self.decode_errors.items())),
            "encapsulation": dict(sorted(self.encapsulation.items())),
            **extra,
            "capture_errors": list(self.capture_errors),
        }
