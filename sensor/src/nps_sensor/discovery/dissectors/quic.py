"""QUIC Initial packets: the client's TLS ClientHello, decrypted with the keys anyone can derive.

A QUIC client's first packets (Initial, RFC 9000 §17.2.2) carry its TLS ClientHello
in CRYPTO frames, encrypted with keys derived from the Destination Connection ID the
client chose (RFC 9001 §5.2: HKDF from a published salt, AES-128-GCM, header
protection with AES-ECB). Any observer can derive them, so the hello gives its SNI,
JA3 and JA4 (with the transport letter "q") as a TCP hello does. Browsers and phones
speak QUIC to most large sites, so without this their TLS names would go unseen.

A hello larger than one packet (post-quantum key shares: Chrome's is about 1,800
bytes) spans several Initial packets, and Chrome shuffles its CRYPTO frames: they are
put together by offset, per client address, port and connection ID, with the same
bounds as TLS over TCP (`tls.HELLO_MAX` bytes per connection, `tls.PENDING_MAX`
connections, `tls.PENDING_AGE` seconds). Versions 1 and 2 (RFC 9369) are read.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from nps_sensor.discovery.dissectors import tls
from nps_sensor.discovery.packet import Malformed, Packet
from nps_sensor.discovery.protocol import Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq

V1, V2 = 0x00000001, 0x6B3343CF
SALTS = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
LABELS = {V1: (b"quic key", b"quic iv", b"quic hp"), V2: (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")}
INITIAL = {V1: 0, V2: 1}  # the long header's packet type bits of an Initial
PADDING, PING, ACK, ACK_ECN, CRYPTO = 0x00, 0x01, 0x02, 0x03, 0x06
INITIAL_MIN = 1200  # RFC 9000 §14.1: a client pads every datagram with an Initial to 1,200 bytes
KEYS_MAX = 1024  # connections whose keys are kept (a client sends a few Initials per connection)


def expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3's HKDF-Expand-Label with an empty context (RFC 8446 §7.1); one SHA-256 block."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return hmac.digest(secret, info + b"\x01", hashlib.sha256)[:length]


@dataclass(frozen=True, slots=True)
class Keys:
    key: bytes
    iv: bytes
    hp: bytes


def client_keys(version: int, dcid: bytes) -> Keys:
    """The client's Initial keys for a Destination Connection ID (RFC 9001 §5.2, RFC 9369 §3.3)."""
    initial = hmac.digest(SALTS[version], dcid, hashlib.sha256)  # HKDF-Extract
    secret = expand_label(initial, b"client in", 32)
    key, iv, hp = LABELS[version]
    return Keys(expand_label(secret, key, 16), expand_label(secret, iv, 12), expand_label(secret, hp, 16))


def varint(b: bytes, at: int) -> tuple[int, int]:
    """A QUIC variable-length integer at `at` and the position after it."""
    if at >= len(b):
        raise Malformed("variable-length integer past the end")
    size = 1 << (b[at] >> 6)
    if at + size > len(b):
        raise Malformed("variable-length integer past the end")
    return int.from_bytes(b[at : at + size], "big") & ((1 << (8 * size - 2)) - 1), at + size


@cache
def _aes() -> Any:
    """cryptography's AES, imported on the first QUIC Initial: a run without QUIC, or
    without discovery, does not pay its import (about 50 ms)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return Cipher, algorithms, modes, AESGCM, InvalidTag


def mask(hp: bytes, sample: bytes) -> bytes:
    """Header protection's mask: AES-ECB of the sample under the hp key (RFC 9001 §5.4.3)."""
    cipher, algorithms, modes, _, _ = _aes()
    enc = cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    return bytes(enc.update(sample) + enc.finalize())


def aead(key: bytes) -> Any:
    """AES-128-GCM under `key` (RFC 9001 §5.3)."""
    return _aes()[3](key)


@dataclass(slots=True)
class Initial:
    """One Initial packet of a datagram: its connection ID and where it ends."""

    version: int
    dcid: bytes
    pn_at: int  # where the (protected) packet number starts
    end: int  # where the packet ends (the next coalesced packet starts)


def parse_initial(d: bytes, at: int = 0) -> Initial | None:
    """The long header of the packet at `at`, if it is a version 1 or 2 Initial."""
    if len(d) < at + 7 or d[at] & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(d[at + 1 : at + 5], "big")
    if version not in INITIAL or (d[at] >> 4) & 0x03 != INITIAL[version]:
        return None
    k = at + 5
    dlen = d[k]
    if dlen > 20:
        raise Malformed("connection ID longer than 20 bytes")
    dcid = d[k + 1 : k + 1 + dlen]
    k += 1 + dlen
    if k >= len(d) or d[k] > 20:
        raise Malformed("bad source connection ID")
    k += 1 + d[k]
    token, k = varint(d, k)
    k += token
    length, k = varint(d, k)
    if k + length > len(d) or length < 20:
        raise Malformed("Initial packet runs past the datagram")
    return Initial(version, dcid, k, k + length)


