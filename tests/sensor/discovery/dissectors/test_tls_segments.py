"""ClientHellos over several segments, and the JA4 of published clients.

FoxIO's sigalg-grease capture and browserleaks.com's print of Chrome 143 give the
expected JA4s; each hello is rebuilt from its printed lists, long enough to need two
segments. Out-of-order and missing segments give what the first segment holds.
"""

from __future__ import annotations

import itertools
import struct
import subprocess
from pathlib import Path

import pytest

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.discovery.dissectors import tls
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, MB, about, collect, collect_apart, ip_key, mac_key
from tests.sensor.discovery.dissectors.test_tls import (
    JA4_SIG_ALGS,
    SNI_NAME,
    client_fingerprints,
    client_hello,
    client_hello_extensions,
    conversation,
    tls_ext,
    u16s,
)


def hellos(c: Collector) -> tls.Hellos:
    """The collector's pending TLS ClientHellos."""
    assert c.discovery is not None
    state = c.discovery.states["tls"]
    assert isinstance(state, tls.Hellos)
    return state


#
# Two published ClientHellos, rebuilt from the values their sources print in original
# order (JA4_ro, JA3 text): extension contents are ours, the lists JA3/JA4 read are
# theirs. GREASE goes where Chrome puts it (first cipher, first and last extension,
# first group, version and key share): both fingerprints must leave it out.
#
# FoxIO's `pcap/sigalg-grease.pcapng` (Chrome; its expected output
# `python/test/testdata/sigalg-grease.pcapng.json`, quoted by Crank-Git/ja4plus-go):
# a 2,039-byte hello over two segments, with a GREASE value among its signature
# algorithms, which FoxIO's tools leave out since "fix(rust): ignore grease in sigalgs".
SIGALG_GREASE_JA4 = "t13d1517h2_8daaf6152771_cb7bf5808d99"


SIGALG_GREASE_EXTS: tuple[int, ...] = (0xFE0D, 0x0010, 0x0017, 0x0033, 0x44CD, 0xFF01, 0x000A, 0x000D, 0x0023)


SIGALG_GREASE_EXTS += (0x002B, 0x000B, 0xCA34, 0x002D, 0x0000, 0x0005, 0x001B, 0x0012)


SIGALG_GREASE_SIGS = (0x0A0A, 0x0904, 0x0905, 0x0906, *JA4_SIG_ALGS)


# Chrome 143 as browserleaks.com prints it (ja4, ja4_ro, ja3_text, ja3_hash): ML-KEM
# key share (X25519MLKEM768, group 4588) and ECH, 16 extensions.
CHROME143_JA4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd"


CHROME143_JA3 = "98487aa16281980e7d1120d399efb6a4"


CHROME143_EXTS: tuple[int, ...] = (0x002D, 0x0033, 0x0010, 0xFE0D, 0x0017, 0x44CD, 0x0000, 0x000B, 0x000A, 0x002B)


CHROME143_EXTS += (0xFF01, 0x0023, 0x0012, 0x0005, 0x000D, 0x001B)


X25519MLKEM768 = 0x11EC


def browser_extension(kind: int, sni: str, sig_algs: tuple[int, ...]) -> bytes:
    """Plausible contents for each extension a browser sends (sizes as Chrome's)."""
    host = sni.encode()
    alpn = b"\x02h2\x08http/1.1"
    shares = b"\x2a\x2a\x00\x01\x00" + struct.pack(">HH", X25519MLKEM768, 1216) + bytes(1216)
    shares += b"\x00\x1d\x00\x20" + bytes(range(32))
    groups = (0x2A2A, X25519MLKEM768, 0x001D, 0x0017, 0x0018)
    data = {
        0x0000: struct.pack(">HBH", len(host) + 3, 0, len(host)) + host,
        0x0005: b"\x01\x00\x00\x00\x00",
        0x000A: struct.pack(">H", 2 * len(groups)) + u16s(groups),
        0x000B: b"\x01\x00",
        0x000D: struct.pack(">H", 2 * len(sig_algs)) + u16s(sig_algs),
        0x0010: struct.pack(">H", len(alpn)) + alpn,
        0x001B: b"\x02\x00\x02",
        0x002B: b"\x06" + u16s((0x4A4A, 0x0304, 0x0303)),
        0x002D: b"\x01\x01",
        0x0033: struct.pack(">H", len(shares)) + shares,
        0x44CD: b"\x00\x03\x02h2",
        0xFE0D: b"\x00\x00\x01\x00\x01\x7b\x00\x20" + bytes(32) + b"\x00\x90" + bytes(144),
        0xFF01: b"\x00",
    }.get(kind, b"")
    return tls_ext(kind, data)


