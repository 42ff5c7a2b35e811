"""A capture worker: reads its share of every sniffing interface into a Collector.

Workers do the per-packet work; the control process (service.py) owns reporting.
They talk over a pipe: the control asks for a harvest when a window closes, for a
pause, a resume, a new configuration or the end, and hands over the rings it opened
for this worker (the socket itself travels over the pipe); the worker pushes its
counters once a second for the status endpoint.

A link that goes down ends nothing: the socket reports ENETDOWN once, the error is
read and the worker waits; the kernel delivers to the same socket when the link
is back. An interface that disappears leaves its socket bound to nothing: the
worker reads what the ring still holds, closes it and says so, and the control
process hands over a new ring once the interface is back. Flows stay in the
Collector throughout.
"""

from __future__ import annotations

import contextlib
import ctypes
import select
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from typing import Any

from nps_sensor.capture.filters import drop_all, take_all
from nps_sensor.capture.ring import Ring, RingSettings, RingStats
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector

PR_SET_PDEATHSIG = 1
IDLE_WAIT = 0.2  # seconds a worker without traffic sleeps between looks at its pipe


@dataclass
class WorkerCounters:
    """Cumulative counters a worker pushes to the control process."""

    index: int
    packets: int = 0
    bytes: int = 0
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


def _die_with_parent() -> None:
    """If the control process dies, so do its workers (no orphan keeps the interfaces)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _filter(ring: Ring, drop: bool) -> None:
    """Pausing attaches a drop-all socket filter: no packet queues up, none counts as dropped."""
    if drop:
        drop_all(ring.sock)
    else:
        take_all(ring.sock)


class Worker:
    """One worker's rings (by interface number), collector and counters."""

    def __init__(self, index: int, cfg: Config, names: list[str], conn: Connection) -> None:
        self.index = index
        self.conn = conn
        self.collector = Collector(cfg)
        self.counters = WorkerCounters(index)
        self.names = names
        self.rings: dict[int, Ring] = {}
        # Kernel counters of rings already closed, so that an interface's totals survive it.
        self.retired = {j: RingStats() for j in range(len(names))}
        self.closing: dict[int, float] = {}  # rings of interfaces gone: when to close them (monotonic)
        self.paused = False

    def run(self) -> None:
        next_push = 0.0
        while True:
            busy = False if self.paused else self._read()
            if not self._messages():
                return
            now = time.monotonic()
            if self.closing:
                self._close_gone(now)
            if now >= next_push:
                next_push = now + 1.0
                self._check_rings()
                self._push()
            if not busy:
                fds = [r.fileno() for r in self.rings.values()] + [self.conn.fileno()]
                try:
                    readable, _, _ = select.select(fds, [], [], IDLE_WAIT)
                except InterruptedError:
                    continue
                for ring in list(self.rings.values()):
                    if ring.fileno() in readable and not ring.has_ready() and ring.error():
                        # ENETDOWN: the link went down, or the interface went away.
                        self._check_ring(ring)

    def _read(self) -> bool:
        busy = False
        for ring in self.rings.values():
            busy |= self._read_ring(ring)
        return busy

    def _read_ring(self, ring: Ring) -> bool:
        busy = False
        for batch in ring.ready():
            self.collector.process(batch)
            self.counters.packets += len(batch)
            self.counters.bytes += batch.wire_bytes()
            busy = True
        return busy

    def _messages(self) -> bool:
        """Handle what the control process sent; False when it is time to end."""
        conn = self.conn
        while conn.poll(0):
            try:
                message = conn.recv()
            except EOFError:
                return False  # the control process is gone
            kind = message[0]
            if kind == "harvest":
                conn.send(("harvest", self.index, self.collector.harvest(final=message[1])))
            elif kind == "ring":
                self._adopt(*message[1:])
            elif kind == "pause" and not self.paused:
                self.paused = True
                for ring in self.rings.values():
                    _filter(ring, True)
            elif kind == "resume" and self.paused:
                self.paused = False
                for ring in self.rings.values():
                    _filter(ring, False)
            elif kind == "reload":
                self.collector.reconfigure(message[1])
            elif kind == "stop":
                for ring in self.rings.values():
                    ring.close()
                return False
        return True

    def _adopt(self, number: int, ifindex: int, settings: RingSettings) -> None:
        """A ring the control process opened for this worker; its socket follows on the pipe."""
        sock = socket.socket(fileno=recv_handle(self.conn))
        ring = Ring.adopt(sock, ifindex, self.names[number], settings, number)
        old = self.rings.pop(number, None)
        if old is not None:
            self._retire(old)
        if self.paused:
            _filter(ring, True)
        self.rings[number] = ring

    def _check_rings(self) -> None:
        for ring in list(self.rings.values()):
            self._check_ring(ring)

    def _check_ring(self, ring: Ring) -> None:
        """A ring whose interface is gone is closed once the kernel handed over its
        last block (it does so `retire_ms` after the last packet); the control process
        learns it has to open a new one when the interface is back."""
        if ring.iface_number in self.closing or ring.state() != "missing":
            return  # up, or down: the kernel delivers to this socket again when the link is up
        self.closing[ring.iface_number] = time.monotonic() + ring.settings.retire_ms * 2 / 1000 + 0.05

    def _close_gone(self, now: float) -> None:
        for number, when in list(self.closing.items()):
            if now < when:
                continue
            del self.closing[number]
            ring = self.rings.pop(number)
            self._read_ring(ring)
            self._retire(ring)
            self.conn.send(("detached", self.index, number))

    def _retire(self, ring: Ring) -> None:
        st = ring.read_stats()
        total = self.retired[ring.iface_number]
        total.received += st.received
        total.dropped += st.dropped
        total.freezes += st.freezes
        ring.close()

    def _push(self) -> None:
        c = self.counters
        interfaces = []
        for j, name in enumerate(self.names):
            total = RingStats(**vars(self.retired[j]))
            ring = self.rings.get(j)
            if ring is not None:
                st = ring.read_stats()
                total.received += st.received
                total.dropped += st.dropped
                total.freezes += st.freezes
            interfaces.append(
                {"name": name, "attached": ring is not None, **vars(total)},
            )
        c.interfaces = interfaces
        c.stats = self.collector.stats_dict()
        c.at = time.time()
        self.conn.send(("counters", self.index, c))


def run_worker(index: int, cfg: Config, names: list[str], conn: Connection) -> None:
    _die_with_parent()
    # The control process decides when to stop; a terminal's Ctrl-C reaches it alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        Worker(index, cfg, names, conn).run()
    except (BrokenPipeError, ConnectionResetError):
        return  # the control process is gone
