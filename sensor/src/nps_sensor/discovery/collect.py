"""Which packets of a batch go to which dissector: declared here, chosen by the core.

The packet core (sensor/csrc/select.c) reads a few header fields of every packet and
keeps only those a dissector can learn from, with the tables and signatures this
module declares (`selection`):

* UDP by port (`UDP_PORTS`: DHCP, DNS, mDNS, NBNS, SSDP, NTP, SNMP, BACnet, ...); of
  DNS, mDNS and LLMNR only responses, of QUIC only client Initials;
* TCP by the first payload bytes, whatever the port (an HTTP method or status line,
  a TLS handshake record, an SSH banner), or by port for protocols without a magic
  number (SMB, Modbus, S7comm, EtherNet/IP, DNP3; SSH's KEXINIT, which OpenSSH sends
  apart from its banner), and then only the message types that can name a device
  (`TCP_SIGNATURES`), not their bulk;
* TCP SYN and SYN+ACK, a sender's first of each in a window, for OS fingerprints;
* the segments that continue a ClientHello cut by its first segment's end, found by
  their sequence number, while such a hello is pending (`tls.Hellos`);
* ICMPv6 router and neighbour discovery;
* link-layer frames by EtherType (LLDP) or SNAP header (CDP).

Everything else, the bulk of a network's packets, costs those few reads in C. The
chosen packets come back as tuples, and `Discoverer.dispatch` hands them to the
dissectors, skipping messages repeated within the window (`REPEATS`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from nps_sensor.config import Config
from nps_sensor.discovery.dissectors import (
    cdp,
    dhcp,
    dhcpv6,
    http,
    ics,
    lldp,
    names,
    nbns,
    ndp,
    ntp,
    quic,
    smb,
    snmp,
    ssdp,
    ssh,
    tcpfp,
    tls,
)
from nps_sensor.discovery.facts import Facts
from nps_sensor.discovery.packet import RECENT_MAX, Malformed, Packet
from nps_sensor.discovery.signature import Alternative, Signature, eq, lt, words
from nps_sensor.stats import Stats


@dataclass(frozen=True)
class Dissector:
    name: str  # also the suffix of its decode-error counter: malformed-NAME
    parse: Callable[[Packet], None]


DISSECTORS: tuple[Dissector, ...] = (
    Dissector("none", lambda p: None),  # id 0: not selected
    Dissector("dhcp", dhcp.dissect),
    Dissector("dhcpv6", dhcpv6.dissect),
    Dissector("dns", names.dissect_dns),
    Dissector("mdns", names.dissect_mdns),
    Dissector("llmnr", names.dissect_llmnr),
    Dissector("nbns", nbns.dissect_ns),
    Dissector("netbios-dgm", nbns.dissect_dgm),
    Dissector("ssdp", ssdp.dissect),
    Dissector("ntp", ntp.dissect),
    Dissector("snmp", snmp.dissect),
    Dissector("bacnet", ics.dissect_bacnet),
    Dissector("enip", ics.dissect_enip),
    Dissector("dnp3", ics.dissect_dnp3),
    Dissector("http", http.dissect),
    Dissector("tls", tls.dissect),
    Dissector("ssh", ssh.dissect),
    Dissector("smb", smb.dissect),
    Dissector("modbus", ics.dissect_modbus),
    Dissector("s7comm", ics.dissect_s7),
    Dissector("tcp-fingerprint", tcpfp.dissect),
    Dissector("ndp", ndp.dissect),
    Dissector("lldp", lldp.dissect),
    Dissector("cdp", cdp.dissect),
    Dissector("quic", lambda p: None),  # a Discoverer's Initials put hellos together across packets
)
ID = {d.name: i for i, d in enumerate(DISSECTORS)}


def _question(data: bytes, l4: int, body: int) -> bytes:
    """A DNS response's question: with the resolver, what identifies its answer (the
    answer's TTLs count down from one response to the next)."""
    end = data.find(b"\0", body + 12)
    return data[body + 12 : end + 5] if end > 0 else data[body + 2 :]


