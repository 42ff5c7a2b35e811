"""Which packets of a batch go to which dissector: vector selection, then dispatch.

Selection reads a few header fields of every packet as arrays and keeps only those
a dissector can learn from:

* UDP by port (`UDP_PORTS`: DHCP, DNS, mDNS, NBNS, SSDP, NTP, SNMP, BACnet, ...);
* TCP by the first payload bytes, whatever the port (an HTTP method or status line,
  a TLS handshake record, an SSH banner), or by port for protocols without a magic
  number (SMB, Modbus, S7comm, EtherNet/IP, DNP3; SSH's KEXINIT, which OpenSSH sends
  apart from its banner), and then only the message types that can name a device
  (`_naming_messages`), not their bulk;
* TCP SYN and SYN+ACK (one per connection) for OS fingerprints;
* the segments that continue a ClientHello cut by its first segment's end, found by
  their sequence number, only while such a hello is pending (`tls.Hellos`);
* ICMPv6 router and neighbour discovery;
* link-layer frames by EtherType (LLDP) or SNAP header (CDP).

Everything else, the bulk of a network's packets, costs those few array reads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nps_sensor.config import Config
from nps_sensor.decode import Decoded
from nps_sensor.decode.frames import LLC, Sel
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
from nps_sensor.discovery.facts import NO_IP, NO_MAC, Facts
from nps_sensor.discovery.packet import RECENT_MAX, Malformed, Packet
from nps_sensor.stats import Stats
from nps_sensor.vtable import hash_columns

TCP, UDP, ICMPV6 = 6, 17, 58
LLDP_ETHERTYPE = 0x88CC
CDP_SNAP = 0xAAAA0300000C2000  # LLC SNAP, Cisco OUI, protocol 0x2000
U64 = np.uint64
MAC_MASK = U64(0xFFFFFFFFFFFF)


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
QUESTION = 64  # bytes of a DNS question read on arrays
DNS_QUESTION_SALT = 0x5A17_D0E5_0000_0001  # keeps these keys apart from the SYN keys


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


def _port_table(entries: dict[str, tuple[int, ...]]) -> np.ndarray:
    table = np.zeros(65536, dtype=np.uint8)
    for name, ports in entries.items():
        table[list(ports)] = ID[name]
    return table


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


def _magic(words: list[bytes]) -> np.ndarray:
    return np.array([struct.unpack(">I", w)[0] for w in words], dtype=np.uint32)


HTTP_MAGIC = _magic([b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"PATC", b"CONN", b"HTTP"])
SSH_MAGIC = int(struct.unpack(">I", b"SSH-")[0])
# First payload bytes that may start a message worth a closer look (an HTTP method or
# status line, an SSH banner, a TLS record): most segments fail this one lookup.
FIRST_BYTE = np.zeros(256, dtype=bool)
FIRST_BYTE[[w >> 24 for w in HTTP_MAGIC.tolist()] + [SSH_MAGIC >> 24, 0x16]] = True
# DNS-like protocols whose queries teach nothing: only responses (QR bit) are dissected.
RESPONSES_ONLY = np.zeros(len(DISSECTORS), dtype=bool)
RESPONSES_ONLY[[ID["dns"], ID["mdns"], ID["llmnr"]]] = True


SMB1_MAGIC, SMB2_MAGIC = 0xFF534D42, 0xFE534D42
SMB1_COMMANDS = (0x72, 0x73)  # negotiate, session setup
SMB2_COMMANDS = (0x0000, 0x0100)  # negotiate, session setup (little-endian, as read big-endian)
NBSS_SESSION_REQUEST = 0x81
SSH_KEXINIT = 20
SSH_PACKET_MAX = 35000  # RFC 4253 6.1


HELLO_SEGMENTS = 6  # segments after the first that may complete a ClientHello


def _cut_hellos(d: Decoded, rows: np.ndarray, start: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Of TLS segments, those that open a ClientHello which goes on past their end:
    `tls.starts_cut_hello` on arrays (record type and version are already known).
    A whole hello in one segment, the common case, is one compare away from here."""
    ok = np.flatnonzero(room >= 6)
    x = d.be32(rows[ok], start[ok] + 2)  # version's low byte, record length, message type
    record = ((x >> 8) & 0xFFFF).astype(np.int64)
    r = room[ok]
    cut = ((x & 0xFF) == tls.CLIENT_HELLO) & ((record + 5 > r) | (r < 9))
    inside = np.flatnonzero(((x & 0xFF) == tls.CLIENT_HELLO) & ~cut)
    if len(inside):  # whole records: a hello may still go on in a next record (rarely)
        i = ok[inside]
        size = (d.be32(rows[i], start[i] + 5) & 0xFFFFFF).astype(np.int64)
        cut[inside] = size + 4 > record[inside]
    out: np.ndarray = ok[cut]
    return out


