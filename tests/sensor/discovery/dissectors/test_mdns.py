"""mDNS: a responder's names bound to its MAC, TXT device information, queries left alone."""

from __future__ import annotations

from nps_sensor.synth import packets as P
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, Case, about, collect, udp4


def mdns_printer() -> bytes:
    return P.mdns_announcement(
        "printer-3",
        A4,
        service="_ipp._tcp",
        instance="Office Printer",
        port=631,
        txt=("txtvers=1", "ty=HP LaserJet Pro M404", "usb_MFG=HP", "usb_MDL=LaserJet Pro M404dn", "note=2nd floor"),
    )


def _cases() -> list[Case]:
    mdns = mdns_printer()
    return [
        Case(
            "mdns",
            udp4(5353, 5353, dst="224.0.0.251"),
            mdns,
            {
                ("mdns", "service", "office printer._ipp._tcp.local"),
                ("mdns", "srv", ("_ipp._tcp", 631, "printer-3")),
                ("mdns", "model", "HP LaserJet Pro M404"),
                ("mdns", "model", "LaserJet Pro M404dn"),
                ("mdns", "manufacturer", "HP"),
                ("mdns", "hostname", "printer-3"),
            },
            sender_mac=MA,
            early_end=mdns.index(b"\x00\x10\x80\x01"),  # the TXT record's type: PTR and SRV before it
            early={
                ("mdns", "service", "office printer._ipp._tcp.local"),
                ("mdns", "srv", ("_ipp._tcp", 631, "printer-3")),
            },
        ),
    ]


CASES = _cases()


def test_mdns_names_are_bound_to_the_responder_mac() -> None:
    """Every address a responder announces is its own, IPv6 ones included."""
    message = P.dns_message(
        0,
        0x8400,
        answers=[
            P.RR("macbook-9.local", P.DNS_A, A4, cache_flush=True),
            P.RR("macbook-9.local", P.DNS_AAAA, "fe80::1c2b:3a4d:5e6f:7081", cache_flush=True),
        ],
    )
    facts, _ = collect([udp4(5353, 5353, dst="224.0.0.251")(message)])
    assert ("mdns", "hostname", "macbook-9") in about(facts, A4, MA)
    assert ("mdns", "hostname", "macbook-9") in about(facts, "fe80::1c2b:3a4d:5e6f:7081", MA)


def test_mdns_device_info_and_queries() -> None:
    info = P.RR("Living Room._device-info._tcp.local", P.DNS_TXT, ["model=AppleTV11,1", "osxvers=21"])
    facts, _ = collect(
        [
            udp4(5353, 5353, dst="224.0.0.251")(P.dns_message(0, 0x8400, answers=[info])),
            udp4(5353, 5353, src=B4, dst="224.0.0.251")(P.dns_message(0, 0, [("_airplay._tcp.local", P.DNS_PTR)])),
        ]
    )
    assert {("mdns", "model", "AppleTV11,1"), ("mdns", "os_version", "21")} <= about(facts, A4, MA)
    assert not about(facts, B4)  # a query says nothing
