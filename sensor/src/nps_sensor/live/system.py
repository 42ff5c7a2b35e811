"""Readings of the machine for the status endpoint: CPU, memory, disk, interfaces."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from dataclasses import dataclass

SIOCGIFADDR = 0x8915


def interface_state(name: str) -> str:
    """ "up", "down" (switched off, or no carrier) or "missing", from sysfs (no privileges needed)."""
    try:
        with open(f"/sys/class/net/{name}/operstate", encoding="ascii") as f:
            state = f.read().strip()
    except OSError:
        return "missing"
    return "up" if state in ("up", "unknown") else "down"


def interface_enabled(name: str) -> bool:
    """Whether the interface exists and is administratively up (IFF_UP): a packet
    socket can join a fanout group on it then, with or without a carrier."""
    try:
        with open(f"/sys/class/net/{name}/flags", encoding="ascii") as f:
            return bool(int(f.read(), 16) & 1)
    except (OSError, ValueError):
        return False


def interface_ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(res[20:24])


@dataclass
class CpuSampler:
    """CPU use of a set of processes, from /proc, between two readings."""

    last_ticks: float = 0.0
    last_time: float = 0.0

    def percent(self, pids: list[int], now: float) -> float | None:
        ticks = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
        seconds = ticks / os.sysconf("SC_CLK_TCK")
        if not self.last_time:
            self.last_ticks, self.last_time = seconds, now
            return None
        elapsed = now - self.last_time
        used = (seconds - self.last_ticks) / elapsed * 100 if elapsed > 0 else 0.0
        self.last_ticks, self.last_time = seconds, now
        return round(used, 1)


def memory() -> dict[str, float]:
    info: dict[str, int] = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    total = info.get("MemTotal", 0) / 1024
    available = info.get("MemAvailable", 0) / 1024
    return {
        "total_mb": round(total),
        "used_mb": round(total - available),
        "used_percent": round((total - available) / total * 100, 1) if total else 0.0,
    }


def disk(path: str) -> dict[str, float]:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize / 2**20
    free = st.f_bavail * st.f_frsize / 2**20
    return {
        "total_mb": round(total),
        "free_mb": round(free),
        "used_percent": round((total - free) / total * 100, 1) if total else 0.0,
    }


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return round(total * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
