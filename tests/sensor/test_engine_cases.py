"""The engine's hard cases on generated captures, with tshark as the oracle.

IPv4 and IPv6 fragments (in order, out of order, overlapping, repeated, without
their first piece), tunnels nested two to four deep in many orders, exchanges whose
server speaks first, and copies from the mirror: for each, the flows (per direction,
packets and IP bytes), the assets and their MACs equal what tshark decodes
(tests.support.oracle), and the copies dropped are counted by reason. Every capture
also goes through the engine in batches of 5 frames, which must change nothing.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from pathlib import Path
from typing import Any

from nps_sensor.analyze import analyze
from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config, parse
from nps_sensor.decode import ERROR, IP, REASONS, decode
from nps_sensor.synth import PcapWriter
from nps_sensor.synth import packets as P
from nps_sensor.synth.tunnels import encapsulate, fragment_ipv6, ipv4_piece, ipv6_piece
from tests.support.flow_oracle import disagreements
from tests.support.oracle import compute_truth, tshark_fields

T0 = 1_700_000_000.0  # a window boundary: 1700000000 = 5666666 * 300 + 200, so +100 s is one
US, MS = 1e-6, 1e-3
ALL_INTERNAL = "internal: [{name: all, ranges: ['0.0.0.0/0', '::/0']}]\ndiscovery: {enabled: false}\n"
ORACLE = parse(ALL_INTERNAL + "duplicates: {window_ms: 0}")
DEFAULT = parse(ALL_INTERNAL)
Frames = list[tuple[float, bytes]]


def mac(n: int) -> str:
    return f"02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}"


def eth(src: int, dst: int | str, packet: bytes) -> bytes:
    kind = P.ETH_IPV4 if packet[0] >> 4 == 4 else P.ETH_IPV6
    return P.ethernet(dst if isinstance(dst, str) else mac(dst), mac(src), kind, packet)


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    return P.ipv4(src, dst, P.PROTO_UDP, P.udp(src, dst, sport, dport, payload), ident=ident, ttl=ttl)


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes, hop: int = 64) -> bytes:
    return P.ipv6(src, dst, P.PROTO_UDP, P.udp(src, dst, sport, dport, payload), hop_limit=hop)


def tcp4(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"", seq: int = 1) -> bytes:
    segment = P.tcp(src, dst, sport, dport, payload, flags=flags, seq=seq, ack=7 if "A" in flags else 0)
    return P.ipv4(src, dst, P.PROTO_TCP, segment, ident=seq & 0xFFFF, df=True)


def write(path: Path, frames: Frames) -> Path:
    with PcapWriter(str(path)) as w:
        for ts, frame in frames:
            w.write(ts, frame)
    return path


def run(path: Path, cfg: Config) -> dict[str, Any]:
    """The engine's result; the same again in batches of 5 frames, which must not differ."""
    whole = analyze([str(path)], cfg).result
    small = analyze([str(path)], cfg, batch_size=5).result
    for part in ("flows", "assets"):
        assert small[part] == whole[part], f"{part} differ in batches of 5"
    for counter in ("duplicates", "decode_errors", "encapsulation", "fragments"):
        assert small["stats"][counter] == whole["stats"][counter], f"stats.{counter} differ in batches of 5"
    return whole


def assert_agrees(tshark: str, path: Path, result: dict[str, Any]) -> None:
    frames, _ = tshark_fields(tshark, path)
    problems = disagreements(compute_truth(frames), result, exact_assets=True)
    assert not problems, f"{path.name}: {len(problems)} disagreements with tshark\n  " + "\n  ".join(problems)


def flows(result: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(f["client"], f["server"], f["port"], f["proto"]) for f in result["flows"]}


def dropped(**reasons: int) -> dict[str, Any]:
    """The expected stats.duplicates with the given counts by reason ("ip_id" for "ip-id")."""
    by_reason = {"hop-limit": 0, "other-path": 0, "ip-id": 0, "identical": 0}
    by_reason.update({k.replace("_", "-"): v for k, v in reasons.items()})
    return {"dropped": sum(by_reason.values()), "reasons": by_reason}


# --- fragments ---------------------------------------------------------------------------


