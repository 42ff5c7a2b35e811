"""`nps-sensor run`: the appliance's sensing service.

The control process forks the capture workers, which do the per-packet work
(worker.py), and gives them rings on every sniffing interface as the interfaces
come and go (links.py). It keeps for itself what is per window: when a reporting
window ends (schedule.py: on the monotonic clock) it gathers every worker's
harvest, merges them (they are additive) and hands them to the one Reporter,
whose reports go to the durable spool. A link that goes down, or an interface
that disappears, ends nothing: the status says so, and sensing goes on when it is
back. SIGTERM closes the last, partial window into the spool before exiting;
SIGHUP re-reads the configuration without losing flows. A worker that dies (a
bug, the kernel's OOM killer) is replaced in place: its share of the traffic goes
to the others until the new one joins their fanout groups, the open window goes on
(only the dead worker's harvest since the last report is lost), and the status
counts it. Should workers keep dying (RESTART_LIMIT within RESTART_SPAN), the
service writes the window and ends with status 1 for systemd to restart it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from socketserver import BaseServer
from typing import Any

from nps_sensor import __version__, config
from nps_sensor.capture.ring import RingSettings
from nps_sensor.classify import Classifier
from nps_sensor.config import Config
from nps_sensor.discovery import registry
from nps_sensor.errors import SensorError
from nps_sensor.live import system
from nps_sensor.live.calibrate import Capacity, calibrate
from nps_sensor.live.links import Links, Worker
from nps_sensor.live.schedule import Clock, Close, Schedule, SystemClock
from nps_sensor.live.silence import GreSilence
from nps_sensor.live.spool import Spool
from nps_sensor.live.status import Meter, StatusServer, status_of
from nps_sensor.live.worker import run_worker
from nps_sensor.pipeline import Collector
from nps_sensor.report import Harvest, Report, Reporter

log = logging.getLogger("nps-sensor")
HARVEST_TIMEOUT = 60.0  # seconds a worker may take to hand over a harvest
TICK = 0.5  # seconds between looks at the links, at most
RESTART_LIMIT = 3  # workers replaced within RESTART_SPAN before the service gives up
RESTART_SPAN = 600.0  # seconds


def default_workers() -> int:
    """One capture worker per core left after the control process (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


class Service:
    """The sensing service: one control process over the capture workers.

    It owns what is per window and per appliance: the workers and their rings
    (`links`), the schedule of reporting windows, the one `Reporter` and the durable
    spool its reports go to, the status the local endpoint serves (`requests` are
    the actions it queued), and the counters the status shows. The main loop runs in
    `run`; signals only set flags (`_stop`, `_reload`) the loop reads.
    """

    def __init__(self, cfg: Config, config_path: str | None, clock: Clock | None = None) -> None:
        sensing = cfg.sensing
        if not sensing.interfaces:
            raise SensorError(
                f"{cfg.source}: no sniffing interface configured (add sensing.interfaces, e.g. [{{name: eth1}}])"
            )
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.workers = sensing.workers or default_workers()
        self.spool = Spool(sensing.spool_dir, sensing.spool_max_mb * 2**20)
        self.reporter = Reporter(cfg, Classifier(cfg), self._emit)
        self.schedule: Schedule | None = None
        self.links = Links(sensing.interfaces, RingSettings(block_size=4 << 20, blocks=max(4, sensing.ring_mb // 4)))
        self.started = time.time()
        self.paused = False
        self.meter = Meter()
        self.cpu = system.CpuSampler()
        self.reports_written = 0
        self.last_report: float | None = None
        self.capacity: Capacity | None = None
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.requests: list[str] = []  # actions from the status endpoint, run by the main loop
        self.replaced: list[float] = []  # when dead workers were replaced (monotonic)
        self.replacements = 0
        self.status_server: StatusServer | None = None
        self.silence = GreSilence()  # no ICMP answers to ERSPAN (silence.py)
        self.lock = threading.Lock()
        self._stop = False
        self._reload = False

    # --- setup ----------------------------------------------------------------------

    def preflight(self) -> None:
        """What is worth a line at start: an ERSPAN interface without an address, a
        spool bound its file system cannot hold."""
        for iface in self.cfg.sensing.interfaces:
            present = system.interface_state(iface.name) != "missing"
            if iface.mode == "ERSPAN" and present and not system.interface_ipv4(iface.name):
                log.warning(
                    "interface %s is in ERSPAN mode but has no IPv4 address: give it the address the switch sends to",
                    iface.name,
                )
        room = self.spool.room_mb()
        if room < self.cfg.sensing.spool_max_mb:
            log.warning(
                "spool %s: max_mb %d cannot be met, its file system has room for %.0f MB: reports beyond "
                "that drop the oldest (free space there or lower sensing.spool.max_mb)",
                self.spool.directory,
                self.cfg.sensing.spool_max_mb,
                room,
            )

    def _start_workers(self, status: StatusServer) -> None:
        self.status_server = status
        for i in range(self.workers):
            conn, proc = self._fork(i)
            self.conns.append(conn)
            self.procs.append(proc)

    def _fork(self, i: int) -> tuple[Connection, multiprocessing.process.BaseProcess]:
        """Worker `i`'s process and the control's end of its pipe."""
        assert self.status_server is not None
        ctx = multiprocessing.get_context("fork")
        names = [iface.name for iface in self.cfg.sensing.interfaces]
        parent, child = ctx.Pipe()
        # What the control process holds is not the worker's: the status endpoint's
        # socket, the pipes to the other workers.
        theirs = (self.status_server.server, [c for j, c in enumerate(self.conns) if j != i])
        proc = ctx.Process(target=_worker_entry, args=(i, self.cfg, names, child, *theirs), name=f"capture-{i}")
        proc.start()
        child.close()
        return parent, proc

    def _handles(self) -> list[Worker]:
        return [Worker(conn, proc.pid or 0) for conn, proc in zip(self.conns, self.procs, strict=True)]

    # --- running --------------------------------------------------------------------

    def run(self) -> int:
        self.preflight()
        # The status endpoint's port first: a busy one ends the start before an interface is touched.
        status = StatusServer(
            self.cfg.sensing.status,
            self.status,
            {
                "pause": lambda: self._request("pause"),
                "resume": lambda: self._request("resume"),
                "reload": self._on_reload_request,  # the uplink wrote a new configuration from the hub
            },
        )
        if any(i.mode == "ERSPAN" for i in self.cfg.sensing.interfaces):
            self.silence.hold()
        try:
            self.capacity = calibrate(self.workers)
            log.info(
                "calibrated: %.0f packets/s per core, about %.0f Mbit/s with %d workers",
                self.capacity.pps_per_core,
                self.capacity.mbps,
                self.workers,
            )
            self._start_workers(status)
            self.links.watch(self._handles())
            status.listen()
        except BaseException:
            status.close()
            self._end_workers()
            self.silence.release()
            raise
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
        self.reporter.start_at(self.clock.wall())
        self.schedule = Schedule(self.cfg.reporting.new_assets, self.cfg.reporting.updates, self.clock)
        self.cpu.percent(self.pids(), time.time())  # the first status has a CPU figure to show
        try:
            return self._loop(self.schedule)
        finally:
            status.stop()
            self._end_workers()
            self.silence.release()

    def _end_workers(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()

    def _loop(self, schedule: Schedule) -> int:
        while not self._stop:
            if self._reload:
                self._reload = False
                self._apply_reload()
            self._run_requests()
            close = schedule.poll()
            if close is not None:
                self._close(close)
            timeout = max(0.0, min(TICK, schedule.deadline - self.clock.mono()))
            for conn in wait([*self.conns, *(p.sentinel for p in self.procs)], timeout):
                if isinstance(conn, Connection):
                    self._receive(conn)
            dead = [i for i, p in enumerate(self.procs) if not p.is_alive()]
            if dead and not self._replace(dead):
                self._final_window()
                return 1
            self.links.watch(self._handles())
        self._final_window()
        log.info("stopped; %d reports in the spool", self.spool.status().reports)
        return 0

    def _replace(self, dead: list[int]) -> bool:
        """New workers in place of dead ones; False when too many died lately."""
        now = time.monotonic()
        self.replaced = [t for t in self.replaced if now - t < RESTART_SPAN]
        for i in dead:
            proc = self.procs[i]
            if len(self.replaced) >= RESTART_LIMIT:
                log.error(
                    "capture worker %s stopped (exit code %s): %d workers died within %.0f minutes; restarting "
                    "the service",
                    proc.name,
                    proc.exitcode,
                    len(self.replaced) + 1,
                    RESTART_SPAN / 60,
                )
                return False
            log.error(
                "capture worker %s stopped (exit code %s); a new one takes its place (its traffic since the last "
                "report is lost)",
                proc.name,
                proc.exitcode,
            )
            self.replaced.append(now)
            self.replacements += 1
            self.meter.retire(i)
            self.conns[i].close()
            self.conns[i], self.procs[i] = self._fork(i)
            self.links.rejoin(i, Worker(self.conns[i], self.procs[i].pid or 0))
        return True

    def _close(self, close: Close) -> None:
        self.reporter.close_at(self._gather(), close.end, close.update, close.stepped)

    def _final_window(self) -> None:
        """SIGTERM: the partial window goes to the spool too (nothing seen is lost)."""
        self.reporter.finish(self._gather(final=True), self.clock.wall())

    def _receive(self, conn: Connection) -> Any:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return None
        if message[0] == "counters":
            self.meter.update(message[2])
        elif message[0] == "detached":
            self.links.detached(message[1], message[2])
        elif message[0] == "error":
            log.error("capture worker %d: %s", message[1], message[2])
        return message

    def _gather(self, final: bool = False) -> Harvest:
        """Every worker's harvest since the last one, merged. A worker that has ended
        gives none (what it held is lost) and holds up nobody else's."""
        asked: dict[int, Connection] = {}
        for i, conn in enumerate(self.conns):
            with contextlib.suppress(OSError):  # BrokenPipeError: it has ended
                conn.send(("harvest", final))
                asked[i] = conn
        parts: dict[int, Harvest] = {}
        deadline = time.monotonic() + HARVEST_TIMEOUT
        while asked:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("capture workers %s did not hand over their harvest in time", sorted(asked))
                break
            for ready in wait(list(asked.values()), left):
                assert isinstance(ready, Connection)
                i = self.conns.index(ready)
                message = self._receive(ready)
                if message is None:
                    del asked[i]  # ended
                elif message[0] == "harvest":
                    parts[i] = message[2]
                    del asked[i]
        if not parts:
            return Collector(self.cfg).harvest()  # nothing new; the reporter still closes the window
        return Harvest.merge([parts[i] for i in sorted(parts)], registry.sampled())

    def _emit(self, report: Report) -> None:
        body = report.as_dict()
        body["sensor"] = {"version": __version__, "hostname": os.uname().nodename}
        body["stats"] = self.meter.stats()
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
        if self.schedule is not None:
            self.schedule.reconfigure(cfg.reporting.new_assets, cfg.reporting.updates)
        self._tell(("reload", cfg))
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
            self._tell((action,))
            log.info("sensing %s", "paused" if self.paused else "resumed")

    def _tell(self, message: tuple[Any, ...]) -> None:
        """A message to every worker; one that has ended is noticed by the main loop."""
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(message)

    # --- status ---------------------------------------------------------------------

    def pids(self) -> list[int]:
        return [os.getpid(), *(p.pid for p in self.procs if p.pid)]

    def status(self) -> dict[str, Any]:
        """What GET /status answers (status.py puts it together)."""
        return status_of(self)


def _worker_entry(
    index: int, cfg: Config, names: list[str], conn: Connection, server: BaseServer, pipes: list[Connection]
) -> None:
    server.server_close()
    for pipe in pipes:
        pipe.close()
    run_worker(index, cfg, names, conn)


def run(config_path: str | None) -> int:
    cfg = config.load(config_path)
    return Service(cfg, config_path).run()
