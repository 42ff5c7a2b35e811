"""tshark as the oracle of the sensor's engine: what a capture holds, packet by packet.

The shared captures' test (tests/sensor/test_pcaps_oracle.py) and the generated
cases (tests/sensor/test_engine_cases.py) compare `nps-sensor analyze` with this
(the comparison is tests.support.flow_oracle's):

  (a) every (source IP, source MAC) pair of the innermost IP header and the
      innermost Ethernet header before it is an asset with that MAC (none when an
      IP header lies between them: a tunnel end's MAC is not the inner host's);
  (b) the packets, grouped by normalised 5-tuple, oriented by the rules of
      nps_sensor.roles (restated from tshark's dissection, not from the sensor's
      code) and summed per (client, server, server port, protocol), have the
      report's per-direction packet counts and IP bytes.

How it reads tshark (run once per capture, with IP reassembly off):

* `frame.protocols` names the layers in order; every field occurrence belongs to
  the layer of the same name and rank, so the fields of one layer are found by
  counting. The innermost IP layer is the last `ip`/`ipv6` before the first
  `icmp`/`icmpv6`: tshark dissects the packet quoted by an ICMP error as further
  `ip`/`udp`/... layers, but the packet on the wire is the ICMP message.
* Tunnels are whatever tshark unwraps (GRE, ERSPAN, TEB, VXLAN, VXLAN-GPE, Geneve,
  MPLS, IP in IP). When the frame a tunnel carries is not IP (STP, ARP, ...), the
  frame has no packet to account: the outer header is the mirror's transport, which
  is never accounted when the inner frame is IP either.
* A frame whose innermost IP header tshark cannot decode in full (a truncated or
  malformed capture) has no packet; listed in the failure message, if any.
* A later IP fragment takes the ports of its datagram's first fragment, matched by
  (source, destination, protocol, IP ID); without a first fragment it counts as a
  port-less flow of its protocol. Later fragments of an *outer* datagram whose first
  fragment carried a tunnel are part of the inner packet (whose IP length tshark
  shows on the first fragment) and count no further.
* A TCP/UDP/SCTP/DCCP packet cut before its ports has no flow (its sender is still
  an asset), as the sensor counts it under decode errors instead.

How flows are oriented and compared is in tests.support.flow_oracle.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "frame.protocols",
    "eth.src",
    "ip.src",
    "ip.dst",
    "ip.len",
    "ip.proto",
    "ip.id",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.plen",
    "ipv6.nxt",
    "ipv6.hopopts.nxt",
    "ipv6.routing.nxt",
    "ipv6.dstopts.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset",
    "ipv6.fraghdr.more",
    "ipv6.fraghdr.ident",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "udp.srcport",
    "udp.dstport",
    "sctp.srcport",
    "sctp.dstport",
    "dccp.srcport",
    "dccp.dstport",
    "icmp.type",
    "icmpv6.type",
    # Which side speaks, for the protocols that use one port on both sides.
    "dns.flags.response",
    "nbns.flags.response",
    "dhcp.type",
    "dhcpv6.msgtype",
    "ntp.flags.mode",
    "ntp.ctrl.flags2.r",
    "ntp.priv.flags.r",
    "sip.Status-Line",
    "sip.Request-Line",
)
AGGREGATOR = "|"

# The layer (frame.protocols name) whose fields are named `<prefix>.*`.
FIELD_LAYERS = {
    "eth": ("eth",),
    "ip": ("ip",),
    "ipv6": ("ipv6",),
    "ipv6.hopopts": ("ipv6.hopopts",),
    "ipv6.routing": ("ipv6.routing",),
    "ipv6.dstopts": ("ipv6.dstopts",),
    "ipv6.fraghdr": ("ipv6.fraghdr",),
    "tcp": ("tcp",),
    "udp": ("udp", "udplite"),  # UDP-Lite shares the udp.* fields
    "sctp": ("sctp",),
    "dccp": ("dccp",),
    "icmp": ("icmp",),
    "icmpv6": ("icmpv6",),
}
IPV6_EXTENSIONS = ("ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "ipv6.fraghdr")
TRANSPORTS = {"tcp": "tcp", "udp": "udp", "udplite": "udp", "sctp": "sctp", "dccp": "dccp"}
PORTED = {6, 17, 33, 132, 136}
# Layers that carry a mirrored Ethernet frame (or MPLS), after GRE or UDP.
GRE_TUNNELS = ("erspan", "eth", "mpls")
UDP_TUNNELS = ("vxlan", "vxlan_gpe", "vxlan-gpe", "geneve")


def tshark_fields(tshark: str, capture: Path) -> tuple[list[dict[str, list[str]]], str]:
    """One dict per frame: field -> every occurrence in layer order; and tshark's stderr."""
    cmd = [tshark, "-n", "-r", str(capture)]
    cmd += ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE"]
    cmd += ["-T", "fields", "-E", "header=n", "-E", "separator=/t", "-E", "occurrence=a"]
    cmd += ["-E", f"aggregator={AGGREGATOR}"]
    for f in FIELDS:
        cmd += ["-e", f]
    # tshark exits non-zero on a damaged capture after printing the frames before it.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    frames = []
    for line in proc.stdout.splitlines():
        values = line.split("\t")
        if len(values) != len(FIELDS):
            raise AssertionError(f"tshark printed {len(values)} fields instead of {len(FIELDS)}: {line!r}")
        frames.append({f: v.split(AGGREGATOR) if v else [] for f, v in zip(FIELDS, values, strict=True)})
    return frames, proc.stderr


