"""ARP's bindings: the engine takes an address and a MAC as one device's when the MAC
claims the address itself (a request's sender fields), never from a reply, which a
router answering by proxy ARP (RFC 1027) fills with its own MAC for others."""

from __future__ import annotations

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Engine
from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, MB, ip_key, mac_key

BROADCAST, ZERO = "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"
REQUEST, REPLY = 1, 2


def arp(payload: bytes, src: str = MA, dst: str = BROADCAST, tags: tuple[bytes, ...] = ()) -> bytes:
    return P.ethernet(dst, src, P.ETH_ARP, payload, tags=tags)


def bindings(frames: list[bytes]) -> dict[str, str]:
    """The addresses the engine binds to MACs, once the frames are reported."""
    engine = Engine(Config(), lambda report: None)
    engine.feed(batch_from_frames(frames, ts=[1_700_000_000.0 + i for i in range(len(frames))]))
    engine.finish()
    ips = {ip_key(a): a for a in (A4, B4, "10.2.0.5")}
    macs = {mac_key(m): m for m in (MA, MB)}
    return {ips[ip]: macs[mac] for ip, mac in engine.reporter.profiles.bindings.items()}


def test_a_request_binds_its_sender_and_not_its_target() -> None:
    assert bindings([arp(P.arp(REQUEST, MA, A4, ZERO, B4))]) == {A4: MA}


def test_an_announcement_and_a_tagged_request_bind_their_sender() -> None:
    announce = arp(P.arp(REQUEST, MA, A4, ZERO, A4))  # RFC 5227: the address just taken
    tagged = arp(P.arp(REQUEST, MB, B4, ZERO, A4), src=MB, tags=(P.vlan_tag(42),))
    assert bindings([announce, tagged]) == {A4: MA, B4: MB}


def test_replies_bind_nothing() -> None:
    proxy = arp(P.arp(REPLY, MB, "10.2.0.5", MA, A4), src=MB, dst=MA)  # for an address behind MB
    plain = arp(P.arp(REPLY, MA, A4, MB, B4), dst=MB)
    assert bindings([proxy, plain]) == {}


def test_probes_and_foreign_senders_bind_nothing() -> None:
    probe = arp(P.arp(REQUEST, MA, "0.0.0.0", ZERO, A4))  # RFC 5227: no address yet
    relayed = arp(P.arp(REQUEST, MB, B4, ZERO, A4), src=MA)  # the sender is not the frame's source
    short = P.ethernet(BROADCAST, MA, P.ETH_ARP, P.arp(REQUEST, MA, A4, ZERO, B4)[:20], pad=False)
    assert bindings([probe, relayed, short]) == {}