# What identifies a message's content, for protocols whose messages repeat: a device
# announces itself every few seconds, a resolver answers the same question all day.
# A repeat (same sender, same key) within one harvest is not dissected again.
def _http(data: bytes, l4: int, body: int) -> bytes:
    """A response: the server's port (its Server header is the same all day; its Date
    is not). A request: the port it went to and the headers after the request line,
    which a client repeats for every path it asks for."""
    if data.startswith(b"HTTP/", body):
        return data[l4 : l4 + 2]
    line_end = data.find(b"\n", body)
    return data[l4 + 2 : l4 + 4] + (data[line_end : line_end + 1024] if line_end > 0 else data[body:])


def _dhcp(data: bytes, l4: int, body: int) -> bytes:
    """Op, assigned address, client MAC and options: not the transaction ID or the
    seconds a client has waited, which change on every retransmission."""
    return data[body : body + 1] + data[body + 16 : body + 20] + data[body + 28 : body + 34] + data[body + 236 :]


REPEATS: dict[int, Callable[[bytes, int, int], bytes]] = {
    ID["dns"]: _question,
    ID["mdns"]: lambda data, l4, body: data[body + 2 :],  # all but the message ID
    ID["llmnr"]: lambda data, l4, body: data[body + 2 :],
    ID["nbns"]: lambda data, l4, body: data[body + 2 :],
    ID["netbios-dgm"]: lambda data, l4, body: data[body + 4 :],  # all but type, flags and datagram ID
    ID["ssdp"]: lambda data, l4, body: data[body:],
    ID["ntp"]: lambda data, l4, body: data[body : body + 2],  # mode, version and stratum; not the clocks
    ID["lldp"]: lambda data, l4, body: data[body:],
    ID["cdp"]: lambda data, l4, body: data[body + 4 :],  # all but version, TTL and checksum
    ID["http"]: _http,
    ID["dhcp"]: _dhcp,
}


def _port_table(entries: dict[str, tuple[int, ...]]) -> bytes:
    table = bytearray(65536)
    for name, ports in entries.items():
        for port in ports:
            table[port] = ID[name]
    return bytes(table)


UDP_PORTS = _port_table(
    {
        "dhcp": (67, 68),
        "dhcpv6": (546, 547),
        "dns": (53,),
        "mdns": (5353,),
        "llmnr": (5355,),
        "nbns": (137,),
        "netbios-dgm": (138,),
        "ssdp": (1900,),
        "ntp": (123,),
        "snmp": (161, 162),
        "bacnet": (47808,),
        "enip": (44818,),
        "dnp3": (20000,),
        "quic": (443,),
    }
)
TCP_PORTS = _port_table(
    {"smb": (445, 139), "modbus": (502,), "s7comm": (102,), "enip": (44818,), "dnp3": (20000,), "ssh": (22,)}
)


# TCP payloads worth a closer look whatever the port: an HTTP method or status line, an
# SSH banner, a TLS handshake record (content type 22, version 3.x).
HTTP_WORDS = [b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"PATC", b"CONN", b"HTTP"]
MAGIC: tuple[tuple[str, Signature], ...] = (
    ("http", words(0, HTTP_WORDS)),
    ("ssh", words(0, [b"SSH-"])),
    ("tls", Signature((Alternative(4, (eq(0, 2, 0x1603),)),))),
)

# DNS-like protocols whose queries teach nothing: only responses (the QR bit).
RESPONSE = Signature((Alternative(3, (eq(2, 1, 0x80, mask=0x80),)),))
UDP_SIGNATURES = {"dns": RESPONSE, "mdns": RESPONSE, "llmnr": RESPONSE, "quic": quic.CLIENT_INITIAL}

SMB1_MAGIC, SMB2_MAGIC = 0xFF534D42, 0xFE534D42
NBSS_SESSION_REQUEST = 0x81
SSH_KEXINIT = 20
SSH_PACKET_MAX = 35000  # RFC 4253 6.1

