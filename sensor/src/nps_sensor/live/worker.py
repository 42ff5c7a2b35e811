"""A capture worker: reads its share of every sniffing interface into a Collector.

Workers do the per-packet work; the control process (service.py) owns reporting.
They talk over a pipe: the control asks for a harvest when a window closes, for a
pause, a resume, a new configuration or the end; the worker pushes its counters
once a second for the status endpoint.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from nps_sensor.capture.ring import Ring
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
PR_SET_PDEATHSIG = 1
DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # cBPF "ret #0": the socket takes nothing


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
        buf = ctypes.create_string_buffer(DROP_ALL)
        prog = struct.pack("HL", 1, ctypes.addressof(buf))
        ring.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    else:
        with contextlib.suppress(OSError):
            ring.sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)


def run_worker(index: int, cfg: Config, rings: list[Ring], conn: Connection, paused: bool = False) -> None:
    _die_with_parent()
    # The control process decides when to stop; a terminal's Ctrl-C reaches it alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    collector = Collector(cfg)
    counters = WorkerCounters(index)
    if paused:
        for ring in rings:
            _filter(ring, True)
    fds = [r.fileno() for r in rings] + [conn.fileno()]
    next_push = 0.0
    while True:
        busy = False
        if not paused:
            for ring in rings:
                for batch in ring.ready():
                    collector.process(batch)
                    counters.packets += len(batch)
                    counters.bytes += int(batch.wirelen.sum())
                    busy = True
        while conn.poll(0):
            try:
                message = conn.recv()
            except EOFError:
                return  # the control process is gone
            kind = message[0]
            if kind == "harvest":
                conn.send(("harvest", index, collector.harvest(final=message[1])))
            elif kind == "pause" and not paused:
                paused = True
                for ring in rings:
                    _filter(ring, True)
            elif kind == "resume" and paused:
                paused = False
                for ring in rings:
                    _filter(ring, False)
            elif kind == "reload":
                collector.reconfigure(message[1])
            elif kind == "stop":
                for ring in rings:
                    ring.close()
                return
        now = time.monotonic()
        if now >= next_push:
            next_push = now + 1.0
            counters.interfaces = [
                {"name": r.interface, "received": st.received, "dropped": st.dropped, "freezes": st.freezes}
                for r in rings
                for st in (r.read_stats(),)
            ]
            counters.stats = collector.stats_dict()
            counters.at = time.time()
            conn.send(("counters", index, counters))
        if not busy:
            try:
                readable, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                continue
            for ring in rings:
                if ring.fileno() in readable and not ring.has_ready():
                    # Readable without a block: the socket reports an error (the
                    # interface went away). Say so and end: the service restarts.
                    err = ring.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        conn.send(("error", index, f"interface {ring.interface}: {os.strerror(err)}"))
                        return
