"""`inv demo`: the whole product on this machine, from nothing to an inventory in the hub.

Stages, each with a progress line and its time: the appliance image (built once, then
reused while its inputs are unchanged); a hub (`nps-hub serve --self-signed`, SQLite, a
generated administrator password); the appliance booted in QEMU with the OVF properties
of a zero-touch registration to that hub (the hub's address as the VM sees the host,
its personalization code, its certificate's SHA-256); sensing started from the hub;
a capture replayed into the appliance's sniffing NIC; the appliance's report window
closed (a restart of its sensor, as an operator's `systemctl restart` does, instead of
waiting the five minutes of a new-assets window); the hub's API waited on until it
shows the assets. Everything lives in one temporary folder under build/demo and goes,
with the VM and the hub, when the demo ends or is interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .qemu import VM, booted, extract_disk, free_port, keep_logs, wait_capturing
from .steps import BuildError

ROOT = Path(__file__).resolve().parents[1]
GUEST_HOST = "10.0.2.2"  # the host, as QEMU's user network shows it to the guest
ADMIN = "admin"
VERSION = "demo"
FAILED = "failed"  # build/demo/failed: the hub's and the VM's logs of the last run that failed
# What the image is made of: the sensor (with its templates), the kit's templates, the build's code.
INPUTS = (
    "sensor/src", "sensor/pyproject.toml", "templates", "image/formats",
    *(f"image/{m}.py" for m in ("build", "disk", "ova", "ovf", "package", "rootfs", "sizing", "steps", "ziparchive")),
)  # fmt: skip


@dataclass
class Demo:
    work: Path  # build/demo: the cached image, and this run's temporary folder
    capture: Path | None = None  # None: a generated LAN
    packets: int = 5000
    image: Path | None = None  # a folder `inv image.build` filled: use its newest image, build none
    cache: Path = ROOT / "build" / "cache"
    say: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def stage(demo: Demo, number: int, name: str, what: str) -> Iterator[None]:
    demo.say(f"[{number}/6] {name}: {what} ...")
    start = time.monotonic()
    yield
    took = time.monotonic() - start
    demo.timings[name] = round(took, 1)
    demo.say(f"[{number}/6] {name}: done in {took:.0f} s")


def inputs_digest() -> str:
    """The image's inputs (INPUTS), hashed."""
    h = hashlib.sha256()
    for top in INPUTS:
        path = ROOT / top
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts or ".egg-info" in str(p) or p.suffix == ".pyc":
                continue
            h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def image(demo: Demo) -> tuple[Path, str, bool]:
    """The demo's image (its folder and version): reused while its inputs are those it was built from."""
    if demo.image is not None:
        from .qemu import latest

        return demo.image, latest(demo.image, "nps-sensor"), True
    dist = demo.work / "dist"
    stamp = dist / "inputs.sha256"
    digest = inputs_digest()
    ova = dist / f"nps-sensor-{VERSION}.ova"
    if ova.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return dist, VERSION, True
    from .build import Build, build

    shutil.rmtree(dist, ignore_errors=True)
    build(Build(VERSION, dist, demo.cache))
    stamp.write_text(digest + "\n")
    return dist, VERSION, False


class Hub:
    """`nps-hub serve --self-signed` on loopback with its own data folder."""

    def __init__(self, data: Path, password: str) -> None:
        self.data, self.password = data, password
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: Any = None

    def start(self, timeout: float = 60) -> None:
        import httpx

        env = {
            **os.environ,
            "NPS_HUB_ADMIN_PASSWORD": self.password,  # the first administrator, never in arguments
            "NPS_HUB_ADMIN_USER": ADMIN,
            "NPS_HUB_HEARTBEAT": "5",  # the demo's sensor hears "start sensing" within seconds
        }
        hub = [str(Path(sys.executable).parent / "nps-hub"), "serve", "--data", str(self.data)]
        hub += ["--port", str(self.port), "--self-signed", "--name", GUEST_HOST]
        with (self.data.parent / "hub.log").open("wb") as log:
            self.proc = subprocess.Popen(hub, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BuildError(f"the hub ended ({self.proc.returncode}); see {self.data.parent / 'hub.log'}")
            cert = self.data / "tls" / "hub.crt"
            if cert.exists():
                try:
                    trust = ssl.create_default_context(cafile=str(cert))
                    self.http = httpx.Client(base_url=self.url, verify=trust, timeout=30)
                    self.http.get("/api/v1/health").raise_for_status()
                    break
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        else:
            raise BuildError(f"the hub did not answer in {timeout:.0f} s; see {self.data.parent / 'hub.log'}")
        r = self.http.post("/api/v1/login", json={"name": ADMIN, "password": self.password})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"

    @property
    def fingerprint(self) -> str:
        from nps_hub.selfsigned import fingerprint

        return fingerprint((self.data / "tls" / "hub.crt").read_bytes())

    def get(self, path: str, **kw: Any) -> Any:
        r = self.http.get(path, **kw)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any) -> Any:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def frames(demo: Demo) -> list[bytes]:
    """The frames to replay: a generated LAN, or the first `packets` Ethernet frames of a capture."""
    if demo.capture is None:
        from nps_sensor.synth.traffic import generate

        return [f for _, f in generate(demo.packets, seed=7)]
    from nps_sensor.capture import open_capture

    out: list[bytes] = []
    for batch in open_capture(str(demo.capture)).batches(4096):
        raw = batch.buffer
        for off, caplen, linktype in zip(batch.off, batch.caplen, batch.linktype, strict=True):
            if int(linktype) == 1:  # Ethernet: what a mirror port delivers
                out.append(bytes(raw[int(off) : int(off) + int(caplen)]))
            if len(out) >= demo.packets:
                return out
    if not out:
        raise BuildError(f"{demo.capture}: no Ethernet frame to replay")
    return out


