"""Bidirectional flows keyed by the normalised 5-tuple, with per-direction counters.

A flow's key orders its two endpoints (address, port) so that both directions of a
conversation land on one row; `client_lo` remembers which endpoint is the client.
The flow's first packet decides it by the rules of nps_sensor.roles (handshake, ICMP
type, well-known port pairs, group destination, the protocol's own request and
response, service ports, lower port). A TCP handshake seen later decides again, once,
for a flow that was not decided by one: a capture that starts in the middle of a
connection, or a mirror that delivered a data segment before the SYN. Counts already
reported keep the orientation they were reported with.

Bytes are IP-layer bytes (IPv4 total length, IPv6 40 + payload length), as NetFlow
and IPFIX count them. The table is bounded: idle flows are swept, and when it is full
the least recently active flows go; either way their counts since the last report
are kept for the next report and the evictions are counted, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from nps_sensor import roles
from nps_sensor.vtable import VecTable, hash_columns

U64 = np.uint64
I64 = np.int64
PORTLESS = U64(1) << U64(60)  # in the ports column: the flow has no ports


@dataclass(slots=True)
class PacketRows:
    """The packets to account: one element per packet, in capture order."""

    ts: np.ndarray  # float64
    src_hi: np.ndarray  # uint64 halves of the 128-bit addresses
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray  # int64; 0 where has_ports is false
    dport: np.ndarray
    has_ports: np.ndarray  # bool
    proto: np.ndarray  # int64
    iplen: np.ndarray  # int64, IP-layer bytes
    tcpflags: np.ndarray  # int64
    icmptype: np.ndarray  # int64, -1 if not ICMP
    vlan: np.ndarray  # int64, outer VLAN id or -1
    tunnel: np.ndarray  # int64, ERSPAN session / VXLAN VNI or -1
    # The first 16 bytes after the IP header (the decoder's t0, t1): for UDP the header
    # and 8 payload bytes, which say who speaks in protocols with one port on both sides.
    t0: np.ndarray  # uint64
    t1: np.ndarray  # uint64

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: np.ndarray | slice) -> PacketRows:
        return PacketRows(*(getattr(self, f.name)[idx] for f in fields(self)))

    @staticmethod
    def concat(parts: list[PacketRows]) -> PacketRows:
        return PacketRows(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(PacketRows)))


@dataclass(slots=True)
class FlowDeltas:
    """Traffic of flows since the last report, oriented client -> server."""

    client_hi: np.ndarray
    client_lo: np.ndarray
    server_hi: np.ndarray
    server_lo: np.ndarray
    port: np.ndarray  # server port, -1 for port-less protocols
    proto: np.ndarray
    client_packets: np.ndarray
    client_bytes: np.ndarray
    server_packets: np.ndarray
    server_bytes: np.ndarray
    first: np.ndarray
    last: np.ndarray
    vlan: np.ndarray
    tunnel: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    @staticmethod
    def concat(parts: list[FlowDeltas]) -> FlowDeltas:
        return FlowDeltas(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(FlowDeltas)))

    @staticmethod
    def empty() -> FlowDeltas:
        z = np.zeros(0, dtype=I64)
        u = np.zeros(0, dtype=U64)
        f = np.zeros(0, dtype=np.float64)
        return FlowDeltas(u, u, u, u, z, z, z, z, z, z, f, f, z, z)


@dataclass
class FlowStats:
    flows: int = 0  # flows created
    evicted_idle: int = 0
    evicted_full: int = 0
    active: int = 0


def flow_key(rows: PacketRows) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(key columns, their hashes, direction): direction 1 = sent by the higher endpoint."""
    sh, sl, dh, dl, sp, dp = rows.src_hi, rows.src_lo, rows.dst_hi, rows.dst_lo, rows.sport, rows.dport
    swap = (sh > dh) | ((sh == dh) & ((sl > dl) | ((sl == dl) & (sp > dp))))
    a_hi = np.where(swap, dh, sh)
    a_lo = np.where(swap, dl, sl)
    b_hi = np.where(swap, sh, dh)
    b_lo = np.where(swap, sl, dl)
    pa = np.where(swap, dp, sp).astype(U64)
    pb = np.where(swap, sp, dp).astype(U64)
    ports = (pa << U64(24)) | (pb << U64(8)) | rows.proto.astype(U64)
    if not rows.has_ports.all():
        ports |= np.where(rows.has_ports, U64(0), PORTLESS)
    keys = [a_hi, a_lo, b_hi, b_lo, ports]
    # The high halves are zero for IPv4: mixed in only where they are not, so that a
    # key hashes the same whatever else is in its batch.
    h = hash_columns([a_lo, b_lo, ports])
    v6 = (a_hi | b_hi) != 0
    if v6.any():
        h = np.where(v6, hash_columns([h, a_hi, b_hi]), h)
    return keys, h, swap