# --- the truth, packet by packet ---------------------------------------------------------


@dataclass
class Packet:
    """The innermost IP header of one frame, as the flow accounting sees it."""

    frame: int
    ts: float
    src: str
    dst: str
    mac: str | None
    proto: int
    length: int  # IP-layer bytes
    sport: int | None = None
    dport: int | None = None
    tcpflags: int = 0
    icmptype: int | None = None
    frag: int = 0  # 0 whole, 1 first fragment, 2 later fragment
    frag_key: tuple[str, str, int, int] | None = None
    short: bool = False  # a port protocol cut before its ports
    absorbed: bool = False  # a later fragment of an outer (tunnel) datagram
    says_client: bool | None = None  # what the application layer says of the sender


@dataclass
class Truth:
    packets: list[Packet] = field(default_factory=list)
    hosts: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)  # (ip, mac) -> frames
    skipped: dict[int, str] = field(default_factory=dict)  # frame -> why it has no usable IP header
    tunnel_first_fragments: set[tuple[str, str, int, int]] = field(default_factory=set)


def ip_text(text: str) -> str:
    return str(ipaddress.ip_address(text))


def is_group_or_unspecified(text: str) -> bool:
    a = ipaddress.ip_address(text)
    if a.version == 4:
        return a.is_multicast or a.is_unspecified or text == "255.255.255.255"
    return a.is_multicast or a.is_unspecified


