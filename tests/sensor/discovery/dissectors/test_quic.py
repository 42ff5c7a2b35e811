"""QUIC Initial packets: the client's ClientHello decrypted, its SNI, JA3 and JA4 as tshark reads them.

Keys against RFC 9001's and RFC 9369's test vectors (Appendix A); whole captures of
client Initials built by `synth.quic` (a Chrome-sized hello over two packets, its
CRYPTO frames shuffled) against tshark, which decrypts QUIC Initials itself. tshark
4.0 has no JA4 field: the JA4 is checked against the same hello's over TCP, which the
TLS tests check against FoxIO's published values, with "q" for "t" as JA4 defines.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.discovery.dissectors import quic
from nps_sensor.discovery.facts import Key, Seen
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from nps_sensor.synth.quic import client_initials, crypto_frame, initial_packet, varint
from tests.sensor.discovery.dissectors.frames import A4, MA, MB, Case, about, collect, collect_apart, tcp4, udp4
from tests.sensor.discovery.dissectors.test_tls import JA4_OF_THE_EXAMPLE, JA4_SIG_ALGS, client_hello
from tests.sensor.discovery.dissectors.test_tls import SNI_NAME as EXAMPLE_SNI
from tests.sensor.discovery.dissectors.test_tls_segments import CHROME143_EXTS, browser_hello

SERVER = "142.250.74.110"
DCID, SCID = bytes.fromhex("8394c8f03e515708"), bytes.fromhex("c0ffee00")
SNI_NAME = "optimizationguide-pa.googleapis.com"


def _cases() -> list[Case]:
    return [
        Case(
            "quic",
            udp4(51000, 443, dst="142.250.74.110"),
            client_initials(client_hello()[5:], bytes.fromhex("8394c8f03e515708"), b"\xc0\xff\xee\x00")[0],
            {("tls", "sni", EXAMPLE_SNI), ("tls", "ja4", "q" + JA4_OF_THE_EXAMPLE[1:])},
        ),
    ]


CASES = _cases()


def datagram(payload: bytes, sport: int = 51000, dport: int = 443, src: str = A4, dst: str = SERVER) -> bytes:
    return P.eth_ipv4_udp(MA, MB, src, dst, sport, dport, payload)


def chrome_hello() -> bytes:
    """Chrome 143's hello (post-quantum key share: about 1,800 bytes) as a handshake message."""
    return browser_hello(CHROME143_EXTS, JA4_SIG_ALGS)[5:]


def quic_facts(frames: list[bytes]) -> dict[str, set[object]]:
    facts, _ = collect(frames)
    out: dict[str, set[object]] = {}
    for _, key, value in about(facts, A4):
        out.setdefault(key, set()).add(value)
    return out