# Of the segments chosen by port, those whose message can name a device. SMB file
# transfers, Modbus polling and S7 variable reads are the bulk of their ports' traffic
# and name nothing; the messages that do have a fixed layout: SMB negotiate and session
# setup (and NetBIOS session requests), Modbus function 43 (and its exception), S7comm
# user data (SZL reads) after a COTP data header, EtherNet/IP ListIdentity, DNP3 link
# frames and SSH KEXINIT (its length in clear, message code 20, a first name-list
# shorter than 64 KiB: encrypted packets fail these three).
TCP_SIGNATURES = {
    "smb": Signature(
        (
            Alternative(4, (eq(0, 1, NBSS_SESSION_REQUEST),)),
            *(Alternative(20, (eq(4, 4, SMB1_MAGIC), eq(8, 1, command))) for command in (0x72, 0x73)),
            *(Alternative(20, (eq(4, 4, SMB2_MAGIC), eq(16, 2, command))) for command in (0x0000, 0x0100)),
        )
    ),
    "modbus": Signature((Alternative(8, (eq(7, 1, 0x2B, mask=0x7F),)),)),
    "s7comm": Signature((Alternative(9, (eq(5, 1, 0xF0), eq(7, 1, 0x32), eq(8, 1, 7))),)),
    "enip": Signature((Alternative(4, (eq(0, 2, 0x6300),)),)),  # ListIdentity, little-endian
    "dnp3": Signature((Alternative(4, (eq(0, 2, 0x0564),)),)),
    "ssh": Signature((Alternative(26, (lt(0, 4, SSH_PACKET_MAX), eq(5, 1, SSH_KEXINIT), lt(22, 4, 0x10000))),)),
}


@cache
def selection() -> dict[str, Any]:
    """The tables and signatures above, as the packet core reads them."""
    return {
        "udp_ports": UDP_PORTS,
        "tcp_ports": TCP_PORTS,
        "udp_sigs": {ID[name]: sig.spec() for name, sig in UDP_SIGNATURES.items()},
        "tcp_sigs": {ID[name]: sig.spec() for name, sig in TCP_SIGNATURES.items()},
        "magic": [(ID[name], sig.spec()) for name, sig in MAGIC],
        "ids": {name: ID[name] for name in ("tcp-fingerprint", "tls", "dns", "ndp", "lldp", "cdp")},
    }


# What the core hands over for each chosen packet (sensor/csrc/results.c, picks_list).
Pick = tuple[int, float, int, int, int, int, int, int, int, bytes, int, int]


class Discoverer:
    """Runs the dissectors on the packets the core chose; facts accumulate in `facts`."""

    def __init__(self, stats: Stats, cfg: Config | None = None) -> None:
        self.stats = stats
        self.facts = Facts()
        self.hellos = tls.Hellos()  # ClientHellos waiting for their next segment
        # The dissectors by id; TLS's keeps this discoverer's pending hellos.
        self.parsers: list[Callable[[Packet], None]] = [d.parse for d in DISSECTORS]
        self.parsers[ID["tls"]] = self.hellos.dissect
        self.initials = quic.Initials()  # QUIC client Initials, likewise
        self.parsers[ID["quic"]] = self.initials.dissect
        if cfg is not None:
            self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> None:
        """Keep facts about others (DNS answers) only for inventoried ranges."""
        ranges = [(r.start, r.end) for g in cfg.internal if g.inventory for r in g.ranges]
        self.facts.wanted = lambda ip: any(start <= ip <= end for start, end in ranges)

    def pending_hellos(self, now: float, cut: bool) -> list[int] | None:
        """For the core: the sequence numbers that would continue a pending ClientHello
        (None when no hello is pending and the batch cut none)."""
        if not cut and not self.hellos.pending:
            return None
        return self.hellos.expected(now)

    def dispatch(self, picks: list[Pick]) -> None:
        """The chosen packets to their dissectors, but messages this sender already sent
        in this window (REPEATS)."""
        facts = self.facts
        recent = facts.recent
        errors = self.stats.decode_errors
        parsers = self.parsers
        repeats = REPEATS
        for i, t, src, dst, sm, dm, proto, sport, dport, data, l4, body in picks:
            content = repeats.get(i)
            if content is not None:
                key = (i, src, sm, content(data, l4, body))
                if key in recent:
                    continue
                if len(recent) < RECENT_MAX:
                    recent.add(key)
            p = Packet(t, src, dst, sm, dm, proto, sport, dport, data, l4, body)
            p.out = facts
            try:
                parsers[i](p)
            except (Malformed, IndexError, ValueError, struct.error, UnicodeError, OverflowError):
                errors[f"malformed-{DISSECTORS[i].name}"] += 1
