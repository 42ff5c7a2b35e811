"""The synthetic traffic kit: builders checked against Wireshark, the writers, the generator.

tshark is the oracle: every builder's frame must dissect to the fields it was asked
for, with good checksums; the generator's three deliveries must show tshark the same
inner conversations. Tests that need tshark skip when it is missing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from collections import Counter
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from nps_sensor import cli
from nps_sensor.capture import open_capture
from nps_sensor.synth import PcapngWriter, PcapWriter, generate, write_capture
from nps_sensor.synth import packets as P
from nps_sensor.synth import tunnels as T
from nps_sensor.synth.pcapw import LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_SLL, LINKTYPE_SLL2

A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"
S4, D4 = "10.0.0.1", "10.0.0.2"
S6, D6 = "fe80::1", "fd00::2"
T0 = 1_700_000_000.0
CHECKSUMS = ("ip", "tcp", "udp")


# --- tshark ----------------------------------------------------------------------------


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark not installed")
    return path


def _run_tshark(path: Path, *args: str) -> str:
    prefs = [a for proto in CHECKSUMS for a in ("-o", f"{proto}.check_checksum:TRUE")]
    cmd = [tshark_path(), "-n", "-r", str(path), *prefs, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _flatten(node: Any, out: dict[str, list[str]]) -> None:
    """Every field of a tshark JSON packet, in tree order: name -> all its values."""
    if isinstance(node, list):
        for x in node:
            _flatten(x, out)
        return
    for key, value in node.items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
        elif isinstance(value, list) and all(isinstance(x, str) for x in value):
            out.setdefault(key, []).extend(value)
        else:
            if not key.endswith("_tree"):
                out.setdefault(key, []).append("")  # a protocol layer: present
            _flatten(value, out)


def dissect(path: Path) -> list[dict[str, list[str]]]:
    """Each packet of `path` as tshark sees it (checksums verified)."""
    packets = json.loads(_run_tshark(path, "-T", "json", "--no-duplicate-keys"))
    out = []
    for p in packets:
        fields: dict[str, list[str]] = {}
        _flatten(p["_source"]["layers"], fields)
        out.append(fields)
    return out


def field_rows(path: Path, *fields: str) -> list[list[list[str]]]:
    """Per packet, per field, all occurrences (tshark -T fields)."""
    args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        args += ["-e", f]
    text = _run_tshark(path, *args)
    return [[cell.split("|") if cell else [] for cell in line.split("\t")] for line in text.splitlines()]


def check(fields: dict[str, list[str]], expected: dict[str, str | list[str]], what: str) -> None:
    """A string must be one of the field's values; a list must be all of them, in order."""
    for name, want in expected.items():
        got = fields.get(name)
        assert got is not None, f"{what}: tshark shows no {name} (layers: {sorted(k for k in fields if '.' not in k)})"
        if isinstance(want, list):
            assert got == want, f"{what}: {name} is {got}, expected {want}"
        else:
            assert want in got, f"{what}: {name} is {got}, expected {want!r} among them"
    bad = [k for k, v in fields.items() if k.endswith("checksum.status") and "0" in v]
    assert not bad, f"{what}: bad checksums in {bad}"
    assert "_ws.malformed" not in fields, f"{what}: tshark finds the frame malformed"


# --- builders --------------------------------------------------------------------------

TCP_SEG = P.tcp(S4, D4, 40000, 443, b"hello", seq=1000, ack=2000, flags="PA", options=P.tcp_options(timestamps=(1, 2)))
IP_TCP = P.ipv4(S4, D4, P.PROTO_TCP, TCP_SEG, ident=7, df=True, ttl=61, options=b"\x94\x04\x00\x00")
INNER = P.ethernet(B, A, P.ETH_IPV4, IP_TCP)
OUTER = ("192.0.2.1", "192.0.2.2")
BIG_UDP = P.ipv4(S4, D4, P.PROTO_UDP, P.udp(S4, D4, 5000, 5001, bytes(range(256)) * 12), ident=0x63)
DNS_RESPONSE = P.dns_response(
    0x1234,
    "www.example.com",
    P.DNS_A,
    [
        P.RR("www.example.com", P.DNS_CNAME, "edge.cdn.example.net"),
        P.RR("edge.cdn.example.net", P.DNS_A, "93.184.216.34", 60),
        P.RR("edge.cdn.example.net", P.DNS_AAAA, "2001:db8::1", 60),
    ],
)
MDNS = P.mdns_announcement("printer-3", "10.0.0.9", "_ipp._tcp", "Office Printer", 631, ["txtvers=1", "rp=ipp/print"])


