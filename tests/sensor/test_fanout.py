"""The fanout program: run in a classic BPF interpreter over frames the tests build.

The kernel accepts the program (the live tests attach it); these tests check what it
computes: the same value for both directions of a flow, for every encapsulation of
the same inner packet, and for all fragments of a datagram, and a fair spread.
"""

from __future__ import annotations

import operator
import random
import struct

import pytest

from nps_sensor.capture import fanout as F
from nps_sensor.synth import packets as P
from nps_sensor.synth.tunnels import gtp_u, teredo

PROGRAM = F.program()
A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


ALU_OPS = {
    F.ADD: operator.add,
    F.SUB: operator.sub,
    F.MUL: operator.mul,
    F.AND: operator.and_,
    F.LSH: operator.lshift,
    F.RSH: operator.rshift,
    F.XOR: operator.xor,
}


def run_cbpf(prog: bytes, data: bytes, protocol: int) -> int:
    """A classic BPF interpreter for what fanout programs may use (linux/filter.h)."""
    insns = [struct.unpack_from("HBBI", prog, i * 8) for i in range(len(prog) // 8)]
    a = x = pc = 0
    mem = [0] * 16
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls in (F.LD, F.LDX):
            mode = code & 0xE0
            width = {F.W: 4, F.H: 2, F.B: 1}[code & 0x18]
            if mode == F.IMM:
                value = k
            elif mode == F.MEM:
                value = mem[k]
            elif mode == F.MSH:
                if k >= len(data):
                    return 0
                value = (data[k] & 0x0F) * 4
            elif k >= 0x80000000:  # ancillary data
                assert k == F.SKF_AD_PROTOCOL & 0xFFFFFFFF
                value = protocol
            else:
                off = k if mode == F.ABS else x + k
                if off + width > len(data):
                    return 0  # the kernel ends the program: the packet goes to member 0
                value = int.from_bytes(data[off : off + width], "big")
            if cls == F.LD:
                a = value
            else:
                x = value
        elif cls == F.ST:
            mem[k] = a
        elif cls == F.ALU:
            src = x if code & F.X else k
            a = ALU_OPS[code & 0xF0](a, src) & 0xFFFFFFFF
        elif cls == F.JMP:
            op = code & 0xF0
            if op == F.JA:
                pc += k
                continue
            src = x if code & F.X else k
            taken = {F.JEQ: a == src, F.JSET: bool(a & src)}[op]
            pc += jt if taken else jf
        elif cls == F.RET:
            return a if code & 0x18 == F.A_REG else k
        elif cls == F.MISC:
            if code & 0xF8 == F.TXA:
                a = x
            else:
                x = a


def fanout_of(frame: bytes) -> int:
    """What the kernel hands the program: data from the network header, the outer
    VLAN tag moved to metadata, the EtherType in SKF_AD_PROTOCOL."""
    ethertype = int.from_bytes(frame[12:14], "big")
    data = frame[14:]
    if ethertype in (0x8100, 0x88A8):
        ethertype = int.from_bytes(data[2:4], "big")
        data = data[4:]
    return run_cbpf(PROGRAM, data, ethertype)


def tcp(src: str, dst: str, sport: int, dport: int, tags: tuple[bytes, ...] = ()) -> bytes:
    return P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, P.ipv4(src, dst, 6, P.tcp(src, dst, sport, dport, b"x")), tags=tags)


def outer(proto: int, payload: bytes) -> bytes:
    return P.ethernet(
        "02:00:00:00:00:52", "02:00:00:00:00:51", P.ETH_IPV4, P.ipv4("192.0.2.1", "192.0.2.2", proto, payload)
    )


def test_value_is_the_documented_symmetric_hash() -> None:
    value = fanout_of(tcp("10.0.0.1", "10.0.0.2", 40000, 443))
    assert value == F.symmetric_hash_reference(0x0A000001, 0x0A000002, 40000, 443)
    assert fanout_of(tcp("10.0.0.2", "10.0.0.1", 443, 40000)) == value


def test_every_encapsulation_of_a_flow_goes_to_the_same_worker() -> None:
    inner = tcp("10.1.1.1", "10.2.2.2", 51515, 22)
    back = tcp("10.2.2.2", "10.1.1.1", 22, 51515)
    expected = fanout_of(inner)
    two_extensions = [(0x85, b"\0\x09"), (0x40, b"ab")]
    variants = {
        "vlan (stripped by the kernel)": tcp("10.1.1.1", "10.2.2.2", 51515, 22, tags=(P.vlan_tag(7),)),
        "qinq": tcp("10.1.1.1", "10.2.2.2", 51515, 22, tags=tuple(P.qinq_tags(3, 4))),
        "erspan i": outer(47, P.erspan_i(inner)),
        "erspan ii": outer(47, P.erspan_ii(back, session=5, seq=9)),
        "erspan ii, inner vlan": outer(47, P.erspan_ii(back[:12] + P.vlan_tag(12) + back[12:], 5, 10)),
        "erspan iii": outer(47, P.erspan_iii(inner, session=6, seq=1)),
        "erspan iii + platform": outer(47, P.erspan_iii(back, 6, 2, platform=P.erspan_iii_platform(1, 2))),
        "gre teb with key": outer(47, P.gre_teb(inner, key=77)),
        "vxlan": outer(17, P.udp("192.0.2.1", "192.0.2.2", 12345, 4789, P.vxlan(back, 42))),
        "gtp-u": outer(17, P.udp("192.0.2.1", "192.0.2.2", 2152, 2152, gtp_u(inner[14:], 7))),
        "gtp-u, sequence number": outer(17, P.udp("192.0.2.1", "192.0.2.2", 2152, 2152, gtp_u(back[14:], 7, 9))),
        "gtp-u, two extension headers, from port 2152": outer(
            17,
            P.udp("192.0.2.1", "192.0.2.2", 2152, 40000, gtp_u(inner[14:], 7, 1, two_extensions)),
        ),
    }
    for name, frame in variants.items():
        assert fanout_of(frame) == expected, name


def test_gtp_that_is_not_a_user_packet_hashes_as_the_outer_flow() -> None:
    """An echo request, three extension headers, a broken one: the tunnel's own flow."""
    inner = tcp("10.1.1.1", "10.2.2.2", 51515, 22)[14:]
    echo = struct.pack("!BBHI", 0x32, 1, 4, 0) + b"\0\x01\0\0"
    three = gtp_u(inner, 7, 1, [(0x85, b"\0\x09")] * 3)
    broken = bytearray(gtp_u(inner, 7, 1, [(0x85, b"\0\x09")]))
    broken[12] = 0
    expected = fanout_of(outer(17, P.udp("192.0.2.1", "192.0.2.2", 2152, 2152, b"")))
    for body in (echo, three, bytes(broken)):
        frame = outer(17, P.udp("192.0.2.1", "192.0.2.2", 2152, 2152, body))
        assert fanout_of(frame) == expected


def test_ipv6_is_symmetric() -> None:
    def frame(src: str, dst: str, sp: int, dp: int) -> bytes:
        return P.ethernet(B_MAC, A_MAC, P.ETH_IPV6, P.ipv6(src, dst, 17, P.udp(src, dst, sp, dp, b"q")))

    there = fanout_of(frame("2001:db8::1", "2001:db8::2", 5000, 53))
    assert there == fanout_of(frame("2001:db8::2", "2001:db8::1", 53, 5000))
    assert there != fanout_of(frame("2001:db8::1", "2001:db8::3", 5000, 53))
    back = frame("2001:db8::2", "2001:db8::1", 53, 5000)[14:]
    for carried in (teredo(back), teredo(back, (40000, "198.51.100.7"))):
        assert fanout_of(outer(17, P.udp("192.0.2.1", "192.0.2.2", 40000, 3544, carried))) == there, "teredo"
        assert fanout_of(outer(17, P.udp("192.0.2.2", "192.0.2.1", 3544, 40000, carried))) == there, "teredo"


def test_fragments_of_a_datagram_go_together() -> None:
    big = P.ipv4("10.0.0.1", "10.0.0.2", 17, P.udp("10.0.0.1", "10.0.0.2", 1000, 2000, bytes(3000)), ident=5)
    values = {fanout_of(P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, f)) for f in P.fragment_ipv4(big, 1500)}
    assert len(values) == 1


def test_non_ip_goes_to_the_first_worker() -> None:
    arp = P.ethernet("ff:ff:ff:ff:ff:ff", A_MAC, 0x0806, P.arp(1, A_MAC, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2"))
    assert fanout_of(arp) == 0


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_flows_spread_evenly(workers: int) -> None:
    rng = random.Random(workers)
    counts = [0] * workers
    n = 3000
    for _ in range(n):
        src = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        dst = f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        counts[fanout_of(tcp(src, dst, rng.randrange(1024, 65535), rng.choice([80, 443, 22, 53]))) % workers] += 1
    assert min(counts) > n / workers * 0.85, counts