def fragment_cases() -> tuple[Frames, Frames]:
    """Fragmented datagrams of every kind, and the copies a mirror added (within its window)."""
    rnd = random.Random(23)
    frames: Frames = []
    copies: Frames = []
    t = T0 + 1

    def at(step: float = MS) -> float:
        nonlocal t
        t += step
        return t

    a, b = "10.0.1.1", "10.0.1.2"
    # IPv4 in order, out of order, overlapping, and later fragments without their first.
    big = udp4(b, a, 53, 40000, rnd.randbytes(4000), ident=0x1001)
    frames += [(at(), eth(2, 1, f)) for f in P.fragment_ipv4(big, 1500)]
    shuffled = P.fragment_ipv4(udp4(a, b, 40001, 53, rnd.randbytes(3000), ident=0x1002), 1000)
    rnd.shuffle(shuffled)
    frames += [(at(), eth(1, 2, f)) for f in shuffled]
    overlap = udp4(a, b, 40002, 5001, rnd.randbytes(3000), ident=0x1003)
    frames += [(at(), eth(1, 2, ipv4_piece(overlap, o, n))) for o, n in ((1000, 1480), (0, 1480), (2480, 600))]
    lost = P.fragment_ipv4(udp4(b, a, 5002, 40003, rnd.randbytes(2500), ident=0x1004), 1200)[1:]
    frames += [(at(), eth(2, 1, f)) for f in lost]
    # A DNS answer between two servers' port 53, its first fragment (with the response
    # bit that says who the server is) last.
    answer = P.dns_response(5, "example.org", P.DNS_TXT, [P.RR("example.org", P.DNS_TXT, ["t" * 200] * 12)])
    between_servers = udp4("10.0.1.6", "10.0.1.5", 53, 53, answer, ident=0x1007)
    frames += [(at(), eth(6, 5, f)) for f in reversed(P.fragment_ipv4(between_servers, 1000))]
    ping = P.ipv4(a, b, P.PROTO_ICMP, P.icmp_echo(9, 1, rnd.randbytes(2000)), ident=0x1005)
    frames += [(at(), eth(1, 2, f)) for f in P.fragment_ipv4(ping, 1500)]
    # Repeated: a fragment again 20 µs later (the mirror's copy) and one 50 ms later (sent again).
    again = P.fragment_ipv4(udp4(a, b, 40004, 69, rnd.randbytes(2000), ident=0x1006), 1000)
    frames += [(at(), eth(1, 2, f)) for f in again]
    copies.append((at(20 * US), eth(1, 2, again[1])))
    frames.append((at(50 * MS), eth(1, 2, again[0])))

    # IPv6: mDNS and WS-Discovery announcements in fragments (three datagrams each,
    # the fragments of one the same size), to their groups; one set out of order.
    for n in range(3):
        mdns = fragment_ipv6(udp6("fe80::1", "ff02::fb", 5353, 5353, rnd.randbytes(3000)), 1280, 0x2000 + n)
        frames += [(at(), eth(1, "33:33:00:00:00:fb", f)) for f in mdns]
        wsd = fragment_ipv6(udp6("fe80::2", "ff02::c", 3702, 3702, rnd.randbytes(3000)), 1280, 0x3000 + n)
        if n == 1:
            wsd.reverse()
        frames += [(at(), eth(2, "33:33:00:00:00:0c", f)) for f in wsd]
    server, client = "2001:db8::53", "2001:db8::10"
    answer = udp6(server, client, 53, 40005, rnd.randbytes(2600))
    pieces = [(0, 1232), (1000, 1232), (2232, 376)]  # the second overlaps the first
    frames += [(at(), eth(3, 4, ipv6_piece(answer, o, n, 0x4001))) for o, n in pieces]
    repeated = fragment_ipv6(udp6(client, server, 40006, 53, rnd.randbytes(2000)), 1280, 0x4002)
    frames += [(at(), eth(4, 3, f)) for f in repeated]
    copies.append((at(30 * US), eth(4, 3, repeated[1])))
    frames.append((at(30 * MS), eth(4, 3, repeated[1])))
    orphan = fragment_ipv6(udp6(server, client, 53, 40007, rnd.randbytes(3000)), 1280, 0x4003)[1:]
    frames += [(at(), eth(3, 4, f)) for f in orphan]
    return frames, copies


