"""The registry: the packet core's selection is made of the protocols' declarations alone,
and a declaration the core could not honour, or two that clash, fail at import."""

from __future__ import annotations

import pytest

from nps_sensor.discovery import registry
from nps_sensor.discovery.dispatch import selection
from nps_sensor.discovery.protocol import Fact, Payload, Protocol
from nps_sensor.discovery.signature import Alternative, Signature, eq


def nothing(p: object) -> None:
    return None


def test_every_declared_port_and_signature_reaches_the_core() -> None:
    s = selection()
    for i, p in enumerate(registry.PROTOCOLS):
        assert all(s["udp_ports"][port] == i for port in p.udp), p.name
        assert all(s["tcp_ports"][port] == i for port in p.tcp), p.name
        if p.naming is not None:
            assert (s["udp_sigs"] if p.udp else s["tcp_sigs"])[i] == p.naming.spec(), p.name
        if isinstance(p.repeat, Payload) and p.udp:
            assert s["repeats"][i] == p.repeat.spec(), p.name
    assert {registry.PROTOCOLS[i].name for i, _ in s["magic"]} == {"http", "ssh", "tls"}
    assert {k: registry.PROTOCOLS[v].name for k, v in s["ids"].items()} == {
        "tcp-fingerprint": "tcp-fingerprint",
        "tls": "tls",
        "dns": "dns",
        "http": "http",
        "ndp": "ndp",
        "lldp": "lldp",
        "cdp": "cdp",
    }


def test_first_bytes_are_the_core_tests() -> None:
    assert registry.first_bytes(b"SSH-") == Alternative(4, (eq(0, 4, 0x5353482D),))
    assert registry.first_bytes(b"\x16\x03") == Alternative(4, (eq(0, 2, 0x1603),))
    assert registry.first_bytes(b"abc") == Alternative(4, (eq(0, 2, 0x6162), eq(2, 1, 0x63)))


@pytest.mark.parametrize(
    ("protocols", "error"),
    [
        ((Protocol("a", nothing, udp=(9,)), Protocol("b", nothing, udp=(9,))), "UDP port 9: both a and b"),
        ((Protocol("a", nothing, magic=(b"GET",)), Protocol("b", nothing, magic=(b"GET ",))), "overlap"),
        ((Protocol("a", nothing, ethertype=0x88B5),), "the packet core knows"),
        ((Protocol("a", nothing, handshakes=True), Protocol("b", nothing, handshakes=True)), "TCP handshakes"),
        (
            (Protocol("a", nothing, facts=(Fact("x", "y"),)), Protocol("b", nothing, facts=(Fact("x", "y"),))),
            "fact x.y: declared twice",
        ),
    ],
)
def test_clashes_fail_naming_both(protocols: tuple[Protocol, ...], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        registry.build(protocols)


def test_a_new_protocol_needs_no_other_edit() -> None:
    """A protocol on a free port with a signature: its tables, and nothing else moves."""
    base = registry.declared()
    extra = Protocol("probe", nothing, udp=(4242,), naming=Signature((Alternative(2, (eq(0, 1, 1),)),)))
    t = registry.build([*base, extra])
    s = registry.selection(t)
    i = t.id["probe"]
    assert s["udp_ports"][4242] == i and s["udp_sigs"][i] == extra.naming.spec()  # type: ignore[union-attr]
    before = registry.core_selection()
    assert {k: v for k, v in s["udp_sigs"].items() if k != i} == before["udp_sigs"]
