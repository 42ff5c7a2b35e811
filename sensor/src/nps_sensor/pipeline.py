"""The engine: batches of frames in, reports out. `analyze` and `run` both drive it.

It has two halves. A `Collector` does the per-packet work, in the packet core
(nps_sensor.packetcore, sensor/csrc): decode every frame to its innermost IP header, drop
copies, record who sent what (IP and MAC, ARP senders too), account flows (fragments
matched to their datagram) and choose the packets discovery dissects; the collector
hands those to the dissectors and parses DNS answers for monitored domains. A
`Reporter` (report.py) turns what collectors harvest into reports, window by window.
`analyze` runs one of each in one process (`Engine`); the live service runs one
collector per capture worker and one reporter in the control process, merging the
workers' harvests, which are additive by design.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nps_sensor import phases, roles
from nps_sensor.capture.batch import Batch
from nps_sensor.capture.source import BATCH, CaptureFile
from nps_sensor.classify import Classifier
from nps_sensor.config import Config
from nps_sensor.discovery.dispatch import Discoverer, selection
from nps_sensor.dns import answers
from nps_sensor.flows import FlowDeltas
from nps_sensor.hosts import HostDeltas
from nps_sensor.packetcore import SEEN_LIMIT, Core, Source
from nps_sensor.report import Harvest, Report, Reporter
from nps_sensor.stats import Stats


class Collector:
    """Per-packet work; `harvest` hands over everything gathered since the last call."""

    def __init__(self, cfg: Config) -> None:
        self.stats = Stats()
        self.discovery = Discoverer(self.stats, cfg, core=(SEEN_LIMIT, selection())) if cfg.discovery.enabled else None
        self.watch_dns = any(m.domains for m in cfg.monitor)
        self.core = Core(roles.tables(), **self._settings(cfg))
        self._dns: list[tuple[list[str], list[int]]] = []

    def _settings(self, cfg: Config) -> dict[str, Any]:
        return {
            "window": cfg.duplicates.window,
            "identical_window": cfg.duplicates.identical_window,
            "max_flows": cfg.flows.max_flows,
            "idle_timeout": cfg.flows.idle_timeout,
            "watch_dns": self.watch_dns,
            "selection": selection() if self.discovery is not None else None,
        }

    def reconfigure(self, cfg: Config) -> None:
        """New settings (SIGHUP): the tables keep their flows and hosts."""
        self.watch_dns = any(m.domains for m in cfg.monitor)
        if not cfg.discovery.enabled:
            self.discovery = None
        elif self.discovery is None:
            self.discovery = Discoverer(self.stats, cfg, core=(SEEN_LIMIT, selection()))
        else:
            self.discovery.reconfigure(cfg)
        self.core.configure(**self._settings(cfg))

    def process(self, batch: Batch, start: int = 0, stop: int | None = None) -> None:
        """Frames [start, stop) of `batch`, as one batch of the core."""
        hellos = self.discovery.pending_hellos if self.discovery is not None else None
        self._take(self.core.process(batch, start, len(batch) if stop is None else stop, hellos))

    def run(self, source: Source, stop: float) -> bool:
        """Frames pulled from a capture file's `source` as one batch, up to the first
        stamped at or after `stop`; whether there is one."""
        hellos = self.discovery.pending_hellos if self.discovery is not None else None
        _, late, out = self.core.run(source, stop, hellos)
        self._take(out)
        return bool(late)

    def _take(self, out: tuple[list[Any], list[Any], list[bytes]]) -> None:
        """What the core left to Python: packets to dissect, DNS answers to read."""
        picks, links, dns = out
        discovery = self.discovery
        if discovery is not None and (picks or links):
            with phases.phase("dissectors"):
                discovery.dispatch(picks)
                discovery.dispatch(links)
        if dns:  # DNS answers bind monitored domain names to addresses
            found = answers(dns)
            self._dns.extend(found.bindings)
            if found.malformed:
                self.stats.decode_errors["malformed-dns"] += found.malformed

    @property
    def last(self) -> float:
        """The latest packet time seen (-inf before any)."""
        last: float = self.core.stats()["last"]
        return last

    def harvest(self, final: bool = False) -> Harvest:
        """Flows, hosts and DNS answers since the last harvest; `final` also releases
        the fragments still waiting for their first fragment (as port-less flows)."""
        flows, hosts = self.core.harvest(final)
        dns, self._dns = self._dns, []
        facts = self.discovery.facts.drain() if self.discovery is not None else {}
        return Harvest(FlowDeltas.from_records(flows), HostDeltas.from_records(hosts), dns, facts)

    def stats_dict(self) -> dict[str, Any]:
        core = self.core.stats()
        dups = core["duplicates"]
        return self.stats.as_dict(
            core,
            {
                "duplicates": {"dropped": sum(dups.values()), "reasons": dups},
                "flows": core["flows"],
                "discovery": {
                    "packets": core["selected"] if self.discovery else 0,
                    "facts_not_kept": self.discovery.facts.overflow if self.discovery else 0,
                },
                "fragments": core["fragments"],
            },
        )


class Engine:
    """A collector and a reporter in one process, windows following packet time."""

    def __init__(self, cfg: Config, on_report: Callable[[Report], None]) -> None:
        self.cfg = cfg
        self.classifier = Classifier(cfg)
        self.collector = Collector(cfg)
        self.reporter = Reporter(cfg, self.classifier, on_report)

    def feed(self, batch: Batch) -> None:
        """Process a batch, closing the reporting windows its packets cross."""
        n = len(batch)
        if not n:
            return
        rep = self.reporter
        rep.start_at(batch.time(0))
        pos = 0
        while True:
            cut = batch.first_late(pos, rep.next_boundary)
            if cut == n:
                self.collector.process(batch, pos, n)
                return
            if cut > pos:
                self.collector.process(batch, pos, cut)
            rep.catch_up(batch.time(cut), self.collector.harvest)
            pos = cut

    def feed_file(
        self, capture: CaptureFile, batch_size: int = BATCH, progress: Callable[[int], None] | None = None
    ) -> None:
        """A capture file, pulled frame by frame by the core, batch by batch, closing the
        reporting windows its packets cross; CaptureError after the frames before damage."""
        src = capture.source()
        rep = self.reporter
        with phases.phase("packets"):
            while src.begin(batch_size):
                rep.start_at(_ts(src))
                while self.collector.run(src, rep.next_boundary):
                    with phases.phase("reports"):
                        rep.catch_up(_ts(src), self.collector.harvest)
                capture.buf.release(src.pos)
                if progress is not None:
                    progress(src.pos)
        error = capture.error(src)
        if error is not None:
            raise error

    def tick(self, now: float) -> None:
        """Time passes without packets: close the windows that ended."""
        if not math.isnan(self.reporter.window_start):
            self.reporter.catch_up(now, self.collector.harvest)

    def finish(self) -> None:
        """End of input: the last, partial window closes with everything left."""
        last = self.collector.last
        with phases.phase("reports"):
            self.reporter.finish(self.collector.harvest(final=True), last if math.isfinite(last) else 0.0)

    def stats_dict(self) -> dict[str, Any]:
        return self.collector.stats_dict()


def _ts(src: Source) -> float:
    """The time of the next frame, which there is (a batch has begun, or one was late)."""
    ts = src.peek_ts()
    assert ts is not None
    return ts