def test_fragments_agree_with_tshark_and_copies_are_counted(tshark: str, tmp_path: Path) -> None:
    frames, copies = fragment_cases()
    mirrored = write(tmp_path / "fragments-mirrored.pcap", sorted(frames + copies))
    result = run(mirrored, ORACLE)
    assert_agrees(tshark, mirrored, result)
    assert result["stats"]["duplicates"] == dropped()
    assert result["stats"]["fragments"]["without_first_fragment"] == 2
    # With the default windows the two copies go, each a numbered datagram's fragment.
    result = run(mirrored, DEFAULT)
    assert result["stats"]["duplicates"] == dropped(ip_id=2)
    assert_agrees(tshark, write(tmp_path / "fragments.pcap", frames), result)
    assert ("10.0.1.5", "10.0.1.6", 53, "udp") in flows(result)  # the answer's sender is the server
    # The case: every fragment of the multicast announcements counts.
    by_flow = {(f["client"], f["server"], f["port"]): f["client_packets"] for f in result["flows"]}
    assert by_flow[("fe80::1", "ff02::fb", 5353)] == 9
    assert by_flow[("fe80::2", "ff02::c", 3702)] == 9


# --- nested tunnels ----------------------------------------------------------------------

NESTINGS = [
    ["vxlan", "erspan2"],  # the case: an overlay mirrored by ERSPAN
    ["erspan3", "vxlan"],
    ["gre", "gre-teb"],
    ["ipip", "geneve"],
    ["geneve", "gre6-teb"],
    ["vlan", "erspan1", "qinq"],
    ["vxlan-gpe", "mpls", "erspan2"],
    ["geneve-ip", "ipip", "erspan3"],
    ["qinq", "vxlan", "gre-teb", "erspan2"],
    ["gre", "geneve", "mpls", "erspan1"],
    ["vxlan-gpe", "erspan2", "vxlan", "qinq"],
    ["ipip", "ipip", "gre", "geneve-ip"],
    ["gtp-u", "erspan2"],  # a mobile core's user plane, mirrored
    ["gtp-u", "vxlan", "qinq"],
]


