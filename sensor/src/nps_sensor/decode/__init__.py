"""Decode a batch of frames down to the innermost IP header, for all frames at once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nps_sensor.capture.batch import Batch
from nps_sensor.decode import ip, link, tunnels
from nps_sensor.decode.frames import (
    ACTIVE,
    ALL,
    ENCAPS,
    ERROR,
    ETHER,
    IP,
    IP_ANY,
    IPV4,
    IPV6,
    L2,
    LLC,
    MAX_LAYERS,
    REASONS,
    Decoded,
    Sel,
)

__all__ = ["ACTIVE", "ENCAPS", "ERROR", "IP", "L2", "LLC", "REASONS", "Decoded", "decode"]

Handler = Callable[[Decoded, Sel], Sel | None]

# Header kind -> parser. IP parsers return the frames they decoded, which then get
# their transport fields and a look for tunnels.
_HANDLERS: list[tuple[tuple[int, ...], Handler]] = [
    ((ETHER,), link.ethernet),
    (link.VLAN_TYPES, link.vlan),
    (link.MPLS_TYPES, link.mpls),
    ((link.PPPOE_SESSION,), link.pppoe),
    ((IP_ANY,), ip.ip_any),
    ((IPV4,), ip.ipv4),
    ((IPV6,), ip.ipv6),
]
_IP_PARSERS = (ip.ipv4, ip.ipv6)
_LUT = np.zeros(ETHER + 4, dtype=np.int8)  # header kind -> 1 + handler index, 0: none
for _i, (_kinds, _) in enumerate(_HANDLERS):
    _LUT[list(_kinds)] = _i + 1


def decode(batch: Batch) -> Decoded:
    d = Decoded(batch)
    link.start(d)
    active = np.flatnonzero(d.state == ACTIVE)
    for _ in range(MAX_LAYERS):
        if not len(active):
            break
        which = _LUT[d.et[active]]
        present = np.bincount(which, minlength=len(_HANDLERS) + 1)
        if present[0]:
            # A payload the sensor does not decode further (ARP, LLDP, ...).
            d.state[active[which == 0]] = L2
        for i, (_, handler) in enumerate(_HANDLERS):
            if present[i + 1]:
                sel: Sel
                if present[i + 1] == d.n:
                    sel = ALL
                elif present[i + 1] == len(active):
                    sel = active
                else:
                    sel = active[which == i + 1]
                done = handler(d, sel)
                if handler in _IP_PARSERS:
                    assert done is not None
                    ip.transport(d, done)
                    tunnels.detect(d, done)
        active = active[d.state[active] == ACTIVE]
    else:
        d.fail(active, "too-many-layers")
    return d
