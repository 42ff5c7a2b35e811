"""HTTP/1.x: a client's User-Agent and the Host it asked for; a server's Server header.

Only the header block in the packet's payload is read (a request or response head
nearly always fits one segment); bodies never reach this dissector.
"""

from __future__ import annotations

from nps_sensor.discovery.packet import Packet, text

HEADERS_MAX = 8192


def headers(head: bytes) -> dict[bytes, bytes]:
    """Header names (lower case) to values; later repeats are ignored."""
    out: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        name, colon, value = line.partition(b":")
        if colon:
            out.setdefault(name.strip().lower(), value.strip())
    return out


def dissect(p: Packet) -> None:
    b = p.payload[:HEADERS_MAX]
    end = b.find(b"\r\n\r\n")
    head = b if end < 0 else b[:end]
    fields = headers(head)
    if head.startswith(b"HTTP/"):
        server = fields.get(b"server")
        product = text(server) if server else ""
        if product:
            p.fact("http", "server", product)
        p.fact("http", "service", ("tcp", p.sport, product or "http"))
        return
    agent = fields.get(b"user-agent")
    if agent:
        p.fact("http", "user_agent", text(agent, 512))
    host = fields.get(b"host")
    if host:
        p.fact("http", "host", text(host))
    p.fact_dst("http", "service", ("tcp", p.dport, "http"))
