"""ARP (RFC 826) senders: the devices an Ethernet/IPv4 ARP request or reply names.

A device that never sends IP (a printer asleep, a camera waiting to be asked) still
answers ARP, so the sender's MAC and IPv4 address make it an asset. The decoder leaves
ARP frames at state L2 with `p` at the ARP header; this module reads the fields of
all of a batch's ARP frames at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nps_sensor.decode.frames import Decoded

ETHERTYPE = 0x0806
HEADER = 28  # Ethernet/IPv4 ARP: 8 bytes of types and sizes, two MAC/IPv4 pairs
ETHER_IPV4 = 0x00010800  # hardware type 1 (Ethernet), protocol type IPv4
SIZES = 0x0604  # 6-byte hardware, 4-byte protocol addresses
V4_MAPPED = np.uint64(0xFFFF00000000)


@dataclass(slots=True)
class Senders:
    """One row per well-formed ARP frame."""

    frames: np.ndarray  # the frames' indices in the batch
    mac: np.ndarray  # int64, the sender's hardware address
    ip_lo: np.ndarray  # uint64, the sender's IPv4 address, IPv4-mapped (the high half is 0)

    def __len__(self) -> int:
        return len(self.frames)


def senders(d: Decoded, l2: np.ndarray) -> Senders:
    """The senders of the ARP frames among `l2` (frames decoded to a non-IP payload);
    truncated frames and other hardware or protocol types are left out."""
    arp = l2[d.et[l2] == ETHERTYPE]
    buf = d.buf
    at = d.p[arp]
    ok = at + HEADER <= d.end[arp]
    at, arp = at[ok], arp[ok]
    well_formed = (buf.be32[at] == ETHER_IPV4) & (buf.be16[at + 4] == SIZES)
    at, arp = at[well_formed], arp[well_formed]
    mac = (buf.be16[at + 8].astype(np.int64) << 32) | buf.be32[at + 10].astype(np.int64)
    ip_lo = buf.be32[at + 14].astype(np.uint64) | V4_MAPPED
    return Senders(arp, mac, ip_lo)