class Layers:
    """A frame's layers (from frame.protocols) and the field occurrences of each."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        protocols = fields["frame.protocols"]
        self.names = protocols[0].split(":") if protocols else []

    def rank(self, index: int) -> int:
        """How many earlier layers share the field prefix of layer `index`."""
        prefix = self.prefix(self.names[index])
        kinds = FIELD_LAYERS.get(prefix, (self.names[index],))
        return sum(1 for n in self.names[:index] if n in kinds)

    @staticmethod
    def prefix(name: str) -> str:
        for prefix, kinds in FIELD_LAYERS.items():
            if name in kinds:
                return prefix
        return name

    def get(self, index: int, name: str) -> str | None:
        """Field `<layer prefix>.<name>` of layer `index`, None where tshark has none.

        A layer cut short lacks its last fields; as tshark stops dissecting there,
        only the innermost layers of a frame can miss any, and counting stays right.
        """
        prefix = self.prefix(self.names[index])
        values = self.fields.get(f"{prefix}.{name}", [])
        layers = sum(1 for n in self.names if n in FIELD_LAYERS.get(prefix, (prefix,)))
        if len(values) > layers:
            raise AssertionError(f"{len(values)} values of {prefix}.{name} for {layers} layers: {self.names}")
        k = self.rank(index)
        return values[k] if k < len(values) else None

    def first(self, name: str) -> str | None:
        """The first occurrence of field `name` (for an application layer, of which a frame has one)."""
        values = self.fields.get(name, [])
        return values[0] if values else None

    def last_before(self, index: int, kinds: Iterable[str]) -> int | None:
        kinds = set(kinds)
        for i in range(index - 1, -1, -1):
            if self.names[i] in kinds:
                return i
        return None


def to_int(text: str | None) -> int | None:
    return None if text is None or text == "" else int(text, 0)


def carries_tunnel(names: list[str], at: int) -> bool:
    """Whether IP layer `at` carries a tunnel of Ethernet (or MPLS) frames."""
    after = names[at + 1 : at + 4]
    if after[:1] == ["gre"]:
        return len(after) > 1 and after[1] in GRE_TUNNELS
    return after[:1] == ["udp"] and len(after) > 1 and after[1] in UDP_TUNNELS


def note_tunnel_fragment(layers: Layers, at: int, truth: Truth) -> None:
    """IPv4 layer `at` is the first fragment of a tunnel packet: its later fragments are inside."""
    src, dst = layers.get(at, "src"), layers.get(at, "dst")
    proto, ident = to_int(layers.get(at, "proto")), to_int(layers.get(at, "id"))
    if src and dst and proto is not None and ident is not None:
        truth.tunnel_first_fragments.add((ip_text(src), ip_text(dst), proto, ident))


def says_client(layers: Layers, app: str | None, port: int) -> bool | None:
    """What the application layer says of a UDP packet's sender between two equal ports
    (True: a client's message, False: a server's), from tshark's own dissection."""
    if app in ("dns", "mdns", "nbns") and port in (53, 137, 5353):
        response = layers.first("nbns.flags.response" if app == "nbns" else "dns.flags.response")
        return None if response is None else response in ("0", "False")
    if app == "dhcp" and port == 67:
        return {"1": True, "2": False}.get(layers.first("dhcp.type") or "")
    if app == "dhcpv6" and port == 547:
        kind = to_int(layers.first("dhcpv6.msgtype"))
        return True if kind in (1, 3, 4, 5, 6, 8, 9, 11, 12) else False if kind in (2, 7, 10, 13) else None
    if app == "ntp" and port == 123:
        mode = to_int(layers.first("ntp.flags.mode"))
        if mode == 6:
            return to_int(layers.first("ntp.ctrl.flags2.r")) == 0
        if mode == 7:
            return to_int(layers.first("ntp.priv.flags.r")) == 0
        return {1: True, 2: False, 3: True, 4: False, 5: False}.get(mode or 0)
    if app == "sip" and port == 5060:
        if layers.first("sip.Status-Line") is not None:
            return False
        return True if layers.first("sip.Request-Line") is not None else None
    return None


