"""The engine end to end on captures the tests write: flows, reports, duplicates, fragments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.analyze import analyze
from nps_sensor.config import Config, parse
from nps_sensor.synth import PcapWriter
from nps_sensor.synth import packets as P

MAC = {n: f"02:00:00:00:00:{n:02x}" for n in range(1, 50)}
T0 = 1_700_000_000.0  # aligned on 5 and 30 minutes: 1700000000 = 5666666 * 300 + 200


def eth(src: int, dst: int, ip_packet: bytes, tags: tuple[bytes, ...] = ()) -> bytes:
    version = ip_packet[0] >> 4
    return P.ethernet(MAC[dst], MAC[src], P.ETH_IPV4 if version == 4 else P.ETH_IPV6, ip_packet, tags=tags)


def tcp(c: str, s: str, sport: int, dport: int, flags: str, payload: bytes = b"", ident: int = 0) -> bytes:
    return P.ipv4(c, s, P.PROTO_TCP, P.tcp(c, s, sport, dport, payload, flags=flags, seq=ident), ident=ident)


def udp(c: str, s: str, sport: int, dport: int, payload: bytes = b"", ident: int = 0) -> bytes:
    return P.ipv4(c, s, P.PROTO_UDP, P.udp(c, s, sport, dport, payload), ident=ident)


def run(tmp_path: Path, frames: list[tuple[float, bytes]], cfg: Config | None = None) -> dict[str, Any]:
    path = tmp_path / "t.pcap"
    with PcapWriter(str(path)) as w:
        for ts, frame in frames:
            w.write(ts, frame)
    analysis = analyze([str(path)], cfg or parse("internal: [{name: all, ranges: [0.0.0.0/0, '::/0']}]"))
    assert not analysis.errors
    return analysis.result


def flows(result: dict[str, Any]) -> dict[tuple[Any, ...], tuple[int, int, int, int]]:
    out: dict[tuple[Any, ...], tuple[int, int, int, int]] = {}
    for f in result["flows"]:
        key = (f["client"], f["server"], f["port"], f["proto"])
        cb, sb, cp, sp = out.get(key, (0, 0, 0, 0))
        out[key] = (cb + f["client_bytes"], sb + f["server_bytes"], cp + f["client_packets"], sp + f["server_packets"])
    return out


def test_client_and_server_roles(tmp_path: Path) -> None:
    frames = [
        # SYN-ACK seen first: its receiver is the client, whatever the ports.
        (T0, eth(2, 1, tcp("10.0.0.2", "10.0.0.1", 5000, 40000, "SA"))),
        (T0 + 0.1, eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 5000, "A"))),
        # Mid-connection, no SYN: the well-known port marks the server.
        (T0 + 0.2, eth(3, 4, tcp("10.0.0.3", "10.0.0.4", 443, 51000, "A", b"x" * 100))),
        # Neither port well known: the lower one is the server.
        (T0 + 0.3, eth(5, 6, udp("10.0.0.5", "10.0.0.6", 40001, 30000))),
        # Multicast destination is the server.
        (T0 + 0.4, eth(7, 8, udp("10.0.0.7", "239.1.2.3", 5004, 5004))),
        # ICMP echo reply seen first: its receiver is the client.
        (T0 + 0.5, eth(9, 10, P.ipv4("10.0.0.9", "10.0.0.10", 1, P.icmp_echo(1, 1, reply=True)))),
        # Both ports well known: the lower port is the server (DHCP 68 -> 67).
        (T0 + 0.6, eth(11, 12, udp("10.0.0.11", "10.0.0.12", 68, 67))),
    ]
    got = flows(run(tmp_path, frames))
    assert ("10.0.0.1", "10.0.0.2", 5000, "tcp") in got
    assert got[("10.0.0.1", "10.0.0.2", 5000, "tcp")] == (40, 40, 1, 1)
    assert ("10.0.0.4", "10.0.0.3", 443, "tcp") in got
    assert ("10.0.0.5", "10.0.0.6", 30000, "udp") in got
    assert ("10.0.0.7", "239.1.2.3", 5004, "udp") in got
    assert ("10.0.0.10", "10.0.0.9", None, "icmp") in got
    assert ("10.0.0.11", "10.0.0.12", 67, "udp") in got


def test_connections_with_the_same_four_tuple_become_one_record(tmp_path: Path) -> None:
    frames = []
    for n, sport in enumerate((40000, 40001, 40002)):
        frames.append((T0 + n, eth(1, 2, tcp("10.0.0.1", "10.0.0.2", sport, 80, "S"))))
        frames.append((T0 + n + 0.5, eth(2, 1, tcp("10.0.0.2", "10.0.0.1", 80, sport, "SA"))))
    result = run(tmp_path, frames)
    assert flows(result) == {("10.0.0.1", "10.0.0.2", 80, "tcp"): (120, 120, 3, 3)}
    assert len(result["flows"]) == 1


def test_external_addresses_merge_into_one_asset_and_server(tmp_path: Path) -> None:
    frames = [
        (T0, eth(1, 30, tcp("10.0.0.1", "93.184.216.34", 40000, 443, "S"))),
        (T0 + 1, eth(1, 30, tcp("10.0.0.1", "151.101.1.69", 40001, 443, "S"))),
        (T0 + 2, eth(30, 1, tcp("93.184.216.34", "10.0.0.1", 443, 40000, "SA"))),
    ]
    result = run(tmp_path, frames, Config())
    assert flows(result) == {("10.0.0.1", "External", 443, "tcp"): (80, 40, 2, 1)}
    external = [a for a in result["assets"] if a["name"] == "External"]
    assert len(external) == 1 and external[0]["ip"] is None and external[0]["class"] == "external"
    inside = next(a for a in result["assets"] if a["ip"] == "10.0.0.1")
    assert inside["mac"] == MAC[1] and inside["class"] == "inventoried"
    assert (inside["bytes_out"], inside["bytes_in"], inside["packets"]) == (80, 40, 3)


def test_excluded_mac_and_monitored_domain(tmp_path: Path) -> None:
    cfg = parse(
        f"""
