"""Synthetic traffic: frame builders, capture writers and a deterministic LAN generator.

The decoder's tests and benchmarks need captures whose every header is known: the
builders write exactly the layouts a mirror port delivers (tags, tunnels, ERSPAN,
cooked captures), checked against Wireshark, and the generator produces millions of
realistic frames fast enough to measure the engine without shipping capture files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# How the generated traffic reaches the sensor; the CLI offers these without
# loading the generator.
WRAPS = ("plain", "vlan", "erspan2")

if TYPE_CHECKING:
    from nps_sensor.synth.pcapw import PcapngWriter, PcapWriter
    from nps_sensor.synth.traffic import generate, write_capture

_LAZY = {
    "PcapWriter": "nps_sensor.synth.pcapw",
    "PcapngWriter": "nps_sensor.synth.pcapw",
    "generate": "nps_sensor.synth.traffic",
    "write_capture": "nps_sensor.synth.traffic",
}


def __getattr__(name: str) -> Any:
    """Load the writers and the generator when first used (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["WRAPS", "PcapWriter", "PcapngWriter", "generate", "write_capture"]
