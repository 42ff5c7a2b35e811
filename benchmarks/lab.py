"""A lab of network namespaces for live capture: tests and `inv bench --live` use it.

A "mirror" namespace where tcpreplay (and trafgen) send, and a "sensor" namespace
where `nps-sensor run` listens on the other end of each veth pair; nothing leaves
them. The lab can take a sniffing link down, delete an interface and make it again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent / "nps-sensor"

# trafgen's background traffic: one UDP flow to the discard port whose IP ID counts
# up (so that no packet is a copy of another), checksums computed by trafgen.
NOISE_FROM, NOISE_TO, NOISE_PORT = "198.18.0.1", "198.18.0.2", 9
NOISE = f"""{{
  eth(da=02:00:00:00:00:02, sa=02:00:00:00:00:01),
  ipv4(id=dinc(), saddr={NOISE_FROM}, daddr={NOISE_TO}, ttl=64),
  udp(sp=40000, dp={NOISE_PORT}),
  fill(0x41, 32),
}}
"""


def missing(*tools: str) -> str | None:
    """Why the lab cannot run here (it needs root and these tools), or None."""
    if os.geteuid() != 0:
        return "live capture tests need root (network namespaces, packet sockets)"
    for tool in ("ip", *tools):
        if not shutil.which(tool):
            return f"{tool} is not installed (run ./bootstrap)"
    return None


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


class Lab:
    """Namespaces `mirror` and `sensor` joined by veth pairs mirror<i> -- sniff<i>."""

    def __init__(self, pairs: int) -> None:
        tag = uuid.uuid4().hex[:6]
        self.mirror, self.sensor = f"nps-m-{tag}", f"nps-s-{tag}"
        self.sniff = [f"sniff{i}" for i in range(pairs)]
        self.processes: list[subprocess.Popen[str]] = []  # sensors started in the lab
        self.ports = [f"mirror{i}" for i in range(pairs)]
        self.host_link = ""  # the management link's end in this namespace, if any
        for ns in (self.mirror, self.sensor):
            sh("ip", "netns", "add", ns)
            # No IPv6 on the lab's interfaces: their own router solicitations would be traffic.
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for port, sniff in zip(self.ports, self.sniff, strict=True):
            sh("ip", "link", "add", f"{port}-{tag}", "type", "veth", "peer", "name", f"{sniff}-{tag}")
            sh("ip", "link", "set", f"{port}-{tag}", "netns", self.mirror, "name", port)
            sh("ip", "link", "set", f"{sniff}-{tag}", "netns", self.sensor, "name", sniff)
            # Jumbo frames: a mirrored 1514-byte frame inside ERSPAN is larger than 1500.
            sh("ip", "-n", self.mirror, "link", "set", port, "mtu", "9000", "up")
            sh("ip", "-n", self.sensor, "link", "set", sniff, "mtu", "9000", "up")

    def management(self) -> tuple[str, str]:
        """A management link between this namespace and the sensor's (its mgmt0), with
        link-local addresses: (this side's, for a hub to listen on; the sensor's)."""
        tag = self.sensor.rsplit("-", 1)[1]
        net = 16 + os.getpid() % 200
        here, there = f"169.254.{net}.1", f"169.254.{net}.2"
        self.host_link = f"nps-hm-{tag}"
        sh("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", f"nps-hs-{tag}")
        sh("ip", "link", "set", f"nps-hs-{tag}", "netns", self.sensor, "name", "mgmt0")
        sh("ip", "addr", "add", f"{here}/30", "dev", self.host_link)
        sh("ip", "link", "set", self.host_link, "up")
        sh("ip", "-n", self.sensor, "addr", "add", f"{there}/30", "dev", "mgmt0")
        sh("ip", "-n", self.sensor, "link", "set", "mgmt0", "up")
        return here, there

    def close(self) -> None:
        """Stop what still runs in the lab (a failed test leaves its sensor), then remove it."""
        for proc in self.processes:
            if proc.poll() is None:
                if os.getpgid(proc.pid) == proc.pid:
                    os.killpg(proc.pid, signal.SIGKILL)  # a process group of its own (trafgen and its child)
                else:
                    proc.kill()
                proc.wait(30)
        for ns in (self.mirror, self.sensor):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
        if self.host_link:
            subprocess.run(["ip", "link", "delete", self.host_link], check=False, capture_output=True)

    def noise(self, workdir: Path, pps: int) -> Noise:
        """trafgen sending NOISE into the first sniffing interface at `pps` until stopped."""
        return Noise(self, workdir, pps)

    def link(self, state: str, i: int = 0) -> None:
        """Switch sniffing interface i up or down (on the sensor's side)."""
        sh("ip", "-n", self.sensor, "link", "set", self.sniff[i], state)

    def unplug(self, i: int = 0) -> None:
        """Delete sniffing interface i (its peer in the mirror namespace goes with it)."""
        sh("ip", "-n", self.sensor, "link", "delete", self.sniff[i])

    def plug(self, i: int = 0) -> None:
        """A new veth pair in place of pair i, under the same names, both ends up."""
        sh("ip", "-n", self.sensor, "link", "add", self.sniff[i], "type", "veth", "peer", "name", self.ports[i],
           "netns", self.mirror)  # fmt: skip
        sh("ip", "-n", self.mirror, "link", "set", self.ports[i], "mtu", "9000", "up")
        sh("ip", "-n", self.sensor, "link", "set", self.sniff[i], "mtu", "9000", "up")

    def replay(self, capture: Path, *extra: str, split: bool = False) -> None:
        """Send a capture into the sensor's interfaces; `split` sends each direction of a
        conversation out of its own port, as a TAP does (tcpprep decides who is client)."""
        cmd = ["ip", "netns", "exec", self.mirror, "tcpreplay", "-q", *extra, "-i", self.ports[0]]
        if split:
            cache = capture.with_suffix(".cache")
            sh("tcpprep", "--auto=bridge", f"--pcap={capture}", f"--cachefile={cache}")
            cmd += ["-I", self.ports[1], f"--cachefile={cache}"]
        subprocess.run([*cmd, str(capture)], check=True, capture_output=True)


class Noise:
    """trafgen sending NOISE at about a steady rate, in a process group of its own: its
    sending process is a child, which alone ends on SIGINT (and its parent then)."""

    def __init__(self, lab: Lab, workdir: Path, pps: int) -> None:
        cfg = workdir / "noise.cfg"
        cfg.write_text(NOISE)
        cmd = ["ip", "netns", "exec", lab.mirror, "trafgen", "-i", str(cfg), "-o", lab.ports[0], "-P", "1"]
        # No tuning of the machine's socket memory or interrupts: the lab is not the machine.
        # A gap between packets, not a rate (-b): after the peer was down for a while,
        # trafgen's rate control sends as fast as it can.
        self.proc = subprocess.Popen(
            [*cmd, "--no-sock-mem", "--notouch-irq", "-t", f"{1_000_000 // pps}us"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        lab.processes.append(self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(20)


class Sensor:
    def __init__(self, lab: Lab, workdir: Path, **settings: Any) -> None:
        self.lab = lab
        self.workdir = workdir
        self.spool = workdir / "spool"
        self.port = 18470 + os.getpid() % 500
        self.config = workdir / "sensor.yaml"
        self.write_config(**settings)
        self.proc: subprocess.Popen[str] | None = None

    def write_config(
        self,
        workers: int = 2,
        interfaces: list[str] | None = None,
        windows: tuple[int, int] = (300, 1800),
        spool_mb: int = 200,
        extra: str = "",
    ) -> None:
        names = interfaces or self.lab.sniff
        self.config.write_text(
            "internal: [{name: all, ranges: [0.0.0.0/0, '::/0']}]\n"
            f"reporting: {{new_assets_window: {windows[0]}, updates_window: {windows[1]}}}\n"
            "sensing:\n"
            f"  interfaces: [{', '.join(names)}]\n"
            f"  workers: {workers}\n"
            "  ring_mb: 64\n"
            f"  spool: {{directory: {self.spool}, max_mb: {spool_mb}}}\n"
            f"  status: 127.0.0.1:{self.port}\n" + extra
        )

    def start(self) -> None:
        self.log = (self.workdir / "sensor.log").open("a")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.sensor, str(BIN), "run", "--config", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lab.processes.append(self.proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.status()
                return
            except subprocess.CalledProcessError:
                assert self.proc.poll() is None, self.logtext()
                time.sleep(0.2)
        raise AssertionError("the sensor did not start:\n" + self.logtext())

    def logtext(self) -> str:
        return (self.workdir / "sensor.log").read_text()

    def command(self, action: str) -> dict[str, Any]:
        """`nps-sensor status|pause|resume` in the sensor's namespace; the reply as JSON."""
        address = f"127.0.0.1:{self.port}"
        out = sh("ip", "netns", "exec", self.lab.sensor, str(BIN), action, "--json", "--address", address)
        reply: dict[str, Any] = json.loads(out)
        return reply

    def status(self) -> dict[str, Any]:
        return self.command("status")

    def received(self) -> int:
        return sum(i["received"] for i in self.status()["interfaces"])

    def wait_received(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.received() >= count:
                time.sleep(1.5)  # the workers' counters come once a second; let them drain
                return
            time.sleep(0.3)
        raise AssertionError(f"received {self.received()} of {count} packets")

    def wait_settled(self, timeout: float = 60) -> None:
        """Until the kernel counters stop moving (workers push them once a second)."""
        last = -1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = sum(i["received"] + i["dropped"] for i in self.status()["interfaces"])
            if now == last:
                return
            last = now
            time.sleep(1.3)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if sig == signal.SIGKILL:
            # `ip netns exec` execs the sensor, so this is the control process itself.
            os.kill(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self.log.close()
        return code

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.spool.glob("*.json")) if p.name != "state.json"]
