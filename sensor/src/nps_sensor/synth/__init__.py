"""Synthetic traffic: frame builders, capture writers and a deterministic LAN generator.

The decoder's tests and benchmarks need captures whose every header is known: the
builders write exactly the layouts a mirror port delivers (tags, tunnels, ERSPAN,
cooked captures), checked against Wireshark, and the generator produces millions of
realistic frames fast enough to measure the engine without shipping capture files.
"""

from nps_sensor.synth.pcapw import PcapngWriter, PcapWriter
from nps_sensor.synth.traffic import WRAPS, generate, write_capture

__all__ = ["WRAPS", "PcapWriter", "PcapngWriter", "generate", "write_capture"]
