"""DNS answers: names for addresses, PTR names, queries left alone, repeats read once per harvest."""

from __future__ import annotations

import ipaddress

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.discovery.facts import NO_MAC
from nps_sensor.pipeline import Collector
from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, ip_key, udp4


def dns_answer(name: str, qtype: int, answers: list[P.RR], ident: int = 0x1234) -> bytes:
    return P.dns_response(ident, name, qtype, answers)


def _cases() -> list[Case]:
    dns = dns_answer("www.example.com", P.DNS_A, [P.RR("www.example.com", P.DNS_A, "10.93.216.34")])
    return [
        Case(
            "dns",
            udp4(53, 50000),
            dns,
            {("dns", "name", "www.example.com")},
            sender_ip="10.93.216.34",
            lengths=[(len(dns) - 6, 2)],
        ),
    ]


CASES = _cases()


def test_dns_answers_name_their_addresses() -> None:
    answers = [
        P.RR("www.example.com", P.DNS_CNAME, "edge.example.net"),
        P.RR("edge.example.net", P.DNS_A, "10.93.216.34"),
        P.RR("edge.example.net", P.DNS_AAAA, "fd00:2800:220:1::248"),
    ]
    facts, _ = collect([udp4(53, 50000)(dns_answer("www.example.com", P.DNS_A, answers))])
    assert about(facts, "10.93.216.34") == {("dns", "name", "edge.example.net")}
    assert about(facts, "fd00:2800:220:1::248") == {("dns", "name", "edge.example.net")}
    assert not about(facts, A4) and not about(facts, B4)  # neither the resolver nor the client


def test_dns_ptr_names_the_reversed_address() -> None:
    v4 = P.RR("30.1.1.10.in-addr.arpa", P.DNS_PTR, "fs01.corp.example")
    v6_name = ".".join(reversed(ipaddress.ip_address("fd00:db8::7").exploded.replace(":", ""))) + ".ip6.arpa"
    v6 = P.RR(v6_name, P.DNS_PTR, "ws-7.corp.example")
    facts, _ = collect(
        [
            udp4(53, 50000)(dns_answer("30.1.1.10.in-addr.arpa", P.DNS_PTR, [v4])),
            udp4(53, 50001)(dns_answer(v6_name, P.DNS_PTR, [v6], ident=7)),
        ]
    )
    assert about(facts, "10.1.1.30") == {("dns", "name", "fs01.corp.example")}
    assert about(facts, "fd00:db8::7") == {("dns", "name", "ws-7.corp.example")}


def test_dns_queries_tell_nothing() -> None:
    facts, _ = collect([udp4(50000, 53)(P.dns_query(1, "www.example.com"))])
    assert not facts


def test_dns_repeated_answer_is_dissected_once_per_harvest() -> None:
    """A resolver answering the same question again (a new ID, a TTL counted down) is
    not parsed again until the next harvest; another question is."""
    rr = [P.RR("www.example.com", P.DNS_A, "10.93.216.34", ttl=300)]
    again = [P.RR("www.example.com", P.DNS_A, "10.93.216.34", ttl=287)]
    other = [P.RR("mail.example.com", P.DNS_A, "10.93.216.35")]
    frames = [
        udp4(53, 50000)(dns_answer("www.example.com", P.DNS_A, rr, ident=1)),
        udp4(53, 50001)(dns_answer("www.example.com", P.DNS_A, again, ident=2)),
        udp4(53, 50002)(dns_answer("mail.example.com", P.DNS_A, other, ident=3)),
    ]
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1.0, 2.0, 3.0]))
    assert c.stats_dict()["discovery"]["packets"] == 3  # all selected; one not dissected
    facts = c.harvest().facts
    name = (ip_key("10.93.216.34"), NO_MAC, "dns", "name", "www.example.com")
    assert facts[name].count == 1 and facts[name].last == 1.0
    assert (ip_key("10.93.216.35"), NO_MAC, "dns", "name", "mail.example.com") in facts
    c.process(batch_from_frames(frames[1:2], ts=[4.0]))  # the next window: dissected again
    assert c.harvest(final=True).facts[name].first == 4.0
