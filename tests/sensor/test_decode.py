"""Decapsulation: every mirror encapsulation, on frames the tests build themselves."""

from __future__ import annotations

import numpy as np
import pytest

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.classify import ip_text
from nps_sensor.config import V4_MAPPED
from nps_sensor.decode import ENCAPS, ERROR, IP, L2, REASONS, Decoded, decode
from nps_sensor.synth import packets as P
from nps_sensor.synth import tunnels as T

A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
SW_MAC, SENSOR_MAC = "02:00:00:00:00:51", "02:00:00:00:00:52"
A, B = "10.0.0.1", "10.0.0.2"


def tcp_frame(payload: bytes = b"hello", tags: tuple[bytes, ...] = (), src: str = A, dst: str = B) -> bytes:
    seg = P.tcp(src, dst, 40000, 443, payload, seq=1, flags="PA")
    return P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg), tags=tags)


def tcp6_frame(src: str = "fe80::1", dst: str = "fe80::2") -> bytes:
    seg = P.tcp(src, dst, 40000, 22, b"x", flags="S")
    return P.ethernet(B_MAC, A_MAC, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_TCP, seg))


def over_ipv4(proto: int, payload: bytes, tags: tuple[bytes, ...] = ()) -> bytes:
    """The transport leg from a switch to the sensor."""
    return P.ethernet(SENSOR_MAC, SW_MAC, P.ETH_IPV4, P.ipv4("192.0.2.1", "192.0.2.2", proto, payload), tags=tags)


def one(frame: bytes, linktype: int = 1) -> tuple[Decoded, int]:
    d = decode(batch_from_frames([frame], linktype=linktype))
    return d, 0


def encaps(d: Decoded, i: int) -> set[str]:
    return {name for b, name in enumerate(ENCAPS) if d.encap[i] >> b & 1}


def assert_inner_tcp(d: Decoded, i: int, src: str = A, dst: str = B, payload: int = 5) -> None:
    assert d.state[i] == IP, REASONS[d.err[i]] if d.state[i] == ERROR else d.state[i]
    assert ip_text(int(d.src_lo[i]) | int(d.src_hi[i]) << 64) == src
    assert ip_text(int(d.dst_lo[i]) | int(d.dst_hi[i]) << 64) == dst
    assert (d.proto[i], d.sport[i], d.dport[i]) == (6, 40000, 443)
    assert d.iplen[i] == 20 + 20 + payload
    mac = int.from_bytes(P.mac(A_MAC), "big")
    assert d.src_mac(np.array([i]))[0] == mac


def test_plain_ethernet_ipv4_tcp() -> None:
    d, i = one(tcp_frame())
    assert_inner_tcp(d, i)
    assert d.vlan_outer[i] == -1 and d.tunnel_id[i] == -1 and encaps(d, i) == set()


@pytest.mark.parametrize(
    ("tags", "outer", "inner", "kinds"),
    [
        ((P.vlan_tag(100),), 100, -1, {"vlan"}),
        ((P.vlan_tag(0, pcp=5),), 0, -1, {"vlan"}),  # priority tag
        (tuple(P.qinq_tags(200, 10)), 200, 10, {"vlan", "qinq"}),
        (tuple(P.qinq_tags(300, 30, tpid=0x9100)), 300, 30, {"vlan", "qinq"}),
        ((P.vlan_tag(10), P.vlan_tag(20), P.vlan_tag(30)), 10, 30, {"vlan", "qinq"}),
    ],
)
def test_vlan_tags(tags: tuple[bytes, ...], outer: int, inner: int, kinds: set[str]) -> None:
    d, i = one(tcp_frame(tags=tags))
    assert_inner_tcp(d, i)
    assert (d.vlan_outer[i], d.vlan_inner[i]) == (outer, inner)
    assert encaps(d, i) == kinds


def test_mpls_stack_over_ip_and_ethernet_pseudowire() -> None:
    inner = tcp_frame()
    ip_packet = inner[14:]
    d, i = one(P.ethernet(B_MAC, A_MAC, 0x8847, P.mpls([16, 17, 18], ip_packet)))
    assert d.state[i] == IP and d.sport[i] == 40000 and encaps(d, i) == {"mpls"}
    # Ethernet over MPLS with a control word (first nibble 0), inside a VLAN.
    pw = P.mpls([100], b"\0\0\0\0" + inner)
    d, i = one(P.ethernet("02:00:00:00:00:99", SW_MAC, 0x8847, pw, tags=(P.vlan_tag(7),)))
    assert_inner_tcp(d, i)
    assert encaps(d, i) == {"vlan", "mpls"}