def _naming_messages(
    d: Decoded, rows: np.ndarray, start: np.ndarray, room: np.ndarray, w: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    """Of the segments chosen by port, keep those whose message can name a device.

    SMB file transfers, Modbus polling and S7 variable reads are the bulk of their
    ports' traffic and name nothing; the messages that do have a fixed layout, so a
    few more array reads tell them apart: SMB negotiate and session setup (and
    NetBIOS session requests), Modbus function 43, S7comm user data (SZL reads)
    after a COTP data header, EtherNet/IP ListIdentity, DNP3 link frames and SSH
    KEXINIT (its length in clear, message code 20, a first name-list shorter than
    64 KiB: encrypted packets fail these three).
    """
    if not kind.any():
        return kind
    out = kind.copy()
    smb = np.flatnonzero(kind == ID["smb"])
    if len(smb):
        ok = (w[smb] >> 24) == NBSS_SESSION_REQUEST
        far = room[smb] >= 20
        if far.any():
            r, at = rows[smb[far]], start[smb[far]]
            magic = d.be32(r, at + 4)
            smb1 = (magic == SMB1_MAGIC) & np.isin(d.be32(r, at + 8) >> 24, SMB1_COMMANDS)
            smb2 = (magic == SMB2_MAGIC) & np.isin(d.be32(r, at + 16) >> 16, SMB2_COMMANDS)
            ok[far] |= smb1 | smb2
        out[smb[~ok]] = 0
    modbus = np.flatnonzero(kind == ID["modbus"])
    if len(modbus):
        ok = room[modbus] >= 8
        f = modbus[ok]
        ok[ok] = (d.be32(rows[f], start[f] + 4) & 0x7F) == 0x2B  # also its exception (0xAB)
        out[modbus[~ok]] = 0
    s7 = np.flatnonzero(kind == ID["s7comm"])
    if len(s7):
        ok = room[s7] >= 9
        f = s7[ok]
        x = d.be32(rows[f], start[f] + 5)  # COTP DT code, flags, S7 protocol id, ROSCTR
        ok[ok] = ((x >> 24) == 0xF0) & (((x >> 8) & 0xFF) == 0x32) & ((x & 0xFF) == 7)
        out[s7[~ok]] = 0
    enip = np.flatnonzero(kind == ID["enip"])
    if len(enip):
        out[enip[(w[enip] >> 16) != 0x6300]] = 0  # ListIdentity, little-endian
    dnp3 = np.flatnonzero(kind == ID["dnp3"])
    if len(dnp3):
        out[dnp3[(w[dnp3] >> 16) != 0x0564]] = 0
    ssh = np.flatnonzero(kind == ID["ssh"])
    if len(ssh):
        ok = room[ssh] >= 26
        f = ssh[ok]
        code = d.be32(rows[f], start[f] + 2) & 0xFF
        names = d.be32(rows[f], start[f] + 22)
        ok[ok] = (w[f] < SSH_PACKET_MAX) & (code == SSH_KEXINIT) & (names < 0x10000)
        out[ssh[~ok]] = 0
    return out


class Discoverer:
    """Runs the dissectors on the packets that matter; facts accumulate in `facts`."""

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
        self.selected = 0  # packets handed to a dissector

    def reconfigure(self, cfg: Config) -> None:
        """Keep facts about others (DNS answers) only for inventoried ranges."""
        ranges = [(r.start, r.end) for g in cfg.internal if g.inventory for r in g.ranges]
        self.facts.wanted = lambda ip: any(start <= ip <= end for start, end in ranges)

    def ip(self, d: Decoded, idx: Sel, ts: np.ndarray) -> None:
        """The IP packets `idx` of `d` (copies already dropped), with their times `ts`.

        Each transport is handled on its own rows only, so that a batch pays a few
        whole-batch operations and the rest on the packets of that transport.
        """
        proto = d.proto[idx]
        ported = d.has_ports[idx] & (d.frag[idx] == 0)
        rows: list[np.ndarray] = []  # positions in `idx` of the chosen packets
        ids: list[np.ndarray] = []  # their dissectors
        bodies: list[np.ndarray] = []  # where their payload starts

        udp = np.flatnonzero(ported & (proto == UDP))
        if len(udp):
            f = udp if isinstance(idx, slice) else idx[udp]
            kind = UDP_PORTS[d.dport[f]]
            kind = np.where(kind > 0, kind, UDP_PORTS[d.sport[f]])
            q = np.flatnonzero(kind == ID["quic"])
            if len(q):
                kind[q[~quic.client_initials(d, f[q])]] = 0
            keep = np.flatnonzero(kind)
            if len(keep):
                rows.append(udp[keep])
                ids.append(kind[keep])
                bodies.append(d.l4[f[keep]] + 8)

        tcp = np.flatnonzero(ported & (proto == TCP))
        if len(tcp):
            self._tcp(d, idx, tcp, rows, ids, bodies, float(ts[tcp[-1]]))

        nd = np.flatnonzero((d.icmptype[idx] >= 133) & (d.icmptype[idx] <= 136) & (proto == ICMPV6))
        if len(nd):
            f = nd if isinstance(idx, slice) else idx[nd]
            nd = nd[d.frag[f] == 0]
            rows.append(nd)
            ids.append(np.full(len(nd), ID["ndp"], dtype=np.uint8))
            bodies.append(d.l4[nd if isinstance(idx, slice) else idx[nd]])

        if not rows:
            return
        hits = np.concatenate(rows)
        chosen = np.concatenate(ids).astype(np.uint8)
        body = np.concatenate(bodies)
        if len(rows) > 1:  # in packet order
            order = np.argsort(hits, kind="stable")
            hits, chosen, body = hits[order], chosen[order], body[order]
        frames = hits if isinstance(idx, slice) else idx[hits]
        end = np.minimum(d.end[frames], d.l3[frames] + d.iplen[frames])
        asks = RESPONSES_ONLY[chosen]
        if asks.any():
            at = body[asks] + 2
            fits = at < end[asks]
            qr = np.zeros(len(at), dtype=bool)
            qr[fits] = (d.u8(frames[asks][fits], at[fits]) & 0x80) > 0
            keep = np.ones(len(hits), dtype=bool)
            keep[np.flatnonzero(asks)[~qr]] = False
            if not keep.all():
                hits, chosen, body, frames, end = hits[keep], chosen[keep], body[keep], frames[keep], end[keep]
            if not len(hits):
                return
        answers = np.flatnonzero(chosen == ID["dns"])
        if len(answers):
            seen = self._answered(d, frames[answers], body[answers], end[answers])
            if seen.any():
                self.selected += int(seen.sum())  # selected, then found to be repeats
                keep = np.ones(len(hits), dtype=bool)
                keep[answers[seen]] = False
                hits, chosen, body, frames, end = hits[keep], chosen[keep], body[keep], frames[keep], end[keep]
                if not len(hits):
                    return
        self._dispatch(d, frames, chosen, ts[hits], d.l3[frames], d.l4[frames], body, end)

    def _answered(self, d: Decoded, frames: np.ndarray, body: np.ndarray, end: np.ndarray) -> np.ndarray:
        """DNS responses whose question this resolver already answered this window.

        The same check as REPEATS' (resolver, question), made on arrays: a resolver
        answers the same questions all day, and most responses stop here without a
        line of Python each. The question (a name is never compressed there, then
        type and class) is read as QUESTION bytes; a longer one goes on to the
        per-packet check.
        """
        at = body + 12
        room = end - at
        cols = np.arange(QUESTION)
        inside = cols < room[:, None]
        raw = d.buf.u8[np.minimum(at[:, None] + cols, d.buf.size - 1)]
        raw = np.where(inside, raw, 0)
        zero = (raw == 0) & inside
        qlen = np.argmax(zero, axis=1) + 5
        usable = zero.any(axis=1) & (qlen <= np.minimum(room, QUESTION))
        raw = np.where(cols < qlen[:, None], raw, 0)
        words = np.ascontiguousarray(raw).view(np.uint64)
        key = hash_columns([d.src_hi[frames], d.src_lo[frames], qlen, *words.T]) ^ U64(DNS_QUESTION_SALT)
        seen = np.zeros(len(frames), dtype=bool)
        recent = self.facts.recent
        for k, (h, ok) in enumerate(zip(key.tolist(), usable.tolist(), strict=True)):
            if not ok:
                continue
            if h in recent:
                seen[k] = True
            elif len(recent) < RECENT_MAX:
                recent.add(h)
        return seen

    def _tcp(
        self,
        d: Decoded,
        idx: Sel,
        tcp: np.ndarray,
        rows: list[np.ndarray],
        ids: list[np.ndarray],
        bodies: list[np.ndarray],
        now: float,
    ) -> None:
        """TCP segments worth a dissector: SYNs to fingerprint, segments whose first
        payload bytes (or port and message type) say they can name a device, and those
        that continue a ClientHello longer than its first segment."""
        f = tcp if isinstance(idx, slice) else idx[tcp]
        t1 = d.t1[f]
        start = d.l4[f] + ((t1 >> U64(28)) & U64(0xF)).astype(np.int64) * 4
        flags = (t1 >> U64(16)) & U64(0x17)
        pick = np.zeros(len(f), dtype=np.uint8)
        syn = np.flatnonzero((flags == U64(0x02)) | (flags == U64(0x12)))
        if len(syn):
            pick[syn[self._new_stacks(d, f[syn])]] = ID["tcp-fingerprint"]
        room = np.minimum(d.end[f], d.l3[f] + d.iplen[f]) - start
        has4 = np.flatnonzero(room >= 4)
        if len(has4):
            sub = f[has4]
            w = d.be32(sub, start[has4]).astype(np.uint32)
            kind = np.zeros(len(w), dtype=np.uint8)
            maybe = np.flatnonzero(FIRST_BYTE[w >> 24])
            if len(maybe):
                wm = w[maybe]
                kind[maybe[np.isin(wm, HTTP_MAGIC)]] = ID["http"]
                kind[maybe[wm == SSH_MAGIC]] = ID["ssh"]
                # A TLS handshake record (content type 22, version 3.x).
                kind[maybe[(wm >> 16) == 0x1603]] = ID["tls"]
            by_port = np.maximum(TCP_PORTS[d.dport[sub]], TCP_PORTS[d.sport[sub]])
            by_port = _naming_messages(d, sub, start[has4], room[has4], w, by_port)
            kind = np.where(kind > 0, kind, by_port)
            pick[has4] = np.where(kind > 0, kind, pick[has4])
            hellos = has4[kind == ID["tls"]]
            cut = _cut_hellos(d, f[hellos], start[hellos], room[hellos]) if len(hellos) else hellos
            if len(cut) or self.hellos.pending:
                pick[self._hello_rest(d, f, room, hellos[cut], now)] = ID["tls"]
        keep = np.flatnonzero(pick)
        if len(keep):
            rows.append(tcp[keep])
            ids.append(pick[keep])
            bodies.append(start[keep])

    def _hello_rest(self, d: Decoded, f: np.ndarray, room: np.ndarray, cut: np.ndarray, now: float) -> np.ndarray:
        """Rows of `f` whose sequence number continues a cut ClientHello: one pending
        from an earlier batch, or one of this batch's `cut` rows (whose following
        segments are most often in the same batch), then the segments after those.

        A sequence number is 32 random bits: other flows' segments almost never match,
        and the TLS dissector checks the flow of those that do. Only batches with a cut
        hello, or while one is pending, pay for these few array operations.
        """
        seq = d.t0[f] & U64(tls.SEQ_MASK)  # the first 8 TCP bytes: ports and sequence number
        want = np.array(self.hellos.expected(now), dtype=np.uint64)
        if len(cut):
            want = np.concatenate([want, (seq[cut] + room[cut].astype(np.uint64)) & U64(tls.SEQ_MASK)])
        data = np.flatnonzero(room > 0)
        found = []
        for _ in range(HELLO_SEGMENTS):
            if not len(want):
                break
            hit = data[np.isin(seq[data], want)]
            found.append(hit)
            want = (seq[hit] + room[hit].astype(np.uint64)) & U64(tls.SEQ_MASK)
        return np.concatenate(found) if found else data[:0]

    def _new_stacks(self, d: Decoded, frames: np.ndarray) -> np.ndarray:
        """Which SYNs to fingerprint: the first SYN and the first SYN+ACK of each
        sender in each window. A host opens many connections with one TCP stack, so
        the first tells its signature; each window takes a fresh one.
        """
        flags = (d.t1[frames] >> U64(16)) & U64(0x12)  # SYN, or SYN and ACK
        key = hash_columns([d.src_hi[frames], d.src_lo[frames], flags])
        uniq, first = np.unique(key, return_index=True)
        recent = self.facts.recent
        fresh = []
        for k, at in zip(uniq.tolist(), first.tolist(), strict=True):
            if k not in recent:
                recent.add(k)
                fresh.append(at)
        return np.array(fresh, dtype=np.int64)

    def link(self, d: Decoded, frames: np.ndarray) -> None:
        """Link-layer frames (state L2) that may be LLDP or CDP."""
        et = d.et[frames]
        lldp_rows = et == LLDP_ETHERTYPE
        llc = et == LLC
        chosen = np.where(lldp_rows, ID["lldp"], 0).astype(np.uint8)
        if llc.any():
            f = frames[llc]
            snap = (d.p[f] + 8 <= d.end[f]) & (d.buf.be64[np.minimum(d.p[f], d.buf.size - 8)] == U64(CDP_SNAP))
            chosen[np.flatnonzero(llc)[snap]] = ID["cdp"]
        hits = np.flatnonzero(chosen)
        if not len(hits):
            return
        f = frames[hits]
        start = d.p[f]
        body = np.where(chosen[hits] == ID["cdp"], start + 8, start)
        self._dispatch(d, f, chosen[hits], d.batch.ts[f], start, start, body, d.end[f], link=True)

    def _dispatch(
        self,
        d: Decoded,
        frames: np.ndarray,
        ids: np.ndarray,
        ts: np.ndarray,
        start: np.ndarray,
        l4: np.ndarray,
        body: np.ndarray,
        end: np.ndarray,
        link: bool = False,
    ) -> None:
        self.selected += len(frames)
        raw = d.buf.raw
        smac = d.src_mac(frames)
        has_mac = d.mac_at[frames] >= 0
        dmac = np.full(len(frames), NO_MAC, dtype=np.int64)
        if has_mac.any():
            f = frames[has_mac]
            dmac[has_mac] = (d.buf.be64[d.mac_at[f] - 8] & MAC_MASK).astype(np.int64)
        if link:
            src = dst = [NO_IP] * len(frames)
            sport = dport = proto = [0] * len(frames)
        else:
            src = [(h << 64) | lo for h, lo in zip(d.src_hi[frames].tolist(), d.src_lo[frames].tolist(), strict=True)]
            dst = [(h << 64) | lo for h, lo in zip(d.dst_hi[frames].tolist(), d.dst_lo[frames].tolist(), strict=True)]
            sport, dport, proto = d.sport[frames].tolist(), d.dport[frames].tolist(), d.proto[frames].tolist()
        facts = self.facts
        recent = facts.recent
        errors = self.stats.decode_errors
        parsers = self.parsers
        repeats = REPEATS
        for k, (i, t, a, b4, b, e, sm, dm) in enumerate(
            zip(
                ids.tolist(),
                ts.tolist(),
                start.tolist(),
                l4.tolist(),
                body.tolist(),
                end.tolist(),
                smac.tolist(),
                dmac.tolist(),
                strict=True,
            )
        ):
            data = bytes(raw[a:e])
            content = repeats.get(i)
            if content is not None:
                key = (i, src[k], sm, content(data, b4 - a, b - a))
                if key in recent:
                    continue
                if len(recent) < RECENT_MAX:
                    recent.add(key)
            p = Packet(t, src[k], dst[k], sm, dm, proto[k], sport[k], dport[k], data, b4 - a, b - a)
            p.out = facts
            try:
                parsers[i](p)
            except (Malformed, IndexError, ValueError, struct.error, UnicodeError, OverflowError):
                errors[f"malformed-{DISSECTORS[i].name}"] += 1