def browser_hello(
    order: tuple[int, ...], sig_algs: tuple[int, ...] = JA4_SIG_ALGS, sni: str = "optimizationguide-pa.googleapis.com"
) -> bytes:
    exts = [tls_ext(0x0A0A, b""), *(browser_extension(k, sni, sig_algs) for k in order), tls_ext(0x1A1A, b"\x00")]
    return client_hello(exts)


def segments(data: bytes, *cuts: int) -> list[bytes]:
    """The client's segments of `data`, cut at the offsets `cuts`, in stream order."""
    bounds = [0, *cuts, len(data)]
    return conversation(443, [(True, data[a:b]) for a, b in itertools.pairwise(bounds)])


LATE_SNI = "late.example.org"


def late_sni_hello() -> bytes:
    """A hello whose SNI is in its last 100 bytes: only reassembly finds it."""
    exts = client_hello_extensions(sni=LATE_SNI)
    exts.insert(0, tls_ext(0x0015, bytes(1500)))  # padding first, the SNI after it
    return client_hello(exts)


def test_tls_client_hello_split_over_two_segments() -> None:
    """A ClientHello longer than a segment (post-quantum key shares make Chrome's about
    1,800 bytes) is completed from the next segment: the facts of the whole hello, the
    SNI from the first segment counted once."""
    exts = client_hello_extensions()
    exts.insert(3, tls_ext(0xFE0D, bytes(1500)))  # a large extension after the SNI
    hello = client_hello(exts)
    whole, _ = collect(conversation(443, [(True, hello)]))
    facts, errors = collect(conversation(443, [(True, hello[:1400]), (True, hello[1400:])]))
    assert about(facts, A4) == about(whole, A4)
    assert {k for _, k, _ in about(facts, A4)} == {"sni", "ja3", "ja4"}
    assert facts[(ip_key(A4), mac_key(MA), "tls", "sni", SNI_NAME)].count == 1
    assert not errors


def test_ja4_of_foxios_sigalg_grease_hello_over_two_segments() -> None:
    hello = browser_hello(SIGALG_GREASE_EXTS, SIGALG_GREASE_SIGS)
    assert len(hello) > 1400  # two segments, as FoxIO's 2,039 bytes are
    facts, errors = collect(segments(hello, 1400))
    assert client_fingerprints(facts)["ja4"] == {SIGALG_GREASE_JA4}
    assert ("tls", "sni", "optimizationguide-pa.googleapis.com") in about(facts, A4)
    assert not errors


def test_ja4_and_ja3_of_chrome_143_over_two_segments() -> None:
    hello = browser_hello(CHROME143_EXTS, sni="tls.browserleaks.com")
    assert len(hello) > 1460  # more than a segment of an Ethernet path
    for frames in (segments(hello, 1448), segments(hello, 1000, 1448)):
        got = client_fingerprints(collect(frames)[0])
        assert got["ja4"] == {CHROME143_JA4}
        assert got["ja3"] == {CHROME143_JA3}
        assert got["sni"] == {"tls.browserleaks.com"}


def test_tls_client_hello_over_three_segments() -> None:
    hello = late_sni_hello()
    whole = client_fingerprints(collect(conversation(443, [(True, hello)]))[0])
    assert client_fingerprints(collect(segments(hello, 600, 1300))[0]) == whole
    assert whole["sni"] == {LATE_SNI}
    facts, c = collect_apart(segments(hello, 600, 1300))  # one batch each
    assert client_fingerprints(facts) == whole
    assert c.discovery is not None and not hellos(c).pending


def test_tls_client_hello_header_cut_in_the_first_segment() -> None:
    """Seven bytes: the record header and the message type, then the rest."""
    hello = late_sni_hello()
    whole = client_fingerprints(collect(conversation(443, [(True, hello)]))[0])
    assert client_fingerprints(collect(segments(hello, 7))[0]) == whole
    assert client_fingerprints(collect(segments(hello, 7, 900))[0]) == whole


