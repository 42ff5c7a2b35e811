"""IP fragments: every fragment's bytes count towards its datagram's flow.

Only the first fragment carries the ports. Later fragments are matched to it by
(source, destination, protocol, IP ID); those that arrive before it wait. A datagram
whose first fragment never comes (lost, or outside the capture) still counts, as a
port-less flow of its protocol, once it times out or the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nps_sensor.flows import PacketRows

Key = tuple[int, int, int, int, int, int]
MAX_DATAGRAMS = 100_000


@dataclass
class _Datagram:
    first: bool = False  # the first fragment was seen (it has the ports, if the protocol has any)
    ports: tuple[int, int] | None = None
    seen: float = 0.0
    waiting: list[PacketRows] = field(default_factory=list)  # later fragments before the first
    tunnel: bool = False  # the first fragment carried a tunnel: the rest counts inside it


@dataclass
class FragmentStats:
    fragments: int = 0
    datagrams: int = 0
    without_first: int = 0
    inside_tunnels: int = 0  # later fragments of tunnel packets, counted in the inner packet


class Fragments:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.datagrams: dict[Key, _Datagram] = {}
        self._next_expiry = -np.inf
        self.stats = FragmentStats()

    def swallow(self, keys: list[tuple[Key, float]]) -> None:
        """Outer datagrams whose first fragment was unwrapped as a tunnel packet."""
        for key, ts in keys:
            dg = self.datagrams.get(key)
            if dg is None:
                dg = self.datagrams[key] = _Datagram()
                self.stats.datagrams += 1
            dg.tunnel = True
            dg.seen = ts
            self.stats.inside_tunnels += len(dg.waiting)
            dg.waiting.clear()

    def process(self, rows: PacketRows, frag: np.ndarray, ipid: np.ndarray) -> PacketRows:
        """Account fragments `rows` (frag: 1 first, 2 later): returns the rows to count now.

        First fragments are returned as they are; later ones with their datagram's
        ports, or not at all until the first fragment arrives (or they time out).
        """
        out: list[int] = []
        released: list[PacketRows] = []
        later_ports: dict[int, tuple[int, int]] = {}
        self.stats.fragments += len(rows)
        cols = zip(
            rows.src_hi.tolist(),
            rows.src_lo.tolist(),
            rows.dst_hi.tolist(),
            rows.dst_lo.tolist(),
            rows.proto.tolist(),
            ipid.tolist(),
            frag.tolist(),
            rows.ts.tolist(),
            rows.sport.tolist(),
            rows.dport.tolist(),
            rows.has_ports.tolist(),
            strict=True,
        )
        for i, (sh, sl, dh, dl, proto, ident, kind, ts, sp, dp, has) in enumerate(cols):
            key = (sh, sl, dh, dl, proto, ident)
            dg = self.datagrams.get(key)
            if dg is None:
                dg = self.datagrams[key] = _Datagram()
                self.stats.datagrams += 1
            dg.seen = ts
            if dg.tunnel:
                self.stats.inside_tunnels += 1
            elif kind == 1:
                out.append(i)
                dg.first = True
                dg.ports = (sp, dp) if has else None
                released.extend(dg.waiting if dg.ports is None else (_with_ports(w, sp, dp) for w in dg.waiting))
                dg.waiting.clear()
            elif dg.first:
                out.append(i)
                if dg.ports is not None:
                    later_ports[i] = dg.ports
            else:
                dg.waiting.append(rows.take(np.array([i])))
        now = rows.take(np.array(out, dtype=np.int64))
        if later_ports:
            pos = {row: k for k, row in enumerate(out)}
            for i, (sp, dp) in later_ports.items():
                k = pos[i]
                now.sport[k], now.dport[k], now.has_ports[k] = sp, dp, True
        if len(self.datagrams) > MAX_DATAGRAMS:
            # A fragment flood must not exhaust memory: give up on matching, keep counting.
            released.extend(self.expire(None))
        elif len(rows):
            last = float(rows.ts.max())
            if last >= self._next_expiry:
                released.extend(self.expire(last))
                self._next_expiry = last + self.timeout / 2
        return PacketRows.concat([now, *released]) if released else now

    def expire(self, now: float | None = None) -> list[PacketRows]:
        """Datagrams silent for longer than the timeout (all, if now is None) end here."""
        out = []
        for key in [k for k, dg in self.datagrams.items() if now is None or now - dg.seen > self.timeout]:
            dg = self.datagrams.pop(key)
            if dg.waiting:
                self.stats.without_first += 1
                out.extend(dg.waiting)
        return out


def _with_ports(row: PacketRows, sport: int, dport: int) -> PacketRows:
    r = row.take(slice(None))
    r.sport = r.sport.copy()
    r.dport = r.dport.copy()
    r.has_ports = r.has_ports.copy()
    r.sport[:], r.dport[:], r.has_ports[:] = sport, dport, True
    return r