excluded: {{macs: ["{MAC[2]}"]}}
monitor_external: [{{name: video, targets: [video.example]}}]
"""
    )
    answer = P.dns_response(7, "video.example", P.DNS_A, [P.RR("video.example", P.DNS_A, "198.51.100.7")])
    frames = [
        (T0, eth(3, 1, udp("10.0.0.53", "10.0.0.1", 53, 33000, answer))),
        (T0 + 1, eth(1, 30, tcp("10.0.0.1", "198.51.100.7", 40000, 443, "S"))),
        (T0 + 2, eth(2, 1, udp("10.0.0.2", "10.0.0.1", 40000, 161))),
    ]
    got = flows(run(tmp_path, frames, cfg))
    assert ("10.0.0.1", "video", 443, "tcp") in got
    assert ("Excluded", "10.0.0.1", 161, "udp") in got


def test_duplicates_within_the_window_count_once(tmp_path: Path) -> None:
    syn = eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 80, "S", ident=1))
    other = eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 80, "A", ident=2))
    # A routed copy has another TTL: still the same packet.
    routed = P.ethernet(MAC[2], MAC[9], P.ETH_IPV4, syn[14:])
    routed_b = bytearray(routed)
    routed_b[14 + 8] -= 1
    frames = [
        (T0, syn),
        (T0 + 0.000_010, syn),  # SPAN copy 10 µs later
        (T0 + 0.000_020, bytes(routed_b)),
        (T0 + 0.001, other),
        (T0 + 5.0, syn),  # the same bytes five seconds later: not a copy
    ]
    result = run(tmp_path, frames)
    reasons = {"hop-limit": 1, "other-path": 0, "ip-id": 1, "identical": 0}
    assert result["stats"]["duplicates"] == {"dropped": 2, "reasons": reasons}
    assert flows(result)[("10.0.0.1", "10.0.0.2", 80, "tcp")] == (120, 0, 3, 0)


def test_duplicates_are_kept_when_detection_is_off(tmp_path: Path) -> None:
    syn = eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 80, "S"))
    cfg = parse("internal: [{name: all, ranges: [0.0.0.0/0]}]\nduplicates: {window_ms: 0}")
    result = run(tmp_path, [(T0, syn), (T0, syn)], cfg)
    assert result["stats"]["duplicates"]["dropped"] == 0
    assert flows(result)[("10.0.0.1", "10.0.0.2", 80, "tcp")][2] == 2


def test_fragments_count_towards_their_datagram(tmp_path: Path) -> None:
    big = udp("10.0.0.1", "10.0.0.2", 5000, 53, bytes(4000), ident=42)
    parts = [eth(1, 2, f) for f in P.fragment_ipv4(big, 1500)]
    lost = udp("10.0.0.3", "10.0.0.4", 5001, 53, bytes(3000), ident=43)
    lost_parts = [eth(3, 4, f) for f in P.fragment_ipv4(lost, 1500)][1:]  # first fragment missing
    # Later fragments before the first: they wait for its ports.
    frames = [(T0 + i * 0.01, f) for i, f in enumerate([parts[2], parts[1], parts[0], *lost_parts])]
    result = run(tmp_path, frames)
    got = flows(result)
    size = sum(len(f) - 14 for f in parts)
    assert got[("10.0.0.1", "10.0.0.2", 53, "udp")] == (size, 0, 3, 0)
    lost_size = sum(len(f) - 14 for f in lost_parts)
    assert got[("10.0.0.3", "10.0.0.4", None, "udp")] == (lost_size, 0, 2, 0)
    assert result["stats"]["fragments"]["without_first_fragment"] == 1


def test_reports_follow_the_windows_and_lose_nothing(tmp_path: Path) -> None:
    start = 1_700_001_000.0  # a multiple of 1800 (and so of 300)
    frames = []
    for minute in range(0, 70, 2):  # 70 minutes: two update windows and a partial one
        ts = start + minute * 60
        frames.append((ts, eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000 + minute, 80, "S"))))
        if minute == 12:
            frames.append((ts + 1, eth(5, 2, tcp("10.0.0.5", "10.0.0.2", 40000, 80, "S"))))
    result = run(tmp_path, frames)
    kinds = [r["kind"] for r in result["reports"]]
    assert kinds[0] == "new-assets" and kinds.count("update") == 3, kinds
    # 10.0.0.5 appeared at minute 12: it is announced in the new-assets window ending at minute 15.
    announce = [
        r for r in result["reports"] if r["kind"] == "new-assets" and r["window_end"].endswith("T22:45:00.000000Z")
    ]
    assert announce, result["reports"]
    total = flows(result)[("10.0.0.1", "10.0.0.2", 80, "tcp")]
    assert total == (35 * 40, 0, 35, 0)


def test_flow_table_memory_bound_keeps_counts(tmp_path: Path) -> None:
    cfg = parse("internal: [{name: all, ranges: [0.0.0.0/0]}]\nflows: {max_flows: 1000}")
    frames = [(T0 + i * 1e-4, eth(1, 2, udp("10.0.0.1", "10.0.0.2", 1024 + i, 53))) for i in range(3000)]
    result = run(tmp_path, frames, cfg)
    assert result["stats"]["flows"]["evicted_full"] > 0
    assert flows(result)[("10.0.0.1", "10.0.0.2", 53, "udp")][2] == 3000


def test_arp_only_devices_are_assets(tmp_path: Path) -> None:
    arp = P.ethernet("ff:ff:ff:ff:ff:ff", MAC[7], 0x0806, P.arp(1, MAC[7], "10.0.0.7", "00:00:00:00:00:00", "10.0.0.8"))
    result = run(tmp_path, [(T0, arp)], Config())
    asset = [a for a in result["assets"] if a["ip"] == "10.0.0.7"]
    assert asset and asset[0]["mac"] == MAC[7]


def test_arp_that_is_cut_short_or_not_ethernet_ipv4_names_no_one(tmp_path: Path) -> None:
    good = P.arp(2, MAC[8], "10.0.0.8", MAC[7], "10.0.0.7")
    cut = P.ethernet(MAC[7], MAC[9], 0x0806, good[:27])
    other_hardware = P.ethernet(MAC[7], MAC[10], 0x0806, b"\x00\x06" + good[2:])
    result = run(tmp_path, [(T0, cut), (T0 + 1, other_hardware), (T0 + 2, P.ethernet(MAC[7], MAC[8], 0x0806, good))])
    assert [(a["ip"], a["mac"]) for a in result["assets"]] == [("10.0.0.8", MAC[8])]


def test_a_malformed_dns_answer_is_counted_and_binds_nothing(tmp_path: Path) -> None:
    cfg = parse("monitor_external: [{name: video, targets: [video.example]}]\ndiscovery: {enabled: false}")
    answer = P.dns_response(7, "video.example", P.DNS_A, [P.RR("video.example", P.DNS_A, "198.51.100.7")])
    frames = [
        (T0, eth(3, 1, udp("10.0.0.53", "10.0.0.1", 53, 33000, answer[:-3]))),
        (T0 + 1, eth(1, 30, tcp("10.0.0.1", "198.51.100.7", 40000, 443, "S"))),
    ]
    result = run(tmp_path, frames, cfg)
    assert result["stats"]["decode_errors"]["malformed-dns"] == 1
    assert ("10.0.0.1", "External", 443, "tcp") in flows(result)  # not "video"


@pytest.mark.parametrize("wrap", ["vlan", "erspan"])
def test_wrapped_traffic_gives_the_same_report(tmp_path: Path, wrap: str) -> None:
    plain = [
        (T0, eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 22, "S"))),
        (T0 + 0.1, eth(2, 1, tcp("10.0.0.2", "10.0.0.1", 22, 40000, "SA"))),
        (T0 + 0.2, eth(1, 3, udp("10.0.0.1", "10.0.0.3", 5353, 5353))),
    ]
    if wrap == "vlan":
        wrapped = [(ts, f[:12] + P.vlan_tag(42) + f[12:]) for ts, f in plain]
    else:
        wrapped = [
            (ts, P.ethernet(MAC[40], MAC[41], P.ETH_IPV4, P.ipv4("192.0.2.1", "192.0.2.2", 47, P.erspan_ii(f, 9, n))))
            for n, (ts, f) in enumerate(plain)
        ]
    base = run(tmp_path, plain)
    other = run(tmp_path, wrapped)
    assert flows(base) == flows(other)
    macs = {a["ip"]: a["macs"] for a in other["assets"]}
    assert {a["ip"]: a["macs"] for a in base["assets"]} == {k: v for k, v in macs.items() if k in macs}


def test_traffic_to_an_address_counts_before_it_first_answers(tmp_path: Path) -> None:
    """A SYN in one window, the SYN-ACK in a later one: the server's totals include the SYN."""
    start = 1_700_001_000.0
    frames = [
        (start + 10, eth(1, 2, tcp("10.0.0.1", "10.0.0.2", 40000, 80, "S"))),
        (start + 400, eth(2, 1, tcp("10.0.0.2", "10.0.0.1", 80, 40000, "SA"))),
    ]
    result = run(tmp_path, frames)
    server = next(a for a in result["assets"] if a["ip"] == "10.0.0.2")
    assert (server["packets"], server["bytes_in"], server["bytes_out"]) == (2, 40, 40)
    assert len(result["reports"]) >= 2


