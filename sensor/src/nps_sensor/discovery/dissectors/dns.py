"""DNS answers: names for the addresses they carry (A, AAAA) or ask about (PTR).

Only answers about inventoried addresses are kept (`Facts.wanted`): a resolver names
Internet servers by the thousand, none of them an asset. A resolver answers the same
question all day, so a repeat is found on arrays (`answered`) before any per-packet
work: the resolver and the question, not the TTLs, which count down.
"""

from __future__ import annotations

import numpy as np

from nps_sensor.decode.frames import Decoded
from nps_sensor.discovery.dissectors.dnsrecords import (
    PTR,
    RESPONSES,
    address,
    is_response,
    name_at,
    ptr_address,
    records,
)
from nps_sensor.discovery.packet import RECENT_MAX, Packet
from nps_sensor.discovery.protocol import Fact, Protocol
from nps_sensor.vtable import hash_columns

DNS_PORT = 53
QUESTION = 64  # bytes of a question read on arrays
QUESTION_SALT = 0x5A17_D0E5_0000_0001  # keeps these keys apart from the SYN keys
U64 = np.uint64


def dissect(p: Packet) -> None:
    msg = p.payload
    if not is_response(msg):
        return
    assert p.out is not None
    wanted = p.out.wanted
    for name, rtype, at, size in records(msg):
        addr = address(msg, rtype, at, size)
        if addr is not None and name:
            if wanted(addr):
                p.fact("dns", "name", name, ip=addr)
        elif rtype == PTR:
            owner = ptr_address(name)
            if owner is not None and wanted(owner):
                target, _ = name_at(msg, at)
                if target:
                    p.fact("dns", "name", target, ip=owner)


def question(data: bytes, l4: int, body: int) -> bytes:
    """What identifies an answer, with its resolver: its question."""
    end = data.find(b"\0", body + 12)
    return data[body + 12 : end + 5] if end > 0 else data[body + 2 :]


def answered(d: Decoded, frames: np.ndarray, body: np.ndarray, end: np.ndarray, recent: set[object]) -> np.ndarray:
    """Answers whose question this resolver already answered this window.

    The same check as `question`'s, made on arrays: most answers stop here without a
    line of Python each. The question (a name is never compressed there, then type
    and class) is read as QUESTION bytes; a longer one goes on to the per-packet check.
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
    key = hash_columns([d.src_hi[frames], d.src_lo[frames], qlen, *words.T]) ^ U64(QUESTION_SALT)
    seen = np.zeros(len(frames), dtype=bool)
    for k, (h, ok) in enumerate(zip(key.tolist(), usable.tolist(), strict=True)):
        if not ok:
            continue
        if h in recent:
            seen[k] = True
        elif len(recent) < RECENT_MAX:
            recent.add(h)
    return seen


PROTOCOL = Protocol(
    "dns",
    dissect,
    udp=(DNS_PORT,),
    naming=RESPONSES,
    repeat=question,
    seen=answered,
    facts=(Fact("dns", "name", ("named",), '"printer.example.org"'),),
)
