"""A passive sensor sends nothing on the mirror: not even the kernel's ICMP answers.

An ERSPAN destination has an address, so the kernel's IP stack sees the GRE packets a
switch sends to it too (after the capture rings took their copy). With no GRE tunnel
configured it answers them with ICMP "protocol unreachable", rate-limited to about one
a second to every switch: traffic a passive sensor must never send, which some
switches count and some IDS report. A raw socket for GRE counts as the packets'
taker, and the kernel then answers nothing. It takes nothing itself (a drop-all
socket filter runs before anything is queued): the packets are read, as every other,
from the rings. Held while the service runs, for IPv4 and IPv6 destinations alike.
"""

from __future__ import annotations

import contextlib
import logging
import socket

from nps_sensor.capture.filters import drop_all

log = logging.getLogger("nps-sensor")
IPPROTO_GRE = 47


class GreSilence:
    """The raw GRE sockets, opened by `hold` and closed by `release`."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def hold(self) -> None:
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_GRE)
            except OSError as e:
                if family == socket.AF_INET:
                    log.warning(
                        "cannot keep the kernel from answering ERSPAN packets with ICMP (a raw GRE socket: %s)", e
                    )
                continue  # no IPv6 here: nothing to answer with either
            drop_all(sock)
            self.sockets.append(sock)

    def release(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.sockets = []