def decrypt(d: bytes, at: int, pkt: Initial, keys: Keys) -> bytes:
    """The Initial packet's plaintext payload (RFC 9001 §5.3, §5.4)."""
    sample = d[pkt.pn_at + 4 : pkt.pn_at + 20]
    m = mask(keys.hp, sample)
    first = d[at] ^ (m[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn = bytes(x ^ y for x, y in zip(d[pkt.pn_at : pkt.pn_at + pn_len], m[1 : 1 + pn_len], strict=True))
    header = bytes([first]) + d[at + 1 : pkt.pn_at] + pn
    nonce = (int.from_bytes(keys.iv, "big") ^ int.from_bytes(pn, "big")).to_bytes(12, "big")
    try:
        return bytes(aead(keys.key).decrypt(nonce, d[pkt.pn_at + pn_len : pkt.end], header))
    except _aes()[4] as e:  # InvalidTag: damaged, or not a client's Initial for this connection ID
        raise Malformed("Initial packet does not decrypt") from e


def crypto_frames(payload: bytes) -> list[tuple[int, bytes]]:
    """(offset, data) of the CRYPTO frames of a decrypted Initial (PADDING, PING, ACK skipped)."""
    out = []
    at = 0
    while at < len(payload):
        kind = payload[at]
        if kind in (PADDING, PING):
            at += 1
        elif kind == CRYPTO:
            offset, at = varint(payload, at + 1)
            size, at = varint(payload, at)
            out.append((offset, payload[at : at + size]))
            at += size
        elif kind in (ACK, ACK_ECN):
            at = _skip_ack(payload, at + 1, kind == ACK_ECN)
        else:
            break  # CONNECTION_CLOSE or a frame an Initial should not carry: the rest is unread
    return out


def _skip_ack(b: bytes, at: int, ecn: bool) -> int:
    _, at = varint(b, at)  # largest acknowledged
    _, at = varint(b, at)  # delay
    ranges, at = varint(b, at)
    _, at = varint(b, at)  # first range
    for _ in range(min(ranges, 256) * 2):
        _, at = varint(b, at)
    for _ in range(3 if ecn else 0):
        _, at = varint(b, at)
    return at


@dataclass(slots=True)
class Pending:
    first: float
    chunks: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Initials:
    """Client Initials being put together into ClientHellos, per (client, port, connection ID)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, int, bytes], Pending] = {}
        self.keys: dict[tuple[int, bytes], Keys] = {}

    def dissect(self, p: Packet) -> None:
        d = p.payload
        at = 0
        while at < len(d):
            pkt = parse_initial(d, at)
            if pkt is None:
                return
            keys = self._keys(pkt)
            frames = crypto_frames(decrypt(d, at, pkt, keys))
            if frames:
                self._add(p, (p.src, p.sport, pkt.dcid), frames)
            at = pkt.end

    def _keys(self, pkt: Initial) -> Keys:
        k = (pkt.version, pkt.dcid)
        keys = self.keys.get(k)
        if keys is None:
            if len(self.keys) >= KEYS_MAX:
                self.keys.clear()
            keys = self.keys[k] = client_keys(pkt.version, pkt.dcid)
        return keys

    def _add(self, p: Packet, key: tuple[int, int, bytes], frames: list[tuple[int, bytes]]) -> None:
        self._expire(p.ts)
        held = self.pending.get(key)
        if held is None:
            if len(self.pending) >= tls.PENDING_MAX:
                return  # bounded: this hello goes unread rather than another being dropped
            held = self.pending[key] = Pending(p.ts)
        for offset, data in frames:
            if offset + len(data) > tls.HELLO_MAX or offset in held.chunks:
                continue
            held.chunks[offset] = data
            held.size += len(data)
        hello = _contiguous(held.chunks)
        if len(hello) >= 4 and hello[0] == tls.CLIENT_HELLO:
            need = 4 + int.from_bytes(hello[1:4], "big")
            if len(hello) >= need:
                del self.pending[key]
                tls.client_hello(p, hello[4:need], transport="q")
        elif hello and hello[0] != tls.CLIENT_HELLO:
            del self.pending[key]
            raise Malformed("Initial CRYPTO data is not a ClientHello")

    def _expire(self, now: float) -> None:
        old = [k for k, v in self.pending.items() if now - v.first > tls.PENDING_AGE]
        for k in old:
            del self.pending[k]


def _contiguous(chunks: dict[int, bytes]) -> bytes:
    """The bytes from offset 0 on, as far as they go without a gap."""
    out = bytearray()
    while True:
        piece = chunks.get(len(out)) or None
        if piece is None:
            # a chunk that starts inside what is already there (a retransmission overlapping)
            inside = [(o, c) for o, c in chunks.items() if o < len(out) < o + len(c)]
            if not inside:
                return bytes(out)
            o, c = inside[0]
            piece = c[len(out) - o :]
        out += piece


# Of UDP datagrams on port 443, the client's that start with a QUIC v1 or v2 long
# header: to port 443, padded to 1,200 bytes, version 1 or 2. Short-header packets, the
# bulk of QUIC, and the server's answers fail these few reads (in the packet core).
CLIENT_INITIAL = Signature(
    tuple(Alternative(INITIAL_MIN, (eq(0, 1, 0xC0, mask=0xC0), eq(1, 4, version))) for version in (V1, V2)),
    to_port=True,
)


PROTOCOL = Protocol(
    "quic",
    state=Initials,
    udp=(443,),
    naming=CLIENT_INITIAL,
    # Its facts are TLS's: the ClientHello inside the Initials (`transport="q"` in JA4).
)
