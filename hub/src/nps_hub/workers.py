"""Several hub processes (`nps-hub serve --workers N`), each accepting on a listening
socket of its own, so that the kernel spreads the sensors' connections among them.

Why: uvicorn's workers share one socket, and the first process to wake accepts every
connection waiting (asyncio accepts up to the backlog at once). When sensors upload
together, after an outage or a hub restart, one process could take them all while the
other stayed idle: in the fleet bench's update burst (100 sensors, 2 processes) it
happened in 2 runs of 6, which merged 16,400 and 16,600 assets a second where the others
merged 19,000 to 21,700 (docs/performance.md). With SO_REUSEPORT (Linux), each process binds the port itself and the
kernel hands each new connection to one of the sockets, by a hash of its addresses.

The sockets are made in the workers, not in the supervisor: uvicorn's supervisor passes
its list of sockets to each worker it starts (and restarts), pickled, and a `Listener`
in that list unpickles as a new socket bound in the worker. So the supervisor holds
none, and a worker that dies takes its socket, and the connections waiting in it, out
of the kernel's choice at once, instead of leaving one nobody accepts on.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from nps_hub.errors import HubError

log = logging.getLogger("nps-hub")


@dataclass(frozen=True)
class Listener:
    """Where to listen, standing for a socket in uvicorn's list: each worker that
    unpickles it gets a socket of its own (`bind`)."""

    host: str
    port: int

    def __reduce__(self) -> tuple[Callable[[str, int], socket.socket], tuple[str, int]]:
        return bind, (self.host, self.port)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) beside the other workers' (SO_REUSEPORT); uvicorn
    listens on it. A worker that cannot bind ends as one that cannot start, which stops
    the supervisor instead of restarting it in a loop."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        log.error("cannot listen on %s port %d: %s", host, port, e)
        sys.exit(STARTUP_FAILURE)
    return sock


def serve(config: Config) -> None:
    """Run `config.workers` processes until SIGINT or SIGTERM, each restarted if it dies."""
    supervisor = Multiprocess(config, sockets=[cast(socket.socket, Listener(config.host, config.port))])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise HubError("a hub process could not start (its error is above)")
