"""Devices on a home or office LAN, each sending what such a device sends when it joins.

A `Device` is how a device behaves on the wire, never what it is: its MAC, the DHCP
options it asks with (hostname, parameter request list, vendor class), its SSDP
NOTIFYs, its mDNS services and TXT records, an HTTP request or response, a TCP SYN
of its stack, LLDP, EtherNet/IP or Modbus identification. What each device is (its
brand, type, model and OS) is written apart, in the discovery benchmark's labels
(benchmarks/discovery/truth.tsv), so that the wire and the answer are two things.

`write_lan` writes every device of a list to one capture, each with its own address
(192.168.77.20 and up), behind one router that answers its DHCP requests.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter

ROUTER_MAC = "02:00:5e:77:00:01"
ROUTER_IP = "192.168.77.1"
OUTSIDE_IP = "198.51.100.80"  # a web server on the Internet (TEST-NET-2)
SSDP_GROUP, MDNS_GROUP = "239.255.255.250", "224.0.0.251"
START = 1_700_000_000.0


@dataclass(frozen=True)
class Notify:
    """An SSDP NOTIFY: SERVER, NT and the USN's device UUID."""

    server: str
    nt: str
    uuid: str
    location_port: int = 49152


@dataclass(frozen=True)
class Service:
    """An mDNS service announcement: type (`_ipp._tcp`), instance name, port, TXT."""

    kind: str
    instance: str
    port: int = 80
    txt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Device:
    """What one device sends. Stacks for `syn`: linux, windows, apple, lwip."""

    mac: str
    hostname: str | None = None
    prl: tuple[int, ...] = ()
    vendor_class: str | None = None
    ssdp: tuple[Notify, ...] = ()
    mdns: tuple[Service, ...] = ()
    user_agent: str | None = None
    http_host: str = "example.net"
    http_server: str | None = None  # its web server's Server header
    syn: str | None = None
    lldp: tuple[str, str, str] | None = None  # system name, description, capabilities ("bridge,router")
    enip: tuple[int, int, int, str] | None = None  # vendor id, device type, product code, product name
    modbus: tuple[str, str, str] | None = None  # vendor, product code, revision
    dhcp_server: bool = False  # in setup mode: it runs its own access point and DHCP server
    listens: tuple[int, ...] = ()  # TCP ports it answers a SYN on


# --- frames -------------------------------------------------------------------------


def _dhcp(d: Device, ip: str, xid: int) -> Iterator[bytes]:
    params = d.prl or None
    for kind in (P.DHCP_DISCOVER, P.DHCP_REQUEST):
        msg = P.dhcp(
            kind,
            xid,
            d.mac,
            requested_ip=ip if kind == P.DHCP_REQUEST else None,
            server_id=ROUTER_IP if kind == P.DHCP_REQUEST else None,
            hostname=d.hostname,
            vendor_class=d.vendor_class,
            params=params,
        )
        yield P.eth_ipv4_udp(d.mac, P.BROADCAST, "0.0.0.0", "255.255.255.255", 68, 67, msg)
    ack = P.dhcp(P.DHCP_ACK, xid, d.mac, yiaddr=ip, server_id=ROUTER_IP, lease_time=86400, subnet_mask="255.255.255.0")
    yield P.eth_ipv4_udp(ROUTER_MAC, d.mac, ROUTER_IP, ip, 67, 68, ack)


def _setup_mode_server(d: Device) -> Iterator[bytes]:
    """Its own access point's DHCP server (192.168.0.1), leasing to the phone that sets it up."""
    phone = "0a:11:22:33:44:55"
    offer = P.dhcp(P.DHCP_OFFER, 0x5E7, phone, yiaddr="192.168.0.100", server_id="192.168.0.1", lease_time=3600)
    yield P.eth_ipv4_udp(d.mac, phone, "192.168.0.1", "192.168.0.100", 67, 68, offer)
    ack = P.dhcp(P.DHCP_ACK, 0x5E7, phone, yiaddr="192.168.0.100", server_id="192.168.0.1", lease_time=3600)
    yield P.eth_ipv4_udp(d.mac, phone, "192.168.0.1", "192.168.0.100", 67, 68, ack)


