"""Counters of what the engine saw, dropped and could not decode.

The packet core counts per packet (packets, bytes, decode errors by reason, link-layer
payloads by EtherType, encapsulations, copies, flows, fragments); Python adds what
its own steps find (a dissector's malformed message, a DNS answer that cannot be
parsed) and the capture files' damage, and names and orders them for the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nps_sensor.decode import LLC

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
    """Python's own counters, beside the core's."""

    decode_errors: Counter[str] = field(default_factory=Counter)  # malformed-* and friends
    capture_errors: list[str] = field(default_factory=list)

    def as_dict(self, core: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """The report's `stats` from the core's counters (`Core.stats()`), these, and `extra`."""
        errors = Counter(core["decode_errors"]) + self.decode_errors
        if core["short_l4"]:
            errors["truncated-transport"] += core["short_l4"]
        non_ip: Counter[str] = Counter()
        for et, k in core["non_ip"].items():
            non_ip[ethertype_name(et)] += k
        return {
            "packets": core["packets"],
            "bytes": core["bytes"],
            "ip_packets": core["ip_packets"],
            "non_ip": dict(sorted(non_ip.items())),
            "decode_errors": dict(sorted(errors.items())),
            "encapsulation": dict(sorted(core["encapsulation"].items())),
            **extra,
            "capture_errors": list(self.capture_errors),
        }
