"""The sniffing interfaces as the control process keeps them: their links and rings.

The control process opens every interface once per capture worker, in worker
order, joins the sockets into one fanout group per interface (a group the kernel
numbers, so no other process's group is joined by chance) and hands each worker
its socket over the worker's pipe. Member i of every group is worker i, so a flow
reaches the same worker on every interface: the interfaces act as one aggregated
(bonded) sniffing interface. The kernel keeps that order when a link goes down
and comes back (the sockets stay; it relinks them in the order they were made).

An interface that is missing, or switched off, at start or later is waited for:
its link state is logged on every change and shown in the status, and once it is
there and up (and every worker let go of its old ring, if it had one) it gets
new rings the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import send_handle

from nps_sensor.capture.fanout import PACKET_FANOUT_CBPF, program
from nps_sensor.capture.ring import Ring, RingSettings
from nps_sensor.config import SniffingInterface
from nps_sensor.errors import SensorError
from nps_sensor.live import system

log = logging.getLogger("nps-sensor")


@dataclass
class Link:
    """One sniffing interface: its link as last seen, since when, and who holds a ring."""

    name: str
    mode: str
    state: str = ""  # "up", "down" or "missing"; "" before the first look
    since: float = 0.0  # wall-clock time of the last change
    holders: set[int] = field(default_factory=set)  # workers reading a ring of it
    attached: int = 0  # times it got rings (1 at start when it is there)
    group: int | None = None  # the fanout group of its rings
    last_error: str = ""


@dataclass
class Worker:
    """What the links need of a capture worker: its pipe and its process id."""

    conn: Connection
    pid: int


class Links:
    def __init__(self, interfaces: list[SniffingInterface], settings: RingSettings) -> None:
        self.links = [Link(i.name, i.mode) for i in interfaces]
        self.settings = settings
        self.program = program()

    def watch(self, workers: list[Worker], now: Callable[[], float] = time.time) -> None:
        """Look at every link: log a change, give rings to an interface that has none
        and can take them."""
        for j, link in enumerate(self.links):
            state = system.interface_state(link.name)
            if state != link.state:
                self._changed(link, state, now())
            if not link.holders and system.interface_enabled(link.name):
                self.attach(j, workers)

    def _changed(self, link: Link, state: str, at: float) -> None:
        before, was = link.state, link.since
        link.state, link.since = state, at
        if before == "":
            if state == "missing":
                log.warning(
                    "sniffing interface %s does not exist: waiting for it (see `ip link`; fix sensing.interfaces)",
                    link.name,
                )
            elif state == "down":
                log.warning("sniffing interface %s is down: no traffic until its link comes up", link.name)
        elif state == "up":
            log.info("sniffing interface %s: link up after %.0f s %s; sensing goes on", link.name, at - was, before)
        elif state == "down":
            log.warning("sniffing interface %s: link down; flows are kept and sensing goes on when it is up", link.name)
        else:
            log.warning("sniffing interface %s: gone; waiting for it to come back", link.name)

    def attach(self, j: int, workers: list[Worker]) -> bool:
        """Rings on interface `j` for every worker, in worker order, in a new fanout group."""
        link = self.links[j]
        rings: list[Ring] = []
        try:
            group: int | None = None
            for _ in workers:
                ring = Ring(link.name, self.settings, iface_number=j)
                rings.append(ring)
                group = ring.join_fanout(group, PACKET_FANOUT_CBPF, self.program)
            for i, (ring, worker) in enumerate(zip(rings, workers, strict=True)):
                worker.conn.send(("ring", j, ring.ifindex, self.settings))
                send_handle(worker.conn, ring.fileno(), worker.pid)
                link.holders.add(i)
        except (SensorError, OSError) as e:
            # Gone again meanwhile, or switched off: the next look tries again.
            message = str(e)
            if message != link.last_error:
                log.warning("sniffing interface %s: cannot capture yet: %s", link.name, message)
            link.last_error = message
            return False
        finally:
            for ring in rings:
                ring.close()  # the workers hold them now
        link.attached += 1
        link.group = group
        link.last_error = ""
        if link.attached > 1:
            log.info("sniffing interface %s: capturing again (new sockets)", link.name)
        return True

    def rejoin(self, i: int, worker: Worker) -> None:
        """Worker `i` is new (the old one died, and the kernel took its sockets out of
        the groups): a ring in each group the others still read, so that no packet is
        read twice and none is missed by the others meanwhile. The kernel put the last
        member in the dead one's place and the new one goes last, in every group alike,
        so a flow still reaches one worker on every interface. An interface no other
        worker reads gets new rings for all on the next `watch`."""
        for j, link in enumerate(self.links):
            link.holders.discard(i)
            if not link.holders or link.group is None:
                continue
            ring: Ring | None = None
            try:
                ring = Ring(link.name, self.settings, iface_number=j)
                ring.join_fanout(link.group, PACKET_FANOUT_CBPF, self.program)
                worker.conn.send(("ring", j, ring.ifindex, self.settings))
                send_handle(worker.conn, ring.fileno(), worker.pid)
                link.holders.add(i)
            except (SensorError, OSError) as e:
                log.warning("sniffing interface %s: no ring for the new capture worker %d yet: %s", link.name, i, e)
            finally:
                if ring is not None:
                    ring.close()

    def detached(self, worker: int, j: int) -> None:
        """A worker closed its ring on interface `j` (the interface went away)."""
        self.links[j].holders.discard(worker)
