"""A terminal's end of a serial line: what is typed goes to a TCP socket (QEMU's serial
chardev), what comes back is written to the terminal, byte for byte. tmux runs it in a
pane, which makes tmux the terminal attached to the VM's ttyS0 (as PuTTY or `virsh
console` would be). Raw mode: keys pass as typed (escape sequences, Ctrl-L), not as lines.

Usage: python serial_bridge.py PORT
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import sys
import termios
import tty


def bridge(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(None)
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        sel = selectors.DefaultSelector()
        sel.register(0, selectors.EVENT_READ)
        sel.register(sock, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj == 0:
                    data = os.read(0, 4096)
                    if not data:
                        return
                    sock.sendall(data)
                else:
                    data = sock.recv(65536)
                    if not data:
                        return
                    os.write(1, data)
    finally:
        with contextlib.suppress(termios.error):  # the terminal may be gone already
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    bridge(int(sys.argv[1]))
