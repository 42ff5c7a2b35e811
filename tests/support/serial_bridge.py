"""A terminal's end of a VM's serial line for tests: tmux runs it in a pane, which makes
tmux the terminal attached to the VM's ttyS0 (as PuTTY or `virsh console` would be).
The bridge is `inv image.run`'s own (nps_image.qemu.attach).

Usage: python serial_bridge.py PORT
"""

from __future__ import annotations

import sys

from nps_image.qemu import attach

if __name__ == "__main__":
    attach(int(sys.argv[1]))
