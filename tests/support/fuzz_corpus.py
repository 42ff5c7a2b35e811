"""The fuzzer's seed corpus (tests/sensor/fuzz_corpus), generated from the project's own
packet builders: frames of every encapsulation the decoder knows and of every protocol
discovery chooses, capture files of both formats and a ring block, in the input format
of sensor/csrc/fuzz.c. Small on purpose: the fuzzer mutates from here.

Write it again (after a change of the builders or of the input format) with
`.venv/bin/python -m tests.support.fuzz_corpus` and commit the difference.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path

from nps_sensor.synth import PcapWriter
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapngWriter
from nps_sensor.synth.traffic import generate
from nps_sensor.synth.tunnels import encapsulate, fragment_ipv6

CORPUS = Path(__file__).resolve().parents[1] / "sensor" / "fuzz_corpus"
PCAP, PCAPNG, RING, FRAMES = 0, 1, 2, 3  # fuzz.c's input kinds; FRAMES + k: link type k of its table
A, B = "10.0.0.1", "10.0.0.2"
MA, MB = "02:00:00:00:00:01", "02:00:00:00:00:02"


def frames_input(frames: list[bytes], linktype_index: int = 0, step: int = 10) -> bytes:
    """fuzz.c's frames input: kind, time step (2**step microseconds), [u16 length][bytes]..."""
    return bytes([FRAMES + linktype_index, step]) + b"".join(struct.pack("!H", len(f)) + f for f in frames)


def _tcp_conversation() -> list[bytes]:
    seg = P.tcp(A, B, 40000, 80, b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n", flags="PA", seq=2)
    return [
        P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(A, B, P.PROTO_TCP, P.tcp(A, B, 40000, 80, flags="S", seq=1))),
        P.ethernet(MA, MB, P.ETH_IPV4, P.ipv4(B, A, P.PROTO_TCP, P.tcp(B, A, 80, 40000, flags="SA", seq=9, ack=2))),
        P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(A, B, P.PROTO_TCP, seg)),
    ]


def _encapsulations() -> dict[str, list[bytes]]:
    inner = _tcp_conversation()
    kinds = [
        ["vlan"],
        ["qinq"],
        ["mpls"],
        ["erspan1"],
        ["erspan2"],
        ["erspan3"],
        ["gre"],
        ["gre-teb"],
        ["vxlan"],
        ["vxlan-gpe"],
        ["geneve"],
        ["ipip"],
        ["vxlan", "erspan2"],
        ["qinq", "vxlan", "gre-teb", "erspan2"],
        ["ipip", "ipip", "gre", "geneve-ip"],
        ["gtp-u"],
        ["gtp-u", "erspan2"],
    ]
    out = {"-".join(k): [encapsulate(f, k, seq=i + 1) for i, f in enumerate(inner)] for k in kinds}
    dns6 = P.ipv6("2001:db8::1", "2001:db8::2", P.PROTO_UDP, P.udp("2001:db8::1", "2001:db8::2", 5000, 53, bytes(20)))
    out["teredo"] = [encapsulate(P.ethernet(MB, MA, P.ETH_IPV6, dns6), ["teredo"])]
    pppoe = struct.pack("!BBHHH", 0x11, 0, 1, 42, 0x0021) + inner[0][14:]
    out["pppoe"] = [P.ethernet(MB, MA, 0x8864, pppoe)]
    big = P.ipv4(A, B, P.PROTO_UDP, P.udp(A, B, 5000, 53, bytes(3000)), ident=77)
    out["fragments"] = [P.ethernet(MB, MA, P.ETH_IPV4, f) for f in P.fragment_ipv4(big, 1200)]
    v6 = P.ipv6("fe80::1", "ff02::fb", P.PROTO_UDP, P.udp("fe80::1", "ff02::fb", 5353, 5353, bytes(2500)))
    out["fragments-v6"] = [P.ethernet(MB, MA, P.ETH_IPV6, f) for f in fragment_ipv6(v6, 1280, ident=5)]
    tunnel_frags = P.fragment_ipv4(P.ipv4("192.0.2.1", "192.0.2.2", 47, P.erspan_ii(inner[2], 1, 3)), 60)
    out["tunnel-fragments"] = [P.ethernet(MB, MA, P.ETH_IPV4, f) for f in tunnel_frags]
    out["copies"] = [inner[2], inner[2], encapsulate(inner[2], ["erspan2"])]
    out["arp"] = [P.ethernet("ff:ff:ff:ff:ff:ff", MA, 0x0806, P.arp(1, MA, A, "00:00:00:00:00:00", B))]
    return out