def _gre(payload: bytes) -> bytes:
    return P.ethernet(B, A, P.ETH_IPV4, P.ipv4(*OUTER, P.PROTO_GRE, payload))


def _udp_tunnel(port: int, payload: bytes) -> bytes:
    return P.ethernet(B, A, P.ETH_IPV4, P.ipv4(*OUTER, P.PROTO_UDP, P.udp(*OUTER, 51000, port, payload)))


def _dhcp(msg_type: int, **kw: Any) -> bytes:
    msg = P.dhcp(msg_type, 0xABCDEF01, A, hostname="ws-1", vendor_class="MSFT 5.0", **kw)
    return P.eth_ipv4_udp(A, P.BROADCAST, "0.0.0.0", "255.255.255.255", 68, 67, msg)


def _fragment_fields(i: int) -> dict[str, str | list[str]]:
    # tshark gives the offset in 8-byte units; each fragment of BIG_UDP at MTU 1000 carries 976 bytes.
    return {"ip.id": "0x0063", "ip.flags.mf": "1" if i < 3 else "0", "ip.frag_offset": str(i * 976 // 8)}


ETHERNET_CASES: list[tuple[str, bytes, dict[str, str | list[str]]]] = [
    (
        "ethernet/ipv4 options/tcp",
        INNER,
        {
            "eth.src": A,
            "eth.dst": B,
            "ip.id": "0x0007",
            "ip.flags.df": "1",
            "ip.ttl": "61",
            "ip.hdr_len": "24",
            "ip.opt.type": "148",
            "ip.checksum.status": "1",
            "tcp.seq_raw": "1000",
            "tcp.ack_raw": "2000",
            "tcp.flags": "0x0018",
            "tcp.options.timestamp.tsval": "1",
            "tcp.options.timestamp.tsecr": "2",
            "tcp.len": "5",
            "tcp.checksum.status": "1",
        },
    ),
    (
        "802.1Q",
        P.ethernet(B, A, P.ETH_IPV4, IP_TCP, tags=[P.vlan_tag(10, pcp=3)]),
        {"eth.type": "0x8100", "vlan.id": "10", "vlan.priority": "3", "vlan.etype": "0x0800", "tcp.srcport": "40000"},
    ),
    (
        "802.1ad over 802.1Q",
        P.ethernet(B, A, P.ETH_IPV4, IP_TCP, tags=P.qinq_tags(100, 10)),
        {"eth.type": "0x88a8", "ieee8021ad.id": "100", "vlan.id": "10", "ip.src": S4},
    ),
    (
        "QinQ 0x9100",
        P.ethernet(B, A, P.ETH_IPV4, IP_TCP, tags=P.qinq_tags(200, 20, tpid=P.ETH_QINQ_OLD)),
        {"eth.type": "0x9100", "vlan.id": ["200", "20"], "ip.src": S4},
    ),
    (
        "MPLS stack",
        P.ethernet(B, A, P.ETH_MPLS, P.mpls([16, 1048575], IP_TCP, ttl=9)),
        {"mpls.label": ["16", "1048575"], "mpls.bottom": ["0", "1"], "mpls.ttl": "9", "ip.src": S4},
    ),
    (
        "udp/dns query",
        P.eth_ipv4_udp(A, B, S4, D4, 53000, 53, P.dns_query(0x4321, "www.example.com", P.DNS_AAAA)),
        {
            "udp.checksum.status": "1",
            "dns.id": "0x4321",
            "dns.flags.response": "0",
            "dns.qry.name": "www.example.com",
            "dns.qry.type": "28",
        },
    ),
    (
        "dns response, CNAME, compressed",
        P.eth_ipv4_udp(B, A, D4, S4, 53, 53000, DNS_RESPONSE),
        {
            "dns.flags.response": "1",
            "dns.count.answers": "3",
            "dns.cname": "edge.cdn.example.net",
            "dns.a": "93.184.216.34",
            "dns.aaaa": "2001:db8::1",
            "dns.resp.type": ["5", "1", "28"],
        },
    ),
    (
        "dns NXDOMAIN",
        P.eth_ipv4_udp(B, A, D4, S4, 53, 53000, P.dns_response(9, "wpad.corp.example", P.DNS_A, rcode=3)),
        {"dns.flags.rcode": "3", "dns.count.answers": "0"},
    ),
    (
        "mdns announcement",
        P.eth_ipv4_udp(A, P.multicast_mac("224.0.0.251"), S4, "224.0.0.251", 5353, 5353, MDNS, ttl=255),
        {
            "eth.dst": "01:00:5e:00:00:fb",
            "mdns": "",
            "dns.count.answers": "4",
            "dns.resp.type": ["12", "33", "16", "1"],
            "dns.resp.cache_flush": ["0", "1", "1", "1"],
            "dns.ptr.domain_name": "Office Printer._ipp._tcp.local",
            "dns.srv.port": "631",
            "dns.srv.target": "printer-3.local",
            "dns.txt": ["txtvers=1", "rp=ipp/print"],
            "dns.a": "10.0.0.9",
        },
    ),
    (
        "dhcp discover",
        _dhcp(P.DHCP_DISCOVER, params=P.DHCP_DEFAULT_PARAMS, broadcast=True),
        {
            "dhcp.type": "1",
            "dhcp.option.dhcp": "1",
            "dhcp.option.hostname": "ws-1",
            "dhcp.option.vendor_class_id": "MSFT 5.0",
            "dhcp.option.request_list_item": [str(x) for x in P.DHCP_DEFAULT_PARAMS],
            "dhcp.flags.bc": "1",
            "dhcp.hw.mac_addr": A,
        },
    ),
    (
        "dhcp request",
        _dhcp(P.DHCP_REQUEST, requested_ip="10.0.0.50", server_id="10.0.0.1", params=(1, 3, 6)),
        {
            "dhcp.option.dhcp": "3",
            "dhcp.option.requested_ip_address": "10.0.0.50",
            "dhcp.option.dhcp_server_id": "10.0.0.1",
            "dhcp.option.hostname": "ws-1",
        },
    ),
    (
        "dhcp ack",
        P.eth_ipv4_udp(
            B,
            P.BROADCAST,
            "10.0.0.1",
            "255.255.255.255",
            67,
            68,
            P.dhcp(
                P.DHCP_ACK,
                0xABCDEF01,
                A,
                yiaddr="10.0.0.50",
                server_id="10.0.0.1",
                lease_time=86400,
                subnet_mask="255.255.255.0",
                router="10.0.0.1",
                dns_servers=["10.0.0.53", "10.0.0.54"],
            ),
        ),
        {
            "dhcp.type": "2",
            "dhcp.option.dhcp": "5",
            "dhcp.ip.your": "10.0.0.50",
            "dhcp.option.ip_address_lease_time": "86400",
            "dhcp.option.router": "10.0.0.1",
            "dhcp.option.domain_name_server": ["10.0.0.53", "10.0.0.54"],
        },
    ),
    (
        "ipv6 hop-by-hop + destination options/tcp syn-ack",
        P.ethernet(
            B,
            A,
            P.ETH_IPV6,
            P.ipv6(
                S6,
                D6,
                P.PROTO_TCP,
                P.tcp(S6, D6, 22, 40000, flags="SA", seq=5, ack=9, options=P.tcp_options(1440, True, (5, 6), 7)),
                flow_label=0x12345,
                extensions=[P.ext_hop_by_hop(b"\x05\x02\x00\x00"), P.ext_dest_options()],
            ),
        ),
        {
            "ipv6.flow": "0x012345",
            "ipv6.nxt": "0",
            "ipv6.hopopts.nxt": "60",
            "ipv6.dstopts.nxt": "6",
            "tcp.flags": "0x0012",
            "tcp.options.mss_val": "1440",
            "tcp.options.wscale.shift": "7",
            "tcp.checksum.status": "1",
        },
    ),
    (
        "ipv6 fragment header",
        P.ethernet(
            B,
            A,
            P.ETH_IPV6,
            P.ipv6(S6, D6, P.PROTO_UDP, P.udp(S6, D6, 1, 2, bytes(16)), extensions=[P.ext_fragment(0, True, 77)]),
        ),
        {"ipv6.nxt": "44", "ipv6.fraghdr.ident": "0x0000004d", "ipv6.fraghdr.more": "1", "ipv6.fraghdr.offset": "0"},
    ),
    (
        "icmpv6 echo request",
        P.ethernet(B, A, P.ETH_IPV6, P.ipv6(S6, D6, P.PROTO_ICMPV6, P.icmpv6_echo(S6, D6, 7, 8, b"ping"))),
        {"icmpv6.type": "128", "icmpv6.echo.identifier": "0x0007", "icmpv6.checksum.status": "1"},
    ),
    (
        "icmp echo reply",
        P.ethernet(B, A, P.ETH_IPV4, P.ipv4(S4, D4, P.PROTO_ICMP, P.icmp_echo(1, 2, b"abcdefgh", reply=True))),
        {"icmp.type": "0", "icmp.ident": "1", "icmp.seq": "2", "icmp.checksum.status": "1"},
    ),
    (
        "arp request",
        P.ethernet(P.BROADCAST, A, P.ETH_ARP, P.arp(1, A, S4, "00:00:00:00:00:00", D4)),
        {"arp.opcode": "1", "arp.src.hw_mac": A, "arp.src.proto_ipv4": S4, "arp.dst.proto_ipv4": D4},
    ),
    (
        "arp reply",
        P.ethernet(A, B, P.ETH_ARP, P.arp(2, B, D4, A, S4)),
        {"arp.opcode": "2", "arp.src.hw_mac": B, "arp.dst.hw_mac": A},
    ),
    (
        "gre checksum + key carrying IPv4",
        _gre(P.gre(P.ETH_IPV4, IP_TCP, checksum_present=True, key=1)),
        {
            "gre.flags.checksum": "1",
            "gre.checksum.status": "1",
            "gre.key": "0x00000001",
            "gre.proto": "0x0800",
            "ip.src": ["192.0.2.1", S4],
        },
    ),
    (
        "gre sequence carrying IPv6",
        _gre(P.gre(P.ETH_IPV6, P.ipv6(S6, D6, P.PROTO_ICMPV6, P.icmpv6_echo(S6, D6, 1, 1)), seq=77)),
        {"gre.sequence_number": "77", "gre.proto": "0x86dd", "icmpv6.type": "128"},
    ),
    (
        "erspan type I",
        _gre(P.erspan_i(INNER)),
        {
            "gre.flags_and_version": "0x0000",
            "gre.proto": "0x88be",
            "erspan": "Encapsulated Remote Switch Packet ANalysis Type I",
            "ip.src": ["192.0.2.1", S4],
        },
    ),
    (
        "erspan type II",
        _gre(P.erspan_ii(INNER, 300, 5, vlan=10, cos=2, index=77)),
        {
            "gre.flags.sequence_number": "1",
            "gre.sequence_number": "5",
            "erspan.version": "1",
            "erspan.vlan": "10",
            "erspan.cos": "2",
            "erspan.encap": "0",
            "erspan.spanid": "300",
            "erspan.index": "77",
            "tcp.srcport": "40000",
        },
    ),
    (
        "erspan type III",
        _gre(P.erspan_iii(INNER, 301, 6, vlan=11, timestamp=123456, sgt=42, hw_id=5, ingress=False)),
        {
            "gre.proto": "0x22eb",
            "erspan.version": "2",
            "erspan.vlan": "11",
            "erspan.spanid": "301",
            "erspan.timestamp": "123456",
            "erspan.sgt": "42",
            "erspan.p": "1",
            "erspan.ft": "0",
            "erspan.hw": "5",
            "erspan.direction": "1",
            "erspan.gra": "1",
            "erspan.o": "0",
            "tcp.srcport": "40000",
        },
    ),
    (
        "erspan type III with platform sub-header",
        _gre(P.erspan_iii(INNER, 302, 7, platform=P.erspan_iii_platform(3, 99))),
        {"erspan.o": "1", "erspan.platid": "3", "erspan.pid3.timestamp": "99", "tcp.srcport": "40000"},
    ),
    (
        "gre transparent ethernet bridging",
        _gre(P.gre_teb(INNER, key=5, seq=9)),
        {"gre.proto": "0x6558", "gre.key": "0x00000005", "gre.sequence_number": "9", "eth.src": A, "ip.src": S4},
    ),
    (
        "vxlan",
        P.ethernet(
            B, A, P.ETH_IPV4, P.ipv4(*OUTER, P.PROTO_UDP, P.udp(*OUTER, 51000, P.VXLAN_PORT, P.vxlan(INNER, 5000)))
        ),
        {"udp.dstport": "4789", "vxlan.flag_i": "1", "vxlan.vni": "5000", "ip.src": ["192.0.2.1", S4]},
    ),
    (
        "ip-in-ip",
        P.ethernet(B, A, P.ETH_IPV4, P.ipv4(*OUTER, P.PROTO_IPIP, IP_TCP)),
        {"ip.proto": ["4", "6"], "ip.src": ["192.0.2.1", S4], "tcp.dstport": "443"},
    ),
    (
        "ipv6-in-ipv4",
        P.ethernet(
            B, A, P.ETH_IPV4, P.ipv4(*OUTER, P.PROTO_IPV6, P.ipv6(S6, D6, P.PROTO_ICMPV6, P.icmpv6_echo(S6, D6, 1, 2)))
        ),
        {"ip.proto": "41", "ipv6.src": S6, "icmpv6.type": "128"},
    ),
    (
        "geneve with an option",
        _udp_tunnel(T.GENEVE_PORT, T.geneve(INNER, 0x12345, options=T.geneve_option(0x0103, 7, b"abc"))),
        {"geneve.version": "0", "geneve.vni": "0x012345", "geneve.option.class": "0x0103", "eth.src": A},
    ),
    (
        "geneve carrying ipv4",
        _udp_tunnel(T.GENEVE_PORT, T.geneve(IP_TCP, 77, protocol=P.ETH_IPV4)),
        {"geneve.proto_type": "0x0800", "ip.src": ["192.0.2.1", S4], "tcp.dstport": "443"},
    ),
    (
        "vxlan-gpe carrying ipv4",
        _udp_tunnel(T.VXLAN_GPE_PORT, T.vxlan_gpe(IP_TCP, 4242, T.GPE_IPV4)),
        {"vxlan.next_proto": "1", "vxlan.vni": "4242", "ip.src": ["192.0.2.1", S4], "tcp.dstport": "443"},
    ),
    *[
        (
            f"ipv4 fragment {i}",
            P.ethernet(B, A, P.ETH_IPV4, frag),
            _fragment_fields(i),
        )
        for i, frag in enumerate(P.fragment_ipv4(BIG_UDP, 1000))
    ],
]


def test_builders_dissect_as_intended(tmp_path: Path) -> None:
    path = tmp_path / "builders.pcap"
    with PcapWriter(str(path)) as w:
        for i, (_, frame, _) in enumerate(ETHERNET_CASES):
            w.write(T0 + i, frame)
    packets = dissect(path)
    assert len(packets) == len(ETHERNET_CASES)
    for (what, _, expected), fields in zip(ETHERNET_CASES, packets, strict=True):
        check(fields, expected, what)
    # The last fragment completes the datagram: tshark reassembles it and checks UDP.
    check(packets[-1], {"ip.fragment.count": "4", "udp.checksum.status": "1", "udp.length": "3080"}, "reassembly")


def test_cooked_and_raw_link_types_in_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "cooked.pcapng"
    ns = 1_700_000_000_123_456_789
    icmp6 = P.ipv6(S6, D6, P.PROTO_ICMPV6, P.icmpv6_echo(S6, D6, 1, 2))
    with PcapngWriter(str(path)) as w:
        sll = w.add_interface(LINKTYPE_SLL, name="any")
        sll2 = w.add_interface(LINKTYPE_SLL2, tsresol=9, name="any2")
        raw = w.add_interface(LINKTYPE_RAW, tsresol=0x80 | 30)
        w.write_ns(sll, ns, P.sll(P.ETH_IPV4, IP_TCP, A, pkttype=4))
        w.write_ns(sll2, ns, P.sll2(P.ETH_IPV6, icmp6, B, ifindex=3, pkttype=1))
        w.write_ns(raw, ns, IP_TCP)
    sll_f, sll2_f, raw_f = dissect(path)
    check(sll_f, {"sll.pkttype": "4", "sll.src.eth": A, "sll.etype": "0x0800", "tcp.dstport": "443"}, "sll")
    check(
        sll2_f,
        {"sll.ifindex": "3", "sll.pkttype": "1", "sll.etype": "0x86dd", "icmpv6.type": "128"},
        "sll2",
    )
    check(raw_f, {"ip.src": S4, "tcp.checksum.status": "1"}, "raw")
    assert sll2_f["frame.time_epoch"] == ["1700000000.123456789"]
    assert sll_f["frame.time_epoch"] == ["1700000000.123456000"]


def test_pcapng_interfaces_link_types_and_resolutions(tmp_path: Path) -> None:
    path = tmp_path / "multi.pcapng"
    ns = 1_700_000_000_123_456_789
    with PcapngWriter(str(path)) as w:
        eth = w.add_interface(LINKTYPE_ETHERNET, name="eth0")
        raw = w.add_interface(LINKTYPE_RAW, tsresol=9, name="tun0")
        cooked = w.add_interface(LINKTYPE_SLL2, tsresol=0x80 | 20, name="any")
        short = w.add_interface(LINKTYPE_ETHERNET, tsresol=3, snaplen=64, name="eth1")
        w.write_ns(eth, ns, INNER, comment="first")
        w.write_ns(raw, ns, IP_TCP)
        w.write_ns(cooked, ns, P.sll2(P.ETH_IPV4, IP_TCP, A))
        w.write_ns(short, ns, P.eth_ipv4_udp(A, B, S4, D4, 1, 2, bytes(200)))
        w.write_simple(INNER)
        w.new_section()
        again = w.add_interface(LINKTYPE_ETHERNET, tsresol=None)
        w.write(again, T0 + 1.5, INNER)
    rows = field_rows(
        path,
        "frame.interface_name",
        "frame.encap_type",
        "frame.time_epoch",
        "frame.len",
        "frame.cap_len",
        "frame.comment",
    )
    # tshark's encapsulation numbers: 1 Ethernet, 7 raw IP, 210 SLL2.
    assert [(r[0], r[1]) for r in rows[:5]] == [
        (["eth0"], ["1"]),
        (["tun0"], ["7"]),
        (["any"], ["210"]),
        (["eth1"], ["1"]),
        (["eth0"], ["1"]),  # the Simple Packet Block: interface 0
    ]
    assert rows[5][1] == ["1"]
    assert rows[0][2] == ["1700000000.123456000"]  # microseconds: cut
    assert rows[1][2] == ["1700000000.123456789"]
    assert rows[3][2] == ["1700000000.123000000"]
    assert rows[5][2] == ["1700000001.500000000"]
    assert rows[3][3:5] == [["242"], ["64"]]  # snap length 64
    assert rows[0][5] == ["first"]
    if shutil.which("capinfos"):
        info = subprocess.run(["capinfos", str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
        assert "Number of interfaces in file: 5" in info  # both sections
    # The sensor's reader agrees on interfaces, link types and resolutions.
    batches = list(open_capture(str(path)).batches())
    assert [x for b in batches for x in b.linktype.tolist()] == [1, 101, 276, 1, 1, 1]
    assert [x for b in batches for x in b.iface.tolist()] == [0, 1, 2, 3, 0, 4]
    assert abs(batches[0].ts[2] - (ns / 1e9)) < 1e-6


def test_pcap_writer_snaplen_original_length_and_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    frame = P.eth_ipv4_udp(A, B, S4, D4, 1, 2, bytes(300))
    with PcapWriter(str(path), nanosecond=True, snaplen=100) as w:
        w.write_ns(1_700_000_000_000_000_001, frame)
        w.write(T0 + 0.25, frame[:60], orig_len=1514)
    b = next(open_capture(str(path)).batches())
    assert b.caplen.tolist() == [100, 60]
    assert b.wirelen.tolist() == [len(frame), 1514]
    assert bytes(b.buf.raw[b.off[0] : b.off[0] + 100]) == frame[:100]
    assert b.ts[1] == pytest.approx(T0 + 0.25, abs=1e-9)


def test_float_timestamps_round_to_the_resolution(tmp_path: Path) -> None:
    # 1700000000.001 is 1700000000.000999927... as a float: truncating would write 999 µs.
    pcap, pcapng = tmp_path / "r.pcap", tmp_path / "r.pcapng"
    with PcapWriter(str(pcap)) as w:
        w.write(T0 + 0.001, INNER)
    assert struct.unpack_from("<II", pcap.read_bytes(), 24) == (int(T0), 1000)
    with PcapngWriter(str(pcapng)) as w:
        w.write(w.add_interface(LINKTYPE_ETHERNET, tsresol=3), T0 + 0.001, INNER)
    b = next(open_capture(str(pcapng)).batches())
    assert b.ts[0] == pytest.approx(T0 + 0.001, abs=1e-7)


def test_simple_packet_block_cannot_cut_below_its_snap_length(tmp_path: Path) -> None:
    with PcapngWriter(str(tmp_path / "x.pcapng")) as w:
        w.add_interface(LINKTYPE_ETHERNET)
        with pytest.raises(ValueError, match="snap length"):
            w.write_simple(INNER[:40], orig_len=len(INNER))


# --- builders without tshark ----------------------------------------------------------


def _reference_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@pytest.mark.parametrize("n", [0, 1, 2, 3, 20, 1499])
def test_checksum_matches_the_rfc1071_loop(n: int) -> None:
    data = hashlib.sha256(n.to_bytes(2, "big")).digest() * (n // 32 + 1)
    assert P.checksum(data[:n]) == _reference_checksum(data[:n])
    assert P.checksum(b"\xff\xff") == 0  # sums to "negative zero": the canonical checksum is 0
    assert P.checksum(bytes(8)) == 0xFFFF


def test_fragments_reassemble_and_keep_only_copied_options() -> None:
    dgram = P.ipv4(S4, D4, P.PROTO_UDP, bytes(range(256)) * 10, ident=5, options=b"\x94\x04\x00\x00\x07\x07\x04")
    frags = P.fragment_ipv4(dgram, 576)
    assert len(frags) > 1 and all(len(f) <= 576 for f in frags)
    payload = b""
    for i, f in enumerate(frags):
        ihl = (f[0] & 15) * 4
        flags = struct.unpack_from("!H", f, 6)[0]
        assert (flags & 0x1FFF) * 8 == len(payload)
        assert bool(flags & 0x2000) == (i < len(frags) - 1)
        assert P.checksum(f[:ihl]) == 0
        if i:
            assert f[20:ihl] == b"\x94\x04\x00\x00"  # router alert is copied, record route is not
        payload += f[ihl:]
    assert payload == dgram[28:]


def test_ipv6_fragments_and_pieces_dissect_and_reassemble(tmp_path: Path) -> None:
    """fragment_ipv6 cuts as a host does; ipv4_piece/ipv6_piece cut anywhere (overlaps)."""
    packet = P.ipv6(S6, D6, P.PROTO_UDP, P.udp(S6, D6, 5000, 5001, bytes(range(256)) * 10))
    pieces = T.fragment_ipv6(packet, 1280, 0xBEEF)
    assert [len(x) for x in pieces] == [1280, 1280, 40 + 8 + 2568 - 2 * 1232]
    path = tmp_path / "v6frag.pcap"
    with PcapWriter(str(path)) as w:
        for i, frag in enumerate(pieces):
            w.write(T0 + i, P.ethernet(B, A, P.ETH_IPV6, frag))
    *firsts, last = dissect(path)
    for i, fields in enumerate(firsts):
        check(fields, {"ipv6.fraghdr.ident": "0x0000beef", "ipv6.fraghdr.offset": str(i * 1232 // 8)}, f"v6 {i}")
    check(last, {"ipv6.fraghdr.more": "0", "udp.checksum.status": "1", "udp.length": "2568"}, "v6 reassembly")
    overlap = T.ipv4_piece(BIG_UDP, 1000, 1480)
    assert overlap[6:8] == struct.pack("!H", 0x2000 | 1000 // 8) and len(overlap) == 20 + 1480
    tail = T.ipv6_piece(packet, 2000, 4000, 9)
    assert len(tail) == 40 + 8 + 2568 - 2000 and tail[42:44] == struct.pack("!H", 2000)


def test_dns_names_are_compressed() -> None:
    # "example.net" is written once; later names point at it.
    assert DNS_RESPONSE.count(b"\x07example") == 2  # .com of the question, .net of the CNAME target
    assert DNS_RESPONSE.count(b"\x04edge") == 1


# --- the generator -----------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("wrap", ["plain", "vlan", "erspan2"])
def test_same_seed_same_bytes(tmp_path: Path, wrap: str) -> None:
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    assert write_capture(str(a), 3000, 7, wrap) == 3000
    write_capture(str(b), 3000, 7, wrap)
    write_capture(str(c), 3000, 8, wrap)
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_generate_matches_the_written_capture(tmp_path: Path) -> None:
    path = tmp_path / "g.pcap"
    write_capture(str(path), 2000, 3, "vlan")
    frames = list(generate(2000, 3, "vlan"))
    b = next(open_capture(str(path)).batches())
    assert len(b) == len(frames) == 2000
    raw = b.buf.raw
    for i in (0, 1, 999, 1999):
        assert bytes(raw[b.off[i] : b.off[i] + b.caplen[i]]) == frames[i][1]
        assert b.ts[i] == pytest.approx(frames[i][0], abs=1e-6)


def test_generate_rejects_unknown_wraps() -> None:
    with pytest.raises(ValueError, match="wrap"):
        next(generate(1, wrap="gre"))


def _conversation(frame: bytes) -> tuple[bytes, bytes, int, int] | None:
    """Addresses and ports of a plain Ethernet IPv4/IPv6 TCP or UDP frame."""
    et = struct.unpack_from("!H", frame, 12)[0]
    if et == 0x0800 and frame[23] in (6, 17) and not struct.unpack_from("!H", frame, 20)[0] & 0x3FFF:
        at = 14 + (frame[14] & 15) * 4
        return frame[26:30], frame[30:34], *struct.unpack_from("!HH", frame, at)
    if et == 0x86DD and frame[20] in (6, 17):
        return frame[22:38], frame[38:54], *struct.unpack_from("!HH", frame, 54)
    return None


def test_traffic_is_a_realistic_interleaved_mix() -> None:
    frames = list(generate(30000, 1))
    ts = [t for t, _ in frames]
    assert all(a <= b for a, b in pairwise(ts))
    rate = len(ts) / (ts[-1] - ts[0])
    assert 100_000 <= rate <= 1_000_000, f"{rate:.0f} packets/s"
    # Hundreds of conversations at once, not one after the other.
    window = {c for _, f in frames[10000:12000] if (c := _conversation(f)) is not None}
    assert len({frozenset([(a, p), (b, q)]) for a, b, p, q in window}) >= 150
    sizes = Counter("ack" if len(f) <= 100 else "full" if len(f) == 1514 else "mid" for _, f in frames)
    assert sizes["ack"] > 0.25 * len(frames)
    assert sizes["full"] > 0.25 * len(frames)
    assert sizes["mid"] > 0.08 * len(frames)
    macs: dict[bytes, set[bytes]] = {}
    for _, f in frames:
        if struct.unpack_from("!H", f, 12)[0] == 0x0800 and f[26:28] in (b"\x0a\x0a", b"\xc0\xa8"):
            macs.setdefault(f[26:30], set()).add(f[6:12])
    # Internal senders keep their MAC (DHCP's 0.0.0.0 source aside).
    assert len(macs) > 100
    assert all(len(m) == 1 for m in macs.values())


def test_wraps_show_tshark_the_same_conversations(tmp_path: Path) -> None:
    fields = (
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "vlan.id",
        "erspan.version",
        "erspan.vlan",
        "gre.sequence_number",
        "frame.protocols",
        "ip.checksum.status",
        "tcp.checksum.status",
        "udp.checksum.status",
        "icmp.checksum.status",
        "icmpv6.checksum.status",
    )
    seen: dict[str, list[list[list[str]]]] = {}
    for wrap in ("plain", "vlan", "erspan2"):
        path = tmp_path / f"{wrap}.pcap"
        write_capture(str(path), 6000, 5, wrap)
        seen[wrap] = field_rows(path, *fields)
        assert len(seen[wrap]) == 6000

    def conversations(rows: Iterable[list[list[str]]]) -> set[tuple[str, ...]]:
        out = set()
        for r in rows:
            src, dst = (r[2], r[3]) if r[2] else (r[0], r[1])  # the innermost header
            ports = r[4] + r[5] + r[6] + r[7]
            if src and ports:
                out.add((src[-1], dst[-1], *ports[-2:]))
        return out

    plain = conversations(seen["plain"])
    assert len(plain) > 500
    assert conversations(seen["vlan"]) == plain
    assert conversations(seen["erspan2"]) == plain

    for wrap, rows in seen.items():
        for r in rows:
            assert not any("0" in r[i] for i in range(13, 18)), f"{wrap}: bad checksum in {r}"
    vlans = [r[8] for r in seen["vlan"]]
    assert all(len(v) == 1 for v in vlans)
    assert {v[0] for v in vlans} == {"10", "30", "50"}
    # ERSPAN II: every frame, its VLAN in the header, sequence numbers counting up.
    erspan = seen["erspan2"]
    assert all(r[9] == ["1"] for r in erspan)
    assert [r[10] for r in erspan] == vlans
    assert [int(r[11][0]) for r in erspan] == list(range(6000))
    # The mix tshark sees (the plain capture).
    protocols = Counter(p for r in seen["plain"] for p in r[12][0].split(":"))
    for proto in ("tcp", "udp", "dns", "dhcp", "mdns", "arp", "icmp", "icmpv6", "ipv6", "http", "ntp"):
        assert protocols[proto] > 0, f"no {proto} in {dict(protocols)}"


def test_cli_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.pcap"
    assert cli.main(["generate", str(out), "--packets", "500", "--seed", "4", "--wrap", "erspan2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"{out}: 500 packets, {out.stat().st_size} bytes"
    assert cli.main(["generate", str(tmp_path / "no" / "such.pcap"), "-n", "5"]) == cli.EXIT_USAGE
    assert "cannot write" in capsys.readouterr().err
