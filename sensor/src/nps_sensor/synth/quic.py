"""QUIC client Initial packets (RFC 9000 §17.2.2, RFC 9001 §5): a TLS ClientHello as a browser sends it.

The hello goes in CRYPTO frames, in one Initial or cut into several (a hello with
post-quantum key shares does not fit one), the frames of a packet optionally in
reverse order as Chrome shuffles them; each packet is padded so that its datagram
has 1,200 bytes, encrypted with the client's Initial keys and header-protected.
"""

from __future__ import annotations

import itertools

from nps_sensor.discovery.dissectors.quic import INITIAL, V1, aead, client_keys, mask

DATAGRAM_MIN = 1200
TAG = 16


def varint(v: int) -> bytes:
    """A QUIC variable-length integer in its shortest form."""
    for size, prefix in ((1, 0x00), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if v < 1 << (8 * size - 2):
            return (v | prefix << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError("too large for a QUIC integer")


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def initial_packet(frames: bytes, dcid: bytes, scid: bytes, pn: int, version: int = V1) -> bytes:
    """One protected Initial packet holding `frames`, padded to fill a 1,200-byte datagram."""
    pn_bytes = pn.to_bytes(2, "big")
    first = 0xC0 | INITIAL[version] << 4 | (len(pn_bytes) - 1)

    def header(length: int) -> bytes:
        return (
            bytes([first])
            + version.to_bytes(4, "big")
            + bytes([len(dcid)])
            + dcid
            + bytes([len(scid)])
            + scid
            + varint(0)  # no token
            + (0x4000 | length).to_bytes(2, "big")
            + pn_bytes
        )

    room = DATAGRAM_MIN - len(header(0)) - TAG
    plain = frames + bytes(max(0, room - len(frames)))  # PADDING frames are zero bytes
    length = len(pn_bytes) + len(plain) + TAG
    head = header(length)
    keys = client_keys(version, dcid)
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    sealed: bytes = aead(keys.key).encrypt(nonce, plain, head)
    sample = sealed[4 - len(pn_bytes) : 20 - len(pn_bytes)]
    m = mask(keys.hp, sample)
    pn_at = len(head) - len(pn_bytes)
    protected = bytes([head[0] ^ (m[0] & 0x0F)]) + head[1:pn_at]
    protected += bytes(b ^ k for b, k in zip(pn_bytes, m[1:], strict=False))
    return protected + sealed


def client_initials(
    hello: bytes,
    dcid: bytes,
    scid: bytes,
    *,
    cuts: tuple[int, ...] = (),
    shuffle: bool = False,
    version: int = V1,
) -> list[bytes]:
    """The datagrams carrying a ClientHello handshake message (type, length, body).

    `cuts`: offsets where the hello goes on in the next packet; `shuffle`: each
    packet's part in two CRYPTO frames, the later one first (as Chrome sends them)."""
    bounds = [0, *cuts, len(hello)]
    out = []
    for pn, (start, end) in enumerate(itertools.pairwise(bounds)):
        part = hello[start:end]
        if shuffle and len(part) > 1:
            half = len(part) // 2
            frames = crypto_frame(start + half, part[half:]) + b"\x01" + crypto_frame(start, part[:half])
        else:
            frames = crypto_frame(start, part)
        out.append(initial_packet(frames, dcid, scid, pn, version))
    return out