def seeds() -> dict[str, bytes]:
    """Seed name -> input."""
    out = {f"frames-{name}": frames_input(frames) for name, frames in _encapsulations().items()}
    traffic = [f for _, f in generate(400, seed=5)]  # DHCP, DNS, mDNS, TLS, QUIC, SSDP, LLDP, ...
    for i in range(0, len(traffic), 100):
        out[f"frames-traffic-{i // 100}"] = frames_input(traffic[i : i + 100], step=12)
    sample = _tcp_conversation()
    ip_only = [f[14:] for f in sample]
    out["frames-raw-ip"] = frames_input(ip_only, linktype_index=5)
    out["frames-null"] = frames_input([b"\x02\0\0\0" + p for p in ip_only], linktype_index=6)
    out["frames-sll"] = frames_input([P.sll(P.ETH_IPV4, p) for p in ip_only], linktype_index=3)
    out["frames-sll2"] = frames_input([P.sll2(P.ETH_IPV4, p) for p in ip_only], linktype_index=4)
    out.update(_files(sample))
    out["ring-block"] = bytes([RING]) + _ring_block(sample)
    return out


def _files(frames: list[bytes]) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        pcap, pcapng = Path(tmp) / "f.pcap", Path(tmp) / "f.pcapng"
        with PcapWriter(str(pcap)) as w:
            for i, f in enumerate(frames):
                w.write(1_700_000_000 + i * 0.001, f)
        ng = PcapngWriter(str(pcapng))
        eth = ng.add_interface(1)
        raw = ng.add_interface(101, tsresol=9)
        for i, f in enumerate(frames):
            ng.write(eth if i % 2 == 0 else raw, 1_700_000_000 + i * 0.001, f if i % 2 == 0 else f[14:])
        ng.write_simple(frames[0])
        ng.close()
        # fuzz.c reads the pcap's records from byte 24: the header's first bytes set the
        # byte order and resolution (kept at little-endian microseconds here).
        return {"file-pcap": bytes([PCAP]) + pcap.read_bytes(), "file-pcapng": bytes([PCAPNG]) + pcapng.read_bytes()}


def _ring_block(frames: list[bytes]) -> bytes:
    """A TPACKET_V3 block as the kernel hands it over (tests/sensor/live/test_ring's layout)."""
    mac_at = 84
    out = bytearray(48)
    struct.pack_into("III", out, 8, 1, len(frames), 48)
    for i, frame in enumerate(frames):
        size = (mac_at + len(frame) + 15) // 16 * 16
        pkt = bytearray(size)
        nxt = size if i < len(frames) - 1 else 0
        struct.pack_into("=IIIIIIHHIIHH", pkt, 0, nxt, 1_700_000_000, i, len(frame), len(frame),
                         0x10 if i == 1 else 0, mac_at, mac_at + 14, 0, 5, 0x8100, 0)  # fmt: skip
        pkt[mac_at : mac_at + len(frame)] = frame
        out += pkt
    return bytes(out)


def name(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # a file name, as libFuzzer names its inputs


def write(directory: Path = CORPUS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for data in seeds().values():
        (directory / name(data)).write_bytes(data)


if __name__ == "__main__":
    write()
    print(f"{len(list(CORPUS.iterdir()))} seeds in {CORPUS}")