def test_a_device_that_changes_address_is_one_asset_with_both(tmp_path: Path) -> None:
    """DHCP churn: one MAC, an early and a later address; the device sums them both,
    whichever address is its current one."""
    start = 1_700_002_000.0
    frames = [
        (start + 1, eth(7, 2, udp("10.0.0.50", "10.0.0.2", 5000, 53))),
        (start + 2, eth(7, 2, udp("10.0.0.50", "10.0.0.2", 5000, 53))),
        (start + 3, eth(7, 2, udp("10.0.0.60", "10.0.0.2", 5000, 53))),
        (start + 4, eth(7, 2, udp("10.0.0.60", "10.0.0.2", 5000, 53))),
        (start + 5, eth(7, 2, udp("10.0.0.60", "10.0.0.2", 5000, 53))),
    ]
    result = run(tmp_path, frames)
    device = [a for a in result["assets"] if a.get("id") == "mac:02:00:00:00:00:07"]
    assert len(device) == 1
    assert device[0]["ip"] == "10.0.0.60"  # the address it uses now
    assert [x["ip"] for x in device[0]["ips"]] == ["10.0.0.50", "10.0.0.60"]
    assert device[0]["packets"] == 5


def _dhcp_binding(start: float) -> list[tuple[float, bytes]]:
    ack = P.dhcp(P.DHCP_ACK, 7, MAC[9], yiaddr="10.0.0.1", server_id="10.0.0.2", router="10.0.0.1")
    return [(start, P.eth_ipv4_udp(MAC[2], MAC[9], "10.0.0.2", "10.0.0.1", 67, 68, ack))]


