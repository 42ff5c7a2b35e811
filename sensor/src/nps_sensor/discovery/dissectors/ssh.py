"""SSH: both banners (software and often the OS build), and HASSH from KEXINIT.

The server is the side on port 22 or, on other ports, the side on the lower port.
HASSH and HASSHServer follow Salesforce's definition: MD5 of the key exchange,
cipher, MAC and compression lists, the client-to-server ones for the client's HASSH
and the server-to-client ones for HASSHServer (each side's lists for what it sends).
KEXINIT comes in the banner's segment or, as OpenSSH sends it, in a segment of its own.
"""

from __future__ import annotations

import hashlib

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq, lt

SSH_PORT = 22
KEXINIT = 20


def _is_server(p: Packet) -> bool:
    if SSH_PORT in (p.sport, p.dport):
        return p.sport == SSH_PORT
    return p.sport < p.dport


def dissect(p: Packet) -> None:
    b = p.payload
    server = _is_server(p)
    if b.startswith(b"SSH-"):
        line, _, rest = b.partition(b"\n")
        banner = text(line.rstrip(b"\r"), 255)
        p.fact("ssh", "server_banner" if server else "client_banner", banner)
        if server:
            # SSH-protoversion-softwareversion SP comments; protoversion 2.0 or 1.99.
            parts = banner.split(" ")[0].split("-", 2)
            p.fact("ssh", "service", ("tcp", p.sport, parts[2] if len(parts) == 3 and parts[2] else "ssh"))
        else:
            p.fact_dst("ssh", "service", ("tcp", p.dport, "ssh"))
        b = rest
    if len(b) > 22 and b[5] == KEXINIT:
        _kexinit(p, b, server)


def _kexinit(p: Packet, b: bytes, server: bool) -> None:
    at = 6 + 16  # packet length, padding length, message code, cookie
    lists: list[str] = []
    for _ in range(8):
        if at + 4 > len(b):
            raise Malformed("KEXINIT name-list runs past the segment")
        size = int.from_bytes(b[at : at + 4], "big")
        value = b[at + 4 : at + 4 + size]
        if len(value) != size:
            raise Malformed("KEXINIT name-list runs past the segment")
        lists.append(value.decode("ascii", "replace"))
        at += 4 + size
    kex, _, enc_cs, enc_sc, mac_cs, mac_sc, comp_cs, comp_sc = lists
    if server:
        algorithms = f"{kex};{enc_sc};{mac_sc};{comp_sc}"
    else:
        algorithms = f"{kex};{enc_cs};{mac_cs};{comp_cs}"
    digest = hashlib.md5(algorithms.encode(), usedforsecurity=False).hexdigest()
    p.fact("ssh", "hassh_server" if server else "hassh", digest)


PACKET_MAX = 35000  # RFC 4253 6.1

PROTOCOL = Protocol(
    "ssh",
    dissect,
    tcp=(SSH_PORT,),
    magic=(b"SSH-",),
    # On port 22, a KEXINIT apart from the banner, as OpenSSH sends it: its length in
    # clear, message code 20, a first name-list shorter than 64 KiB (encrypted packets
    # fail these three).
    naming=Signature((Alternative(26, (lt(0, 4, PACKET_MAX), eq(5, 1, KEXINIT), lt(22, 4, 0x10000))),)),
    facts=(
        Fact("ssh", "service", ("sender", "receiver"), '("tcp", 22, "OpenSSH_9.2p1")', kind=tuple),
        Fact("ssh", "server_banner", example='"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2"', reads=readers.ssh_server),
        Fact("ssh", "client_banner", example='"SSH-2.0-PuTTY_Release_0.80"', reads=readers.ssh_client),
        Fact("ssh", "hassh", example='"ec7378c1a92f5a8dde7e8b7a1ddf33d1"'),
        Fact("ssh", "hassh_server", example='"b12d2871a1189eff20364cf5333619ee"'),
    ),
)
