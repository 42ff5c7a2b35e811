"""`nps-sensor analyze` on every shared capture, checked against tshark as the oracle.

Two checks per capture (parametrized by its path below the corpus, so a failure
names the file):

* robustness: with the default configuration the command ends normally (exit 0, or
  1 with a one-line reason for a damaged capture in `malformed/`), without a
  traceback, within a few seconds of CPU time, and prints a JSON result with
  `assets`, `flows` and `stats`;
* oracle: with every address internal and inventoried and duplicate suppression
  off, the assets and flows must agree with what tshark decodes:

  (a) every (source IP, source MAC) pair of the innermost IP header and the
      innermost Ethernet header before it is an asset with that MAC;
  (b) the packets, grouped by normalised 5-tuple, oriented by the sensor's role
      rule (see `nps_sensor.flows`) and summed per (client, server, server port,
      protocol), have the report's per-direction packet counts and IP bytes.

How the oracle reads tshark (run once per capture, with IP reassembly off):

* `frame.protocols` names the layers in order; every field occurrence belongs to
  the layer of the same name and rank, so the fields of one layer are found by
  counting. The innermost IP layer is the last `ip`/`ipv6` before the first
  `icmp`/`icmpv6`: tshark dissects the packet quoted by an ICMP error as further
  `ip`/`udp`/... layers, but the packet on the wire is the ICMP message.
* Tunnels are whatever tshark unwraps (GRE, ERSPAN, TEB, VXLAN, MPLS, IP in IP).
  When the frame a tunnel carries is not IP (STP, ARP, ...), the frame has no
  packet to account: the outer header is the mirror's transport, which is never
  accounted when the inner frame is IP either.
* A frame whose innermost IP header tshark cannot decode in full (a truncated or
  malformed capture) has no packet; listed in the failure message, if any.
* A later IP fragment takes the ports of its datagram's first fragment, matched by
  (source, destination, protocol, IP ID); without a first fragment it counts as a
  port-less flow of its protocol. Later fragments of an *outer* datagram whose first
  fragment carried a tunnel are part of the inner packet (whose IP length tshark
  shows on the first fragment) and count no further.
* A TCP/UDP/SCTP/DCCP packet cut before its ports has no flow (its sender is still
  an asset), as the sensor counts it under decode errors instead.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.report import PROTO_NAMES
from nps_sensor.services import REGISTERED_SERVICES

# --- what is compared ---------------------------------------------------------------

ORACLE_CONFIG = textwrap.dedent(
    """\
    # Every address is internal and inventoried (so every endpoint keeps its own
    # address in the flows and every sender is an asset with its MACs), and nothing
    # is dropped as a duplicate copy.
    internal:
      - name: all
        inventory: true
        ranges: ["0.0.0.0/0", "::/0"]
    duplicates:
      window_ms: 0
    # Watched domains make the engine parse every DNS response (malformed ones
    # included); internal ranges take precedence, so no label changes.
    monitor_external:
      - name: watched
        targets: ["*.com", "*.org", "*.net", "*.de", "*.local", "*.arpa"]
    """
)

# A run of the default configuration over one capture (at most 3 MB; typically
# well under a second of CPU time) that needs more CPU seconds than this fails.
CPU_LIMIT = int(os.environ.get("NPS_ANALYZE_CPU_LIMIT", "3"))

# Known sensor bugs, by capture (relative path) -> reason with the root cause. The
# tests of these captures are strict xfails: once the sensor is fixed they fail as
# XPASS, and the entry goes.
KNOWN_SENSOR_BUGS: dict[str, str] = {}

SensorRun = tuple[int, dict[str, Any] | None, str]  # as conftest.run_analyze returns it
Analyze = Callable[..., SensorRun]

# --- tshark ---------------------------------------------------------------------------

FIELDS = (
    "frame.number",
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
        return len(after) > 1 and after[1] in ("erspan", "eth", "mpls")
    return after[:2] == ["udp", "vxlan"]


def note_tunnel_fragment(layers: Layers, at: int, truth: Truth) -> None:
    """IPv4 layer `at` is the first fragment of a tunnel packet: its later fragments are inside."""
    src, dst = layers.get(at, "src"), layers.get(at, "dst")
    proto, ident = to_int(layers.get(at, "proto")), to_int(layers.get(at, "id"))
    if src and dst and proto is not None and ident is not None:
        truth.tunnel_first_fragments.add((ip_text(src), ip_text(dst), proto, ident))


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
    if names[at] == "ip" and carries_tunnel(names, at):
        # The mirrored frame inside is not IP (STP, ARP, ...): the outer header is
        # transport, as for the frames whose inner IP header is accounted instead.
        truth.skipped[frame] = f"{':'.join(names[at:])}: tunnel of a non-IP frame"
        if layers.get(at, "flags.mf") == "1" and to_int(layers.get(at, "frag_offset")) == 0:
            note_tunnel_fragment(layers, at, truth)
        return None
    src, dst = layers.get(at, "src"), layers.get(at, "dst")
    eth = layers.last_before(at, ("eth",))
    mac = layers.get(eth, "src") if eth is not None else None
    if names[at] == "ip":
        length, proto = to_int(layers.get(at, "len")), to_int(layers.get(at, "proto"))
    else:
        plen, proto = to_int(layers.get(at, "plen")), to_int(layers.get(at, "nxt"))
        length = None if plen is None else 40 + plen
    if src is None or dst is None or length is None or proto is None:
        truth.skipped[frame] = f"tshark decodes no complete {names[at]} header"
        return None
    p = Packet(frame, ip_text(src), ip_text(dst), mac, proto, length)
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
    first_ports: dict[tuple[str, str, int, int], tuple[int, int] | None] = {}
    for p in truth.packets:
        if p.frag == 1 and p.frag_key is not None:
            first_ports[p.frag_key] = None if p.sport is None or p.dport is None else (p.sport, p.dport)
    for p in truth.packets:
        if p.frag != 2 or p.frag_key is None:
            continue
        if p.frag_key in truth.tunnel_first_fragments:
            p.absorbed = True
        elif p.frag_key in first_ports:
            ports = first_ports[p.frag_key]
            if ports is not None:
                p.sport, p.dport = ports
    return truth


# --- flows as the sensor orients them --------------------------------------------------

WELL_KNOWN = frozenset(range(1024)) | frozenset(REGISTERED_SERVICES)
ICMP_REQUESTS = {1: {8, 13, 15, 17}, 58: {128}}
ICMP_REPLIES = {1: {0, 14, 16, 18}, 58: {129}}
SYN, ACK = 0x02, 0x10

FlowKey = tuple[str, str, int | None, str]  # client, server, server port, protocol name
Counts = tuple[int, int, int, int]  # client bytes, server bytes, client packets, server packets


def sender_is_client(p: Packet) -> bool:
    """The sensor's role rule (nps_sensor.flows), for the first packet of a flow."""
    if p.proto == 6 and p.tcpflags & SYN:
        return not p.tcpflags & ACK
    if p.icmptype is not None and p.proto in ICMP_REQUESTS:
        if p.icmptype in ICMP_REQUESTS[p.proto]:
            return True
        if p.icmptype in ICMP_REPLIES[p.proto]:
            return False
    if is_group_destination(p.dst):
        return True
    if p.sport is None or p.dport is None:
        return True
    wk_s, wk_d = p.sport in WELL_KNOWN, p.dport in WELL_KNOWN
    if wk_s != wk_d:
        return wk_d
    return p.dport <= p.sport