def _arp_binding(start: float) -> list[tuple[float, bytes]]:
    """The router asks for a host; then answers by proxy for an address behind it (RFC
    1027), which must not make that address the router's."""
    ask = P.arp(1, MAC[9], "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")
    proxy = P.arp(2, MAC[9], "10.2.0.5", MAC[2], "10.0.0.2")
    return [
        (start, P.ethernet("ff:ff:ff:ff:ff:ff", MAC[9], P.ETH_ARP, ask)),
        (start + 0.5, P.ethernet(MAC[2], MAC[9], P.ETH_ARP, proxy)),
    ]


def carried_by_router(start: float) -> list[tuple[float, bytes]]:
    """Three addresses behind MAC[9], active at once (from start + 2 to start + 12): a router's MAC."""
    return [(start + t + i, eth(9, 2, udp(f"10.2.0.{5 + i}", "10.0.0.2", 5000, 53))) for t in (2, 10) for i in range(3)]


@pytest.mark.parametrize("binding", [_dhcp_binding, _arp_binding], ids=["dhcp", "arp"])
def test_a_router_s_own_address_is_the_router_and_the_others_are_behind_it(
    tmp_path: Path, binding: Callable[[float], list[tuple[float, bytes]]]
) -> None:
    """A MAC that forwards many addresses at once is a router's. The address DHCP, ARP
    (a request's sender) or NDP binds to that MAC is the router's own: one asset, the
    router, with that address. The addresses it only carries stay devices of their own,
    behind it, and the router is not reported a second time by its MAC alone."""
    start = 1_700_003_000.0
    frames = binding(start)
    frames += [(start + 1, eth(9, 2, udp("10.0.0.1", "10.0.0.2", 5353, 53)))]  # the router's own query
    frames += carried_by_router(start)
    result = run(tmp_path, frames)
    with_mac = [a for a in result["assets"] if a.get("mac") == MAC[9]]
    router = [a for a in with_mac if not a.get("behind_router")]
    assert len(router) == 1 and router[0]["id"] == f"mac:{MAC[9]}"
    assert router[0]["ip"] == "10.0.0.1" and [x["ip"] for x in router[0]["ips"]] == ["10.0.0.1"]
    assert router[0]["device"]["type"] == "router"
    behind = sorted(a["ip"] for a in with_mac if a.get("behind_router"))
    assert behind == ["10.2.0.5", "10.2.0.6", "10.2.0.7"]


