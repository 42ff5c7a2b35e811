"""TCP SYN and SYN+ACK signatures, one per stack per window, against p0f itself where it is installed."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, MB, Case, about, collect, ip_key, mac_key

# TCP SYNs as Linux (5.x: window 64240, MSS 1460, SACK, timestamps, window scale 7,
# DF with a non-zero IP ID) and Windows 10 send them; the signatures are p0f's, whose
# own raw_sig for these packets is checked in test_tcp_signatures_against_p0f.
LINUX_SYN_OPTIONS = P.tcp_options(mss=1460, sack_permitted=True, timestamps=(2_953_741, 0), wscale=7)


WINDOWS_SYN_OPTIONS = struct.pack(">BBH", 2, 4, 1460) + b"\x01\x03\x03\x08\x01\x01\x04\x02"


LINUX_SYN_SIG = "4:64+3:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"


WINDOWS_SYN_SIG = "4:128+0:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0"


def syn_frame(
    options: bytes,
    *,
    src: str = A4,
    dst: str = B4,
    sport: int = 40000,
    dport: int = 443,
    ttl: int = 61,
    window: int = 64240,
    flags: str = "S",
    ack: int = 0,
    ident: int = 0x3C1F,
) -> bytes:
    seg = P.tcp(src, dst, sport, dport, b"", flags=flags, seq=0x1F2E3D4C, ack=ack, window=window, options=options)
    return P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg, ttl=ttl, df=True, ident=ident))


P0F_FP = "/etc/p0f/p0f.fp"  # Debian's p0f package


def _cases() -> list[Case]:
    return [
        Case(
            "tcp-fingerprint",
            syn_frame,
            LINUX_SYN_OPTIONS,
            {("tcp", "syn", LINUX_SYN_SIG)},
        ),
        Case(
            "tcp-fingerprint",
            lambda options: syn_frame(options, src=B4, dst=A4, sport=50000, dport=445, ttl=128),
            WINDOWS_SYN_OPTIONS,
            {("tcp", "syn", WINDOWS_SYN_SIG)},
            sender_ip=B4,
        ),
    ]


CASES = _cases()


def test_tcp_syn_distance_and_synack_signature() -> None:
    """A SYN+ACK gives its sender's signature; its open port comes from the flows
    (the report's `services`), not from a fact per port."""
    synack = syn_frame(
        P.tcp_options(mss=1460, sack_permitted=True, timestamps=(99, 2_953_741), wscale=7),
        src=B4,
        dst=A4,
        sport=443,
        dport=40000,
        ttl=64,
        window=65535,
        flags="SA",
        ack=0x1F2E3D4D,
        ident=0,
    )
    facts, _ = collect([syn_frame(LINUX_SYN_OPTIONS, ttl=52), synack])
    assert ("tcp", "syn", "4:64+12:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0") in about(facts, A4)
    assert about(facts, B4) == {("tcp", "synack", "4:64+0:0:1460:65535,7:mss,sok,ts,nop,ws:df:0")}


def test_tcp_one_syn_per_stack() -> None:
    """A host's many connections from one stack are fingerprinted once per window."""
    frames = [syn_frame(LINUX_SYN_OPTIONS, sport=40000 + i) for i in range(5)]
    facts, _ = collect(frames)
    assert facts[(ip_key(A4), mac_key(MA), "tcp", "syn", LINUX_SYN_SIG)].count == 1


def test_tcp_signatures_against_p0f(tmp_path: Path) -> None:
    """p0f's own raw_sig of the same SYNs. p0f writes the TTL as `seen+distance`; the
    dissector writes `initial+distance` (the form `fingerprints.p0f` matches on)."""
    p0f = shutil.which("p0f")
    if p0f is None or not Path(P0F_FP).is_file():
        pytest.skip("p0f is not installed (Debian: apt-get install p0f); it is the signature oracle here")
    frames = [syn_frame(LINUX_SYN_OPTIONS), syn_frame(WINDOWS_SYN_OPTIONS, src=B4, sport=50000, ttl=128)]
    path = tmp_path / "syn.pcap"
    with PcapWriter(str(path)) as w:
        for i, frame in enumerate(frames):
            w.write(1_700_000_000.0 + i, frame)
    out = subprocess.run(
        [p0f, "-r", str(path), "-f", P0F_FP], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    raw = [line.split("=", 1)[1].strip() for line in out.splitlines() if "raw_sig" in line]
    assert len(raw) == 2, out
    for p0f_sig, ours in zip(raw, (LINUX_SYN_SIG, WINDOWS_SYN_SIG), strict=True):
        seen, _, distance = p0f_sig.split(":")[1].partition("+")
        start, _, our_distance = ours.split(":")[1].partition("+")
        assert (int(seen) + int(distance), distance) == (int(start), our_distance)
        assert p0f_sig.split(":")[2:] == ours.split(":")[2:]


@pytest.mark.parametrize(
    ("data", "l4", "sig"),
    [
        # IPv6, flow label and ECN bits; options: MSS, an unknown kind, EOL with padding after it
        (
            b"\x60\x31\x23\x45"
            + b"\0\0\x06\x39"
            + bytes(32)
            + bytes(4)
            + b"\0\0\0\0"
            + b"\0\0\0\x05"
            + b"\x80\xc2\x20\x00"
            + b"\0\0\0\x01"
            + b"\x02\x04\x05\xa0\x06\x03\x01\x00\x00\x07\x00\x00",
            40,
            "6:64+7:0:1440:8192,*:mss,?6,eol+4:ecn,flow,seq-,ack+,uptr+,opt+:0",
        ),
        # IPv4 header of 24 bytes, an option cut by the data offset's end: "bad"
        (
            b"\x46\x01\0\0\0\0\x80\0\xff" + bytes(15) + bytes(12) + b"\x60\x12\0\0\0\0\0\0" + b"\x03\x05\x07\x00",
            24,
            "4:255+0:4:*:0,*::id-,ecn,0+,seq-,ack-,bad:0",
        ),
    ],
)
def test_signature_in_c_reads_every_quirk(data: bytes, l4: int, sig: str) -> None:
    """The signature made in C (sensor/csrc/tcpsig.c): IPv6 and IPv4 quirks, odd options."""
    from nps_sensor.discovery.dissectors.tcpfp import signature
    from nps_sensor.discovery.packet import Packet

    got, _ = signature(Packet(0.0, 0, 0, 0, 0, 6, 1, 2, data, l4, len(data)))
    assert got == sig


def test_a_segment_too_short_for_its_headers_is_malformed() -> None:
    from nps_sensor.discovery.dissectors.tcpfp import signature
    from nps_sensor.discovery.packet import Malformed, Packet

    for data, l4 in ((b"", 0), (b"\x45" + bytes(7), 20), (b"\x45" + bytes(30), 20), (b"\x60" + bytes(6), 40)):
        with pytest.raises(Malformed):
            signature(Packet(0.0, 0, 0, 0, 0, 6, 1, 2, data, l4, len(data)))
