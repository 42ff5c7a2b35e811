"""HTTP/1.x: a client's User-Agent and the Host it asked for; a server's Server header.

Only the header block in the packet's payload is read (a request or response head
nearly always fits one segment); bodies never reach this dissector.
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol, one
from nps_sensor.packetcore import http_head

HEADERS_MAX = 8192  # bytes of a payload its head is looked for in (sensor/csrc/httphead.c too)


def headers(head: bytes) -> dict[bytes, bytes]:
    """Every header name (lower case) to its value; later repeats are ignored. For
    messages read whole (SSDP); HTTP itself looks up the few headers it needs (`dissect`)."""
    out: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        name, colon, value = line.partition(b":")
        if colon:
            out.setdefault(name.strip().lower(), value.strip())
    return out


def dissect(p: Packet) -> None:
    """A response's Server, a request's User-Agent and Host, found in C
    (sensor/csrc/httphead.c): the first line that opens with the header's name (ASCII
    case-blind), its value to the line's end, stripped, in the head (the payload's first
    HEADERS_MAX bytes up to its blank line): in Python, a lower-cased copy of the head
    and a search per header were most of this dissector's work on the bench capture
    (discovery's cost, issue 18)."""
    found = http_head(p.data, p.body)
    if found[0]:
        server = found[1]
        product = text(server) if server else ""
        if product:
            p.fact("http", "server", product)
        p.fact("http", "service", ("tcp", p.sport, product or "http"))
        return
    agent, host = found[1], found[2]  # type: ignore[misc]
    if agent:
        p.fact("http", "user_agent", text(agent, 512))
    if host:
        p.fact("http", "host", text(host))
    p.fact_dst("http", "service", ("tcp", p.dport, "http"))


def repeat(data: bytes, l4: int, body: int) -> bytes:
    """A response: the server's port (its Server header is the same all day; its Date
    is not). A request: the port it went to and the headers after the request line,
    which a client repeats for every path it asks for."""
    if data.startswith(b"HTTP/", body):
        return data[l4 : l4 + 2]
    line_end = data.find(b"\n", body)
    return data[l4 + 2 : l4 + 4] + (data[line_end : line_end + 1024] if line_end > 0 else data[body:])


PROTOCOL = Protocol(
    "http",
    dissect,
    magic=(b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"PATC", b"CONN", b"HTTP"),
    repeat=repeat,
    facts=(
        Fact("http", "service", ("sender", "receiver"), '("tcp", 80, "nginx/1.24.0")', kind=tuple),
        Fact("http", "server", example='"nginx/1.24.0"', reads=readers.http_server),
        Fact(
            "http", "user_agent", example='"Mozilla/5.0 (Windows NT 10.0; Win64; x64) ..."', reads=one(rules.user_agent)
        ),
        Fact("http", "host", example='"connectivitycheck.gstatic.com"'),
    ),
)