def test_erspan_type_i() -> None:
    d, i = one(over_ipv4(P.PROTO_GRE, P.erspan_i(tcp_frame(tags=(P.vlan_tag(9),)))))
    assert_inner_tcp(d, i)
    assert encaps(d, i) == {"erspan_i", "vlan"}
    assert d.vlan_outer[i] == 9


def test_erspan_type_ii_keeps_session_and_header_vlan() -> None:
    d, i = one(over_ipv4(P.PROTO_GRE, P.erspan_ii(tcp_frame(), session=101, seq=7, vlan=55), tags=(P.vlan_tag(4),)))
    assert_inner_tcp(d, i)
    assert d.tunnel_id[i] == 101
    assert d.vlan_outer[i] == 55  # the mirrored VLAN, not the transport's VLAN 4
    assert "erspan_ii" in encaps(d, i)


@pytest.mark.parametrize("platform", [None, P.erspan_iii_platform(3, 0x1234)])
def test_erspan_type_iii_with_and_without_platform_header(platform: bytes | None) -> None:
    frame = over_ipv4(
        P.PROTO_GRE, P.erspan_iii(tcp_frame(tags=(P.vlan_tag(12),)), session=1000, seq=1, platform=platform)
    )
    d, i = one(frame)
    assert_inner_tcp(d, i)
    assert d.tunnel_id[i] == 1000 and d.vlan_outer[i] == 12
    assert "erspan_iii" in encaps(d, i)


def test_gre_variants() -> None:
    teb = over_ipv4(P.PROTO_GRE, P.gre_teb(tcp_frame(), key=5, seq=9))
    d, i = one(teb)
    assert_inner_tcp(d, i)
    assert encaps(d, i) == {"gre_teb"}
    inner_ip = tcp_frame()[14:]
    for opts in ({}, {"key": 1}, {"seq": 2}, {"checksum_present": True, "key": 3, "seq": 4}):
        d, i = one(over_ipv4(P.PROTO_GRE, P.gre(P.ETH_IPV4, inner_ip, **opts)))  # type: ignore[arg-type]
        assert d.state[i] == IP and d.sport[i] == 40000, opts
        assert encaps(d, i) == {"gre"}


def test_vxlan_and_ip_in_ip() -> None:
    outer = P.udp("192.0.2.1", "192.0.2.2", 51000, 4789, P.vxlan(tcp_frame(), vni=4242))
    d, i = one(over_ipv4(P.PROTO_UDP, outer))
    assert_inner_tcp(d, i)
    assert d.tunnel_id[i] == 4242 and encaps(d, i) == {"vxlan"}
    d, i = one(over_ipv4(4, tcp_frame()[14:]))
    assert d.state[i] == IP and d.dport[i] == 443 and encaps(d, i) == {"ip_in_ip"}
    d, i = one(over_ipv4(41, tcp6_frame()[14:]))
    assert d.state[i] == IP and d.ipver[i] == 6 and d.dport[i] == 22


def test_geneve_and_vxlan_gpe() -> None:
    """Geneve skips its options; both carry Ethernet or IP; payloads they name but the
    sensor does not decode (NSH) leave the packet a UDP packet of the tunnel."""

    def udp(port: int, payload: bytes) -> bytes:
        return over_ipv4(P.PROTO_UDP, P.udp("192.0.2.1", "192.0.2.2", 51000, port, payload))

    option = T.geneve_option(0x0103, 1, b"12345678")
    d, i = one(udp(T.GENEVE_PORT, T.geneve(tcp_frame(), 99, options=option)))
    assert_inner_tcp(d, i)
    assert d.tunnel_id[i] == 99 and encaps(d, i) == {"geneve"}
    d, i = one(udp(T.GENEVE_PORT, T.geneve(tcp_frame()[14:], 5, protocol=P.ETH_IPV4)))
    assert d.state[i] == IP and d.dport[i] == 443
    d, i = one(udp(T.VXLAN_GPE_PORT, T.vxlan_gpe(tcp6_frame()[14:], 6, T.GPE_IPV6)))
    assert d.state[i] == IP and d.ipver[i] == 6 and d.tunnel_id[i] == 6 and encaps(d, i) == {"vxlan_gpe", "ipv6"}
    d, i = one(udp(T.VXLAN_GPE_PORT, T.vxlan_gpe(tcp_frame(), 7, T.GPE_ETHERNET)))
    assert_inner_tcp(d, i)
    for other in (udp(T.VXLAN_GPE_PORT, T.vxlan_gpe(b"\0" * 24, 8, 4)), udp(T.GENEVE_PORT, T.geneve(b"x", 9, 0x894F))):
        d, i = one(other)
        assert d.state[i] == IP and d.ipver[i] == 4 and d.src_lo[i] == V4_MAPPED | 0xC0000201