def client_is_sender(rows: PacketRows) -> np.ndarray:
    """The rules of nps_sensor.roles, applied to each packet as if it were its flow's first."""
    return roles.client_is_sender(
        rows.proto,
        rows.tcpflags,
        rows.icmptype,
        rows.dst_hi,
        rows.dst_lo,
        rows.sport,
        rows.dport,
        rows.has_ports,
        (rows.t0, rows.t1),
    )


def _grow(a: np.ndarray, n: int, fill: float | int = 0) -> np.ndarray:
    out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


@dataclass
class FlowTable:
    max_flows: int = 500_000
    idle_timeout: float = 300.0
    stats: FlowStats = field(default_factory=FlowStats)

    def __post_init__(self) -> None:
        cap = 1 << 14
        self.index = VecTable(5, cap)
        self.client_lo = np.zeros(cap, dtype=bool)
        self.by_handshake = np.zeros(cap, dtype=bool)  # client_lo comes from a SYN or SYN-ACK
        self.pk = np.zeros((cap, 2), dtype=I64)  # packets sent by [lower, higher] endpoint
        self.by = np.zeros((cap, 2), dtype=I64)
        self.rpk = np.zeros((cap, 2), dtype=I64)  # ... as of the last report
        self.rby = np.zeros((cap, 2), dtype=I64)
        self.first = np.zeros(cap)
        self.last = np.zeros(cap)
        self.wfirst = np.full(cap, np.inf)  # first packet since the last report
        self.vlan = np.zeros(cap, dtype=I64)
        self.tunnel = np.zeros(cap, dtype=I64)
        self._evicted: list[FlowDeltas] = []
        self._next_sweep = -np.inf

    @property
    def rows(self) -> int:
        return self.index.rows

    def _columns(self) -> list[str]:
        return ["client_lo", "by_handshake", "pk", "by", "rpk", "rby", "first", "last", "wfirst", "vlan", "tunnel"]

    def add(self, rows: PacketRows) -> None:
        if not len(rows):
            return
        need = self.index.room(len(rows))
        if need:
            self.index.grow(need)
            for name in self._columns():
                setattr(self, name, _grow(getattr(self, name), need, np.inf if name == "wfirst" else 0))
        keys, h, swap = flow_key(rows)
        row, new = self.index.lookup(keys, h)
        if new.any():
            fresh = np.flatnonzero(new)
            r = row[fresh]
            first_rows = rows.take(fresh)
            self.client_lo[r] = client_is_sender(first_rows) != swap[fresh]
            self.by_handshake[r] = roles.handshake(first_rows.proto, first_rows.tcpflags)[0]
            self.first[r] = first_rows.ts
            self.vlan[r] = first_rows.vlan
            self.tunnel[r] = first_rows.tunnel
            self.stats.flows += len(fresh)
        self._handshakes(rows, row, swap)
        slot = row * 2 + swap
        np.add.at(self.pk.reshape(-1), slot, 1)
        np.add.at(self.by.reshape(-1), slot, rows.iplen)
        np.maximum.at(self.last, row, rows.ts)
        np.minimum.at(self.wfirst, row, rows.ts)
        now = float(rows.ts[-1])
        if self.rows > self.max_flows:
            self._evict_oldest(self.rows - int(self.max_flows * 0.9))
        if now >= self._next_sweep:
            self.sweep(now)

    def _handshakes(self, rows: PacketRows, row: np.ndarray, swap: np.ndarray) -> None:
        """A flow not yet oriented by a handshake takes the orientation of its first SYN
        or SYN-ACK (rows are the batch's packets, `row` their flows)."""
        maybe = (rows.tcpflags & roles.SYN) != 0  # two passes over the batch; the rest is small
        if not maybe.any():
            return
        at = np.flatnonzero(maybe)
        syn, syn_client = roles.handshake(rows.proto[at], rows.tcpflags[at])
        keep = syn & ~self.by_handshake[row[at]]
        if not keep.any():
            return
        at, syn_client = at[keep], syn_client[keep]
        flows, first = np.unique(row[at], return_index=True)  # each flow's first handshake packet
        self.client_lo[flows] = syn_client[first] != swap[at[first]]
        self.by_handshake[flows] = True

    def sweep(self, now: float) -> None:
        """Drop flows idle for longer than the timeout, keeping their unreported counts."""
        self._next_sweep = now + min(self.idle_timeout / 4, 30.0)
        n = self.rows
        idle = self.last[:n] < now - self.idle_timeout
        if idle.any():
            self.stats.evicted_idle += int(idle.sum())
            self._drop(idle)

    def _evict_oldest(self, count: int) -> None:
        n = self.rows
        oldest = np.argpartition(self.last[:n], count - 1)[:count]
        drop = np.zeros(n, dtype=bool)
        drop[oldest] = True
        self.stats.evicted_full += count
        self._drop(drop)

    def _drop(self, drop: np.ndarray) -> None:
        gone = np.flatnonzero(drop)
        pending = self._deltas(gone)
        if len(pending):
            self._evicted.append(pending)
        live = np.flatnonzero(~drop)
        n = self.rows
        self.index.keep(live)
        k = len(live)
        for name in self._columns():
            col = getattr(self, name)
            col[:k] = col[live]
            col[k:n] = np.inf if name == "wfirst" else 0

    def _deltas(self, rows: np.ndarray) -> FlowDeltas:
        """Unreported traffic of `rows`, oriented client -> server; marks it reported."""
        dpk = self.pk[rows] - self.rpk[rows]
        dby = self.by[rows] - self.rby[rows]
        busy = dpk.sum(axis=1) > 0
        rows, dpk, dby = rows[busy], dpk[busy], dby[busy]
        self.rpk[rows] = self.pk[rows]
        self.rby[rows] = self.by[rows]
        k0, k1, k2, k3, ports = (col[rows] for col in self.index.keys)
        lo_client = self.client_lo[rows]
        c = np.where(lo_client, 0, 1)  # column of the client's direction
        s = 1 - c
        port_lo = ((ports >> U64(24)) & U64(0xFFFF)).astype(I64)
        port_hi = ((ports >> U64(8)) & U64(0xFFFF)).astype(I64)
        portless = (ports & PORTLESS) > 0
        k = np.arange(len(rows))
        out = FlowDeltas(
            client_hi=np.where(lo_client, k0, k2),
            client_lo=np.where(lo_client, k1, k3),
            server_hi=np.where(lo_client, k2, k0),
            server_lo=np.where(lo_client, k3, k1),
            port=np.where(portless, -1, np.where(lo_client, port_hi, port_lo)),
            proto=(ports & U64(0xFF)).astype(I64),
            client_packets=dpk[k, c],
            client_bytes=dby[k, c],
            server_packets=dpk[k, s],
            server_bytes=dby[k, s],
            first=self.wfirst[rows].copy(),
            last=self.last[rows].copy(),
            vlan=self.vlan[rows].copy(),
            tunnel=self.tunnel[rows].copy(),
        )
        self.wfirst[rows] = np.inf
        return out

    def drain(self) -> FlowDeltas:
        """All traffic since the last drain (evicted flows included), for a report."""
        parts = self._evicted
        self._evicted = []
        parts.append(self._deltas(np.arange(self.rows)))
        self.stats.active = self.rows
        return FlowDeltas.concat(parts) if len(parts) > 1 else parts[0]
