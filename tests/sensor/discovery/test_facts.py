"""Merging several capture workers' facts as one collector would have them."""

from __future__ import annotations

from nps_sensor.discovery import registry
from nps_sensor.discovery.facts import Facts, Key, Seen

IP, OTHER, MAC = 0x0A000001, 0x0A000002, 0x0200000000AA


def part(*facts: tuple[int, str, str, str, float]) -> dict[Key, Seen]:
    return {(ip, MAC, source, key, value): Seen(ts, ts) for ip, source, key, value, ts in facts}


def test_the_handshake_facts_are_the_sampled_ones() -> None:
    assert registry.sampled() == {("tcp", "syn"), ("tcp", "synack")}


def test_a_senders_syn_seen_by_two_workers_is_the_earliest_once() -> None:
    a = part((IP, "tcp", "syn", "sig-late", 5.0), (OTHER, "tcp", "syn", "sig", 1.0))
    b = part((IP, "tcp", "syn", "sig-early", 2.0), (OTHER, "tcp", "syn", "sig", 3.0))
    merged = Facts.merge([a, b], registry.sampled())
    assert {(k[0], k[4]): (s.first, s.count) for k, s in merged.items()} == {
        (IP, "sig-early"): (2.0, 1),
        (OTHER, "sig"): (1.0, 1),
    }


def test_a_syn_and_a_synack_are_sampled_apart() -> None:
    a = part((IP, "tcp", "syn", "c", 1.0))
    b = part((IP, "tcp", "synack", "s", 2.0))
    assert len(Facts.merge([a, b], registry.sampled())) == 2


def test_other_facts_add_up() -> None:
    a = part((IP, "dns", "name", "x.example", 1.0))
    b = part((IP, "dns", "name", "x.example", 4.0))
    (seen,) = Facts.merge([a, b], registry.sampled()).values()
    assert (seen.first, seen.last, seen.count) == (1.0, 4.0, 2)
