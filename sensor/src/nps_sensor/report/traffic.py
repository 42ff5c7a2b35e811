"""Traffic aggregation: a harvest's hosts and flows into asset counters and traffic records.

The contract: `add_hosts` and `add_traffic` add into the caller's `assets` (address ->
`Asset`) and `pending` (record key -> `Record`), and nothing else; `label` names an
address as its record shows it (its own text, or `External` for every external
server: `Classifier.label`). Python-level work is per distinct address and per distinct
record, never per flow: the flows are grouped on arrays first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from nps_sensor.classify import is_group
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import HostDeltas
from nps_sensor.report.model import Asset, Record, proto_name
from nps_sensor.rowhash import hash_columns

MAX_SERVED = 256  # ports remembered per address
MASKED = ("External", "Excluded")  # labels that stand for many addresses

RecordKey = tuple[str, str, int | None, str]  # client, server, server port, protocol
Label = Callable[[int, Iterable[int]], str]  # (address, its MACs) -> its text in a record


def add_hosts(assets: dict[int, Asset], h: HostDeltas) -> None:
    """Senders seen since the last harvest: their MACs, times, VLANs and tunnels."""
    cols = zip(
        h.ip_hi.tolist(),
        h.ip_lo.tolist(),
        h.mac.tolist(),
        h.packets.tolist(),
        h.first.tolist(),
        h.last.tolist(),
        h.vlan.tolist(),
        h.tunnel.tolist(),
        strict=True,
    )
    for hi, lo, mac, packets, first, last, vlan, tunnel in cols:
        ip = (hi << 64) | lo
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


@dataclass
class Ends:
    """The flows' addresses, grouped: each flow's client and server as an index into
    `ip` and `label` (one entry per distinct address)."""

    client: np.ndarray
    server: np.ndarray
    ip: list[int]
    label: np.ndarray  # address -> index into `texts`
    texts: list[str]


def add_traffic(assets: dict[int, Asset], pending: dict[RecordKey, Record], label: Label, d: FlowDeltas) -> None:
    """Flow deltas into asset counters, the ports servers answered on, and records."""
    if not len(d):
        return
    ends = _addresses(assets, label, d)
    _served(assets, ends, d)
    _records(pending, ends, d)


def _addresses(assets: dict[int, Asset], label: Label, d: FlowDeltas) -> Ends:
    """Each distinct address's bytes and packets, sent and received, into its asset."""
    n = len(d)
    hi = np.concatenate([d.client_hi, d.server_hi])
    lo = np.concatenate([d.client_lo, d.server_lo])
    first_row, ends = group([hi, lo])
    g = len(first_row)
    c_end, s_end = ends[:n], ends[n:]
    packets = d.client_packets + d.server_packets
    sent = np.bincount(c_end, d.client_bytes, g) + np.bincount(s_end, d.server_bytes, g)
    received = np.bincount(c_end, d.server_bytes, g) + np.bincount(s_end, d.client_bytes, g)
    moved = np.bincount(c_end, packets, g) + np.bincount(s_end, packets, g)
    last = np.full(g, -np.inf)
    np.maximum.at(last, c_end, d.last)
    np.maximum.at(last, s_end, d.last)
    names: dict[str, int] = {}
    label_of = np.empty(g, dtype=np.int64)
    ip_of: list[int] = []
    columns = (hi[first_row], lo[first_row], sent, received, moved, last)
    for k, (high, low, out, into, pk, seen) in enumerate(zip(*(c.tolist() for c in columns), strict=True)):
        ip = (high << 64) | low
        ip_of.append(ip)
        a = assets.get(ip)
        if a is None and not is_group(ip):
            a = assets[ip] = Asset(ip)
        if a is not None:
            a.packets += int(pk)
            a.bytes_out += int(out)
            a.bytes_in += int(into)
            a.active = True
            a.last = max(a.last, seen)
        text = label(ip, a.macs if a else ())
        label_of[k] = names.setdefault(text, len(names))
    return Ends(c_end, s_end, ip_of, label_of, list(names))


def _served(assets: dict[int, Asset], ends: Ends, d: FlowDeltas) -> None:
    """Ports a server answered on: its services, seen in the traffic itself."""
    answered = np.flatnonzero((d.server_packets > 0) & (d.port >= 0))
    if not len(answered):
        return
    s_end = ends.server
    first_served, _ = group([s_end[answered], d.port[answered], d.proto[answered]])
    rows = answered[first_served]
    for server, port, proto in zip(s_end[rows].tolist(), d.port[rows].tolist(), d.proto[rows].tolist(), strict=True):
        a = assets.get(ends.ip[server])
        if a is not None and len(a.served) < MAX_SERVED:
            a.served.add((proto, port))


def _records(pending: dict[RecordKey, Record], ends: Ends, d: FlowDeltas) -> None:
    """Flows summed by (client label, server label, port, protocol) into records."""
    c_end, s_end, texts = ends.client, ends.server, ends.texts
    c_label, s_label = ends.label[c_end], ends.label[s_end]
    first_flow, rec = group([c_label, s_label, d.port, d.proto])
    r = len(first_flow)
    sums = [np.bincount(rec, col, r) for col in (d.client_bytes, d.server_bytes, d.client_packets, d.server_packets)]
    begin = np.full(r, np.inf)
    np.minimum.at(begin, rec, d.first)
    end = np.full(r, -np.inf)
    np.maximum.at(end, rec, d.last)
    for f, cb, sb, cp, sp, t0, t1 in zip(
        first_flow.tolist(), *(x.tolist() for x in sums), begin.tolist(), end.tolist(), strict=True
    ):
        client, server = texts[c_label[f]], texts[s_label[f]]
        port = int(d.port[f])
        key = (client, server, None if port < 0 else port, proto_name(int(d.proto[f])))
        record = pending.get(key)
        if record is None:
            record = pending[key] = Record(*key)
            record.client_ip = None if client in MASKED else ends.ip[c_end[f]]
            record.server_ip = None if server in MASKED else ends.ip[s_end[f]]
        record.client_bytes += int(cb)
        record.server_bytes += int(sb)
        record.client_packets += int(cp)
        record.server_packets += int(sp)
        record.first = min(record.first, t0)
        record.last = max(record.last, t1)


def group(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of equal key columns: (first row of each group, group of each row).

    Groups by a 64-bit hash of the columns, then checks every row against its group's
    first row; should two keys ever share a hash, the exact (slower) grouping runs.
    """
    keys = [c.astype(np.uint64) for c in cols]
    _, first, inverse = np.unique(hash_columns(keys), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    rep = first[inverse]
    if all((k == k[rep]).all() for k in keys):
        return first, inverse
    _, first, inverse = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)