def frame_packet(fields: dict[str, list[str]], truth: Truth) -> Packet | None:
    """The innermost IP packet of a frame (not one quoted by ICMP), or None."""
    layers = Layers(fields)
    names = layers.names
    frame = int(fields["frame.number"][0])
    cut = next((i for i, n in enumerate(names) if n in ("icmp", "icmpv6")), len(names))
    at = layers.last_before(cut, ("ip", "ipv6"))
    if at is None:
        return None
    # Outer IPv4 first fragments that carry a tunnel: their later fragments are part
    # of the inner packet.
    for i, n in enumerate(names[:at]):
        if n == "ip" and layers.get(i, "flags.mf") == "1" and to_int(layers.get(i, "frag_offset")) == 0:
            note_tunnel_fragment(layers, i, truth)
    if carries_tunnel(names, at):
        # The mirrored frame inside is not IP (STP, ARP, ...): the outer header is
        # transport, as for the frames whose inner IP header is accounted instead.
        truth.skipped[frame] = f"{':'.join(names[at:])}: tunnel of a non-IP frame"
        if names[at] == "ip" and layers.get(at, "flags.mf") == "1" and to_int(layers.get(at, "frag_offset")) == 0:
            note_tunnel_fragment(layers, at, truth)
        return None
    src, dst = layers.get(at, "src"), layers.get(at, "dst")
    eth = layers.last_before(at, ("eth",))
    # Behind an IP tunnel with no Ethernet inside (GRE, IP in IP), the frame's MAC is the
    # tunnel end's: the inner packet has none.
    outer = layers.last_before(at, ("ip", "ipv6"))
    mac = layers.get(eth, "src") if eth is not None and (outer is None or outer < eth) else None
    if names[at] == "ip":
        length, proto = to_int(layers.get(at, "len")), to_int(layers.get(at, "proto"))
    else:
        plen, proto = to_int(layers.get(at, "plen")), to_int(layers.get(at, "nxt"))
        length = None if plen is None else 40 + plen
    if src is None or dst is None or length is None or proto is None:
        truth.skipped[frame] = f"tshark decodes no complete {names[at]} header"
        return None
    p = Packet(frame, float(fields["frame.time_epoch"][0]), ip_text(src), ip_text(dst), mac, proto, length)
    nxt = at + 1
    if names[at] == "ip":
        offset, more = to_int(layers.get(at, "frag_offset")) or 0, layers.get(at, "flags.mf") == "1"
        ident = to_int(layers.get(at, "id"))
        if offset or more:
            p.frag = 2 if offset else 1
            p.frag_key = (p.src, p.dst, proto, ident or 0)
    else:
        while nxt < len(names) and names[nxt] in IPV6_EXTENSIONS:
            following = to_int(layers.get(nxt, "nxt"))
            if following is None:
                truth.skipped[frame] = f"tshark decodes no complete {names[nxt]} header"
                return None
            p.proto = following
            if names[nxt] == "ipv6.fraghdr":
                offset = to_int(layers.get(nxt, "offset")) or 0
                more = layers.get(nxt, "more") == "1"
                if offset or more:
                    p.frag = 2 if offset else 1
                    p.frag_key = (p.src, p.dst, p.proto, to_int(layers.get(nxt, "ident")) or 0)
            nxt += 1
    if p.frag == 2:
        return p  # no transport header: ports come from the first fragment
    transport = names[nxt] if nxt < len(names) else None
    if transport in TRANSPORTS and p.proto in PORTED:
        p.sport, p.dport = to_int(layers.get(nxt, "srcport")), to_int(layers.get(nxt, "dstport"))
        if transport == "tcp":
            p.tcpflags = to_int(layers.get(nxt, "flags")) or 0
        if transport == "udp" and p.sport is not None and p.sport == p.dport:
            p.says_client = says_client(layers, names[nxt + 1] if nxt + 1 < len(names) else None, p.sport)
    if p.proto in PORTED and (p.sport is None or p.dport is None):
        p.sport = p.dport = None
        p.short = True
    if transport in ("icmp", "icmpv6") and p.proto in (1, 58):
        p.icmptype = to_int(layers.get(nxt, "type"))
    return p


def compute_truth(frames: list[dict[str, list[str]]]) -> Truth:
    truth = Truth()
    for fields in frames:
        p = frame_packet(fields, truth)
        if p is None:
            continue
        truth.packets.append(p)
        if not is_group_or_unspecified(p.src):
            truth.hosts.setdefault((p.src, p.mac), []).append(p.frame)
    firsts: dict[tuple[str, str, int, int], Packet] = {}
    for p in truth.packets:
        if p.frag == 1 and p.frag_key is not None:
            firsts[p.frag_key] = p
    for p in truth.packets:
        if p.frag != 2 or p.frag_key is None:
            continue
        if p.frag_key in truth.tunnel_first_fragments:
            p.absorbed = True
        elif p.frag_key in firsts:
            first = firsts[p.frag_key]
            if first.sport is not None and first.dport is not None:
                p.sport, p.dport = first.sport, first.dport
            if first.frame > p.frame:
                # The sensor holds a fragment that comes before its datagram's first
                # one until that one is counted: the flow sees the first one first.
                p.tcpflags, p.icmptype, p.says_client = first.tcpflags, first.icmptype, first.says_client
    return truth
