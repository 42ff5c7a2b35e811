"""TCP SYN and SYN+ACK: the p0f signature of the sender's stack.

The signature is p0f 3's `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`
(p0f's README, section 5), with ittl written as `initial+distance` (p0f's own
raw_sig writes `seen+distance`: 64+3 here is 61+3 there); `fingerprints.p0f`
matches it against p0f.fp. The window is written `mss*N` or `mtu*N` only where it
is an exact multiple (p0f also tries MSS-12, 1460 and 1500), so that the matcher
gets the exact window back. (The ports a server answers on come from the flows
themselves: see report.py.)
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.packetcore import tcp_signature


def signature(p: Packet) -> tuple[str, bool]:
    """(p0f signature, is SYN+ACK) of the segment, made in C (sensor/csrc/tcpsig.c): in
    Python, a test and an append per quirk and per option, it was some 35,000
    instructions a handshake (discovery's cost, issue 18). Malformed where the segment
    is too short for its IP and TCP headers."""
    got = tcp_signature(p.data, p.l4)
    if got is None:
        raise Malformed("segment shorter than its IP and TCP headers")
    return got


def dissect(p: Packet) -> None:
    sig, synack = signature(p)
    p.fact("tcp", "synack" if synack else "syn", sig)


PROTOCOL = Protocol(
    "tcp-fingerprint",
    dissect,
    handshakes=True,
    facts=(
        Fact("tcp", "syn", example='"4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"', reads=readers.syn),
        Fact("tcp", "synack", example='"4:64+0:0:1460:mss*45,7:mss,sok,ts,nop,ws:df:0"', reads=readers.synack),
    ),
)
