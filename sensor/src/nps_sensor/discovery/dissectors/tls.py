"""TLS handshakes: the client's SNI, JA4 and JA3; the server's JA3S and certificate.

JA4 follows FoxIO's specification (ja4/technical_details/JA4.md); JA3 and JA3S
follow Salesforce's. GREASE values (RFC 8701) are left out of both, as specified
(JA4 also from the signature algorithms, as FoxIO's own tools do since they fixed it).
A certificate is visible only up to TLS 1.2, where it travels in clear after the
ServerHello; its subject names the server.

A ClientHello longer than its segment (post-quantum key shares make a current
browser's about 1,800 bytes: two segments) is completed from the next in-order
segments of its flow by `Hellos`; the packet core sends those segments
here only while such a hello is pending, so other traffic pays nothing for it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from nps_sensor.discovery.fingerprints import readers
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol

HANDSHAKE = 22
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 1, 2, 11
SNI, GROUPS, POINT_FORMATS, SIG_ALGS, ALPN, SUPPORTED_VERSIONS = 0, 10, 11, 13, 16, 43
VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2"}


GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))  # RFC 8701


def is_grease(v: int) -> bool:
    return v in GREASE


def _hex4(values: list[int]) -> str:
    """'002f,0035,...': JA4's lists, formatted in one C call rather than per value."""
    return struct.pack(f">{len(values)}H", *values).hex(",", 2)


def handshakes(payload: bytes) -> list[tuple[int, bytes, bool]]:
    """Handshake messages of the records in `payload`: type, body, and whether the
    segment ends inside it (a message cut there is returned cut)."""
    data = bytearray()
    at = 0
    while at + 5 <= len(payload) and payload[at] == HANDSHAKE:
        size = int.from_bytes(payload[at + 3 : at + 5], "big")
        data += payload[at + 5 : at + 5 + size]
        at += 5 + size
    out: list[tuple[int, bytes, bool]] = []
    at = 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at + 1 : at + 4], "big")
        out.append((data[at], bytes(data[at + 4 : at + 4 + size]), at + 4 + size > len(data)))
        at += 4 + size
    return out


def _vector(b: bytes, at: int, width: int) -> tuple[bytes, int]:
    size = int.from_bytes(b[at : at + width], "big")
    value = b[at + width : at + width + size]
    if len(value) != size:
        raise Malformed("vector runs past the message")
    return value, at + width + size


