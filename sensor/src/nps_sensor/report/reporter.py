"""Reports as the product defines them: assets, and traffic aggregated by 4-tuple per window.

Two windows run side by side, aligned on multiples of their length since the epoch:

* every `new_assets` seconds (default 5 minutes) a **new-assets** report carries the
  assets first seen since the last report and the traffic records that involve them;
* every `updates` seconds (default 30 minutes) an **update** report carries every
  asset active in the window and all other traffic records.

A traffic record sums every connection with the same (client, server, server port,
protocol) in its window, after classification: all external servers of a client
on one port become one record with server `External`. Each connection's bytes are
reported exactly once, in the first report after they were seen, so summing every
record of every report gives the totals of the whole run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nps_sensor.classify import INVENTORIED, MONITORED, NON_INVENTORIED, Classifier
from nps_sensor.config import Config
from nps_sensor.discovery.profile import Profiles
from nps_sensor.report.clock import Clock
from nps_sensor.report.identity import DeviceKey, Identity, Predictions, asset_dicts
from nps_sensor.report.model import NEW_ASSETS, UPDATE, Asset, Harvest, Record, Report
from nps_sensor.report.traffic import RecordKey, add_hosts, add_traffic

# Classes whose first sighting makes a new-assets report (external and excluded
# addresses only ever appear merged, in updates).
ANNOUNCED = (INVENTORIED, NON_INVENTORIED, MONITORED)


class Reporter:
    """Gathers harvests into assets and traffic records and emits a report when a window
    closes.

    One per engine (`analyze`'s or the live service's). The caller says when: by the
    packets' time (`start_at`, `catch_up`, `finish`: files, and the windows on the
    grid) or by its own clock (`close_at`: the live service). Between reports it keeps
    every asset seen since the start (`assets`: counters for the whole run), the
    traffic records not yet reported (`pending`), discovery's profiles and which MACs
    are new, active or reported. `emit` receives each `Report`.
    """

    def __init__(self, cfg: Config, classifier: Classifier, emit: Callable[[Report], None]) -> None:
        self.clock = Clock(cfg.reporting.new_assets, cfg.reporting.updates)
        self.classifier = classifier
        self.emit = emit
        self.assets: dict[int, Asset] = {}
        self.pending: dict[RecordKey, Record] = {}
        self.profiles = Profiles()
        self.predictions: Predictions = {}
        self.entries: dict[DeviceKey, dict[str, Any]] = {}  # device entries since the last harvest taken in
        _fingerprints(cfg)
        # MACs that discovery heard from without an address (LLDP, a DHCP DISCOVER):
        # devices of their own unless an address turns out to be theirs.
        self.macs_new: set[int] = set()
        self.macs_active: set[int] = set()
        self.macs_reported: set[int] = set()

    # --- time ---------------------------------------------------------------------

    @property
    def window_start(self) -> float:
        return self.clock.window_start

    @property
    def next_boundary(self) -> float:
        return self.clock.next_boundary

    def reconfigure(self, cfg: Config, classifier: Classifier) -> None:
        """A new configuration: classification at once, window lengths from the next window."""
        self.classifier = classifier
        self.entries.clear()
        _fingerprints(cfg)
        self.clock.new_len = cfg.reporting.new_assets
        self.clock.update_len = cfg.reporting.updates

    def start_at(self, ts: float) -> None:
        if not self.clock.started:
            self.clock.align(ts)

    def catch_up(self, ts: float, harvest: Callable[[], Harvest]) -> None:
        """Close every window that ended by `ts`. Once nothing is left to report, the
        empty windows up to `ts` are skipped in one step: a capture with a gap of
        years between two packets costs nothing."""
        while self.clock.due(ts):
            self.close_window(harvest())
            if self.clock.due(ts) and self._idle():
                self.clock.align(ts)

    def _idle(self) -> bool:
        return not self.pending and not any(a.sender and (a.active or not a.reported) for a in self.assets.values())

    def close_window(self, harvest: Harvest) -> None:
        """Close the window ending at the next boundary (a new-assets or update report)."""
        end, update = self.clock.next_close()
        self.close_at(harvest, end, update)
        self.clock.advanced(end, update)

    def close_at(self, harvest: Harvest, end: float, update: bool, stepped: float = 0.0) -> None:
        """Close the open window at `end`, an update window or not. The live service
        decides when, on the monotonic clock (live/schedule.py); `stepped` is how far
        the wall clock stepped while the window was open, and the window's start moves
        as far, so that both its times are read on the same clock."""
        self.clock.step(stepped)
        self.absorb(harvest)
        self._report(UPDATE if update else NEW_ASSETS, end)
        self.clock.closed(end, update)

    def finish(self, harvest: Harvest, end: float) -> None:
        """The final, partial window: everything not yet reported."""
        if not self.clock.started:
            return
        self.absorb(harvest)
        self._report(UPDATE, end)

    # --- gathering ----------------------------------------------------------------

    def absorb(self, harvest: Harvest) -> None:
        """Take in a harvest: DNS answers first, so that its traffic is classified with them."""
        self.entries.clear()
        for names, addresses in harvest.dns:
            self.classifier.learn_dns(names, addresses)
        if harvest.facts:
            touched = self.profiles.absorb(harvest.facts, self._inventoried)
            self.macs_active |= touched
            self.macs_new |= touched - self.macs_reported
        self.profiles.bind(add_hosts(self.assets, harvest.hosts), self._inventoried)
        add_traffic(self.assets, self.pending, self.classifier.label, harvest.flows)

    def _inventoried(self, ip: int) -> bool:
        return self.classifier.verdict(ip).cls == INVENTORIED

    # --- reports ------------------------------------------------------------------

    def _report(self, kind: str, end: float) -> None:
        if kind == NEW_ASSETS:
            new = {
                ip
                for ip, a in self.assets.items()
                if a.sender and not a.reported and self.classifier.verdict(ip, a.macs).cls in ANNOUNCED
            }
            macs, self.macs_new = self.macs_new, set()
            self.macs_reported |= macs
            if not new and not macs:
                return
            records = [k for k, r in self.pending.items() if r.client_ip in new or r.server_ip in new]
            flows = [self.pending.pop(k).as_dict() for k in records]
            chosen = [self.assets[ip] for ip in new]
            for a in chosen:
                a.reported = True
            assets = self.asset_dicts(chosen, macs)
            if assets or flows:
                self.emit(Report(kind, self.clock.window_start, end, assets, flows))
            return
        active = [a for a in self.assets.values() if a.sender and (a.active or not a.reported)]
        flows = [r.as_dict() for r in self.pending.values()]
        self.pending.clear()
        macs, self.macs_active = self.macs_active, set()
        self.macs_reported |= macs
        self.macs_new.clear()
        if not active and not flows and not macs:
            return
        for a in active:
            a.reported = True
            a.active = False
        assets = self.asset_dicts(active, macs)
        if assets or flows:
            self.emit(Report(kind, self.clock.update_start, end, assets, flows))

    def asset_dicts(self, assets: list[Asset], macs: set[int] | None = None) -> list[dict[str, Any]]:
        """Assets as the report shows them (`identity.asset_dicts`)."""
        identity = Identity(self.assets, self.profiles, self.classifier, self.predictions, self.entries)
        return asset_dicts(identity, assets, macs)


def _fingerprints(cfg: Config) -> None:
    """The fingerprint databases from the configured data directory (loaded on first use)."""
    from pathlib import Path

    from nps_sensor.discovery import fingerprints

    if cfg.discovery.data_dir:
        current = fingerprints.databases()
        if current.root != Path(cfg.discovery.data_dir):
            fingerprints.use(fingerprints.Databases(Path(cfg.discovery.data_dir)))
