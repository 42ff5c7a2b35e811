"""`nps-sensor run`: the appliance's sensing service.

The control process opens every sniffing interface once per capture worker, in
worker order, and joins each interface's sockets into one fanout group, so that
worker i gets the same flows whichever interface they arrive on: the interfaces act
as one aggregated (bonded) sniffing interface. It then forks the workers, which do
the per-packet work (worker.py), and keeps for itself what is per window: when a
reporting window ends it gathers every worker's harvest, merges them (they are
additive) and hands them to the one Reporter, whose reports go to the durable
spool. SIGTERM closes the last, partial window into the spool before exiting;
SIGHUP re-reads the configuration without losing flows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from nps_sensor import __version__, config
from nps_sensor.capture.fanout import PACKET_FANOUT_CBPF, program
from nps_sensor.capture.ring import Ring, RingSettings
from nps_sensor.classify import Classifier
from nps_sensor.config import Config
from nps_sensor.errors import SensorError
from nps_sensor.live import system
from nps_sensor.live.calibrate import Capacity, calibrate
from nps_sensor.live.spool import Spool
from nps_sensor.live.status import StatusServer
from nps_sensor.live.worker import WorkerCounters, run_worker
from nps_sensor.report import Harvest, Report, Reporter, iso

log = logging.getLogger("nps-sensor")
HARVEST_TIMEOUT = 60.0  # seconds a worker may take to hand over a harvest


def default_workers() -> int:
    """One capture worker per core left after the control process (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


class Service:
    def __init__(self, cfg: Config, config_path: str | None) -> None:
        sensing = cfg.sensing
        if not sensing.interfaces:
            raise SensorError(
                f"{cfg.source}: no sniffing interface configured (add sensing.interfaces, e.g. [{{name: eth1}}])"
            )
        self.cfg = cfg
        self.config_path = config_path
        self.workers = sensing.workers or default_workers()
        self.spool = Spool(sensing.spool_dir, sensing.spool_max_mb * 2**20)
        self.reporter = Reporter(cfg, Classifier(cfg), self._emit)
        self.started = time.time()
        self.paused = False
        self.counters: dict[int, WorkerCounters] = {}
        self.samples: list[tuple[float, int, int]] = []  # (time, packets, bytes) for the current rate
        self.cpu = system.CpuSampler()
        self.reports_written = 0
        self.last_report: float | None = None
        self.capacity: Capacity | None = None
        self.requests: list[str] = []  # actions from the status endpoint, run by the main loop
        self.lock = threading.Lock()
        self._stop = False
        self._reload = False

    # --- setup ----------------------------------------------------------------------

    def _open_rings(self) -> list[list[Ring]]:
        sensing = self.cfg.sensing
        blocks = max(4, sensing.ring_mb // 4)
        settings = RingSettings(block_size=4 << 20, blocks=blocks)
        prog = program()
        base = (os.getpid() * 8) & 0xFFFF
        rings: list[list[Ring]] = []
        try:
            for _ in range(self.workers):
                mine = []
                for j, iface in enumerate(sensing.interfaces):
                    ring = Ring(iface.name, settings, iface_number=j)
                    # A group per interface (the kernel does not mix devices in one group),
                    # joined in worker order so that member i is worker i on every interface.
                    ring.join_fanout((base + j) & 0xFFFF, PACKET_FANOUT_CBPF, prog)
                    mine.append(ring)
                rings.append(mine)
        except BaseException:
            for mine in rings:
                for ring in mine:
                    ring.close()
            raise
        return rings

    def _check_interfaces(self) -> None:
        for iface in self.cfg.sensing.interfaces:
            state = system.interface_state(iface.name)
            if state == "missing":
                raise SensorError(
                    f"sniffing interface {iface.name} does not exist "
                    f"(see `ip link`; fix sensing.interfaces in {self.cfg.source})"
                )
            if state == "down":
                log.warning("sniffing interface %s is down: no traffic until its link comes up", iface.name)
            if iface.mode == "ERSPAN" and not system.interface_ipv4(iface.name):
                log.warning(
                    "interface %s is in ERSPAN mode but has no IPv4 address: give it the address the switch sends to",
                    iface.name,
                )

    # --- running --------------------------------------------------------------------

    def run(self) -> int:
        self._check_interfaces()
        self.capacity = calibrate(self.workers)
        log.info(
            "calibrated: %.0f packets/s per core, about %.0f Mbit/s with %d workers",
            self.capacity.pps_per_core,
            self.capacity.mbps,
            self.workers,
        )
        rings = self._open_rings()
        ctx = multiprocessing.get_context("fork")
        self.conns: list[Connection] = []
        self.procs = []
        for i, mine in enumerate(rings):
            parent, child = ctx.Pipe()
            others = [r for k, rs in enumerate(rings) if k != i for r in rs]
            proc = ctx.Process(target=_worker_entry, args=(i, self.cfg, mine, others, child), name=f"capture-{i}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        for mine in rings:
            for ring in mine:
                ring.close()  # the workers hold them now
        status = StatusServer(
            self.cfg.sensing.status,
            self.status,
            {
                "pause": lambda: self._request("pause"),
                "resume": lambda: self._request("resume"),
                "reload": self._on_reload_request,  # the uplink wrote a new configuration from the hub
            },
        )
        status.start()
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        interfaces = ", ".join(f"{i.name} ({i.mode})" for i in self.cfg.sensing.interfaces)
        log.info(
            "sensing on %s with %d capture workers; status on http://%s/status",
            interfaces,
            self.workers,
            self.cfg.sensing.status,
        )
        self.reporter.start_at(time.time())
        try:
            return self._loop()
        finally:
            status.stop()
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.send(("stop",))
            for proc in self.procs:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()

    def _loop(self) -> int:
        while not self._stop:
            if self._reload:
                self._reload = False
                self._apply_reload()
            self._run_requests()
            now = time.time()
            timeout = max(0.0, min(1.0, self.reporter.next_boundary - now))
            for conn in wait([*self.conns, *(p.sentinel for p in self.procs)], timeout):
                if isinstance(conn, Connection):
                    self._receive(conn)
            dead = [p for p in self.procs if not p.is_alive()]
            if dead:
                for p in dead:
                    log.error("capture worker %s stopped (exit code %s); restarting the service", p.name, p.exitcode)
                self._final_window()
                return 1
            if time.time() >= self.reporter.next_boundary:
                self.reporter.catch_up(time.time(), self._gather)
        self._final_window()
        log.info("stopped; %d reports in the spool", self.spool.status().reports)
        return 0

    def _final_window(self) -> None:
        """SIGTERM: the partial window goes to the spool too (nothing seen is lost)."""
        with contextlib.suppress(SensorError):
            self.reporter.finish(self._gather(final=True), time.time())

    def _receive(self, conn: Connection) -> Any:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return None
        if message[0] == "counters":
            counters: WorkerCounters = message[2]
            self.counters[message[1]] = counters
            self._sample()
        elif message[0] == "error":
            log.error("capture worker %d: %s", message[1], message[2])
        return message

    def _gather(self, final: bool = False) -> Harvest:
        """Every worker's harvest since the last one, merged."""
        for conn in self.conns:
            conn.send(("harvest", final))
        parts: dict[int, Harvest] = {}
        deadline = time.monotonic() + HARVEST_TIMEOUT
        while len(parts) < len(self.conns):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SensorError("capture workers did not hand over their harvest in time")
            for ready in wait(self.conns, left):
                assert isinstance(ready, Connection)
                message = self._receive(ready)
                if message is not None and message[0] == "harvest":
                    parts[message[1]] = message[2]
                elif message is None:
                    raise SensorError("a capture worker went away during a harvest")
        return Harvest.merge([parts[i] for i in sorted(parts)])

    def _emit(self, report: Report) -> None:
        body = report.as_dict()
        body["sensor"] = {"version": __version__, "hostname": os.uname().nodename}
        body["stats"] = self._merged_stats()
        name = self.spool.write(body)
        if name is None:
            log.error("%s", self.spool.last_error)
            return
        self.reports_written += 1
        self.last_report = time.time()
        log.info(
            "report %s: %s window %s..%s, %d assets, %d flows",
            name,
            report.kind,
            body["window_start"],
            body["window_end"],
            len(report.assets),
            len(report.flows),
        )

    # --- control --------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: object) -> None:
        self._stop = True

    def _on_reload(self, signum: int, frame: object) -> None:
        self._reload = True

    def _on_reload_request(self) -> None:
        self._reload = True

    def _apply_reload(self) -> None:
        try:
            cfg = config.load(self.config_path)
        except SensorError as e:
            log.error("configuration not reloaded, the old one stays: %s", e)
            return
        old = self.cfg.sensing
        if (cfg.sensing.interfaces, cfg.sensing.workers, cfg.sensing.status) != (
            old.interfaces,
            old.workers,
            old.status,
        ):
            log.warning("sniffing interfaces, workers and the status address change on a restart only")
        cfg.sensing = old
        self.cfg = cfg
        # Reports keep their assets and pending traffic; classification follows the new file.
        self.reporter.reconfigure(cfg, Classifier(cfg))
        for conn in self.conns:
            conn.send(("reload", cfg))
        log.info("configuration reloaded from %s", self.config_path)

    def _request(self, action: str) -> None:
        with self.lock:
            self.requests.append(action)
        # The main loop wakes up within a second; the reply shows the new state then.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with self.lock:
                if action not in self.requests:
                    return
            time.sleep(0.02)

    def _run_requests(self) -> None:
        with self.lock:
            actions, self.requests = self.requests, []
        for action in actions:
            if action == "pause" and not self.paused:
                self.paused = True
            elif action == "resume" and self.paused:
                self.paused = False
            else:
                continue
            for conn in self.conns:
                conn.send((action,))
            log.info("sensing %s", "paused" if self.paused else "resumed")

    # --- status ---------------------------------------------------------------------

    def _sample(self) -> None:
        now = time.time()
        packets = sum(c.packets for c in self.counters.values())
        nbytes = sum(c.bytes for c in self.counters.values())
        self.samples.append((now, packets, nbytes))
        while len(self.samples) > 2 and self.samples[1][0] < now - 10:
            self.samples.pop(0)

    def _rates(self) -> tuple[float, float]:
        if len(self.samples) < 2:
            return 0.0, 0.0
        (t0, p0, b0), (t1, p1, b1) = self.samples[0], self.samples[-1]
        span = t1 - t0
        return ((p1 - p0) / span, (b1 - b0) * 8 / span / 1e6) if span > 0 else (0.0, 0.0)

    def _merged_stats(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for c in self.counters.values():
            _add(merged, c.stats)
        return merged

    def status(self) -> dict[str, Any]:
        now = time.time()
        pps, mbps = self._rates()
        cap = self.capacity
        by_name: dict[str, dict[str, int]] = {}
        for c in self.counters.values():
            for i in c.interfaces:
                agg = by_name.setdefault(i["name"], {"received": 0, "dropped": 0, "freezes": 0})
                for k in agg:
                    agg[k] += i[k]
        interfaces = []
        for iface in self.cfg.sensing.interfaces:
            entry: dict[str, Any] = {"name": iface.name, "mode": iface.mode, "link": system.interface_state(iface.name)}
            if iface.mode == "ERSPAN":
                entry["address"] = system.interface_ipv4(iface.name)
            entry.update(by_name.get(iface.name, {"received": 0, "dropped": 0, "freezes": 0}))
            interfaces.append(entry)
        pids = [os.getpid(), *(p.pid for p in self.procs if p.pid)]
        hour_ago = now - 3600
        return {
            "state": "paused" if self.paused else "sensing",
            "version": __version__,
            "uptime_seconds": round(now - self.started, 1),
            "workers": self.workers,
            "interfaces": interfaces,
            "throughput": {
                "pps": round(pps),
                "mbps": round(mbps, 2),
                "utilisation_percent": round(pps / cap.pps * 100, 2) if cap and cap.pps else 0.0,
            },
            "capacity": cap.as_dict() if cap else {},
            "assets_last_hour": sum(1 for a in self.reporter.assets.values() if a.sender and a.last >= hour_ago),
            "system": {
                "cpu_percent": self.cpu.percent(pids, now),
                "sensor_memory_mb": system.rss_mb(pids),
                "memory": system.memory(),
                "disk": system.disk(self.spool.directory),
            },
            "spool": self.spool.status().as_dict(),
            "reports": {
                "written": self.reports_written,
                "last": iso(self.last_report) if self.last_report else None,
                "next": iso(self.reporter.next_boundary) if math.isfinite(self.reporter.next_boundary) else None,
            },
            "stats": self._merged_stats(),
        }


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Sum counters of several workers (nested dicts of numbers; lists concatenate)."""
    for k, v in more.items():
        if isinstance(v, dict):
            _add(into.setdefault(k, {}), v)
        elif isinstance(v, bool) or not isinstance(v, int | float | list):
            into[k] = v
        elif isinstance(v, list):
            into[k] = into.get(k, []) + v
        elif k in ("first", "last"):
            into[k] = v
        else:
            into[k] = into.get(k, 0) + v


def _worker_entry(index: int, cfg: Config, rings: list[Ring], others: list[Ring], conn: Connection) -> None:
    for ring in others:
        ring.close()  # a worker holds its own sockets only: a dead worker's share is noticed
    run_worker(index, cfg, rings, conn)


def run(config_path: str | None) -> int:
    cfg = config.load(config_path)
    return Service(cfg, config_path).run()
