"""The receive ring's blocks, built in memory as the kernel lays them out: a frame
whose outer VLAN tag the kernel took out (802.1Q, 802.1ad over 802.1Q) is read back
byte for byte as the switch mirrored it, so it decodes as it does from a file."""

from __future__ import annotations

import struct

import numpy as np

from nps_sensor.capture import ring as R
from nps_sensor.capture.batch import Buffer, batch_from_frames
from nps_sensor.config import Config
from nps_sensor.decode import decode
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P

MAC_AT = 84  # where tpacket_rcv puts a frame behind its header (reserve included), as on x86-64


def frames() -> list[bytes]:
    """Untagged, 802.1Q (VLAN 4094 and a priority tag) and QinQ frames (802.1ad, which the
    kernel strips, and the old 0x9100, which it leaves in the frame)."""
    tags = [[], [P.vlan_tag(4094, pcp=5)], [P.vlan_tag(0, pcp=3)], P.qinq_tags(100, 200), P.qinq_tags(7, 4095, 0x9100)]
    payload = P.udp("10.0.0.1", "10.0.0.2", 5353, 53, b"x" * 30)
    datagrams = [P.ipv4("10.0.0.1", "10.0.0.2", 17, payload, ident=i) for i in range(len(tags))]
    return [
        P.ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", P.ETH_IPV4, d, tags=t)
        for d, t in zip(datagrams, tags, strict=True)
    ]


def block(wire: list[bytes]) -> bytearray:
    """One TPACKET_V3 block holding `wire` as the kernel hands it over: the outer tag
    of a tagged frame out of the frame, in the packet header."""
    out = bytearray(48)
    struct.pack_into("III", out, 8, R.TP_STATUS_USER, len(wire), 48)
    for i, sent in enumerate(wire):
        status, tci, tpid, frame = 0, 0, 0, sent
        tpid_at = struct.unpack_from("!H", sent, 12)[0]
        if tpid_at in (0x8100, 0x88A8):
            status = R.TP_STATUS_VLAN_VALID | (R.TP_STATUS_VLAN_TPID_VALID if tpid_at != 0x8100 else 0)
            tci, tpid = struct.unpack_from("!H", sent, 14)[0], tpid_at
            frame = sent[:12] + sent[16:]
        size = (MAC_AT + len(frame) + 15) // 16 * 16
        pkt = bytearray(size)
        nxt = size if i < len(wire) - 1 else 0
        struct.pack_into("=IIIIIIHHIIHH", pkt, 0, nxt, 1_700_000_000, i * 1000, len(frame), len(frame),
                         status, MAC_AT, MAC_AT + 14, 0, tci, tpid, 0)  # fmt: skip
        pkt[MAC_AT : MAC_AT + len(frame)] = frame
        out += pkt
    return out


def test_stripped_tags_are_put_back_in_place() -> None:
    wire = frames()
    mem = block(wire)
    batch = R.block_batch(Buffer(mem), np.frombuffer(mem, dtype=np.uint8), 0, len(wire))
    got = [bytes(mem[o : o + c]) for o, c in zip(batch.off.tolist(), batch.caplen.tolist(), strict=True)]
    assert got == wire
    assert batch.wirelen.tolist() == [len(f) for f in wire]
    assert batch.vlan_tci is None


def test_a_ring_block_decodes_as_the_same_frames_from_a_file() -> None:
    wire = frames()
    mem = block(wire)
    live = decode(R.block_batch(Buffer(mem), np.frombuffer(mem, dtype=np.uint8), 0, len(wire)))
    offline = decode(batch_from_frames(wire))
    assert live.vlan_outer.tolist() == offline.vlan_outer.tolist() == [-1, 4094, 0, 100, 7]
    assert live.vlan_inner.tolist() == offline.vlan_inner.tolist() == [-1, -1, -1, 200, 4095]
    assert live.state.tolist() == offline.state.tolist()


def test_counters_of_ring_and_file_agree() -> None:
    wire = frames()
    mem = block(wire)
    live, offline = Collector(Config()), Collector(Config())
    live.process(R.block_batch(Buffer(mem), np.frombuffer(mem, dtype=np.uint8), 0, len(wire)))
    offline.process(batch_from_frames(wire))
    a, b = live.stats_dict(), offline.stats_dict()
    for key in ("first", "last"):  # the ring's times are the kernel's
        a.pop(key, None)
        b.pop(key, None)
    assert a == b
    assert a["encapsulation"] == {"vlan": 4, "qinq": 2}
