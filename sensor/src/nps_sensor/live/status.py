"""The local status endpoint (HTTP, 127.0.0.1 by default) and its command-line client.

GET /status gives the service's state as JSON; POST /pause and /resume stop and
restart sensing; POST /reload re-reads the configuration, as SIGHUP does (the hub's
uplink asks for it after writing the hub's configuration). The endpoint listens on
the management side only, on loopback unless configured otherwise: it has no
authentication, like the product's local console, and it changes nothing but the
sensing state and when the configuration is read.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from nps_sensor import __version__
from nps_sensor.errors import SensorError
from nps_sensor.live import system
from nps_sensor.live.worker import WorkerCounters
from nps_sensor.report import iso

if TYPE_CHECKING:
    from nps_sensor.live.service import Service

log = logging.getLogger("nps-sensor")
KERNEL_COUNTERS = ("received", "dropped", "freezes")


class Meter:
    """The workers' latest counters, merged for the status and the reports."""

    def __init__(self) -> None:
        self.counters: dict[int, WorkerCounters] = {}
        self.gone: list[WorkerCounters] = []  # the last counters of workers that died
        self.samples: list[tuple[float, int, int]] = []  # (time, packets, bytes) for the current rate

    def update(self, counters: WorkerCounters) -> None:
        self.counters[counters.index] = counters
        now = time.time()
        packets = sum(c.packets for c in self.all())
        nbytes = sum(c.bytes for c in self.all())
        self.samples.append((now, packets, nbytes))
        while len(self.samples) > 2 and self.samples[1][0] < now - 10:
            self.samples.pop(0)

    def retire(self, index: int) -> None:
        """Worker `index` died: what it counted stays in the totals, which never go back."""
        last = self.counters.pop(index, None)
        if last is not None:
            self.gone.append(last)

    def all(self) -> list[WorkerCounters]:
        return [*self.gone, *list(self.counters.values())]

    def rates(self) -> tuple[float, float]:
        """Packets/s and Mbit/s over the last ten seconds or so."""
        if len(self.samples) < 2:
            return 0.0, 0.0
        (t0, p0, b0), (t1, p1, b1) = self.samples[0], self.samples[-1]
        span = t1 - t0
        return ((p1 - p0) / span, (b1 - b0) * 8 / span / 1e6) if span > 0 else (0.0, 0.0)

    def stats(self) -> dict[str, Any]:
        """The engine's counters, summed over the workers."""
        merged: dict[str, Any] = {}
        for c in self.all():
            _add(merged, c.stats)
        return merged

    def kernel(self) -> dict[str, dict[str, int]]:
        """The kernel's counters per interface name, summed over the workers."""
        out: dict[str, dict[str, int]] = {}
        for c in self.all():
            for i in c.interfaces:
                agg = out.setdefault(i["name"], dict.fromkeys(KERNEL_COUNTERS, 0))
                for k in KERNEL_COUNTERS:
                    agg[k] += i[k]
        return out


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Sum counters of several workers (nested dicts of numbers; lists concatenate)."""
    for k, v in more.items():
        if isinstance(v, dict):
            _add(into.setdefault(k, {}), v)
        elif isinstance(v, bool) or not isinstance(v, int | float | list):
            into[k] = v
        elif isinstance(v, list):
            into[k] = into.get(k, []) + v
        elif k in ("first", "last"):
            into[k] = v
        else:
            into[k] = into.get(k, 0) + v


def _workers(service: Service) -> list[dict[str, Any]]:
    """Each capture worker's share: a skewed one shows an elephant flow, a new one its start."""
    out = []
    for i, proc in enumerate(list(service.procs)):
        c = service.meter.counters.get(i)
        out.append({"pid": proc.pid, "packets": c.packets if c else 0, "bytes": c.bytes if c else 0})
    return out


def status_of(service: Service) -> dict[str, Any]:
    """The service's state as GET /status gives it. It is read from the status
    thread while the main loop runs: every figure is a snapshot, none waits."""
    now = time.time()
    pps, mbps = service.meter.rates()
    cap = service.capacity
    kernel = service.meter.kernel()
    interfaces = []
    for iface, link in zip(service.cfg.sensing.interfaces, service.links.links, strict=True):
        entry: dict[str, Any] = {
            "name": iface.name,
            "mode": iface.mode,
            "link": system.interface_state(iface.name),
            "since": iso(link.since) if link.since else None,
            "capturing": bool(link.holders),
        }
        if iface.mode == "ERSPAN":
            entry["address"] = system.interface_ipv4(iface.name)
        entry.update(kernel.get(iface.name, dict.fromkeys(KERNEL_COUNTERS, 0)))
        interfaces.append(entry)
    pids = service.pids()
    hour_ago = now - 3600
    schedule = service.schedule
    return {
        "state": "paused" if service.paused else "sensing",
        "version": __version__,
        "uptime_seconds": round(now - service.started, 1),
        "workers": service.workers,
        "workers_replaced": service.replacements,
        "capture_workers": _workers(service),
        "interfaces": interfaces,
        "throughput": {
            "pps": round(pps),
            "mbps": round(mbps, 2),
            "utilisation_percent": round(pps / cap.pps * 100, 2) if cap and cap.pps else 0.0,
        },
        "capacity": cap.as_dict() if cap else {},
        "assets_last_hour": sum(1 for a in list(service.reporter.assets.values()) if a.sender and a.last >= hour_ago),
        "system": {
            "cpu_percent": service.cpu.percent(pids, now),
            "sensor_memory_mb": system.rss_mb(pids),
            "memory": system.memory(),
            "disk": system.disk(service.spool.directory),
        },
        "spool": service.spool.status().as_dict(),
        "reports": {
            "written": service.reports_written,
            "last": iso(service.last_report) if service.last_report else None,
            "next": iso(schedule.end) if schedule and math.isfinite(schedule.end) else None,
        },
        "stats": service.meter.stats(),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not worth a line; anything else is one line, never a traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, BrokenPipeError | ConnectionResetError):
            log.error("status request failed: %s", error)


