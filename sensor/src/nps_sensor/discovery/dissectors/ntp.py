"""NTP (RFC 5905): who keeps time for whom, and with which implementation.

The first byte of every NTP packet gives its version and mode: a client (mode 3),
a server (4), a broadcast server (5) or a symmetric peer (1, 2). A server also
tells its stratum and, at stratum 1, its reference clock (`GPS`, `PPS`, ...).
Control messages (mode 6, what `ntpq` asks) answer with the server's system
variables, which name its software, OS and processor.
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Payload, Protocol

NTP_PORT = 123
MODES = {1: "symmetric-active", 2: "symmetric-passive", 3: "client", 4: "server", 5: "broadcast", 6: "control"}
SERVER, BROADCAST, CONTROL = 4, 5, 6
READ_VARIABLES = 2
SYSTEM_VARIABLES = {b"version": "software", b"system": "system", b"processor": "processor"}


def dissect(p: Packet) -> None:
    b = p.payload
    if not b:
        raise Malformed("empty NTP packet")
    version, mode = (b[0] >> 3) & 7, b[0] & 7
    if mode not in MODES or not 1 <= version <= 4:
        raise Malformed("not an NTP mode or version")
    if mode == CONTROL:
        _control(p, b)
        return
    p.fact("ntp", "mode", MODES[mode])
    p.fact("ntp", "version", str(version))
    if len(b) < 48:
        raise Malformed("short NTP packet")
    if mode in (SERVER, BROADCAST) and p.sport == NTP_PORT:
        stratum = b[1]
        p.fact("ntp", "service", ("udp", NTP_PORT, "ntp"))
        if 1 <= stratum <= 15:
            p.fact("ntp", "stratum", str(stratum))
        if stratum == 1:
            refid = text(b[12:16].rstrip(b"\0"))
            if refid:
                p.fact("ntp", "reference", refid)


def _control(p: Packet, b: bytes) -> None:
    """A mode 6 response to READ VARIABLES: `name=value, ...` text."""
    if len(b) < 12 or not b[1] & 0x80 or b[1] & 0x1F != READ_VARIABLES or p.sport != NTP_PORT:
        return
    p.fact("ntp", "service", ("udp", NTP_PORT, "ntp"))
    size = int.from_bytes(b[10:12], "big")
    body = b[12 : 12 + size]
    for item in body.split(b","):
        name, eq, value = item.partition(b"=")
        key = SYSTEM_VARIABLES.get(name.strip())
        if eq and key:
            v = text(value.strip().strip(b'"'))
            if v:
                p.fact("ntp", key, v)


PROTOCOL = Protocol(
    "ntp",
    dissect,
    udp=(NTP_PORT,),
    repeat=Payload(((0, 2),)),  # mode, version and stratum; not the clocks
    facts=(
        Fact("ntp", "service", example='("udp", 123, "ntp")', kind=tuple),
        Fact("ntp", "mode", example='"client", "server", "broadcast", "symmetric-active"'),
        Fact("ntp", "version", example='"4"'),
        Fact("ntp", "stratum", example='"2"', reads=readers.TIME_SERVER),
        Fact("ntp", "reference", example='"GPS"'),
        Fact("ntp", "software", example='"ntpd 4.2.8p15"'),
        Fact("ntp", "system", example='"Linux/5.10.0"', reads=readers.ntp_system),
        Fact("ntp", "processor", example='"x86_64"'),
    ),
)