def test_deep_nesting_is_unwrapped_fully() -> None:
    """VXLAN inside ERSPAN II inside QinQ: the innermost IP header counts."""
    vx = P.ethernet(
        "02:00:00:00:01:01",
        "02:00:00:00:01:02",
        P.ETH_IPV4,
        P.ipv4(
            "172.16.0.1",
            "172.16.0.2",
            P.PROTO_UDP,
            P.udp("172.16.0.1", "172.16.0.2", 1234, 4789, P.vxlan(tcp_frame(), 7)),
        ),
    )
    frame = over_ipv4(P.PROTO_GRE, P.erspan_ii(vx, session=3, seq=1), tags=tuple(P.qinq_tags(10, 20)))
    d, i = one(frame)
    assert_inner_tcp(d, i)
    assert {"erspan_ii", "vxlan", "qinq"} <= encaps(d, i)
    assert d.tunnel_id[i] == 7  # the innermost tunnel's id


def test_cooked_and_raw_link_types() -> None:
    ip_packet = tcp_frame()[14:]
    d, i = one(P.sll(P.ETH_IPV4, ip_packet, src=A_MAC), linktype=113)
    assert_inner_tcp(d, i)
    d, i = one(P.sll2(P.ETH_IPV4, ip_packet, src=A_MAC), linktype=276)
    assert_inner_tcp(d, i)
    d, i = one(ip_packet, linktype=101)
    assert d.state[i] == IP and d.src_mac(np.array([i]))[0] == -1
    d, i = one(tcp6_frame()[14:], linktype=229)
    assert d.state[i] == IP and d.ipver[i] == 6
    d, i = one(b"\x02\x00\x00\x00" + ip_packet, linktype=0)  # BSD loopback
    assert d.state[i] == IP and d.dport[i] == 443


def test_ipv6_extension_headers() -> None:
    src, dst = "2001:db8::1", "2001:db8::2"
    seg = P.udp(src, dst, 5353, 53, b"q" * 10)
    exts = [P.ext_hop_by_hop(), P.ext_dest_options(), P.ext_routing(["2001:db8::3"], segments_left=0)]
    d, i = one(P.ethernet(B_MAC, A_MAC, P.ETH_IPV6, P.ipv6(src, dst, P.PROTO_UDP, seg, extensions=exts)))
    assert d.state[i] == IP and (d.proto[i], d.sport[i], d.dport[i]) == (17, 5353, 53)
    assert d.iplen[i] == 40 + 8 + 8 + 24 + 18


def test_ipv4_options_and_fragments() -> None:
    opts = P.ipv4(A, B, P.PROTO_UDP, P.udp(A, B, 1000, 2000, b"abc"), options=b"\x94\x04\x00\x00")
    d, i = one(P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, opts))
    assert d.state[i] == IP and d.dport[i] == 2000 and d.l4[i] - d.l3[i] == 24
    big = P.ipv4(A, B, P.PROTO_UDP, P.udp(A, B, 1000, 2000, bytes(3000)), ident=77)
    frags = [P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, f) for f in P.fragment_ipv4(big, 1500)]
    d = decode(batch_from_frames(frags))
    assert list(d.frag) == [1, 2, 2]
    assert list(d.ipid) == [77, 77, 77]
    assert d.has_ports[0] and not d.has_ports[1]
    assert sum(d.iplen) == sum(len(f) - 14 for f in frags)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (tcp_frame()[:10], "truncated-ethernet"),
        (tcp_frame()[: 14 + 12], "truncated-ipv4"),
        (tcp_frame(tags=(P.vlan_tag(5),))[:16], "truncated-vlan"),
        (P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, b"\x45\x00\x00\x0a" + bytes(16), pad=False), "bad-ipv4-length"),
        (P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, b"\x43" + bytes(30), pad=False), "bad-ipv4-header"),
        (P.ethernet(B_MAC, A_MAC, P.ETH_IPV6, b"\x60" + bytes(20), pad=False), "truncated-ipv6"),
        (over_ipv4(P.PROTO_GRE, P.erspan_ii(tcp_frame(), 1, 1))[: 14 + 20 + 8 + 4], "truncated-erspan"),
        (over_ipv4(P.PROTO_UDP, P.udp("192.0.2.1", "192.0.2.2", 1, 6081, bytes(4)))[:46], "truncated-geneve"),
        (
            over_ipv4(
                P.PROTO_UDP, P.udp("192.0.2.1", "192.0.2.2", 1, 6081, T.geneve(tcp_frame(), 1, options=bytes(40)))
            )[:66],
            "truncated-geneve",
        ),
        (over_ipv4(P.PROTO_UDP, P.udp("192.0.2.1", "192.0.2.2", 1, 4790, bytes(4)))[:46], "truncated-vxlan"),
    ],
)
def test_damaged_frames_are_counted_under_their_reason(frame: bytes, reason: str) -> None:
    d, i = one(frame)
    assert d.state[i] == ERROR
    assert REASONS[d.err[i]] == reason


