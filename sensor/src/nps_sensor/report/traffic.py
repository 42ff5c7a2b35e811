"""Traffic aggregation: a harvest's hosts and flows into asset counters and traffic records.

The contract: `add_hosts` and `add_traffic` add into the caller's `assets` (address ->
`Asset`) and `pending` (record key -> `Record`), and nothing else; `label` names an
address as its record shows it (its own text, or `External` for every external
server: `Classifier.label`). Python-level work is per distinct address and per distinct
record, never per flow: the packet core sums the flows (sensor/csrc/aggregate.c).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nps_sensor import packetcore
from nps_sensor.classify import is_group
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import HostDeltas
from nps_sensor.report.model import Asset, Record, proto_name

MAX_SERVED = 256  # ports remembered per address
MASKED = ("External", "Excluded")  # labels that stand for many addresses

RecordKey = tuple[str, str, int | None, str]  # client, server, server port, protocol
Label = Callable[[int, Iterable[int]], str]  # (address, its MACs) -> its text in a record


def add_hosts(assets: dict[int, Asset], h: HostDeltas) -> list[tuple[int, int]]:
    """Senders seen since the last harvest: their MACs, times, VLANs and tunnels. Returns
    the (address, MAC) pairs the MAC claimed itself (ARP requests): bindings, as DHCP's."""
    claims: list[tuple[int, int]] = []
    for hi, lo, mac, packets, first, last, vlan, tunnel, claimed in h.rows():
        ip = (hi << 64) | lo
        if claimed:
            claims.append((ip, mac))
        a = assets.get(ip)
        if a is None:
            a = assets[ip] = Asset(ip)
        a.sender = True
        a.macs[mac] = a.macs.get(mac, 0) + packets
        a.first = min(a.first, first)
        a.last = max(a.last, last)
        a.active = True
        if vlan >= 0:
            a.vlans.add(vlan)
        if tunnel >= 0:
            a.tunnels.add(tunnel)
    return claims


def add_traffic(assets: dict[int, Asset], pending: dict[RecordKey, Record], label: Label, d: FlowDeltas) -> None:
    """Flow deltas into asset counters, the ports servers answered on, and records.

    The core groups the flows and calls `address` once per distinct address (in a fixed
    order: the hash order of the addresses), which counts its traffic into its asset and
    numbers its label; it then hands back the ports servers answered on and the flows
    summed per (client label, server label, port, protocol), both in their keys' hash
    order, the order of a report's flows."""
    if not len(d):
        return
    ips: list[int] = []
    names: dict[str, int] = {}

    def address(ip: int, sent: int, received: int, packets: int, last: float) -> int:
        ips.append(ip)
        a = assets.get(ip)
        if a is None and not is_group(ip):
            a = assets[ip] = Asset(ip)
        if a is not None:
            a.packets += packets
            a.bytes_out += sent
            a.bytes_in += received
            a.active = True
            a.last = max(a.last, last)
        return names.setdefault(label(ip, a.macs if a else ()), len(names))

    served, records = packetcore.aggregate(d.records, address)
    for end, port, proto in served:
        a = assets.get(ips[end])
        if a is not None and len(a.served) < MAX_SERVED:
            a.served.add((proto, port))
    texts = list(names)
    for c, s, c_label, s_label, port, proto, cb, sb, cp, sp, t0, t1 in records:
        client, server = texts[c_label], texts[s_label]
        key = (client, server, None if port < 0 else port, proto_name(proto))
        record = pending.get(key)
        if record is None:
            record = pending[key] = Record(*key)
            record.client_ip = None if client in MASKED else ips[c]
            record.server_ip = None if server in MASKED else ips[s]
        record.client_bytes += cb
        record.server_bytes += sb
        record.client_packets += cp
        record.server_packets += sp
        record.first = min(record.first, t0)
        record.last = max(record.last, t1)