def conversation(n: int, t: float) -> Frames:
    """A TCP connection and a DNS lookup between two hosts of their own (10.2.n.0/24)."""
    c, s = f"10.2.{n}.1", f"10.2.{n}.2"
    cm, sm = 0x100 + 2 * n, 0x101 + 2 * n
    query = P.dns_query(n, "example.org")
    answer = P.dns_response(n, "example.org", P.DNS_A, [P.RR("example.org", P.DNS_A, "93.184.216.34")])
    return [
        (t, eth(cm, sm, tcp4(c, s, 40000 + n, 80, "S"))),
        (t + 0.001, eth(sm, cm, tcp4(s, c, 80, 40000 + n, "SA"))),
        (t + 0.002, eth(cm, sm, tcp4(c, s, 40000 + n, 80, "PA", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", seq=2))),
        (t + 0.003, eth(cm, sm, udp4(c, s, 50000 + n, 53, query, ident=n))),
        (t + 0.004, eth(sm, cm, udp4(s, c, 53, 50000 + n, answer, ident=n))),
    ]


def test_nested_tunnels_agree_with_tshark(tshark: str, tmp_path: Path) -> None:
    frames: Frames = []
    for n, kinds in enumerate(NESTINGS):
        for i, (ts, frame) in enumerate(conversation(n, T0 + 1 + n * 0.01)):
            frames.append((ts, encapsulate(frame, kinds, seq=i + 1)))
    path = write(tmp_path / "nested.pcap", sorted(frames))
    result = run(path, ORACLE)
    assert not result["stats"]["decode_errors"]
    assert_agrees(tshark, path, result)
    for n in range(len(NESTINGS)):
        assert (f"10.2.{n}.1", f"10.2.{n}.2", 80, "tcp") in flows(result), NESTINGS[n]


def conversation6(n: int, t: float) -> Frames:
    """A TCP connection and a DNS lookup between two IPv6 hosts (2001:db8:2:n::/64)."""
    c, s = f"2001:db8:2:{n}::1", f"2001:db8:2:{n}::2"
    cm, sm = 0x300 + 2 * n, 0x301 + 2 * n

    def tcp6(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"") -> bytes:
        return P.ipv6(src, dst, P.PROTO_TCP, P.tcp(src, dst, sport, dport, payload, flags=flags, seq=1, ack=7))

    return [
        (t, eth(cm, sm, tcp6(c, s, 41000 + n, 443, "S"))),
        (t + 0.001, eth(sm, cm, tcp6(s, c, 443, 41000 + n, "SA"))),
        (t + 0.002, eth(cm, sm, udp6(c, s, 51000 + n, 53, P.dns_query(n, "example.org")))),
    ]


def test_user_plane_tunnels_agree_with_tshark(tshark: str, tmp_path: Path) -> None:
    """GTP-U (mobile networks) and Teredo (IPv6 in UDP 3544) are followed to the hosts'
    own traffic, also mirrored in ERSPAN; UDP on their ports that is neither stays UDP."""
    frames: Frames = []
    for n, kinds in enumerate((["teredo"], ["teredo", "erspan2"], ["gtp-u"])):
        for i, (ts, frame) in enumerate(conversation6(n, T0 + 1 + n * 0.01)):
            frames.append((ts, encapsulate(frame, kinds, seq=i + 1)))
    # Not a tunnel: a DNS query from port 2152, a datagram to 3544 that is not IPv6.
    frames.append((T0 + 2, eth(7, 8, udp4("10.3.0.1", "10.3.0.2", 2152, 53, P.dns_query(9, "example.org")))))
    frames.append((T0 + 2.1, eth(7, 8, udp4("10.3.0.1", "10.3.0.2", 40000, 3544, b"\x45" + bytes(60)))))
    path = write(tmp_path / "user-plane.pcap", sorted(frames))
    result = run(path, ORACLE)
    assert not result["stats"]["decode_errors"]
    assert_agrees(tshark, path, result)
    for n in range(3):
        c, s = (str(ipaddress.ip_address(f"2001:db8:2:{n}::{i}")) for i in (1, 2))
        assert (c, s, 443, "tcp") in flows(result)
    assert {("10.3.0.1", "10.3.0.2", 53, "udp"), ("10.3.0.1", "10.3.0.2", 3544, "udp")} <= flows(result)
    assert result["stats"]["encapsulation"]["teredo"] == 6 and result["stats"]["encapsulation"]["gtp_u"] == 3


def test_a_gtp_header_cut_short_is_counted() -> None:
    """An extension header chain that runs past the frame is `truncated-gtp`, not a guess."""
    _, frame = conversation(1, T0)[0]
    whole = encapsulate(frame, ["gtp-u"])
    udp_at = 14 + 20
    gtp = bytearray(whole[udp_at + 8 :])
    gtp[12] = 200  # the extension header claims 800 bytes
    cut = whole[: udp_at + 8] + bytes(gtp)
    d = decode(batch_from_frames([whole, cut]))
    assert d.state[0] == IP and d.dport[0] == 80
    assert d.state[1] == ERROR and REASONS[d.err[1]] == "truncated-gtp"


def test_tunnels_nested_too_deep_are_counted() -> None:
    """Eight tunnels are followed; a ninth makes the frame `too-many-tunnels`, not a guess."""
    _, frame = conversation(1, T0)[0]
    deep8 = encapsulate(frame, ["vxlan", "erspan2", "geneve", "gre-teb"] * 2)
    deep9 = encapsulate(frame, ["vxlan", "erspan2", "geneve", "gre-teb"] * 2 + ["ipip"])
    d = decode(batch_from_frames([deep8, deep9]))
    assert d.state[0] == IP and d.dport[0] == 80
    assert d.state[1] == ERROR and REASONS[d.err[1]] == "too-many-tunnels"


# --- who is the server -------------------------------------------------------------------


def dhcpv6(kind: int, xid: int = 0x123456) -> bytes:
    """A DHCPv6 message with a client identifier (DUID-LL) option."""
    duid = struct.pack("!HH", 3, 1) + P.mac(mac(2))
    return struct.pack("!I", kind << 24 | xid) + struct.pack("!HH", 1, len(duid)) + duid


def dhcpv6_relay(kind: int, inner: bytes) -> bytes:
    """A RELAY-FORW (12) or RELAY-REPL (13) carrying `inner` in its relay message option."""
    link, peer = P.ip("2001:db8:1::1"), P.ip("fe80::2")
    return struct.pack("!BB", kind, 0) + link + peer + struct.pack("!HH", 9, len(inner)) + inner


def ntp(mode: int) -> bytes:
    return bytes([4 << 3 | mode]) + bytes(47)


def server_first_cases() -> tuple[Frames, set[tuple[Any, ...]]]:
    """Exchanges whose server is the first to speak, and the flows they must make."""
    offer = P.dhcp(P.DHCP_OFFER, 7, mac(41), yiaddr="10.0.4.50", server_id="10.0.4.1")
    relayed = P.dhcp(P.DHCP_OFFER, 8, mac(42), yiaddr="10.0.5.50", giaddr="10.0.5.1", server_id="10.0.4.1")
    request = P.dhcp(P.DHCP_REQUEST, 8, mac(42), giaddr="10.0.5.1")
    answer = P.dns_response(1, "example.org", P.DNS_A, [P.RR("example.org", P.DNS_A, "192.0.2.80")])
    sip_ok = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.9.2\r\nCall-ID: 1@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    sip_options = b"OPTIONS sip:10.0.9.1 SIP/2.0\r\nCall-ID: 2@x\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    exchanges = [
        # DHCPv6: advertise and reply only, server fe80::1 to client fe80::2.
        (eth(1, 2, udp6("fe80::1", "fe80::2", 547, 546, dhcpv6(2))), ("fe80::2", "fe80::1", 547, "udp")),
        (eth(1, 2, udp6("fe80::1", "fe80::2", 547, 546, dhcpv6(7))), None),
        # DHCPv6 between relay 2001:db8:1::1 and server 2001:db8::547: the relay-reply first.
        (
            eth(3, 4, udp6("2001:db8::547", "2001:db8:1::1", 547, 547, dhcpv6_relay(13, dhcpv6(7)))),
            ("2001:db8:1::1", "2001:db8::547", 547, "udp"),
        ),
        (eth(4, 3, udp6("2001:db8:1::1", "2001:db8::547", 547, 547, dhcpv6_relay(12, dhcpv6(3)))), None),
        # NTP 123 <-> 123, the server's mode 4 first; then symmetric passive first.
        (eth(5, 6, udp4("10.0.3.1", "10.0.3.2", 123, 123, ntp(4))), ("10.0.3.2", "10.0.3.1", 123, "udp")),
        (eth(6, 5, udp4("10.0.3.2", "10.0.3.1", 123, 123, ntp(3))), None),
        (eth(7, 8, udp4("10.0.3.4", "10.0.3.5", 123, 123, ntp(2))), ("10.0.3.5", "10.0.3.4", 123, "udp")),
        (eth(8, 7, udp4("10.0.3.5", "10.0.3.4", 123, 123, ntp(1))), None),
        (eth(5, 9, udp4("10.0.3.1", "10.0.3.3", 123, 40123, ntp(4))), ("10.0.3.3", "10.0.3.1", 123, "udp")),
        # A DHCP offer broadcast by the server; a relay's exchange, the server's reply first.
        (
            eth(10, "ff:ff:ff:ff:ff:ff", udp4("10.0.4.1", "255.255.255.255", 67, 68, offer, ident=1)),
            ("255.255.255.255", "10.0.4.1", 67, "udp"),
        ),
        (eth(10, 11, udp4("10.0.4.1", "10.0.5.1", 67, 67, relayed, ident=2)), ("10.0.5.1", "10.0.4.1", 67, "udp")),
        (eth(11, 10, udp4("10.0.5.1", "10.0.4.1", 67, 67, request, ident=3)), None),
        # An SNMP trap sent from the agent's port; a DNS answer between two servers' port 53.
        (eth(12, 13, udp4("10.0.6.1", "10.0.6.2", 161, 162, b"\x30\x00")), ("10.0.6.1", "10.0.6.2", 162, "udp")),
        (eth(14, 15, udp4("10.0.7.1", "10.0.7.2", 53, 53, answer)), ("10.0.7.2", "10.0.7.1", 53, "udp")),
        # SIP between two proxies' port 5060: the response first.
        (eth(16, 17, udp4("10.0.9.1", "10.0.9.2", 5060, 5060, sip_ok)), ("10.0.9.2", "10.0.9.1", 5060, "udp")),
        (eth(17, 16, udp4("10.0.9.2", "10.0.9.1", 5060, 5060, sip_options)), None),
        # TCP seen from mid-connection, where the ports mislead; then the handshake of
        # the next connection on the same ports says who the client is.
        (eth(18, 19, tcp4("10.0.8.2", "10.0.8.1", 40002, 50001, "A", seq=5)), ("10.0.8.2", "10.0.8.1", 50001, "tcp")),
        (eth(19, 18, tcp4("10.0.8.1", "10.0.8.2", 50001, 40002, "FA", seq=6)), None),
        (eth(18, 19, tcp4("10.0.8.2", "10.0.8.1", 40002, 50001, "S", seq=7)), None),
        (eth(19, 18, tcp4("10.0.8.1", "10.0.8.2", 50001, 40002, "SA", seq=8)), None),
    ]
    frames = [(T0 + 1 + i * 0.01, frame) for i, (frame, _) in enumerate(exchanges)]
    return frames, {expected for _, expected in exchanges if expected is not None}


def test_server_first_exchanges_are_oriented_to_the_server(tshark: str, tmp_path: Path) -> None:
    frames, expected = server_first_cases()
    path = write(tmp_path / "server-first.pcap", frames)
    result = run(path, ORACLE)
    assert flows(result) == expected
    assert_agrees(tshark, path, result)


def test_a_late_handshake_reorients_only_the_windows_not_yet_reported(tshark: str, tmp_path: Path) -> None:
    """Mid-connection traffic in one report window, the handshake in the next: the first
    window's records keep the orientation they were reported with."""
    c, s = "10.0.8.2", "10.0.8.1"
    frames = [
        (T0 + 1, eth(18, 19, tcp4(c, s, 40002, 50001, "A", seq=5))),
        (T0 + 301, eth(18, 19, tcp4(c, s, 40002, 50001, "S", seq=7))),
        (T0 + 301.1, eth(19, 18, tcp4(s, c, 50001, 40002, "SA", seq=8))),
    ]
    path = write(tmp_path / "late-handshake.pcap", frames)
    result = run(path, ORACLE)
    assert flows(result) == {(s, c, 40002, "tcp"), (c, s, 50001, "tcp")}
    assert_agrees(tshark, path, result)


# --- copies from the mirror --------------------------------------------------------------


def mirror_cases() -> tuple[Frames, Frames, dict[str, int]]:
    """Traffic, the copies a mirror adds (with what proves each a copy), and their counts."""
    frames: Frames = []
    copies: Frames = []
    a, b, r = "10.0.10.1", "10.0.10.2", "10.0.11.9"
    t = T0 + 1
    for n in range(4):
        t += 0.005
        syn = tcp4(a, r, 41000 + n, 443, "S", seq=100 + n)
        frames.append((t, eth(1, 30, syn)))
        # Seen again behind the router: TTL one less, the router's MAC.
        routed = bytearray(syn)
        routed[8] -= 1
        routed[10:12] = b"\0\0"
        routed[10:12] = struct.pack("!H", P.checksum(bytes(routed[:20])))
        copies.append((t + 2 * MS, P.ethernet(mac(31), mac(32), P.ETH_IPV4, bytes(routed))))
    for n in range(3):
        t += 0.005
        data = tcp4(a, b, 42000, 80, "PA", b"x" * (100 + n), seq=200 + n)
        frames.append((t, eth(1, 2, data)))
        # The same frame from a second ERSPAN session, 3 ms later.
        copies.append((t + 3 * MS, encapsulate(eth(1, 2, data), ["erspan2"])))
    for n in range(2):
        t += 0.005
        dns = udp4(a, b, 43000, 53, P.dns_query(n, "example.org"), ident=0x500 + n)
        frames.append((t, eth(1, 2, dns)))
        copies.append((t + 5 * MS, eth(1, 2, dns)))  # numbered by its IP ID: a copy even 5 ms on
    t += 0.005
    ack6 = P.ipv6("fd00::1", "fd00::2", P.PROTO_TCP, P.tcp("fd00::1", "fd00::2", 44000, 22, flags="A", seq=9, ack=9))
    frames.append((t, eth(1, 2, ack6)))
    copies.append((t + 8 * US, eth(1, 2, ack6)))  # nothing numbers it: a copy only microseconds on
    # Two identical RSTs 1 ms apart (no IP ID, as stacks send them): both real.
    t += 0.005
    rst = P.ipv4(b, a, P.PROTO_TCP, P.tcp(b, a, 80, 45000, flags="R", seq=77), ident=0, df=True)
    frames += [(t, eth(2, 1, rst)), (t + MS, eth(2, 1, rst))]
    return frames, copies, {"hop_limit": 4, "other_path": 3, "ip_id": 2, "identical": 1}


def test_copies_are_dropped_and_counted_by_reason(tshark: str, tmp_path: Path) -> None:
    frames, copies, reasons = mirror_cases()
    mirrored = write(tmp_path / "mirrored.pcap", sorted(frames + copies))
    result = run(mirrored, DEFAULT)
    assert result["stats"]["duplicates"] == dropped(**reasons)
    assert_agrees(tshark, write(tmp_path / "traffic.pcap", frames), result)
    # Without duplicate detection every copy counts, as tshark sees them all.
    result = run(mirrored, ORACLE)
    assert result["stats"]["duplicates"]["dropped"] == 0
    assert_agrees(tshark, mirrored, result)
