"""Random and mutated frames never crash the decoder or the engine (> 100,000 frames).

Hypothesis chooses the seeds and mutation rates; each example expands them into a
batch of 512 frames with numpy's generator, so that a run covers well over 100,000
frames in seconds. Mutations start from valid frames of every encapsulation the
decoder knows, so they reach deep into the tunnel parsers.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.decode import ERROR, IP, L2, decode
from nps_sensor.pipeline import Engine
from nps_sensor.synth import packets as P
from nps_sensor.synth.tunnels import gtp_u, teredo

BATCH = 512
EXAMPLES = 200  # 200 x 512 = 102,400 frames

A, B = "10.0.0.1", "10.0.0.2"
MA, MB = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _corpus() -> list[bytes]:
    seg = P.tcp(A, B, 40000, 80, b"GET / HTTP/1.1\r\n\r\n", flags="PA")
    ip4 = P.ipv4(A, B, P.PROTO_TCP, seg)
    eth = P.ethernet(MB, MA, P.ETH_IPV4, ip4)
    seg6 = P.udp("fe80::1", "ff02::fb", 5353, 5353, b"\0" * 12)
    ip6 = P.ipv6("fe80::1", "ff02::fb", P.PROTO_UDP, seg6, extensions=[P.ext_hop_by_hop(), P.ext_fragment(0, True, 9)])
    eth6 = P.ethernet(MB, MA, P.ETH_IPV6, ip6)

    def outer(proto: int, payload: bytes) -> bytes:
        return P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4("192.0.2.1", "192.0.2.2", proto, payload))

    vx = P.udp("192.0.2.1", "192.0.2.2", 1, 4789, P.vxlan(eth, 5))
    gtp = P.udp("192.0.2.1", "192.0.2.2", 2152, 2152, gtp_u(ip4, 7, 1, [(0x85, b"\0\x09")]))
    ter = P.udp("192.0.2.1", "192.0.2.2", 3544, 40000, teredo(ip6, (40000, "198.51.100.7")))
    return [
        eth,
        eth6,
        P.ethernet(MB, MA, P.ETH_IPV4, ip4, tags=(P.vlan_tag(5),)),
        P.ethernet(MB, MA, P.ETH_IPV4, ip4, tags=tuple(P.qinq_tags(1, 2))),
        P.ethernet(MB, MA, 0x8847, P.mpls([1, 2], ip4)),
        P.ethernet(MB, MA, 0x8847, P.mpls([1], b"\0\0\0\0" + eth)),
        outer(P.PROTO_GRE, P.erspan_i(eth)),
        outer(P.PROTO_GRE, P.erspan_ii(eth, 1, 1)),
        outer(P.PROTO_GRE, P.erspan_iii(eth, 2, 1, platform=P.erspan_iii_platform(1, 2))),
        outer(P.PROTO_GRE, P.gre_teb(eth, key=1, seq=2)),
        outer(P.PROTO_GRE, P.gre(P.ETH_IPV4, ip4, checksum_present=True)),
        outer(P.PROTO_UDP, vx),
        outer(P.PROTO_UDP, gtp),
        outer(P.PROTO_UDP, ter),
        outer(4, ip4),
        outer(41, ip6),
        P.ethernet("ff:ff:ff:ff:ff:ff", MA, 0x0806, P.arp(1, MA, A, "00:00:00:00:00:00", B)),
        *[
            P.ethernet(MB, MA, P.ETH_IPV4, f)
            for f in P.fragment_ipv4(P.ipv4(A, B, 17, P.udp(A, B, 1, 2, bytes(2000))), 600)
        ],
    ]


CORPUS = _corpus()


def _frames(seed: int, flips: float, cut: float, random_share: float) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(BATCH):
        if rng.random() < random_share:
            out.append(rng.bytes(int(rng.integers(0, 200))))
            continue
        frame = bytearray(CORPUS[int(rng.integers(len(CORPUS)))])
        n_flips = rng.binomial(len(frame), flips)
        for pos in rng.integers(0, len(frame), n_flips):
            frame[pos] = int(rng.integers(256))
        if rng.random() < cut:
            del frame[int(rng.integers(0, len(frame) + 1)) :]
        if rng.random() < 0.05:
            at = int(rng.integers(0, len(frame) + 1))
            frame[at:at] = rng.bytes(int(rng.integers(1, 9)))
        out.append(bytes(frame))
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    flips=st.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3]),
    cut=st.floats(0, 1),
    random_share=st.sampled_from([0.0, 0.1, 1.0]),
    linktype=st.sampled_from([1, 1, 1, 113, 276, 101, 0]),
)
def test_decoder_and_engine_survive_anything(
    seed: int, flips: float, cut: float, random_share: float, linktype: int
) -> None:
    frames = _frames(seed, flips, cut, random_share)
    batch = batch_from_frames(frames, ts=[1_700_000_000 + i * 1e-4 for i in range(len(frames))], linktype=linktype)
    d = decode(batch)
    assert set(d.state) <= {IP, L2, ERROR}
    # Every header the engine reads lies inside its frame.
    for i, start in enumerate(batch.off):
        if d.state[i] != IP:
            continue
        assert d.l3[i] >= start and d.iplen[i] >= 0
        assert d.l3[i] + (20 if d.ipver[i] == 4 else 40) <= d.end[i]
        assert not d.has_ports[i] or d.l4[i] + 4 <= d.end[i]
    engine = Engine(Config(), lambda report: None)
    engine.feed(batch)
    engine.finish()
    stats = engine.stats_dict()
    assert stats["packets"] == len(frames)
    assert stats["ip_packets"] + sum(stats["non_ip"].values()) + sum(
        # Malformed payloads (DNS, discovery's dissectors) are counted besides their packet.
        v
        for k, v in stats["decode_errors"].items()
        if k != "truncated-transport" and not k.startswith("malformed-")
    ) == len(frames)
