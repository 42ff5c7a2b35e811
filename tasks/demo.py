"""`inv demo`: from a fresh clone to an inventory in the hub, on this machine, in one command."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import ROOT


@task(
    auto_shortflags=False,
    help={
        "pcap": "replay this capture (its first --packets Ethernet frames) instead of a generated LAN",
        "packets": "how many frames to replay (default 5000)",
        "stop": "stop once the hub shows the assets, instead of waiting for Ctrl-C (scripts, CI)",
        "image": "boot the newest image in this folder (inv image.build --output's) instead of building one",
    },
)
def demo(c: Context, pcap: str = "", packets: int = 5000, stop: bool = False, image: str = "") -> None:
    """Build the image (cached), start a hub, boot the appliance in QEMU registered to it, replay a capture
    into its sniffing NIC and wait until the hub shows the assets; then the hub's URL and login.
    Ctrl-C stops everything and leaves nothing behind."""
    from nps_image.demo import Demo, Shown, run
    from nps_image.steps import BuildError

    if pcap and not Path(pcap).is_file():
        raise Exit(f"demo: {pcap}: no such capture file", code=2)
    started = time.monotonic()

    def keep(shown: Shown) -> None:
        print(
            f"\nThe hub shows {len(shown.assets)} assets from the appliance {shown.sensor['hostname']!r} "
            f"({shown.sent} frames replayed), {time.monotonic() - started:.0f} s after the start.\n"
            f"  hub:          {shown.url}/  (its own certificate, SHA-256 {shown.fingerprint})\n"
            f"  login:        {shown.user} / {shown.password}\n"
            f"  API:          {shown.url}/api/v1/assets?sensor={shown.sensor['id']}\n"
            "  stages:       " + ", ".join(f"{k} {v:.0f} s" for k, v in d.timings.items()),
            flush=True,
        )
        if stop:
            return
        print("Ctrl-C stops the appliance and the hub and removes what the demo made.", flush=True)
        while True:
            signal.pause()

    d = Demo(
        ROOT / "build" / "demo",
        Path(pcap) if pcap else None,
        packets,
        Path(image) if image else None,
        say=lambda s: print(s, flush=True),
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        run(d, keep)
    except BuildError as e:
        raise Exit(f"demo: {e}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("\ndemo: stopped; the appliance, the hub and their files are gone", code=130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