def test_zero_total_length_is_segmentation_offload() -> None:
    """As in Wireshark: captures on the sending host carry 0; the frame length counts."""
    frame = P.ethernet(B_MAC, A_MAC, P.ETH_IPV4, P.ipv4(A, B, 17, P.udp(A, B, 1, 2, bytes(3000)), total_length=0))
    d, i = one(frame)
    assert d.state[i] == IP and d.iplen[i] == 20 + 8 + 3000


def test_cut_transport_header_keeps_the_ip_layer() -> None:
    frame = tcp_frame()[: 14 + 20 + 2]
    d, i = one(frame)
    assert d.state[i] == IP and d.short_l4[i] and not d.has_ports[i]


def test_non_ip_frames_keep_their_ethertype() -> None:
    arp = P.ethernet("ff:ff:ff:ff:ff:ff", A_MAC, 0x0806, P.arp(1, A_MAC, A, "00:00:00:00:00:00", B))
    llc = P.ethernet("01:80:c2:00:00:00", A_MAC, 38, b"\x42\x42\x03" + bytes(35))
    d = decode(batch_from_frames([arp, llc]))
    assert list(d.state) == [L2, L2]
    assert d.et[0] == 0x0806


def test_mixed_batch_decodes_each_frame_on_its_own() -> None:
    frames = [
        tcp_frame(),
        tcp_frame(tags=(P.vlan_tag(3),)),
        over_ipv4(P.PROTO_GRE, P.erspan_ii(tcp_frame(), 5, 1)),
        tcp_frame()[:20],
        tcp6_frame(),
    ]
    d = decode(batch_from_frames(frames))
    assert list(d.state) == [IP, IP, IP, ERROR, IP]
    assert list(d.vlan_outer) == [-1, 3, -1, -1, -1]
    assert list(d.tunnel_id) == [-1, -1, 5, -1, -1]
    assert d.src_lo[0] == V4_MAPPED | 0x0A000001


def test_tunnel_in_a_fragmented_outer_packet_counts_the_inner_packet_once(tmp_path) -> None:
    """GRE of a 1500-byte frame over a 1500-byte MTU: the outer packet is fragmented."""
    from nps_sensor.analyze import analyze
    from nps_sensor.config import parse
    from nps_sensor.synth import PcapWriter

    inner = tcp_frame(payload=bytes(1400))
    outer = P.ipv4("192.0.2.1", "192.0.2.2", P.PROTO_GRE, P.gre_teb(inner), ident=99)
    pieces = [P.ethernet(SENSOR_MAC, SW_MAC, P.ETH_IPV4, f) for f in P.fragment_ipv4(outer, 1000)]
    path = tmp_path / "gre-frag.pcap"
    with PcapWriter(str(path)) as w:
        for n, f in enumerate(reversed(pieces)):  # later fragments first: they wait
            w.write(1_700_000_000 + n * 0.001, f)
    result = analyze([str(path)], parse("internal: [{name: all, ranges: [0.0.0.0/0]}]")).result
    assert [(f["client"], f["server"], f["port"], f["client_bytes"]) for f in result["flows"]] == [
        (A, B, 443, 20 + 20 + 1400)
    ]
    assert result["stats"]["fragments"]["inside_tunnels"] == len(pieces) - 1