def wait(what: Callable[[], Any], timeout: float, why: str, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BuildError(f"timed out after {timeout:.0f} s waiting for {why}")
        time.sleep(every)


@dataclass
class Shown:
    """What the demo ends with: where the hub is, how to log in, what it shows."""

    url: str
    user: str
    password: str
    fingerprint: str
    sensor: dict[str, Any]
    assets: list[dict[str, Any]]
    sent: int


def run(demo: Demo, keep: Callable[[Shown], None] | None = None) -> Shown:
    """The demo; `keep(shown)` runs while everything is up (the task waits there for Ctrl-C)."""
    demo.work.mkdir(parents=True, exist_ok=True)
    with stage(demo, 1, "image", "the appliance image (built once, then reused)"):
        dist, version, cached = image(demo)
        demo.say(f"      {'reused' if cached else 'built'}: {dist / f'nps-sensor-{version}.ova'}")
    with tempfile.TemporaryDirectory(prefix="run-", dir=demo.work) as tmp:
        work = Path(tmp)
        (work / "hub").mkdir(mode=0o700)
        hub = Hub(work / "hub", secrets.token_urlsafe(12))
        try:
            with stage(demo, 2, "hub", "nps-hub serve --self-signed, on SQLite"):
                hub.start()
                created = hub.post("/api/v1/sensors", {"name": "demo-1", "location": "inv demo", "network": "Default"})
                sensor_id, code = int(created["sensor"]["id"]), str(created["code"])
            disk = extract_disk(dist, "nps-sensor", version, "vmdk", work / "disk")
            properties = {
                "hostname": "nps-demo-1",
                "registration.hub": f"https://{GUEST_HOST}:{hub.port}",
                "registration.code": code,
                "registration.fingerprint": hub.fingerprint,
            }
            with booted(disk, "vmdk", properties, work / "vm") as vm:
                shown = _sensing(demo, hub, vm, sensor_id)
                if keep is not None:
                    keep(shown)
                return shown
        except BuildError as e:
            hub.stop()  # its log complete
            raise BuildError(_kept(str(e), work, demo.work / FAILED)) from None
        finally:
            hub.stop()


def _kept(message: str, work: Path, into: Path) -> str:
    """`message`, its paths moved to where the run's logs are kept: the run's folder goes
    (it holds the hub's database and the appliance's disk), the logs of the last failed
    run stay in `into`, replaced by the next one's."""
    shutil.rmtree(into, ignore_errors=True)
    keep_logs(work / "vm", into)
    if (work / "hub.log").exists():
        shutil.copy2(work / "hub.log", into / "hub.log")
    return f"{message.replace(str(work / 'vm'), str(into)).replace(str(work), str(into))}\n      logs kept in {into}"


def _registration_log(vm: VM) -> str:
    """The appliance's own account of its registration, for a demo that stops there."""
    return vm.ssh(
        "sudo", "journalctl", "-b", "--no-pager", "-n", "40", "-u", "nps-register", "-u", "nps-uplink",
        check=False, timeout=30,
    )  # fmt: skip


def _sensing(demo: Demo, hub: Hub, vm: VM, sensor_id: int) -> Shown:
    def sensor() -> dict[str, Any]:
        body: dict[str, Any] = hub.get(f"/api/v1/sensors/{sensor_id}")
        return body

    with stage(demo, 3, "boot", "the appliance in QEMU, registering with the hub from its OVF properties"):
        demo.say("      software emulation: a minute or two")
        booted_in = vm.wait_ssh()
        demo.say(f"      booted in {booted_in:.0f} s; registering")
        try:
            wait(lambda: sensor()["last_heartbeat"], 240, "the appliance's registration and first heartbeat")
        except BuildError as e:
            raise BuildError(f"{e}; the appliance's journal:\n{_registration_log(vm)}") from None
    with stage(demo, 4, "sensing", "started from the hub"):
        hub.post(f"/api/v1/sensors/{sensor_id}/actions", {"action": "start"})
        wait(lambda: sensor()["status"] == "Sensing", 120, "the appliance to say it is sensing")
        vm.wait_ssh()
        # The hub's word is the last heartbeat's; the frames wait for the rings themselves.
        if not wait_capturing(vm, time.monotonic() + 180):
            raise BuildError("the appliance says it is sensing but has no capture ring after 180 s")
    with stage(demo, 5, "replay", "the capture into the appliance's sniffing NIC"):
        replay = frames(demo)
        demo.say(f"      {len(replay)} frames from {demo.capture or 'a generated LAN'}")
        vm.send_frames(replay)
        # The report window closes on the sensor's stop: its report goes to the spool,
        # which the uplink sends within seconds.
        time.sleep(3)
        vm.ssh("sudo", "systemctl", "restart", "nps-sensor", timeout=120)
    with stage(demo, 6, "assets", "until the hub shows them"):

        def assets() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = hub.get("/api/v1/assets", params={"sensor": sensor_id, "limit": 10000})[
                "assets"
            ]
            return found

        wait(assets, 240, "the appliance's report at the hub")
        seen, settled = 0, 0
        while settled < 3:  # the report may come in parts: wait until the count holds
            time.sleep(2)
            count = len(assets())
            settled = settled + 1 if count == seen else 0
            seen = count
    return Shown(hub.url, ADMIN, hub.password, hub.fingerprint, sensor(), assets(), len(replay))