@pytest.mark.parametrize(
    "order", [(0, 2, 1), (0, 2), (1, 2, 0), (0, 0, 1, 2)], ids=["reordered", "gap", "later-first", "resent"]
)
def test_tls_client_hello_out_of_order_or_missing(order: tuple[int, ...]) -> None:
    """No reordering: a segment out of place drops the hello (no SNI from its later
    part, no fingerprint from a hole), without an error; a retransmitted first segment
    starts the hello again."""
    parts = segments(late_sni_hello(), 600, 1300)
    frames = [parts[i] for i in order]
    facts, errors = collect(frames)
    got = client_fingerprints(facts)
    assert not errors
    if order == (0, 0, 1, 2):
        assert got["sni"] == {LATE_SNI} and "ja4" in got
    else:
        assert not any(k in got for k in ("sni", "ja3", "ja4"))
    _, c = collect_apart(frames)
    assert c.discovery is not None and len(hellos(c).pending) <= 1


def test_tls_pending_hellos_are_bounded_by_count_and_age() -> None:
    hello = late_sni_hello()
    first, second = hello[:600], hello[600:]
    frames = [
        P.ethernet(
            MB, MA, P.ETH_IPV4, P.ipv4(A4, B4, P.PROTO_TCP, P.tcp(A4, B4, 1024 + i, 443, first, flags="PA", seq=7))
        )
        for i in range(tls.PENDING_MAX + 40)
    ]
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1_700_000_000.0] * len(frames)))
    assert c.discovery is not None and len(hellos(c).pending) == tls.PENDING_MAX
    # The newest flow completes; the oldest was let go.
    newest, oldest = 1024 + tls.PENDING_MAX + 39, 1024
    rest = [
        P.ethernet(
            MB, MA, P.ETH_IPV4, P.ipv4(A4, B4, P.PROTO_TCP, P.tcp(A4, B4, port, 443, second, flags="PA", seq=607))
        )
        for port in (oldest, newest)
    ]
    c.process(batch_from_frames(rest, ts=[1_700_000_001.0] * 2))
    assert ("tls", "sni", LATE_SNI) in about(c.harvest(final=True).facts, A4)
    assert len(hellos(c).pending) == tls.PENDING_MAX - 1
    # Too late: a second segment after PENDING_AGE seconds completes nothing.
    start = 1_700_000_000.0
    facts, c = collect_apart(segments(hello, 600), ts=[start, start + tls.PENDING_AGE + 1])
    assert not any(k in ("sni", "ja4") for k in client_fingerprints(facts))
    assert c.discovery is not None and not hellos(c).pending


def test_tls_reassembly_picks_only_the_segments_of_the_hello() -> None:
    """Other segments beside a pending hello, even of its own connection, stay on the
    fast path: only the one that continues the hello joins the selection."""
    hello = late_sni_hello()
    parts = segments(hello, 600)
    bulk = conversation(8080, [(True, bytes(1400)), (False, bytes(1400)), (False, bytes(1400))])
    reply = conversation(443, [(False, bytes(300))])  # the server's side of that connection
    c = Collector(Config())
    c.process(batch_from_frames([parts[0], *bulk, *reply, parts[1]]))
    assert c.stats_dict()["discovery"]["packets"] == 2
    assert ("tls", "sni", LATE_SNI) in about(c.harvest(final=True).facts, A4)


def test_ja3_of_split_hellos_against_tshark(tshark: str, tmp_path: Path) -> None:
    """tshark reassembles the segments too: its JA3 of each hello must be ours (and for
    Chrome 143, the published one)."""
    cases = {
        "chrome143": segments(browser_hello(CHROME143_EXTS, sni="tls.browserleaks.com"), 1448),
        "three": segments(late_sni_hello(), 600, 1300),
    }
    for name, frames in cases.items():
        path = tmp_path / f"{name}.pcap"
        with PcapWriter(str(path)) as w:
            for i, frame in enumerate(frames):
                w.write(1_700_000_000.0 + i, frame)
        cmd = [tshark, "-n", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields"]
        cmd += ["-e", "tls.handshake.ja3", "-e", "tls.handshake.extensions_server_name"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split()
        assert len(out) == 2, out
        got = client_fingerprints(collect(frames)[0])
        assert got["ja3"] == {out[0]}
        assert got["sni"] == {out[1]}
        if name == "chrome143":
            assert out[0] == CHROME143_JA3
