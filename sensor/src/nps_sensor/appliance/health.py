"""What `nps-sensor status` adds about the machine: each sniffing interface's
promiscuous flag and receive offloads, and the registration with the hub.

The live service reports what it captures (link, packets, drops); whether the NIC
hands it the frames as they were on the wire is the machine's side: promiscuous mode
(else the NIC drops frames for other MACs) and GRO/LRO off (else the kernel merges
segments into frames that never crossed the wire). A runbook's "this sensor works"
needs both, and the registration, in one answer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

IFF_PROMISC = 0x100
# The offloads the appliance turns off (its .link file); GRO and LRO change what is captured.
OFFLOADS = ("generic-receive-offload", "large-receive-offload", "generic-segmentation-offload",
            "tcp-segmentation-offload")  # fmt: skip
RECEIVE = OFFLOADS[:2]


def interface(name: str, sys_net: Path = Path("/sys/class/net")) -> dict[str, Any]:
    """{promiscuous, offloads: {feature: on/off}, offloads_off}; None where unknown."""
    try:
        flags = int((sys_net / name / "flags").read_text().strip(), 16)
        promiscuous: bool | None = bool(flags & IFF_PROMISC)
    except (OSError, ValueError):
        promiscuous = None
    offloads = _offloads(name)
    off = all(offloads.get(f) == "off" for f in RECEIVE) if offloads else None
    return {"promiscuous": promiscuous, "offloads": offloads, "offloads_off": off}


def _offloads(name: str) -> dict[str, str]:
    ethtool = shutil.which("ethtool") or ("/usr/sbin/ethtool" if Path("/usr/sbin/ethtool").exists() else None)
    if ethtool is None:
        return {}
    try:
        out = subprocess.run([ethtool, "-k", name], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key in OFFLOADS:
            found[key] = value.split()[0] if value.split() else ""
    return found


def registration(state: str) -> dict[str, Any]:
    """The hub this sensor is registered with (no credential), or why it is unknown."""
    try:
        data = json.loads(Path(state).read_text())
    except FileNotFoundError:
        return {"registered": False}
    except PermissionError:
        return {"registered": None, "error": f"{state}: readable by root only (sudo)"}
    except (OSError, ValueError) as e:
        return {"registered": None, "error": f"{state}: unreadable ({e})"}
    return {
        "registered": True,
        "hub": data.get("hub", ""),
        "name": data.get("name", ""),
        "sensor_id": data.get("sensor_id", 0),
    }
