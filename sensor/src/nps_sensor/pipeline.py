"""The engine: batches of frames in, reports out. `analyze` and `run` both drive it.

Per batch: decode every frame to its innermost IP header, drop copies, record who
sent what (IP and MAC), account flows (fragments matched to their datagram), learn
DNS answers for monitored domains, and close reporting windows as time passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nps_sensor.capture.batch import Batch
from nps_sensor.classify import Classifier
from nps_sensor.config import V4_MAPPED, Config
from nps_sensor.decode import IP, L2, Decoded, decode
from nps_sensor.decode.frames import ALL
from nps_sensor.dedupe import Deduplicator
from nps_sensor.dns import DNSError, parse_response
from nps_sensor.flows import FlowTable, PacketRows
from nps_sensor.fragments import Fragments
from nps_sensor.hosts import HostTable
from nps_sensor.report import Report, Reporter
from nps_sensor.stats import Stats

U64 = np.uint64
ARP = 0x0806
DNS_PORT = 53


class Engine:
    def __init__(self, cfg: Config, on_report: Callable[[Report], None]) -> None:
        self.cfg = cfg
        self.stats = Stats()
        self.classifier = Classifier(cfg)
        self.flows = FlowTable(cfg.flows.max_flows, cfg.flows.idle_timeout)
        self.hosts = HostTable()
        self.dedupe = Deduplicator(cfg.duplicate_window)
        self.fragments = Fragments()
        self.reporter = Reporter(cfg, self.classifier, self.flows, self.hosts, on_report)
        self._watch_dns = any(m.domains for m in cfg.monitor)

    # --- driving ------------------------------------------------------------------

    def feed(self, batch: Batch) -> None:
        """Process a batch, closing the reporting windows its packets cross."""
        n = len(batch)
        if not n:
            return
        rep = self.reporter
        rep.start_at(float(batch.ts[0]))
        while True:
            late = batch.ts >= rep.next_boundary
            if not late.any():
                self._process(batch)
                return
            cut = int(np.argmax(late))
            if cut:
                self._process(batch.take(slice(0, cut)))
            rep.close_window()
            batch = batch.take(slice(cut, None))

    def tick(self, now: float) -> None:
        """Time passes without packets (live capture): close windows that ended."""
        if not math.isnan(self.reporter.window_start):
            self.reporter.skip_to(now)

    def finish(self) -> None:
        """End of input: fragments still waiting count port-less, the last window closes."""
        held = self.fragments.expire(None)
        if held:
            self.flows.add(PacketRows.concat(held))
        end = self.stats.last if math.isfinite(self.stats.last) else 0.0
        self.reporter.finish(end)

    def stats_dict(self) -> dict[str, Any]:
        fs = self.flows.stats
        fr = self.fragments.stats
        return self.stats.as_dict(
            {
                "duplicates": self.dedupe.dropped,
                "flows": {
                    "created": fs.flows,
                    "active": self.flows.rows,
                    "evicted_idle": fs.evicted_idle,
                    "evicted_full": fs.evicted_full,
                },
                "fragments": {
                    "packets": fr.fragments,
                    "datagrams": fr.datagrams,
                    "without_first_fragment": fr.without_first,
                },
            }
        )

    # --- one batch ----------------------------------------------------------------

    def _process(self, batch: Batch) -> None:
        d = decode(batch)
        self.stats.count(d)
        is_ip = d.state == IP
        if is_ip.all():
            self._ip(d, np.arange(d.n))
        elif is_ip.any():
            self._ip(d, np.flatnonzero(is_ip))
        arp = np.flatnonzero((d.state == L2) & (d.et == ARP))
        if len(arp):
            self._arp(d, arp)

    def _ip(self, d: Decoded, frames: np.ndarray) -> None:
        ts = d.batch.ts[frames]
        copies = self.dedupe.copies(d, frames, ts)
        # Whole-batch selections stay slices: views instead of copies of every column.
        ip: np.ndarray | slice = ALL if len(frames) == d.n else frames
        if copies.any():
            keep = ~copies
            ip, ts = frames[keep], ts[keep]
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
        )
        frag = d.frag[ip]
        if frag.any():
            f = frag > 0
            whole = rows.take(np.flatnonzero(~f))
            pieces = self.fragments.process(rows.take(np.flatnonzero(f)), frag[f], d.ipid[ip][f])
            rows = PacketRows.concat([whole, pieces])
        self.flows.add(rows)
        if self._watch_dns:
            self._dns(d, ip)

    def _dns(self, d: Decoded, ip: np.ndarray | slice) -> None:
        """DNS answers bind monitored domain names to addresses."""
        sel = np.arange(d.n)[ip][(d.sport[ip] == DNS_PORT) & (d.proto[ip] == 17) & d.has_ports[ip]]
        raw = d.buf.raw
        for start, end in zip((d.l4[sel] + 8).tolist(), d.end[sel].tolist(), strict=True):
            try:
                ans = parse_response(bytes(raw[start:end]))
            except DNSError:
                self.stats.decode_errors["malformed-dns"] += 1
                continue
            self.classifier.learn_dns(ans.names, ans.addresses)

    def _arp(self, d: Decoded, arp: np.ndarray) -> None:
        """ARP senders are devices too, even those that never send IP."""
        buf = d.buf
        at = d.p[arp]
        ok = at + 28 <= d.end[arp]
        at = at[ok]
        arp = arp[ok]
        # Ethernet hardware (1), IPv4 protocol, 6-byte and 4-byte addresses.
        well_formed = (buf.be32[at] == 0x00010800) & (buf.be16[at + 4] == 0x0604)
        at, arp = at[well_formed], arp[well_formed]
        if not len(at):
            return
        mac = (buf.be16[at + 8].astype(np.int64) << 32) | buf.be32[at + 10].astype(np.int64)
        ipv4 = buf.be32[at + 14].astype(U64) | U64(V4_MAPPED)
        zero = np.zeros(len(at), dtype=U64)
        self.hosts.observe(d.batch.ts[arp], zero, ipv4, mac, d.vlan_outer[arp], d.tunnel_id[arp])
