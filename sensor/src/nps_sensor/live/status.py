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
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nps_sensor.errors import SensorError


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
        try:
            self.server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        except OSError as e:
            raise SensorError(
                f"status endpoint {address}: {e.strerror} (is another sensor running? set sensing.status)"
            ) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="status", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
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
    """The status for people, in plain lines."""
    tp = status.get("throughput", {})
    cap = status.get("capacity", {})
    sysinfo = status.get("system", {})
    spool = status.get("spool", {})
    lines = [
        f"state:        {status.get('state')} ({status.get('workers')} capture workers, "
        f"up {status.get('uptime_seconds', 0):.0f} s)",
        f"throughput:   {tp.get('mbps', 0):.1f} Mbit/s, {tp.get('pps', 0):.0f} packets/s "
        f"({tp.get('utilisation_percent', 0):.1f}% of {cap.get('mbps', 0):.0f} Mbit/s calibrated)",
        f"assets:       {status.get('assets_last_hour', 0)} active in the last hour",
    ]
    for i in status.get("interfaces", []):
        addr = f", {i['address']}" if i.get("address") else ""
        lines.append(
            f"interface:    {i['name']} ({i['mode']}{addr}) link {i['link']}: "
            f"{i.get('received', 0)} received, {i.get('dropped', 0)} dropped, {i.get('freezes', 0)} ring freezes"
        )
    lines.append(
        f"system:       CPU {sysinfo.get('cpu_percent')}%, sensor memory {sysinfo.get('sensor_memory_mb')} MB, "
        f"RAM {sysinfo.get('memory', {}).get('used_percent')}% used, "
        f"disk {sysinfo.get('disk', {}).get('used_percent')}% used"
    )
    lines.append(
        f"spool:        {spool.get('reports', 0)} reports, {spool.get('bytes', 0)} bytes in {spool.get('directory')}; "
        f"{spool.get('dropped', 0)} dropped for space"
    )
    if spool.get("last_error"):
        lines.append(f"spool error:  {spool['last_error']}")
    reports = status.get("reports", {})
    lines.append(
        f"reports:      {reports.get('written', 0)} written, last {reports.get('last')}, next {reports.get('next')}"
    )
    return "\n".join(lines)
