"""CDP (Cisco Discovery Protocol): what a Cisco device (or a phone, or an ESXi host)
announces about itself on every link.

Like LLDP, CDP travels without an IP header: facts are about the sender's MAC, and
the management addresses the frame lists get the device ID and platform too. The
device ID is the hostname (a switch's configured name, a phone's `SEP<MAC>`).
A TLV shorter than its header or running past the frame ends the walk, keeping
the TLVs before it; a malformed address list skips that TLV only.
"""

from __future__ import annotations

from nps_sensor.discovery.dissectors.addresses import ip_key, ip_text, usable
from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol, one

SNAP = 0xAAAA0300000C2000  # LLC SNAP, Cisco OUI, protocol 0x2000

DEVICE_ID, ADDRESSES, PORT_ID, CAPS, SOFTWARE, PLATFORM = 1, 2, 3, 4, 5, 6
VTP_DOMAIN, NATIVE_VLAN, SYS_NAME, MGMT_ADDRESSES = 9, 10, 20, 22
CAPABILITIES = (
    (0x001, "router"),
    (0x002, "bridge"),
    (0x004, "source-route-bridge"),
    (0x008, "switch"),
    (0x010, "host"),
    (0x020, "igmp"),
    (0x040, "repeater"),
    (0x080, "phone"),
    (0x100, "remotely-managed"),
    (0x200, "cvta"),
    (0x400, "mac-relay"),
)
NLPID_IP = b"\xcc"
SNAP_IPV6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"


def addresses(value: bytes) -> list[int]:
    """The IPv4 and IPv6 addresses of an address list (other protocols skipped)."""
    if len(value) < 4:
        return []
    out = []
    at = 4
    for _ in range(int.from_bytes(value[0:4], "big")):
        if at + 2 > len(value):
            break
        plen = value[at + 1]
        proto = value[at + 2 : at + 2 + plen]
        at += 2 + plen
        if at + 2 > len(value):
            break
        alen = int.from_bytes(value[at : at + 2], "big")
        raw = value[at + 2 : at + 2 + alen]
        at += 2 + alen
        if len(raw) != alen:
            break
        if (proto == NLPID_IP and alen == 4) or (proto == SNAP_IPV6 and alen == 16):
            key = ip_key(raw)
            if usable(key):
                out.append(key)
    return out


def dissect(p: Packet) -> None:
    b = p.payload
    if len(b) < 4 or b[0] not in (1, 2):
        raise Malformed("not a CDP version 1 or 2 header")
    at, n = 4, len(b)
    name = platform = ""
    managed: list[int] = []
    try:
        while at + 4 <= n:
            kind = int.from_bytes(b[at : at + 2], "big")
            size = int.from_bytes(b[at + 2 : at + 4], "big")
            if size < 4:
                raise Malformed("CDP TLV shorter than its header")
            value = b[at + 4 : at + size]
            if len(value) != size - 4:
                raise Malformed("CDP TLV runs past the frame")
            at += size
            if kind == DEVICE_ID:
                name = text(value)
                if name:
                    p.fact("cdp", "hostname", name)
            elif kind == PLATFORM:
                platform = text(value)
                if platform:
                    p.fact("cdp", "platform", platform)
            elif kind == SOFTWARE:
                lines = (text(line) for line in value.splitlines())
                version = " ".join(line for line in lines if line)[:512]
                if version:
                    p.fact("cdp", "software_version", version)
            elif kind == PORT_ID:
                port = text(value)
                if port:
                    p.fact("cdp", "port_id", port)
            elif kind == CAPS and size >= 8:
                bits = int.from_bytes(value[0:4], "big")
                caps = ",".join(label for bit, label in CAPABILITIES if bits & bit)
                if caps:
                    p.fact("cdp", "capabilities", caps)
            elif kind in (ADDRESSES, MGMT_ADDRESSES):
                for key in addresses(value):
                    p.fact("cdp", "management_address", ip_text(key))
                    if key not in managed:
                        managed.append(key)
            elif kind == VTP_DOMAIN:
                domain = text(value)
                if domain:
                    p.fact("cdp", "vtp_domain", domain)
            elif kind == NATIVE_VLAN and size >= 6:
                p.fact("cdp", "native_vlan", str(int.from_bytes(value[0:2], "big")))
            elif kind == SYS_NAME:
                sys_name = text(value)
                if sys_name and sys_name != name:
                    p.fact("cdp", "hostname", sys_name)
    finally:  # a damaged TLV after them keeps what was found
        for key in managed:
            if name:
                p.fact("cdp", "hostname", name, ip=key, mac=p.smac)
            if platform:
                p.fact("cdp", "platform", platform, ip=key, mac=p.smac)


PROTOCOL = Protocol(
    "cdp",
    dissect,
    snap=SNAP,
    repeat=lambda data, l4, body: data[body + 4 :],  # all but version, TTL and checksum
    facts=(
        Fact("cdp", "hostname", ("link", "named"), '"core-sw1.example.org" or "SEP001122334455"'),
        Fact("cdp", "platform", ("link", "named"), '"cisco WS-C2960-24TT-L"', reads=one(rules.description)),
        Fact("cdp", "software_version", ("link",), '"Cisco IOS Software, ..."', reads=one(rules.description)),
        Fact("cdp", "port_id", ("link",), '"GigabitEthernet0/1"'),
        Fact("cdp", "capabilities", ("link",), '"router,switch,igmp"', reads=readers.capabilities_enabled),
        Fact("cdp", "management_address", ("link",), '"10.0.0.2"'),
        Fact("cdp", "vtp_domain", ("link",)),
        Fact("cdp", "native_vlan", ("link",), '"1"'),
    ),
)