def _notify(d: Device, ip: str, n: Notify) -> bytes:
    msg = (
        f"NOTIFY * HTTP/1.1\r\nHOST: {SSDP_GROUP}:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
        f"LOCATION: http://{ip}:{n.location_port}/description.xml\r\nNT: {n.nt}\r\nNTS: ssdp:alive\r\n"
        f"SERVER: {n.server}\r\nUSN: uuid:{n.uuid}::{n.nt}\r\n\r\n"
    ).encode()
    return P.eth_ipv4_udp(d.mac, P.multicast_mac(SSDP_GROUP), ip, SSDP_GROUP, 1900, 1900, msg)


def _mdns(d: Device, ip: str, s: Service) -> bytes:
    # A device without a DHCP hostname still has an mDNS name of its own (mDNS keeps
    # names unique on a link): its MAC's last three bytes.
    host = (d.hostname or "device-" + d.mac.replace(":", "")[-6:]).replace(" ", "-").replace("(", "").replace(")", "")
    msg = P.mdns_announcement(host, ip, service=s.kind, instance=s.instance, port=s.port, txt=s.txt or ("txtvers=1",))
    return P.eth_ipv4_udp(d.mac, P.multicast_mac(MDNS_GROUP), ip, MDNS_GROUP, 5353, 5353, msg)


SYN_STACKS = {
    # window, TTL, options: each as the stack's SYN carries them (p0f.fp's entries for them)
    "linux": (64240, 64, P.tcp_options(mss=1460, sack_permitted=True, timestamps=(7_000_000, 0), wscale=7)),
    "windows": (64240, 128, struct.pack("!BBHBBBBBBBB", 2, 4, 1460, 1, 3, 3, 8, 1, 1, 4, 2)),
    "apple": (
        65535,
        64,
        struct.pack("!BBHBBBBBBBBIIBBBB", 2, 4, 1460, 1, 3, 3, 6, 1, 1, 8, 10, 8_000_000, 0, 4, 2, 0, 0),
    ),
    "lwip": (5840, 255, struct.pack("!BBH", 2, 4, 1460)),
}


def _tcp(src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int, **kw: object) -> bytes:
    ttl = int(kw.pop("ttl", 64))  # type: ignore[call-overload]
    seg = P.tcp(src, dst, sport, dport, **kw)  # type: ignore[arg-type]
    return P.ethernet(dst_mac, src_mac, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg, ttl=ttl))


def _syn(d: Device, ip: str) -> bytes:
    assert d.syn is not None
    window, ttl, options = SYN_STACKS[d.syn]
    return _tcp(
        d.mac, ROUTER_MAC, ip, OUTSIDE_IP, 50123, 443, flags="S", seq=1, window=window, options=options, ttl=ttl
    )


def _http_request(d: Device, ip: str) -> bytes:
    assert d.user_agent is not None
    head = f"GET / HTTP/1.1\r\nHost: {d.http_host}\r\nUser-Agent: {d.user_agent}\r\nAccept: */*\r\n\r\n"
    return _tcp(d.mac, ROUTER_MAC, ip, OUTSIDE_IP, 50124, 80, payload=head.encode(), flags="PA", seq=2, ack=1)


