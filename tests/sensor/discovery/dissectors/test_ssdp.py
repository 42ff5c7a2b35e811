"""SSDP: a device's NOTIFY and search answers, a client's M-SEARCH."""

from __future__ import annotations

from tests.sensor.discovery.dissectors.frames import B4, Case, collect, triples, udp4

SSDP_NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
    b"SERVER: Linux/3.14 UPnP/1.0 Sonos/57.3-77280\r\n"
    b"USN: uuid:RINCON_000E58A0B1C201400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    b"NT: urn:schemas-upnp-org:device:ZonePlayer:1\r\nNTS: ssdp:alive\r\n"
    b"LOCATION: http://10.1.1.10:1400/xml/device_description.xml\r\n\r\n"
)


SSDP_SEARCH = (
    b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
    b"ST: ssdp:all\r\nUSER-AGENT: Microsoft-Windows/10.0 UPnP/1.0\r\n\r\n"
)


SSDP_ANSWER = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    b"USN: uuid:4d696e69-444c-164e-9d41-b0c5ca000001::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    b"EXT:\r\nSERVER: OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1\r\nLOCATION: http://10.1.1.10:5000/rootDesc.xml\r\n\r\n"
)


def _cases() -> list[Case]:
    notify_cut = SSDP_NOTIFY.index(b"NT:")
    answer_cut = SSDP_ANSWER.index(b"EXT:")
    return [
        Case(
            "ssdp",
            udp4(1900, 1900, dst="239.255.255.250"),
            SSDP_NOTIFY,
            {
                ("ssdp", "server", "Linux/3.14 UPnP/1.0 Sonos/57.3-77280"),
                ("ssdp", "service", ("udp", 1900, "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")),
                ("ssdp", "usn", "uuid:RINCON_000E58A0B1C201400::urn:schemas-upnp-org:device:ZonePlayer:1"),
                ("ssdp", "uuid", "rincon_000e58a0b1c201400"),
                ("ssdp", "nt", "urn:schemas-upnp-org:device:ZonePlayer:1"),
                ("ssdp", "location", "http://10.1.1.10:1400/xml/device_description.xml"),
                ("ssdp", "service", ("tcp", 1400, "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")),
            },
            early_end=notify_cut,
            early={("ssdp", "server", "Linux/3.14 UPnP/1.0 Sonos/57.3-77280")},
        ),
        Case(
            "ssdp",
            udp4(1900, 50000, dst=B4),
            SSDP_ANSWER,
            {
                ("ssdp", "server", "OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1"),
                ("ssdp", "st", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"),
                ("ssdp", "uuid", "4d696e69-444c-164e-9d41-b0c5ca000001"),
                ("ssdp", "location", "http://10.1.1.10:5000/rootDesc.xml"),
                ("ssdp", "service", ("tcp", 5000, "OpenWRT/18.06 UPnP/1.1 MiniUPnPd/2.1")),
            },
            early_end=answer_cut,
            early={("ssdp", "st", "urn:schemas-upnp-org:device:InternetGatewayDevice:1")},
        ),
        Case(
            "ssdp",
            udp4(50000, 1900, dst="239.255.255.250"),
            SSDP_SEARCH,
            {("ssdp", "user_agent", "Microsoft-Windows/10.0 UPnP/1.0")},
        ),
    ]


CASES = _cases()


def test_ssdp_search_tells_only_the_user_agent() -> None:
    facts, _ = collect([udp4(50000, 1900, dst="239.255.255.250")(SSDP_SEARCH)])
    assert triples(facts) == {("ssdp", "user_agent", "Microsoft-Windows/10.0 UPnP/1.0")}