def _u16s(b: bytes) -> list[int]:
    return list(struct.unpack(f">{len(b) // 2}H", b[: len(b) // 2 * 2]))


def extensions(b: bytes, at: int) -> tuple[list[tuple[int, bytes]], bool]:
    """The extensions, and whether they are all there: of a hello cut by the segment's
    end (a ClientHello with post-quantum key shares outgrows one), those before the cut."""
    if at + 2 > len(b):
        return [], True
    size = int.from_bytes(b[at : at + 2], "big")
    block = b[at + 2 : at + 2 + size]
    out: list[tuple[int, bytes]] = []
    k = 0
    while k + 4 <= len(block):
        kind, n = struct.unpack_from(">HH", block, k)
        if k + 4 + n > len(block):
            return out, False
        out.append((kind, block[k + 4 : k + 4 + n]))
        k += 4 + n
    return out, k == size


def client_hello(p: Packet, body: bytes, cut: bool = False, told: str | None = None, transport: str = "t") -> str:
    """The hello's SNI ('' if none). `cut`: the segment ends inside the hello, the rest
    is in the next one. `told`: the hello was reassembled, and its first segment already
    gave its facts (this SNI) as far as they went: they are not counted twice.
    `transport`: JA4's first letter, "t" for TCP, "q" for a hello from QUIC Initials."""
    version = int.from_bytes(body[0:2], "big")
    at = 34
    _, at = _vector(body, at, 1)  # session id
    suites_raw, at = _vector(body, at, 2)
    _, at = _vector(body, at, 1)  # compression methods
    exts, whole = extensions(body, at)
    suites = [s for s in _u16s(suites_raw) if s not in GREASE]
    sni = ""
    alpn = b""
    groups: list[int] = []
    formats: list[int] = []
    sig_algs: list[int] = []
    versions: list[int] = []
    for kind, data in exts:
        if kind == SNI and len(data) > 5 and data[2] == 0:
            sni = text(data[5 : 5 + int.from_bytes(data[3:5], "big")])
        elif kind == ALPN and len(data) > 3:
            alpn = data[3 : 3 + data[2]]
        elif kind == GROUPS and len(data) >= 2:
            groups = [g for g in _u16s(data[2:]) if g not in GREASE]
        elif kind == POINT_FORMATS and data:
            formats = list(data[1 : 1 + data[0]])
        elif kind == SIG_ALGS and len(data) >= 2:
            sig_algs = [a for a in _u16s(data[2 : 2 + int.from_bytes(data[0:2], "big")]) if a not in GREASE]
        elif kind == SUPPORTED_VERSIONS and data:
            versions = [v for v in _u16s(data[1 : 1 + data[0]]) if v not in GREASE]
    ext_ids = [k for k, _ in exts if k not in GREASE]
    sni = sni.lower().rstrip(".")
    if sni and sni != told:
        p.fact("tls", "sni", sni)
    if told is None:
        p.fact_dst("tls", "service", ("udp", p.dport, "quic") if transport == "q" else ("tcp", p.dport, "tls"))
    if not whole:  # no fingerprint from half a hello
        if cut:
            return sni
        raise Malformed("extensions run past the ClientHello")
    ja3 = ",".join([str(version), *("-".join(map(str, v)) for v in (suites, ext_ids, groups, formats))])
    p.fact("tls", "ja3", hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest())
    p.fact("tls", "ja4", ja4(transport, version, versions, SNI in ext_ids, suites, ext_ids, alpn, sig_algs))
    return sni


def ja4(
    transport: str,
    version: int,
    versions: list[int],
    sni: bool,
    suites: list[int],
    ext_ids: list[int],
    alpn: bytes,
    sig_algs: list[int],
) -> str:
    top = max(versions) if versions else version
    a = (
        f"{transport}{VERSIONS.get(top, '00')}{'d' if sni else 'i'}"
        f"{min(len(suites), 99):02d}{min(len(ext_ids), 99):02d}{_alpn_chars(alpn)}"
    )
    b = _hash12(_hex4(sorted(suites))) if suites else "000000000000"
    rest = sorted(e for e in ext_ids if e not in (SNI, ALPN))
    c_text = _hex4(rest)
    if sig_algs:
        c_text += "_" + _hex4(sig_algs)
    c = _hash12(c_text) if rest else "000000000000"
    return f"{a}_{b}_{c}"


def _alpn_chars(alpn: bytes) -> str:
    if not alpn:
        return "00"
    first, last = chr(alpn[0]), chr(alpn[-1])
    if first.isascii() and first.isalnum() and last.isascii() and last.isalnum():
        return first + last
    return f"{alpn[0]:02x}"[0] + f"{alpn[-1]:02x}"[-1]


def _hash12(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12]


def server_hello(p: Packet, body: bytes, cut: bool = False) -> None:
    version = int.from_bytes(body[0:2], "big")
    at = 34
    _, at = _vector(body, at, 1)
    if at + 3 > len(body):
        raise Malformed("short ServerHello")
    suite = int.from_bytes(body[at : at + 2], "big")
    found, whole = extensions(body, at + 3)
    p.fact("tls", "service", ("tcp", p.sport, "tls"))
    if not whole:
        if cut:
            return
        raise Malformed("extensions run past the ServerHello")
    exts = [k for k, _ in found]
    ja3s = f"{version},{suite},{'-'.join(map(str, exts))}"
    p.fact("tls", "ja3s", hashlib.md5(ja3s.encode(), usedforsecurity=False).hexdigest())


def certificate(p: Packet, body: bytes, cut: bool = False) -> None:
    """The first certificate's subject. A chain is often longer than a segment; the
    subject comes early in the first certificate and is read from the part there is."""
    if cut:
        chain = body[3:]
    else:
        chain, _ = _vector(body, 0, 3) if len(body) >= 3 else (b"", 0)
    if len(chain) < 3:
        return
    size = int.from_bytes(chain[0:3], "big")
    try:
        subject = cert_subject(chain[3 : 3 + size], whole=not cut)
    except Malformed:
        if not cut:
            raise
        return  # the subject is past the cut
    if subject:
        p.fact("tls", "cert_subject", subject)


# --- a minimal DER reader: enough to find a certificate's subject ---------------------

OID_NAMES = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x06": "C"}


def _tlv(b: bytes, at: int, whole: bool = True) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at `at`; `whole=False`
    lets its value run past the bytes there are."""
    if at + 2 > len(b):
        raise Malformed("DER element runs past the certificate")
    tag, size = b[at], b[at + 1]
    at += 2
    if size & 0x80:
        n = size & 0x7F
        if n == 0 or n > 4:
            raise Malformed("DER length")
        size = int.from_bytes(b[at : at + n], "big")
        at += n
    if whole and at + size > len(b):
        raise Malformed("DER element runs past the certificate")
    return tag, at, at + size


def cert_subject(der: bytes, whole: bool = True) -> str:
    """`CN=..., O=...` of an X.509 certificate's subject; empty if not found. With
    `whole=False` the certificate may be cut after its subject."""
    _, cert, _ = _tlv(der, 0, whole)
    _, tbs, tbs_end = _tlv(der, cert, whole)
    at = tbs
    tag, _, end = _tlv(der, at)
    if tag == 0xA0:  # explicit version
        at = end
    for _ in range(4):  # serial, signature algorithm, issuer, validity
        _, _, at = _tlv(der, at)
    tag, start, end = _tlv(der, at)
    if tag != 0x30 or end > tbs_end:
        return ""
    parts = []
    at = start
    while at < end:
        _, set_start, set_end = _tlv(der, at)
        _, seq_start, _ = _tlv(der, set_start)
        _, oid_start, oid_end = _tlv(der, seq_start)
        _, v_start, v_end = _tlv(der, oid_end)
        label = OID_NAMES.get(der[oid_start:oid_end])
        if label:
            parts.append(f"{label}={text(der[v_start:v_end])}")
        at = set_end
    return ", ".join(parts)


def dissect(p: Packet) -> None:
    _messages(p, handshakes(p.payload))


def _messages(p: Packet, found: list[tuple[int, bytes, bool]]) -> str:
    """Facts of the handshake messages `found`; the ClientHello's SNI, if any."""
    sni = ""
    for kind, body, cut in found:
        if kind == CLIENT_HELLO and len(body) >= 38:
            sni = client_hello(p, body, cut)
        elif kind == SERVER_HELLO and len(body) >= 38:
            server_hello(p, body, cut)
        elif kind == CERTIFICATE:
            certificate(p, body, cut)
    return sni


# --- ClientHellos over several segments ------------------------------------------------

HELLO_MAX = 8192  # bytes held per flow: a hello with post-quantum shares needs ~1,800
PENDING_MAX = 512  # flows held at once: at most HELLO_MAX * PENDING_MAX bytes
PENDING_AGE = 5.0  # seconds: a client sends its hello's segments back to back
SEQ_MASK = 0xFFFFFFFF


def starts_cut_hello(payload: bytes) -> bool:
    """Whether `payload` opens a ClientHello that goes on past its end: the record is
    longer than the segment, or the hello longer than its record. The packet core asks
    the same (sensor/csrc/select.c, cut_hello), so that the segments after it are sent here."""
    n = len(payload)
    if n < 6 or payload[0] != HANDSHAKE or payload[1] != 3 or payload[5] != CLIENT_HELLO:
        return False
    record = int.from_bytes(payload[3:5], "big")
    return record + 5 > n or n < 9 or int.from_bytes(payload[6:9], "big") + 4 > record


@dataclass(slots=True)
class Pending:
    data: bytearray  # the hello's records so far
    next_seq: int  # where the next segment must start
    ts: float  # when its first segment came
    sni: str  # what that segment gave


class Hellos:
    """ClientHellos cut by their segment's end, completed from the segments that follow.

    Only in-order segments of the same direction complete a hello: a segment that
    leaves a gap or starts elsewhere drops it (its first segment's facts stay). The
    state is bounded by `PENDING_MAX` flows of at most `HELLO_MAX` bytes, and a hello
    not completed within `PENDING_AGE` seconds is forgotten.
    """

    def __init__(self) -> None:
        self.pending: dict[tuple[int, int, int, int], Pending] = {}

    def expected(self, now: float) -> list[int]:
        """Sequence numbers that would continue a pending hello (for the packet core)."""
        self._expire(now)
        return [h.next_seq for h in self.pending.values()]

    def _expire(self, now: float) -> None:
        pending = self.pending
        while pending:
            key = next(iter(pending))
            if pending[key].ts >= now - PENDING_AGE:
                break
            del pending[key]

    def dissect(self, p: Packet) -> None:
        if self.pending:
            key = (p.src, p.dst, p.sport, p.dport)
            held = self.pending.get(key)
            if held is not None and self._more(p, key, held):
                return
        payload = p.payload
        found = handshakes(payload)
        if found:  # the core's guess made sure: its records say whether it is cut
            cut = found[0][0] == CLIENT_HELLO and found[0][2]
        else:
            cut = starts_cut_hello(payload)
        if not cut:
            _messages(p, found)
            return
        held = self._hold(p, payload)
        sni = _messages(p, found)
        if held is not None:
            held.sni = sni

    def _hold(self, p: Packet, payload: bytes) -> Pending | None:
        key = (p.src, p.dst, p.sport, p.dport)
        pending = self.pending
        pending.pop(key, None)  # a retransmitted first segment starts afresh
        if len(payload) >= HELLO_MAX:
            return None
        self._expire(p.ts)
        while len(pending) >= PENDING_MAX:
            del pending[next(iter(pending))]
        seq = int.from_bytes(p.data[p.l4 + 4 : p.l4 + 8], "big")
        held = Pending(bytearray(payload), (seq + len(payload)) & SEQ_MASK, p.ts, "")
        pending[key] = held
        return held

    def _more(self, p: Packet, key: tuple[int, int, int, int], held: Pending) -> bool:
        """Add the segment `p` to the hello `held`; False if it does not continue it."""
        payload = p.payload
        seq = int.from_bytes(p.data[p.l4 + 4 : p.l4 + 8], "big")
        if seq != held.next_seq or p.ts - held.ts > PENDING_AGE:
            del self.pending[key]  # out of order, a gap, or too late: no reordering here
            return False
        if not payload:
            return True
        held.data += payload
        held.next_seq = (seq + len(payload)) & SEQ_MASK
        found = handshakes(bytes(held.data))
        if found and found[0][0] == CLIENT_HELLO and not found[0][2]:
            del self.pending[key]
            if len(found[0][1]) >= 38:
                client_hello(p, found[0][1], told=held.sni)
        elif len(held.data) >= HELLO_MAX or (found and found[0][0] != CLIENT_HELLO):
            del self.pending[key]
        return True


PROTOCOL = Protocol(
    "tls",
    state=Hellos,
    magic=(bytes((HANDSHAKE, 3)),),  # a handshake record, version 3.x
    facts=(
        Fact("tls", "service", example='("tcp", 443, "tls")', kind=tuple),
        Fact("tls", "sni", example='"www.example.org"'),
        Fact("tls", "ja3", example='"773906b0efdefa24a7f2b8eb6985bf37"', reads=readers.tls_client),
        Fact("tls", "ja4", example='"t13d1516h2_8daaf6152771_b186095e22b6"', reads=readers.tls_client),
        Fact("tls", "ja3s", example='"f4febc55ea12b31ae17cfb7e614afda8"'),
        Fact("tls", "cert_subject", example='"CN=www.example.org, O=Example"'),
    ),
)