class StatusServer:
    def __init__(
        self,
        address: str,
        status: Callable[[], dict[str, Any]],
        actions: dict[str, Callable[[], None]],
    ) -> None:
        host, _, port = address.rpartition(":")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/status", ""):
                    self._reply(200, outer.status())
                else:
                    self._reply(404, {"error": f"no such page {self.path}; try /status"})

            def do_POST(self) -> None:
                action = outer.actions.get(self.path.strip("/"))
                if action is None:
                    self._reply(404, {"error": f"no such action {self.path}; try /pause or /resume"})
                    return
                action()
                self._reply(200, outer.status())

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, indent=1).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are not worth a journal line each

        self.status = status
        self.actions = actions
        self.address = address
        # Bound now (the port is this sensor's), listening only once it can answer: until
        # then a client is refused at once rather than kept waiting.
        self.server = _Server((host.strip("[]"), int(port)), Handler, bind_and_activate=False)
        self._os(self.server.server_bind)
        self.listening = False
        self.thread = threading.Thread(target=self.server.serve_forever, name="status", daemon=True)

    def _os(self, step: Callable[[], None]) -> None:
        try:
            step()
        except OSError as e:
            self.server.server_close()
            raise SensorError(
                f"status endpoint {self.address}: {e.strerror} (is another sensor running? set sensing.status)"
            ) from None

    def listen(self) -> None:
        if not self.listening:
            self._os(self.server.server_activate)
            self.listening = True

    def start(self) -> None:
        """Listen (if not yet) and answer, in a thread of its own."""
        self.listen()
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def close(self) -> None:
        """Release the port of an endpoint that never started."""
        self.server.server_close()


def request(address: str, action: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """GET /status, or POST an action, on a running sensor."""
    url = f"http://{address}/{action or 'status'}"
    req = urllib.request.Request(url, method="POST" if action else "GET", data=b"" if action else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body: dict[str, Any] = json.load(r)
            return body
    except urllib.error.HTTPError as e:
        raise SensorError(f"{url}: {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SensorError(f"no sensor answers at {address} ({reason}); is `nps-sensor run` running?") from None


def render(status: dict[str, Any]) -> str:
    """The status for people, in plain lines; a figure not known yet reads "n/a"."""
    tp = status.get("throughput", {})
    cap = status.get("capacity", {})
    sysinfo = status.get("system", {})
    spool = status.get("spool", {})
    lines = [
        f"state:        {status.get('state')} ({status.get('workers')} capture workers, "
        f"{f'{replaced} replaced, ' if (replaced := status.get('workers_replaced')) else ''}"
        f"up {_figure(status.get('uptime_seconds'), '.0f', ' s')})",
        f"throughput:   {_figure(tp.get('mbps'), '.1f', ' Mbit/s')}, {_figure(tp.get('pps'), '.0f', ' packets/s')} "
        f"({_figure(tp.get('utilisation_percent'), '.1f', '%')} of "
        f"{_figure(cap.get('mbps'), '.0f', ' Mbit/s')} calibrated)",
        f"assets:       {status.get('assets_last_hour', 0)} active in the last hour",
    ]
    for i in status.get("interfaces", []):
        addr = f", {i['address']}" if i.get("address") else ""
        since = f" since {i['since']}" if i.get("since") and i.get("link") != "up" else ""
        lines.append(
            f"interface:    {i['name']} ({i['mode']}{addr}) link {i['link']}{since}: "
            f"{i.get('received', 0)} received, {i.get('dropped', 0)} dropped, {i.get('freezes', 0)} ring freezes"
        )
    memory, disk = sysinfo.get("memory", {}), sysinfo.get("disk", {})
    lines.append(
        f"system:       CPU {_figure(sysinfo.get('cpu_percent'), '.1f', '%')}, "
        f"sensor memory {_figure(sysinfo.get('sensor_memory_mb'), '.1f', ' MB')}, "
        f"RAM {_figure(memory.get('used_percent'), '.1f', '%')} used, "
        f"disk {_figure(disk.get('used_percent'), '.1f', '%')} used"
    )
    lines.append(
        f"spool:        {spool.get('reports', 0)} reports, {spool.get('bytes', 0)} bytes in {spool.get('directory')}; "
        f"{spool.get('dropped', 0)} dropped for space"
    )
    if spool.get("last_error"):
        lines.append(f"spool error:  {spool['last_error']}")
    reports = status.get("reports", {})
    lines.append(
        f"reports:      {reports.get('written', 0)} written, last {reports.get('last') or 'none yet'}, "
        f"next {reports.get('next') or 'n/a'}"
    )
    return "\n".join(lines)


def _figure(value: Any, spec: str, unit: str) -> str:
    """A number as `spec` formats it, with its unit; "n/a" when there is none (yet)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return format(value, spec) + unit