def is_group_destination(text: str) -> bool:
    a = ipaddress.ip_address(text)
    return a.is_multicast or text == "255.255.255.255"


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, f"ip-{proto}")


def oracle_flows(truth: Truth) -> dict[FlowKey, Counts]:
    """Bytes and packets per (client, server, server port, protocol), both directions."""
    flows: dict[tuple[Any, ...], list[Any]] = {}
    for p in truth.packets:
        if p.short or p.absorbed:
            continue
        a, b = (p.src, p.sport), (p.dst, p.dport)
        norm = (min(a, b, key=endpoint_order), max(a, b, key=endpoint_order), p.proto)
        f = flows.get(norm)
        if f is None:
            # [client endpoint, client bytes, server bytes, client packets, server packets]
            client = a if sender_is_client(p) else b
            f = flows[norm] = [client, 0, 0, 0, 0]
        if (p.src, p.sport) == f[0]:
            f[1] += p.length
            f[3] += 1
        else:
            f[2] += p.length
            f[4] += 1
    out: dict[FlowKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (a, b, proto), (client, cb, sb, cp, sp) in flows.items():
        server = b if client == a else a
        key = (client[0], server[0], server[1], proto_name(proto))
        acc = out[key]
        for i, v in enumerate((cb, sb, cp, sp)):
            acc[i] += v
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def endpoint_order(e: tuple[str, int | None]) -> tuple[int, int]:
    """The sensor's order of a flow's endpoints: address (IPv4 as IPv4-mapped IPv6), then port."""
    a = ipaddress.ip_address(e[0])
    value = int(a) | (0xFFFF << 32) if a.version == 4 else int(a)
    return (value, -1 if e[1] is None else e[1])


def sensor_flows(result: dict[str, Any]) -> dict[FlowKey, Counts]:
    out: dict[FlowKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in result["flows"]:
        acc = out[(r["client"], r["server"], r["port"], r["proto"])]
        acc[0] += r["client_bytes"]
        acc[1] += r["server_bytes"]
        acc[2] += r["client_packets"]
        acc[3] += r["server_packets"]
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


# --- running everything once, in parallel -------------------------------------------------


class SessionCache:
    """Results per capture, computed for all selected captures at once with a thread pool."""

    def __init__(self, compute: Callable[[str], Any], wanted: list[str]) -> None:
        self.compute = compute
        self.wanted = wanted
        self.done: dict[str, Any] = {}

    def get(self, capture: str) -> Any:
        if capture not in self.done:
            todo = [c for c in dict.fromkeys([capture, *self.wanted]) if c not in self.done]
            workers = max(2, (os.cpu_count() or 2) + 1)
            with ThreadPoolExecutor(workers) as pool:
                for c, value in zip(todo, pool.map(self._safe, todo), strict=True):
                    self.done[c] = value
        value = self.done[capture]
        if isinstance(value, BaseException):
            raise value
        return value

    def _safe(self, capture: str) -> Any:
        try:
            return self.compute(capture)
        except Exception as e:  # re-raised by the test of this capture
            return e


def selected(request: pytest.FixtureRequest, fixture: str) -> list[str]:
    """The captures of the collected tests that use `fixture` (after -k/deselection)."""
    out = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and fixture in getattr(item, "fixturenames", ()):
            capture = callspec.params.get("shared_capture")
            if isinstance(capture, str):
                out.append(capture)
    return out


@pytest.fixture(scope="session")
def default_runs(request: pytest.FixtureRequest, pcaps_dir: Path, analyze: Analyze) -> SessionCache:
    def compute(capture: str) -> SensorRun | str:
        run: SensorRun = analyze(pcaps_dir / capture, cpu_limit=CPU_LIMIT)
        if run[0] == -signal.SIGXCPU:
            return f"{capture}: `nps-sensor analyze` used more than {CPU_LIMIT} s of CPU time"
        return run

    return SessionCache(compute, selected(request, "default_runs"))


@pytest.fixture(scope="session")
def oracle_runs(
    request: pytest.FixtureRequest,
    pcaps_dir: Path,
    tshark: str,
    analyze: Analyze,
    tmp_path_factory: pytest.TempPathFactory,
) -> SessionCache:
    config = tmp_path_factory.mktemp("oracle") / "all-internal.yaml"
    config.write_text(ORACLE_CONFIG, encoding="utf-8")

    def compute(capture: str) -> tuple[SensorRun, list[dict[str, list[str]]], str]:
        run = analyze(pcaps_dir / capture, config=config)
        frames, err = tshark_fields(tshark, pcaps_dir / capture)
        return run, frames, err

    return SessionCache(compute, selected(request, "oracle_runs"))


# --- the tests ----------------------------------------------------------------------


def check_ran(capture: str, run: SensorRun) -> dict[str, Any]:
    code, result, stderr = run
    assert "Traceback" not in stderr, f"{capture}: the sensor crashed:\n{stderr}"
    assert "Warning:" not in stderr, f"{capture}: the sensor printed a Python warning:\n{stderr}"
    lines = stderr.splitlines()
    if capture.startswith("malformed/"):
        assert code in (0, 1), f"{capture}: exit {code}: {stderr}"
    else:
        assert code == 0, f"{capture}: exit {code} for an intact capture: {stderr}"
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("nps-sensor: "), f"{capture}: reason not one line: {stderr!r}"
    assert result is not None, f"{capture}: the output is not a JSON object"
    missing = {"assets", "flows", "stats"} - result.keys()
    assert not missing, f"{capture}: the result lacks {sorted(missing)}"
    assert isinstance(result["assets"], list) and isinstance(result["flows"], list)
    assert isinstance(result["stats"], dict)
    return dict(result)


def test_analyze_survives_capture(shared_capture: str, pcaps_dir: Path, default_runs: SessionCache) -> None:
    capture = shared_capture
    run = default_runs.get(capture)
    if isinstance(run, str):
        pytest.fail(run, pytrace=False)
    check_ran(capture, run)


def test_analyze_agrees_with_tshark(
    shared_capture: str, pcaps_dir: Path, oracle_runs: SessionCache, request: pytest.FixtureRequest
) -> None:
    capture = shared_capture
    if capture in KNOWN_SENSOR_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_SENSOR_BUGS[capture]))
    run, frames, tshark_err = oracle_runs.get(capture)
    result = check_ran(capture, run)
    truth = compute_truth(frames)
    problems: list[str] = []

    # (a) every sender with its MAC is an asset (a device keeps its addresses in `ips`)
    assets = {x["ip"]: a for a in result["assets"] for x in a.get("ips") or [{"ip": a["ip"]}] if x["ip"] is not None}
    for (ip, mac), seen in sorted(truth.hosts.items(), key=lambda kv: kv[1][0]):
        asset = assets.get(ip)
        where = f"frames {', '.join(map(str, seen[:5]))}{'...' if len(seen) > 5 else ''}"
        if asset is None:
            problems.append(f"asset {ip} missing ({where})")
        elif mac is not None and mac not in asset.get("macs", []):
            problems.append(f"asset {ip} lacks MAC {mac} (has {asset.get('macs')}; {where})")

    # (b) flows, per direction
    expected, got = oracle_flows(truth), sensor_flows(result)
    for key in sorted(expected.keys() | got.keys(), key=repr):
        e, g = expected.get(key), got.get(key)
        if e != g:
            problems.append(f"flow {key}: tshark (cb, sb, cp, sp)={e}, sensor={g}")

    if problems:
        shown = "\n  ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        notes = f"\ntshark: {tshark_err.strip()}" if tshark_err.strip() else ""
        skipped = f"\nframes without a usable IP header: {truth.skipped}" if truth.skipped else ""
        pytest.fail(f"{capture}: {len(problems)} disagreements\n  {shown}{more}{notes}{skipped}", pytrace=False)
