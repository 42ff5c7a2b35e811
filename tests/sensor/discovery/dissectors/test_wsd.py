"""WS-Discovery: a Windows machine's Hello, a printer's and an ONVIF camera's ProbeMatches.

The messages follow the examples of the specifications (WS-Discovery 2005 draft,
section 4.1 and 5.3, the version Windows speaks; ONVIF Core 7.3) with the types and
scopes the devices announce. The last test writes them to a capture and reads the
report `analyze` makes of it: the evidence must be there, on the right devices.
"""

from __future__ import annotations

from pathlib import Path

from nps_sensor.analyze import analyze
from nps_sensor.config import Config
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from tests.sensor.discovery.dissectors.frames import A4, MA, Case, about, collect, udp4

WSD_GROUP = "239.255.255.250"
NS = (
    'xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof" '
    'xmlns:pub="http://schemas.microsoft.com/windows/pub/2005/07" '
    'xmlns:wprt="http://schemas.microsoft.com/windows/2006/08/wdp/print" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'
)
ACTIONS = "http://schemas.xmlsoap.org/ws/2005/04/discovery/"
WINDOWS_UUID = "3f2b7c1e-8a4d-4c1b-9e0f-5d6a7b8c9d0e"


def wsd_message(action: str, body: str, message_id: str = "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope {NS}><soap:Header>'
        f"<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
        f"<wsa:Action>{ACTIONS}{action}</wsa:Action><wsa:MessageID>{message_id}</wsa:MessageID>"
        f'<wsd:AppSequence InstanceId="1733370000" MessageNumber="1"/></soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def announcement(uuid: str, types: str, scopes: str = "", xaddrs: str = "", action: str = "Hello", **kw: str) -> bytes:
    inner = (
        f"<wsa:EndpointReference><wsa:Address>urn:uuid:{uuid}</wsa:Address></wsa:EndpointReference>"
        f"<wsd:Types>{types}</wsd:Types>"
        + (f"<wsd:Scopes>{scopes}</wsd:Scopes>" if scopes else "")
        + (f"<wsd:XAddrs>{xaddrs}</wsd:XAddrs>" if xaddrs else "")
        + "<wsd:MetadataVersion>2</wsd:MetadataVersion>"
    )
    if action == "ProbeMatches":
        inner = f"<wsd:ProbeMatches><wsd:ProbeMatch>{inner}</wsd:ProbeMatch></wsd:ProbeMatches>"
    else:
        inner = f"<wsd:{action}>{inner}</wsd:{action}>"
    return wsd_message(action, inner, **kw)


def windows_hello(address: str = A4) -> bytes:
    return announcement(WINDOWS_UUID, "wsdp:Device pub:Computer", xaddrs=f"http://{address}:5357/{WINDOWS_UUID}/")


def printer_match() -> bytes:
    return announcement(
        "16a65700-007c-1000-bb49-30cda7a1b2c3",
        "wsdp:Device wprt:PrintDeviceType",
        xaddrs="http://10.1.1.40:80/wsd/mex",
        action="ProbeMatches",
    )


def camera_match() -> bytes:
    scopes = " ".join(
        "onvif://www.onvif.org/" + s
        for s in ("type/video_encoder", "hardware/M3045-V", "name/AXIS%20M3045-V", "location/country/sweden")
    )
    return announcement(
        "4d454930-0000-1000-8000-accc8e0a0b0c",
        "dn:NetworkVideoTransmitter tds:Device",
        scopes=scopes,
        xaddrs="http://10.1.1.50/onvif/device_service http://[fe80::1]/onvif/device_service",
        action="ProbeMatches",
    )


def _cases() -> list[Case]:
    return [
        Case(
            "wsd",
            udp4(3702, 3702, dst=WSD_GROUP),
            windows_hello(),
            {
                ("wsd", "service", ("udp", 3702, "ws-discovery")),
                ("wsd", "service", ("tcp", 5357, "ws-discovery metadata")),
                ("wsd", "uuid", WINDOWS_UUID),
                ("wsd", "types", "wsdp:Device pub:Computer"),
            },
            sender_mac=MA,
            early_end=windows_hello().index(b"<wsd:Types>"),
        ),
    ]


CASES = _cases()


def test_printer_and_camera_say_what_they_are() -> None:
    facts, errors = collect(
        [
            udp4(3702, 50000, src="10.1.1.40", dst=A4)(printer_match()),
            udp4(3702, 50001, src="10.1.1.50", dst=A4)(camera_match()),
        ]
    )
    assert not errors
    printer = about(facts, "10.1.1.40")
    assert ("wsd", "types", "wsdp:Device wprt:PrintDeviceType") in printer
    assert ("wsd", "service", ("tcp", 80, "ws-discovery metadata")) in printer
    camera = about(facts, "10.1.1.50")
    assert {("wsd", "model", "M3045-V"), ("wsd", "name", "AXIS M3045-V")} <= camera
    assert ("wsd", "service", ("tcp", 80, "ws-discovery metadata")) in camera


def test_a_metadata_url_on_another_address_is_no_service_of_the_sender() -> None:
    facts, _ = collect([udp4(3702, 3702, dst=WSD_GROUP)(windows_hello(address="10.1.1.99"))])
    assert not any(k == "service" and v[0] == "tcp" for _, k, v in about(facts, A4))


def test_probe_and_bye_say_nothing_of_their_sender() -> None:
    probe = wsd_message("Probe", "<wsd:Probe><wsd:Types>wsdp:Device</wsd:Types></wsd:Probe>")
    bye = wsd_message(
        "Bye",
        f"<wsd:Bye><wsa:EndpointReference><wsa:Address>urn:uuid:{WINDOWS_UUID}</wsa:Address>"
        "</wsa:EndpointReference></wsd:Bye>",
    )
    facts, errors = collect([udp4(50000, 3702, dst=WSD_GROUP)(m) for m in (probe, bye)])
    assert not facts and not errors


def test_a_repeated_hello_is_read_once_and_garbage_is_counted() -> None:
    again = windows_hello()
    later = announcement(
        WINDOWS_UUID,
        "wsdp:Device pub:Computer",
        xaddrs=f"http://{A4}:5357/{WINDOWS_UUID}/",
        message_id="urn:uuid:0a1b2c3d-0000-4000-8000-000000000002",
    )
    facts, errors = collect([udp4(3702, 3702, dst=WSD_GROUP)(m) for m in (again, later, b"\x00not xml")])
    assert errors == {"malformed-wsd": 1}
    assert ("wsd", "types", "wsdp:Device pub:Computer") in about(facts, A4)


def test_the_report_of_a_capture_shows_the_evidence(tmp_path: Path) -> None:
    """A capture of the three announcements through `analyze`: the Windows machine, the
    printer and the camera are identified from WS-Discovery, and the report says so."""
    frames = [
        P.eth_ipv4_udp(MA, P.multicast_mac(WSD_GROUP), A4, WSD_GROUP, 3702, 3702, windows_hello()),
        P.eth_ipv4_udp("02:00:00:00:00:40", MA, "10.1.1.40", A4, 3702, 50000, printer_match()),
        P.eth_ipv4_udp("02:00:00:00:00:50", MA, "10.1.1.50", A4, 3702, 50001, camera_match()),
    ]
    path = tmp_path / "wsd.pcap"
    with PcapWriter(str(path)) as w:
        for i, f in enumerate(frames):
            w.write(1_700_000_000.0 + i, f)
    assets = {x["ip"]: a for a in analyze([str(path)], Config()).result["assets"] for x in a.get("ips", [])}

    def facts(ip: str) -> dict[str, object]:
        return {f"{e['source']}.{e['key']}": e["value"] for e in assets[ip]["evidence"]}

    def says(ip: str, part: str) -> dict[str, str]:
        return {e["source"]: e["says"] for e in assets[ip][part]["evidence"]}

    assert facts(A4)["wsd.types"] == "wsdp:Device pub:Computer"
    assert assets[A4]["os"]["family"] == "Windows" and says(A4, "os")["wsd.types"] == "Windows"
    assert assets[A4]["device"]["type"] == "computer"
    assert {"port": 5357, "proto": "tcp", "product": "ws-discovery metadata"} in assets[A4]["services"]
    assert assets["10.1.1.40"]["device"]["type"] == "printer"
    assert says("10.1.1.40", "device")["wsd.types"] == "printer"
    camera = assets["10.1.1.50"]["device"]
    assert (camera["type"], camera["model"]) == ("camera", "M3045-V")
    assert "wsd.model" in says("10.1.1.50", "device")
