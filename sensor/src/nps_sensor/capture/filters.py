"""Socket filters that take nothing: a paused ring, a socket held only to be there.

A classic BPF program of one instruction, `ret #0`, attached with SO_ATTACH_FILTER:
the kernel runs it before a packet is queued on the socket, so nothing is queued,
nothing is copied and, for a ring, nothing counts as dropped.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import struct

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # cBPF "ret #0"


def drop_all(sock: socket.socket) -> None:
    """From now on `sock` takes no packet."""
    program = ctypes.create_string_buffer(DROP_ALL)  # the kernel copies it: no need to keep it
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", 1, ctypes.addressof(program)))


def take_all(sock: socket.socket) -> None:
    """The filter off again (none attached is fine)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
