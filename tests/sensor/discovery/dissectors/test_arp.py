"""ARP on frames built here: the bindings a device makes itself, not those a router
makes for others by proxy."""

from __future__ import annotations

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, MB, Case, about, collect

BROADCAST = "ff:ff:ff:ff:ff:ff"
ZERO = "00:00:00:00:00:00"
REQUEST, REPLY = 1, 2


def arp_frame(payload: bytes, src: str = MA, dst: str = BROADCAST) -> bytes:
    return P.ethernet(dst, src, 0x0806, payload)


def request(sender_mac: str = MA, sender: str = A4, target: str = B4) -> bytes:
    return P.arp(REQUEST, sender_mac, sender, ZERO, target)


CASES = [
    Case(
        "arp",
        arp_frame,
        request(),
        {("arp", "mac", MA)},
        sender_ip=A4,
        sender_mac=MA,
    ),
]


def test_a_request_binds_its_sender_and_nothing_of_its_target() -> None:
    facts, errors = collect([arp_frame(request())])
    assert about(facts, A4, MA) == {("arp", "mac", MA)}
    assert not about(facts, B4) and not errors


def test_a_gratuitous_reply_binds_its_sender() -> None:
    facts, _ = collect([arp_frame(P.arp(REPLY, MA, A4, BROADCAST, A4))])
    assert about(facts, A4, MA) == {("arp", "mac", MA)}


def test_a_proxy_reply_binds_nothing() -> None:
    """A router answering for an address beyond it (RFC 1027) names it with its own MAC:
    taken as a binding, every device behind the router would be the router."""
    facts, _ = collect([arp_frame(P.arp(REPLY, MB, "10.2.0.5", MA, A4), src=MB, dst=MA)])
    assert not facts


def test_probes_and_foreign_senders_bind_nothing() -> None:
    probe = arp_frame(request(sender="0.0.0.0"))  # RFC 5227: the sender has no address yet
    relayed = arp_frame(request(sender_mac=MB), src=MA)  # the sender is not the frame's source
    facts, _ = collect([probe, relayed])
    assert not facts


def test_a_request_behind_a_vlan_tag_and_its_repeats() -> None:
    """A host asks for many addresses; its binding is read once a window."""
    tagged = P.ethernet(BROADCAST, MA, 0x0806, request(), tags=(P.vlan_tag(42),))
    frames = [tagged] + [arp_frame(request(target=f"10.1.1.{n}")) for n in range(30, 60)]
    facts, errors = collect(frames)
    assert about(facts, A4, MA) == {("arp", "mac", MA)}
    (seen,) = (s for (_, _, source, _, _), s in facts.items() if source == "arp")
    assert seen.count == 1 and not errors


def test_short_and_other_kinds_of_arp() -> None:
    short = P.ethernet(BROADCAST, MA, 0x0806, request()[:20], pad=False)
    other = arp_frame(b"\x00\x06" + request()[2:])  # IEEE 802 hardware, not Ethernet
    facts, errors = collect([short, other])
    assert not facts
    assert errors.get("malformed-arp") == 1
