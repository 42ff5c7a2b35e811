"""Reports the hub refused for what they hold, moved aside so the ones after them go up.

A refusal for the content (HTTP 400, 413, 415, 422) will not change by sending the
report again: the file moves to the quarantine folder (`quarantine/` in the spool),
with the hub's one-line reason beside it, and the uplink goes on with the next report.
The folder is bounded (reports and bytes): past the bound the oldest go, and how many
went is counted in a state file that survives restarts. Its counts travel in every
heartbeat, and the hub raises a `Reports Quarantined` event while it holds any.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from nps_sensor import atomic

FOLDER = "quarantine"
STATE = "state.json"
MAX_REPORTS = 100


class Quarantine:
    def __init__(self, spool_dir: str, max_bytes: int, max_reports: int = MAX_REPORTS) -> None:
        self.directory = os.path.join(spool_dir, FOLDER)
        self.max_bytes = max_bytes
        self.max_reports = max_reports

    def _reports(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.directory) if n.endswith(".json") and n != STATE)
        except FileNotFoundError:
            return []

    def _state(self) -> dict[str, Any]:
        return atomic.read_state(os.path.join(self.directory, STATE))

    def _save(self, state: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            atomic.write(os.path.join(self.directory, STATE), json.dumps(state).encode(), 0o640)

    def put(self, path: str, reason: str) -> None:
        """Move a spooled report here with the hub's reason; keep within the bounds."""
        os.makedirs(self.directory, mode=0o750, exist_ok=True)
        name = os.path.basename(path)
        os.replace(path, os.path.join(self.directory, name))
        atomic.write(os.path.join(self.directory, name + ".reason"), (reason + "\n").encode(), 0o640)
        state = self._state()
        state.update(last_reason=reason, last_report=name, updated=time.time())
        state["dropped"] = int(state.get("dropped", 0)) + self._make_room()
        self._save(state)

    def _make_room(self) -> int:
        names = self._reports()
        sizes = {n: self._size(n) for n in names}
        dropped = 0
        while names and (len(names) > self.max_reports or sum(sizes[n] for n in names) > self.max_bytes):
            oldest = names.pop(0)
            for victim in (oldest, oldest + ".reason"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, victim))
            dropped += 1
        return dropped

    def _size(self, name: str) -> int:
        try:
            return os.path.getsize(os.path.join(self.directory, name))
        except OSError:
            return 0

    def status(self) -> dict[str, Any]:
        names = self._reports()
        state = self._state()
        return {
            "reports": len(names),
            "bytes": sum(self._size(n) for n in names),
            "dropped": int(state.get("dropped", 0)),
            "last_reason": str(state.get("last_reason", ""))[:2000] if names else "",
            "last_report": str(state.get("last_report", "")) if names else "",
        }
