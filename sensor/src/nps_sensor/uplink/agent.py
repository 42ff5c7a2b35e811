"""`nps-sensor uplink`: the agent that keeps a registered sensor in touch with its hub.

Every heartbeat it sends the sensor's status (the live service's own, from its
local status endpoint, and the uplink's), and gets back what the hub wants: sensing
or paused, quick actions to run (each runs once, and is acknowledged), a newer asset
configuration. Between heartbeats it drains the report spool oldest first: each
report is compressed and sent with its ID (a digest of its bytes, so a report sent
twice is stored once; a large one goes in parts, parts.py), and its file is deleted
only after the hub confirmed it stored the report.

Failures that pass (the hub or the network away, a 5xx, 408, 429) keep the order:
the same report is tried again with a growing back-off (or after the hub's
Retry-After); nothing leaves the spool meanwhile except what the spool's own size
bound drops (counted). A report the hub refuses for its content is moved to the
quarantine (quarantine.py) and the next one goes up: one bad report never stops the
ones behind it, and never stops the uplink.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import yaml

from nps_sensor import __version__, atomic, config
from nps_sensor.errors import SensorError
from nps_sensor.live import status as local
from nps_sensor.live.spool import NAME
from nps_sensor.uplink import state, updates
from nps_sensor.uplink.client import Gone, HubClient, Refused, Retry
from nps_sensor.uplink.parts import parts, report_id
from nps_sensor.uplink.proxy import ProxySettings
from nps_sensor.uplink.quarantine import Quarantine

log = logging.getLogger("nps-sensor.uplink")
BACKOFF_MAX = 300.0
DRAIN_EVERY = 5.0
KEEP_DONE = 200
CLASSIFICATION = ("internal", "excluded", "monitor_external")
REBOOT = ("systemctl", "reboot")
UPDATE_WAIT = 3600.0  # seconds an update may take before its command is reported failed


__all__ = ["Agent", "report_id", "send"]
QUARANTINE_SHARE = 0.2  # of the spool's bound, at most, for refused reports


class Agent:
    """The uplink to one hub, for one registered sensor (its `state` file).

    `run` loops: a heartbeat every `heartbeat_interval` (status up; the hub's wishes
    down: sensing or paused, actions, a newer configuration) and a drain of the spool
    between them. Failures back off (`backoff`, `failures`) rather than stop; the
    last one is kept (`last_error`) for the status. `once` runs one round (tests,
    `nps-sensor uplink --once`).
    """

    def __init__(
        self,
        state_path: str,
        config_path: str | None,
        proxy: ProxySettings | None = None,
        reboot: Callable[[], None] | None = None,
    ) -> None:
        self.state_path = state_path
        self.config_path = config_path
        self.state = state.load(state_path)
        self.cfg = config.load(config_path)
        self.client = HubClient(self.state.hub, self.state.token, self.state.ca_pem, proxy)
        self.reboot = reboot or _reboot
        self.quarantine = Quarantine(
            self.cfg.sensing.spool_dir, int(self.cfg.sensing.spool_max_mb * 2**20 * QUARANTINE_SHARE)
        )
        self.stop = False
        self.backoff = 0.0
        self.failures = 0
        self.uploaded = 0
        self.last_error = ""

    # --- the loop -------------------------------------------------------------------

    def run(self, once: bool = False) -> int:
        if not once:
            signal.signal(signal.SIGTERM, self._on_stop)
            signal.signal(signal.SIGINT, self._on_stop)
        log.info("uplink to %s as sensor %s", self.state.hub, self.state.name)
        next_beat = 0.0
        next_drain = 0.0
        try:
            while not self.stop:
                now = time.monotonic()
                try:
                    ran = False
                    if now >= next_beat:
                        if self.heartbeat():
                            return 0  # deregistered
                        next_beat = now + self.state.heartbeat_interval
                        ran = True
                    if now >= next_drain or once:
                        self.drain()
                        next_drain = time.monotonic() + DRAIN_EVERY
                        ran = True
                    if ran:
                        self._recovered()
                except Gone as e:
                    if self._farewell():
                        return 0  # deregistered: the hub's one answer said so
                    log.error("%s; the uplink stops (register again with a new code)", e)
                    return 1
                except Retry as e:
                    wait = max(self._failed(str(e)), e.retry_after or 0.0)
                    if once:
                        raise SensorError(str(e)) from None
                    next_beat = next_drain = time.monotonic() + wait
                if once:
                    return 0
                time.sleep(max(0.05, min(1.0, min(next_beat, next_drain) - time.monotonic())))
            return 0
        finally:
            self.client.close()

    def _farewell(self) -> bool:
        """A report refused for the credential may mean a deregistration the heartbeat
        has not heard yet: one heartbeat gets the hub's one answer (True: deregistered)."""
        try:
            return self.heartbeat()
        except SensorError:
            return False

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop = True

    def _failed(self, message: str) -> float:
        self.failures += 1
        self.backoff = min(BACKOFF_MAX, max(1.0, self.backoff * 2))
        wait = self.backoff * random.uniform(0.8, 1.2)
        if message != self.last_error or self.failures in (1, 10, 100) or self.failures % 1000 == 0:
            log.warning("%s; trying again in %.0f s", message, wait)
        self.last_error = message
        return wait

    def _recovered(self) -> None:
        if self.failures:
            log.info("the hub answers again after %d failed attempts", self.failures)
        self.failures = 0
        self.backoff = 0.0
        self.last_error = ""

    # --- heartbeat ------------------------------------------------------------------

    def local_status(self) -> dict[str, Any]:
        try:
            status = local.request(self.cfg.sensing.status, timeout=3.0)
        except SensorError as e:
            status = {"state": "stopped", "error": str(e), "spool": {"reports": len(self._spooled())}}
        status["uplink"] = {"uploaded": self.uploaded, "quarantine": self.quarantine.status()}
        return appliance_facts(status, self._beside("update.json"))

    def _beat(self, status: dict[str, Any], acks: list[dict[str, Any]]) -> dict[str, Any]:
        """One heartbeat's exchange. A status the hub refuses (a newer sensor's, say) is
        sent again reduced to what the hub needs most, so actions still arrive."""
        body = {"status": status, "config_version": self.state.config_version, "acks": acks}
        try:
            return self.client.post("/api/v1/agent/heartbeat", json=body)
        except Refused as e:
            log.error("%s; the heartbeat goes on with the state alone", e)
            essential = {k: status[k] for k in ("state", "uplink") if k in status}
            body = {"status": essential, "config_version": self.state.config_version, "acks": []}
            return self.client.post("/api/v1/agent/heartbeat", json=body)

    def heartbeat(self) -> bool:
        """One heartbeat; True when the hub deregistered this sensor (the credential is gone)."""
        self._update_ended()
        reply = self._beat(self.local_status(), self.state.acks)
        self._reached()
        if self.state.acks:
            self.state.acks = []
            self._save()
        interval = reply.get("heartbeat_interval")
        if isinstance(interval, int | float) and 1 <= interval <= 3600:
            self.state.heartbeat_interval = float(interval)
        for cmd in reply.get("commands") or []:
            if self.run_command(cmd):
                return True
        if reply.get("deregistered") and not reply.get("commands"):
            self._deregistered()
            return True
        changed = bool(reply.get("commands")) | self._sensing(bool(reply.get("sensing")))
        cfg = reply.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("version"), int):
            self.apply_config(cfg["version"], str(cfg.get("yaml") or ""))
        # The hub shows the state as it is now, not as it was a heartbeat ago; deregistered
        # meanwhile, this answer was the one it gives.
        if changed and self._beat(self.local_status(), []).get("deregistered"):
            self._deregistered()
            return True
        return False

    def _beside(self, name: str) -> str:
        """A file of the state directory (/var/lib/nps-sensor on the appliance)."""
        return os.path.join(os.path.dirname(self.state_path), name)

    def _reached(self) -> None:
        """Say beside the registration that this version reached the hub just now: an
        update's health check waits for it (nps_sensor.appliance.update_health)."""
        beat = {"version": __version__, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        with contextlib.suppress(OSError):
            atomic.write(self._beside("uplink.json"), json.dumps(beat).encode())

    def _sensing(self, wanted: bool) -> bool:
        """Keep the service in the state the hub wants (it starts sensing after a restart)."""
        current = self.local_status().get("state")
        try:
            if wanted and current == "paused":
                self._local("resume")
                return True
            if not wanted and current == "sensing":
                self._local("pause")
                return True
        except _ActionFailed as e:
            log.warning("could not %s sensing: %s", "start" if wanted else "pause", e)
        return False  # in the wanted state, or not running: nothing to steer

    def _local(self, action: str) -> str:
        try:
            after = local.request(self.cfg.sensing.status, action, timeout=5.0)
            return f"sensing service: {after.get('state')}"
        except SensorError as e:
            raise _ActionFailed(str(e)) from None

    # --- commands -------------------------------------------------------------------

    def run_command(self, cmd: dict[str, Any]) -> bool:
        """Run a quick action once and acknowledge it; True if it was the deregistration."""
        cid, action = cmd.get("id"), cmd.get("action")
        if not isinstance(cid, int):
            return False
        if cid in self.state.done:
            if cid != self.state.update.get("command"):  # an update is acknowledged when it ends
                self._ack(cid, True, "done before")
            return False
        if action == "update":
            return self._update(cid, cmd.get("bundle"))
        ok, result = True, ""
        try:
            if action == "start":
                result = self._local("resume")
            elif action == "pause":
                result = self._local("pause")
            elif action == "delete_assets":
                result = "the hub deleted the assets this sensor discovered; sensing goes on"
            elif action == "deregister":
                result = "credential deleted"
            elif action == "reboot":
                result = "rebooting"
            else:
                ok, result = False, f"unknown action {action!r}: update the sensor"
        except _ActionFailed as e:
            ok, result = False, str(e)
        self.state.done = [*self.state.done, cid][-KEEP_DONE:]
        self._save()
        log.info("hub action %s (#%d): %s", action, cid, result)
        self._ack(cid, ok, result)
        if action == "deregister" and ok:
            self._deregistered()
            return True
        if action == "reboot" and ok:
            self.reboot()
        return False

    def _update(self, cid: int, bundle: Any) -> bool:
        """Fetch the bundle and start the updater; the acknowledgement waits for its outcome."""
        self.state.done = [*self.state.done, cid][-KEEP_DONE:]
        try:
            path = updates.fetch(self.client, bundle, os.path.dirname(self.state_path))
            updates.start(path, cid)
        except SensorError as e:
            self._save()
            log.warning("hub action update (#%d): %s", cid, e)
            self._ack(cid, False, str(e))
            return False
        self.state.update = {"command": cid, "started": time.time()}
        self._save()
        log.info("hub action update (#%d): bundle %s handed to the updater", cid, bundle.get("version"))
        return False

    def _update_ended(self) -> None:
        """Acknowledge the hub's update command once the updater's journal says how it ended."""
        cid = self.state.update.get("command")
        if not isinstance(cid, int):
            return
        ended = updates.outcome(cid, self._beside("update.json"))
        if ended is None and time.time() - float(self.state.update.get("started", 0)) > UPDATE_WAIT:
            ended = (False, f"no outcome after {UPDATE_WAIT / 60:.0f} minutes (journalctl -u nps-sensor-update)")
        if ended is not None:
            self.state.update = {}
            self._save()
            log.info("hub action update (#%d): %s", cid, ended[1])
            self._ack(cid, *ended)

    def _ack(self, cid: int, ok: bool, result: str) -> None:
        try:
            self.client.post(f"/api/v1/agent/commands/{cid}/ack", json={"id": cid, "ok": ok, "result": result[:2000]})
        except Retry:
            self.state.acks = [*self.state.acks, {"id": cid, "ok": ok, "result": result[:2000]}]
            self._save()
        except Refused as e:
            log.error("acknowledgement of hub action #%d not taken: %s", cid, e)

    def _deregistered(self) -> None:
        log.warning("the hub deregistered this sensor: its credential is deleted; reports stay in the spool")
        state.forget(self.state_path)

    def _save(self) -> None:
        if os.path.exists(self.state_path):
            state.save(self.state_path, self.state)

    # --- configuration --------------------------------------------------------------

    def apply_config(self, version: int, text: str) -> None:
        """The hub's classification replaces the file's; the rest of the file stays."""
        if not self.config_path:
            log.warning("configuration %d from the hub not applied: the uplink runs without --config", version)
            return
        try:
            with open(self.config_path, encoding="utf-8") as f:
                current = yaml.safe_load(f) or {}
            incoming = yaml.safe_load(text) or {} if text else {}
            if not isinstance(current, dict) or not isinstance(incoming, dict):
                raise ValueError("not a mapping")
        except (OSError, ValueError, yaml.YAMLError) as e:
            log.error("configuration %d from the hub not applied: %s", version, e)
            return
        merged = {k: v for k, v in current.items() if k not in CLASSIFICATION}
        merged = {**{k: incoming[k] for k in CLASSIFICATION if k in incoming}, **merged}
        out = (
            f"# nps-sensor configuration. internal, excluded and monitor_external come from the\n"
            f"# management hub (configuration version {version}); edit them there.\n"
            + yaml.safe_dump(merged, sort_keys=False)
        )
        try:
            config.parse(out, self.config_path)
        except SensorError as e:
            log.error("configuration %d from the hub not applied: %s", version, e)
            return
        _write_atomic(self.config_path, out)
        self.cfg = config.load(self.config_path)
        self.state.config_version = version
        self._save()
        with contextlib.suppress(SensorError):
            local.request(self.cfg.sensing.status, "reload", timeout=5.0)
        log.info("configuration %d from the hub applied to %s", version, self.config_path)

    # --- the spool ------------------------------------------------------------------

    def _spooled(self) -> list[str]:
        directory = self.cfg.sensing.spool_dir
        try:
            names = sorted(n for n in os.listdir(directory) if NAME.match(n))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise SensorError(f"spool {directory}: cannot read it: {e.strerror}") from None
        return [os.path.join(directory, n) for n in names]

    def drain(self) -> int:
        """Send every spooled report, oldest first; each file goes once the hub stored it,
        or to the quarantine when the hub refuses what it holds."""
        sent = 0
        for path in self._spooled():
            if self.stop:
                break
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue  # the spool dropped it for room meanwhile
            try:
                send(self.client, data, os.path.basename(path))
            except Refused as e:
                self._set_aside(path, str(e))
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            sent += 1
            self.uploaded += 1
        if sent:
            log.info("%d reports uploaded to the hub", sent)
        return sent

    def _set_aside(self, path: str, reason: str) -> None:
        try:
            self.quarantine.put(path, reason)
        except OSError as e:
            raise SensorError(f"report {os.path.basename(path)} refused ({reason}) and not set aside: {e}") from None
        log.error("report %s set aside in %s: %s", os.path.basename(path), self.quarantine.directory, reason)


def send(client: HubClient, data: bytes, name: str) -> bool:
    """One report to the hub, in parts when it is large (parts.py), each with its id: a
    report sent again is stored once. Refused when the file is not a report at all or the
    hub refuses it; Retry when the hub did not confirm it stored it. True when the hub
    had every part already."""
    try:
        cut = parts(data)
    except ValueError as e:
        raise Refused(f"the spooled file is not a readable report ({e})", 0) from None
    known = True
    for rid, part in cut:
        reply = client.post(
            "/api/v1/agent/reports",
            content=gzip.compress(part, compresslevel=6),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip", "X-Report-Id": rid},
        )
        if reply.get("stored") is not True:
            raise Retry(f"the hub did not confirm report {name}")
        known = known and reply.get("duplicate") is True
    return known


# Sniffing NIC drivers the appliance does not support: emulated NICs whose hypervisor
# offers a paravirtual one (ESXi: VMXNET3; Hyper-V: the synthetic adapter).
UNSUPPORTED_DRIVERS = frozenset({"e1000", "pcnet32", "vmxnet", "tulip", "8139too", "ne2k-pci"})
REBOOT_FLAGS = ("/run/reboot-required", "/var/run/reboot-required")


def appliance_facts(status: dict[str, Any], journal: str = updates.JOURNAL) -> dict[str, Any]:
    """What the hub's events need and the service does not say: a pending reboot, the
    sniffing NICs' drivers."""
    status.setdefault("reboot_required", any(os.path.exists(p) for p in REBOOT_FLAGS))
    status.setdefault("version", __version__)  # this version's, even when the sensing service is stopped
    last = updates.last(journal)
    if last:
        status["update"] = last
    for iface in status.get("interfaces") or []:
        if not isinstance(iface, dict) or "driver" in iface or not isinstance(iface.get("name"), str):
            continue
        try:
            driver = os.path.basename(os.readlink(f"/sys/class/net/{iface['name']}/device/driver"))
        except OSError:
            driver = ""  # virtual interfaces (veth in labs) have no device
        iface["driver"] = driver
        iface["driver_supported"] = driver not in UNSUPPORTED_DRIVERS
    return status


class _ActionFailed(Exception):
    pass


def _reboot() -> None:
    command = os.environ.get("NPS_SENSOR_REBOOT_COMMAND")
    args = command.split() if command else list(REBOOT)
    try:
        subprocess.run(args, check=False, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.error("reboot failed: %s", e)


def _write_atomic(path: str, text: str) -> None:
    """Keep the file's mode (sensor.yaml is readable by the service's group)."""
    mode = 0o640
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode & 0o777
    atomic.write(path, text.encode(), mode)
