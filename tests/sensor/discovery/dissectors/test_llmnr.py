"""LLMNR: an answer names its sender only when it gives the sender's address."""

from __future__ import annotations

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, MA, Case, about, collect, udp4


def llmnr_answer(name: str = "WS-0042", address: str = A4) -> bytes:
    return P.dns_message(0x4242, 0x8000, [(name, P.DNS_A)], [P.RR(name, P.DNS_A, address, 30)])


def _cases() -> list[Case]:
    return [
        Case("llmnr", udp4(5355, 50000), llmnr_answer(), {("llmnr", "hostname", "ws-0042")}, sender_mac=MA),
    ]


CASES = _cases()


def test_llmnr_answer_for_another_address_is_not_the_sender() -> None:
    facts, _ = collect([udp4(5355, 50000)(llmnr_answer("FS01", "10.1.1.30"))])
    assert about(facts, "10.1.1.30", None) == {("llmnr", "hostname", "fs01")}
    assert not about(facts, "10.1.1.30", MA)
    assert not about(facts, A4)


def test_llmnr_query_tells_nothing() -> None:
    query = P.dns_message(0x4242, 0, [("WS-0042", P.DNS_A)])
    facts, _ = collect([udp4(50000, 5355, dst="224.0.0.252")(query)])
    assert not facts