def test_a_router_known_by_its_mac_alone_was_seen_while_it_carried_packets(tmp_path: Path) -> None:
    """With no address of its own, the router is listed by its MAC, seen from the first
    to the last packet it carried (it was on the wire then), with no traffic of its own."""
    frames = carried_by_router(T0)
    router = [a for a in run(tmp_path, frames)["assets"] if a.get("id") == f"mac:{MAC[9]}"]
    assert len(router) == 1 and router[0]["ip"] is None and router[0]["device"]["type"] == "router"
    seen = (router[0]["first_seen"], router[0]["last_seen"])
    assert seen == ("2023-11-14T22:13:22.000000Z", "2023-11-14T22:13:32.000000Z")
    assert router[0]["packets"] == 0


def test_a_router_s_link_local_address_is_its_own(tmp_path: Path) -> None:
    """No router forwards a link-local source (fe80::/10, 169.254/16): seen with the
    router's MAC, it is the router's own address, as if NDP had bound it. It was listed
    as a device behind the router, and the router once more by its MAC alone."""
    frames = carried_by_router(T0)
    solicit = P.udp("fe80::9", "ff02::1:2", 546, 547, b"\x01\x00\x00\x01")
    frames += [(T0 + 4, eth(9, 2, P.ipv6("fe80::9", "ff02::1:2", P.PROTO_UDP, solicit)))]
    with_mac = [a for a in run(tmp_path, frames)["assets"] if MAC[9] in a.get("macs", [])]
    router = [a for a in with_mac if not a.get("behind_router")]
    assert len(router) == 1 and router[0]["ip"] == "fe80::9" and router[0]["device"]["type"] == "router"
    assert sorted(a["ip"] for a in with_mac if a.get("behind_router")) == ["10.2.0.5", "10.2.0.6", "10.2.0.7"]


def test_hosts_inside_an_ip_tunnel_do_not_take_the_tunnel_end_s_mac(tmp_path: Path) -> None:
    """Inside GRE or IP in IP there is no Ethernet header: the frame's MAC is the tunnel
    end's. Given to the inner hosts, it made them one device by that MAC (or a router
    listed a second time by its MAC alone). They are devices of their own, MAC unknown
    (the engine's hosts are the innermost packet's, so the tunnel's ends are not listed)."""
    frames = []
    for i in range(3):  # three inner hosts through one tunnel end, active at once
        inner = udp(f"10.2.0.{5 + i}", "10.3.0.7", 5000, 53)
        wrapped = (
            P.ipv4("10.9.0.1", "10.9.0.2", P.PROTO_GRE, P.gre(P.ETH_IPV4, inner))
            if i < 2
            else P.ipv4("10.9.0.1", "10.9.0.2", P.PROTO_IPIP, inner)
        )
        frames += [(T0 + 1 + i, eth(5, 6, wrapped)), (T0 + 10 + i, eth(5, 6, wrapped))]
    result = run(tmp_path, frames)["assets"]
    assets = {a["ip"]: a for a in result if a.get("ip")}
    for ip in ("10.2.0.5", "10.2.0.6", "10.2.0.7"):
        assert assets[ip]["mac"] is None and assets[ip]["macs"] == [] and not assets[ip].get("behind_router"), ip
    assert not [a for a in result if MAC[5] in a.get("macs", [])]  # nor a router by that MAC alone
