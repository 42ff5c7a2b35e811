"""The engine: batches of frames in, reports out. `analyze` and `run` both drive it.

It has two halves. A `Collector` conducts the per-packet work, which lives elsewhere:
decoding every frame to its innermost IP header (decode/, ARP senders in decode/arp.py),
dropping copies (dedupe.py), recording who sent what (hosts.py), accounting flows with
fragments matched to their datagram (flows.py, fragments.py), discovery's dissectors
(discovery/) and DNS answers for monitored domains (dns.py).
A `Reporter` (report.py) turns what collectors harvest into reports, window by
window. `analyze` runs one of each in one process (`Engine`); the live service runs
one collector per capture worker and one reporter in the control process, merging
the workers' harvests, which are additive by design.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nps_sensor.capture.batch import Batch
from nps_sensor.classify import Classifier
from nps_sensor.config import Config
from nps_sensor.decode import IP, L2, Decoded, arp, decode
from nps_sensor.decode.frames import ALL
from nps_sensor.dedupe import Deduplicator
from nps_sensor.discovery.collect import Discoverer
from nps_sensor.dns import answers
from nps_sensor.flows import FlowTable, PacketRows
from nps_sensor.fragments import Fragments
from nps_sensor.hosts import HostTable
from nps_sensor.report import Harvest, Report, Reporter
from nps_sensor.stats import Stats

U64 = np.uint64


class Collector:
    """Per-packet work; `harvest` hands over everything gathered since the last call."""

    def __init__(self, cfg: Config) -> None:
        self.stats = Stats()
        self.discovery = Discoverer(self.stats, cfg) if cfg.discovery.enabled else None
        self.flows = FlowTable(cfg.flows.max_flows, cfg.flows.idle_timeout)
        self.hosts = HostTable()
        self.dedupe = Deduplicator(cfg.duplicates)
        self.fragments = Fragments()
        self.watch_dns = any(m.domains for m in cfg.monitor)
        self._dns: list[tuple[list[str], list[int]]] = []

    def reconfigure(self, cfg: Config) -> None:
        """New settings (SIGHUP): the tables keep their flows and hosts."""
        self.flows.max_flows = cfg.flows.max_flows
        self.flows.idle_timeout = cfg.flows.idle_timeout
        self.dedupe.settings = cfg.duplicates
        self.watch_dns = any(m.domains for m in cfg.monitor)
        if not cfg.discovery.enabled:
            self.discovery = None
        elif self.discovery is None:
            self.discovery = Discoverer(self.stats, cfg)
        else:
            self.discovery.reconfigure(cfg)

    def process(self, batch: Batch) -> None:
        d = decode(batch)
        self.stats.count(d)
        if d.tunnel_fragments:
            self.fragments.swallow(d.tunnel_fragments)
        is_ip = d.state == IP
        if is_ip.all():
            self._ip(d, np.arange(d.n))
        elif is_ip.any():
            self._ip(d, np.flatnonzero(is_ip))
        l2 = np.flatnonzero(d.state == L2)
        if len(l2):
            self._arp(d, l2)
            if self.discovery is not None:
                self.discovery.link(d, l2)

    def harvest(self, final: bool = False) -> Harvest:
        """Flows, hosts and DNS answers since the last harvest; `final` also releases
        the fragments still waiting for their first fragment (as port-less flows)."""
        if final:
            held = self.fragments.expire(None)
            if held:
                self.flows.add(PacketRows.concat(held))
        dns, self._dns = self._dns, []
        facts = self.discovery.facts.drain() if self.discovery is not None else {}
        return Harvest(self.flows.drain(), self.hosts.drain(), dns, facts)

    def stats_dict(self) -> dict[str, Any]:
        fs = self.flows.stats
        fr = self.fragments.stats
        return self.stats.as_dict(
            {
                "duplicates": self.dedupe.as_dict(),
                "flows": {
                    "created": fs.flows,
                    "active": self.flows.rows,
                    "evicted_idle": fs.evicted_idle,
                    "evicted_full": fs.evicted_full,
                },
                "discovery": {
                    "packets": self.discovery.selected if self.discovery else 0,
                    "facts_not_kept": self.discovery.facts.overflow if self.discovery else 0,
                },
                "fragments": {
                    "packets": fr.fragments,
                    "datagrams": fr.datagrams,
                    "without_first_fragment": fr.without_first,
                    "inside_tunnels": fr.inside_tunnels,
                },
            }
        )

    def _ip(self, d: Decoded, frames: np.ndarray) -> None:
        ts = d.batch.ts[frames]
        copies = self.dedupe.copies(d, frames, ts)
        # Whole-batch selections stay slices: views instead of copies of every column.
        ip: np.ndarray | slice = ALL if len(frames) == d.n else frames
        if copies.any():
            keep = ~copies
            ip, ts = frames[keep], ts[keep]
        if self.discovery is not None:
            self.discovery.ip(d, ip, ts)
        mac = d.src_mac(ip)
        self.hosts.observe(ts, d.src_hi[ip], d.src_lo[ip], mac, d.vlan_outer[ip], d.tunnel_id[ip])
        short = d.short_l4[ip]
        if short.any():
            ip, ts = np.arange(d.n)[ip][~short], ts[~short]
        rows = PacketRows(
            ts=ts,
            src_hi=d.src_hi[ip],
            src_lo=d.src_lo[ip],
            dst_hi=d.dst_hi[ip],
            dst_lo=d.dst_lo[ip],
            sport=d.sport[ip],
            dport=d.dport[ip],
            has_ports=d.has_ports[ip],
            proto=d.proto[ip],
            iplen=d.iplen[ip],
            tcpflags=d.tcpflags[ip],
            icmptype=d.icmptype[ip],
            vlan=d.vlan_outer[ip].astype(np.int64),
            tunnel=d.tunnel_id[ip],
            t0=d.t0[ip],
            t1=d.t1[ip],
        )
        frag = d.frag[ip]
        if frag.any():
            f = frag > 0
            whole = rows.take(np.flatnonzero(~f))
            pieces = self.fragments.process(rows.take(np.flatnonzero(f)), frag[f], d.ipid[ip][f])
            rows = PacketRows.concat([whole, pieces])
        self.flows.add(rows)
        if self.watch_dns:
            self._watch_dns(d, ip)

    def _watch_dns(self, d: Decoded, ip: np.ndarray | slice) -> None:
        """DNS answers bind monitored domain names to addresses."""
        found = answers(d, ip)
        self._dns.extend(found.bindings)
        if found.malformed:
            self.stats.decode_errors["malformed-dns"] += found.malformed

    def _arp(self, d: Decoded, l2: np.ndarray) -> None:
        """ARP senders are devices too, even those that never send IP."""
        senders = arp.senders(d, l2)
        if len(senders):
            at = senders.frames
            zero = np.zeros(len(at), dtype=U64)
            self.hosts.observe(d.batch.ts[at], zero, senders.ip_lo, senders.mac, d.vlan_outer[at], d.tunnel_id[at])


class Engine:
    """A collector and a reporter in one process, windows following packet time."""

    def __init__(self, cfg: Config, on_report: Callable[[Report], None]) -> None:
        self.cfg = cfg
        self.classifier = Classifier(cfg)
        self.collector = Collector(cfg)
        self.reporter = Reporter(cfg, self.classifier, on_report)

    def feed(self, batch: Batch) -> None:
        """Process a batch, closing the reporting windows its packets cross."""
        if not len(batch):
            return
        rep = self.reporter
        rep.start_at(float(batch.ts[0]))
        while True:
            late = batch.ts >= rep.next_boundary
            if not late.any():
                self.collector.process(batch)
                return
            cut = int(np.argmax(late))
            if cut:
                self.collector.process(batch.take(slice(0, cut)))
            rep.catch_up(float(batch.ts[cut]), self.collector.harvest)
            batch = batch.take(slice(cut, None))

    def tick(self, now: float) -> None:
        """Time passes without packets: close the windows that ended."""
        if not math.isnan(self.reporter.window_start):
            self.reporter.catch_up(now, self.collector.harvest)

    def finish(self) -> None:
        """End of input: the last, partial window closes with everything left."""
        last = self.collector.stats.last
        self.reporter.finish(self.collector.harvest(final=True), last if math.isfinite(last) else 0.0)

    def stats_dict(self) -> dict[str, Any]:
        return self.collector.stats_dict()