def _http_response(d: Device, ip: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nServer: {d.http_server}\r\nContent-Length: 0\r\n\r\n"
    return _tcp(d.mac, ROUTER_MAC, ip, ROUTER_IP, 80, 50125, payload=head.encode(), flags="PA", seq=3, ack=1)


def _synack(d: Device, ip: str, port: int) -> bytes:
    window, ttl, _ = SYN_STACKS[d.syn or "linux"]
    return _tcp(d.mac, ROUTER_MAC, ip, ROUTER_IP, port, 50126, flags="SA", seq=9, ack=1, window=window, ttl=ttl)


def _lldp(d: Device) -> bytes:
    assert d.lldp is not None
    name, description, caps = d.lldp
    bits = {"other": 1, "repeater": 2, "bridge": 4, "wlan-ap": 8, "router": 16, "telephone": 32, "station": 128}
    mask = sum(bits[c] for c in caps.split(",") if c)

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack(">H", kind << 9 | len(value)) + value

    body = (
        tlv(1, b"\x04" + P.mac(d.mac))
        + tlv(2, b"\x05" + b"Ethernet1")
        + tlv(3, b"\x00\x78")
        + tlv(5, name.encode())
        + tlv(6, description.encode())
        + tlv(7, struct.pack(">HH", mask, mask))
        + tlv(0, b"")
    )
    return P.ethernet("01:80:c2:00:00:0e", d.mac, 0x88CC, body)


def _enip(d: Device, ip: str) -> bytes:
    assert d.enip is not None
    vendor, kind, product, name = d.enip
    socket = struct.pack(">HH", 2, 44818) + P.ip(ip) + bytes(8)
    raw = name.encode()
    item = struct.pack("<H", 1) + socket + struct.pack("<HHHBBHI", vendor, kind, product, 20, 11, 0x3060, 0x00C0FFEE)
    item += bytes([len(raw)]) + raw + b"\x03"
    data = struct.pack("<HHH", 1, 0x0C, len(item)) + item
    reply = struct.pack("<HHII", 0x63, len(data), 0, 0) + bytes(8) + struct.pack("<I", 0) + data
    return P.eth_ipv4_udp(d.mac, ROUTER_MAC, ip, ROUTER_IP, 44818, 50127, reply)


def _modbus(d: Device, ip: str) -> bytes:
    assert d.modbus is not None
    objects = b"".join(bytes([oid, len(v)]) + v.encode() for oid, v in enumerate(d.modbus))
    pdu = b"\x2b\x0e\x01\x01\x00\x00" + bytes([len(d.modbus)]) + objects
    adu = struct.pack(">HHHB", 1, 0, len(pdu) + 1, 1) + pdu
    return _tcp(d.mac, ROUTER_MAC, ip, ROUTER_IP, 502, 50128, payload=adu, flags="PA", seq=5, ack=1)


def frames(d: Device, ip: str, xid: int) -> Iterator[bytes]:
    """Everything `d` sends when it joins the LAN at `ip`, in the order it sends it."""
    if d.dhcp_server:
        yield from _setup_mode_server(d)
    if d.hostname is not None or d.prl or d.vendor_class:
        yield from _dhcp(d, ip, xid)
    else:  # a static address: ARP tells its MAC
        arp = P.arp(1, d.mac, ip, "00:00:00:00:00:00", ROUTER_IP)
        yield P.ethernet(P.BROADCAST, d.mac, P.ETH_ARP, arp)
    if d.lldp:
        yield _lldp(d)
    for n in d.ssdp:
        yield _notify(d, ip, n)
    for s in d.mdns:
        yield _mdns(d, ip, s)
    if d.syn:
        yield _syn(d, ip)
    if d.user_agent:
        yield _http_request(d, ip)
    if d.http_server:
        yield _http_response(d, ip)
    for port in d.listens:
        yield _synack(d, ip, port)
    if d.enip:
        yield _enip(d, ip)
    if d.modbus:
        yield _modbus(d, ip)


def address(index: int) -> str:
    return f"192.168.77.{20 + index}"


def write_lan(path: str, devices: list[Device]) -> int:
    """All `devices` joining one LAN, one after another; returns the number of frames."""
    n = 0
    with PcapWriter(path) as w:
        for i, d in enumerate(devices):
            for frame in frames(d, address(i), 0x1000 + i):
                w.write(START + n * 0.01, frame)
                n += 1
    return n