@pytest.mark.parametrize(
    ("version", "key", "iv", "hp"),
    [
        (quic.V1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"),
        (quic.V2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"),
    ],
)
def test_client_initial_keys_of_the_rfcs(version: int, key: str, iv: str, hp: str) -> None:
    """RFC 9001 A.1 and RFC 9369 A.1: the keys of DCID 8394c8f03e515708."""
    keys = quic.client_keys(version, DCID)
    assert (keys.key.hex(), keys.iv.hex(), keys.hp.hex()) == (key, iv, hp)


@pytest.mark.parametrize("version", [quic.V1, quic.V2])
def test_hello_in_one_initial(version: int) -> None:
    hello = client_hello()[5:]
    got = quic_facts([datagram(d) for d in client_initials(hello, DCID, SCID, version=version)])
    assert got["sni"] == {"www.example.com"}
    (ja4,) = got["ja4"]
    assert isinstance(ja4, str) and ja4.startswith("q13d")
    tcp = quic_facts([tcp4(51000, 443)(client_hello())])
    assert got["ja3"] == tcp["ja3"] and {f"q{j[1:]}" for j in tcp["ja4"] if isinstance(j, str)} == got["ja4"]


def test_chrome_hello_over_two_initials_with_shuffled_frames() -> None:
    hello = chrome_hello()
    assert len(hello) > 1200
    packets = client_initials(hello, DCID, SCID, cuts=(1000,), shuffle=True)
    for frames in ([datagram(d) for d in packets], [datagram(d) for d in reversed(packets)]):
        got = quic_facts(frames)
        assert got["sni"] == {SNI_NAME} and len(got["ja3"]) == 1 and len(got["ja4"]) == 1
    # apart, in two batches, as a live capture may cut them
    facts, _ = collect_apart([datagram(d) for d in packets])
    assert ("tls", "sni", SNI_NAME) in about(facts, A4)
    assert ("tls", "service", ("udp", 443, "quic")) in about(facts, SERVER)


def test_missing_initial_gives_nothing_and_is_bounded() -> None:
    packets = client_initials(chrome_hello(), DCID, SCID, cuts=(1000,))
    facts, c = collect_apart([datagram(packets[1])])
    assert not [k for _, k, _ in about(facts, A4) if k in ("sni", "ja3", "ja4")]
    assert c.discovery is not None
    initials = c.discovery.states["quic"]
    assert isinstance(initials, quic.Initials)
    assert len(initials.pending) == 1
    late = datagram(client_initials(chrome_hello(), bytes(8), SCID, cuts=(1000,))[1])
    c.process(batch_from_frames([late], ts=[1_700_000_100.0]))
    assert len(initials.pending) == 1  # the first one expired (tls.PENDING_AGE)


def test_only_client_initials_are_selected() -> None:
    """Short-header packets, the server's Initials and small datagrams on 443 cost a few reads in the core."""
    initial = client_initials(client_hello()[5:], DCID, SCID)[0]
    short = bytes([0x40]) + bytes(1250)
    server = datagram(initial, sport=443, dport=51000, src=SERVER, dst=A4)
    small = datagram(initial[:900])
    c = Collector(Config())
    c.process(batch_from_frames([datagram(short), server, small], ts=[1.0, 2.0, 3.0]))
    assert c.stats_dict()["discovery"]["packets"] == 0
    c.process(batch_from_frames([datagram(initial)], ts=[4.0]))
    assert c.stats_dict()["discovery"]["packets"] == 1


def test_damaged_initials_are_counted_not_raised() -> None:
    initial = client_initials(client_hello()[5:], DCID, SCID)[0]
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(200):
        b = bytearray(initial)
        for at in rng.integers(0, len(b), 3):
            b[int(at)] = int(rng.integers(0, 256))
        frames.append(datagram(bytes(b)))
    garbage = initial_packet(crypto_frame(0, b"\x02\x00\x00\x04abcd"), DCID, SCID, 0)  # a ServerHello
    frames.append(datagram(garbage))
    frames.append(datagram(initial[:7] + bytes([0x40, 0xFF]) + initial[9:]))  # a length past the end
    _facts, errors = collect(frames)
    assert errors.get("malformed-quic", 0) >= 100
    assert varint(15293) == b"\x7b\xbd"


def _tshark_hellos(path: Path, tshark: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        [
            tshark,
            "-n",
            "-r",
            str(path),
            "-Y",
            "tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "tls.handshake.ja3",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line.strip()]  # type: ignore[misc]


def test_sni_and_ja3_equal_tsharks(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    hellos = [
        (client_hello()[5:], (), False, "www.example.com"),
        (chrome_hello(), (1000,), True, SNI_NAME),
        (browser_hello(CHROME143_EXTS, JA4_SIG_ALGS, sni="www.youtube.com")[5:], (600, 1200), True, "www.youtube.com"),
    ]
    path = tmp_path / "quic.pcap"
    frames: list[bytes] = []
    for i, (hello, cuts, shuffle, _) in enumerate(hellos):
        dcid = bytes([i + 1]) * 8
        for d in client_initials(hello, dcid, SCID, cuts=cuts, shuffle=shuffle):
            frames.append(datagram(d, sport=50000 + i))
    with PcapWriter(str(path)) as w:
        for i, f in enumerate(frames):
            w.write(1_700_000_000.0 + i * 0.001, f)
    expected = _tshark_hellos(path, tshark)
    assert sorted(sni for sni, _ in expected) == sorted(h[3] for h in hellos), expected
    facts: dict[Key, Seen]
    facts, _ = collect(frames)
    got = about(facts, A4)
    assert {("tls", "sni", sni) for sni, _ in expected} <= got
    assert {("tls", "ja3", ja3) for _, ja3 in expected} <= got
    over_tcp = quic_facts(
        [tcp4(51000 + i, 443)(b"\x16\x03\x01" + len(h[0]).to_bytes(2, "big") + h[0]) for i, h in enumerate(hellos)]
    )
    assert {v for _, k, v in got if k == "ja4"} == {f"q{j[1:]}" for j in over_tcp["ja4"] if isinstance(j, str)}
