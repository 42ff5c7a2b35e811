"""`inv image.test`: boot the built disk in QEMU and check that the appliance works.

The VMDK boots on ESXi-like hardware (a paravirtual SCSI controller, two VMXNET3
NICs), the VHDX on Hyper-V Generation 1-like hardware (the disk on IDE; QEMU has no
Hyper-V synthetic NIC, so the NICs are virtio). The deployment's properties come on
a CD in the OVF environment format (VMware's ISO transport). The management NIC is
QEMU's user network (DHCP, SSH forwarded to the host's loopback); the sniffing NIC is
a UDP socket on loopback into which the test sends frames. The serial line (where the
appliance's console runs) is a TCP socket on loopback. No packet leaves the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .ssh import Remote, SSHError
from .steps import BuildError, require
from .verify import Verdict
from .verify import status as sensor_status

OVF_ENV_NS = "http://schemas.dmtf.org/ovf/environment/1"
BOOT_TIMEOUT = 420  # seconds: software emulation (TCG) boots in 30 to 90


def ovf_environment(properties: dict[str, str]) -> str:
    """An OVF environment document, as VMware writes it for the ISO transport."""
    props = "\n".join(
        f"    <Property oe:key={quoteattr(k)} oe:value={quoteattr(v)}/>" for k, v in sorted(properties.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Environment xmlns="{OVF_ENV_NS}" xmlns:oe="{OVF_ENV_NS}" oe:id="nps-sensor">\n'
        f"  <PropertySection>\n{props}\n  </PropertySection>\n"
        "</Environment>\n"
    )


def environment_iso(properties: dict[str, str], path: Path) -> Path:
    require("xorriso")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "ovf-env.xml").write_text(ovf_environment(properties))
        subprocess.run(
            ["xorriso", "-as", "mkisofs", "-quiet", "-V", "OVF ENV", "-o", str(path), d],
            check=True,
            capture_output=True,
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class VM:
    disk: Path
    fmt: str  # "vmdk" (ESXi-like) or "vhdx" (Hyper-V Gen 1-like)
    iso: Path | None
    key: Path  # SSH private key whose public half is in the OVF environment
    work: Path
    ssh_port: int = field(default_factory=free_port)
    sniff_port: int = field(default_factory=free_port)  # QEMU listens here for frames
    serial_port: int = field(default_factory=free_port)  # the serial console (ttyS0), TCP on loopback
    proc: subprocess.Popen[bytes] | None = None
    # More SSH forwards, by guest address: the appliance reached at an address it is
    # given later (a static management address) through its own loopback port.
    forwards: dict[str, int] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)  # guest TCP port -> loopback port (a hub on the VM)
    extra_nics: int = 0  # more sniffing NICs (eth2, ...), each on its own loopback UDP socket
    remotes: dict[int, Remote] = field(default_factory=dict)  # SSH connections by forwarded port
    disk_format: str = ""  # the disk file's format when it is not `fmt` (a raw copy of the VMDK)
    extra: list[str] = field(default_factory=list)  # more QEMU arguments (-fw_cfg ...)

    def command(self) -> list[str]:
        cmd = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            # Hypervisors give x86-64-v2 and more (numpy's wheels need SSE4.2): so must TCG.
            "-cpu",
            "max",
            "-m",
            "2048",
            "-smp",
            "2",
            "-display",
            "none",
            # The serial line: a socket on loopback a terminal can attach to (the console
            # runs there), and everything it says kept in serial.log for when a boot fails.
            "-chardev",
            f"socket,id=serial0,host=127.0.0.1,port={self.serial_port},server=on,wait=off,"
            f"logfile={self.work / 'serial.log'}",
            "-serial",
            "chardev:serial0",
            "-no-reboot",
        ]
        mgmt = f"user,id=mgmt,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        mgmt += "".join(f",hostfwd=tcp:127.0.0.1:{port}-{guest}:22" for guest, port in self.forwards.items())
        mgmt += "".join(f",hostfwd=tcp:127.0.0.1:{port}-:{guest}" for guest, port in self.ports.items())
        sniff = f"socket,id=sniff,udp=127.0.0.1:{free_port()},localaddr=127.0.0.1:{self.sniff_port}"
        if self.fmt == "vmdk":
            nic = "vmxnet3"
            cmd += [
                "-device",
                "pvscsi,id=scsi0",
                "-drive",
                f"file={self.disk},format={self.disk_format or 'vmdk'},if=none,id=disk0,snapshot=on",
                "-device",
                "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0",
            ]
            if self.iso:
                cmd += [
                    "-drive",
                    f"file={self.iso},format=raw,if=none,id=cd0,media=cdrom,readonly=on",
                    "-device",
                    "scsi-cd,drive=cd0,bus=scsi0.0",
                ]
        else:
            nic = "virtio-net-pci"
            cmd += ["-drive", f"file={self.disk},format={self.fmt},if=ide,index=0,snapshot=on"]
            if self.iso:
                cmd += ["-drive", f"file={self.iso},format=raw,if=ide,index=1,media=cdrom,readonly=on"]
        cmd += ["-netdev", mgmt, "-device", f"{nic},netdev=mgmt,mac=52:54:00:00:00:01"]
        cmd += ["-netdev", sniff, "-device", f"{nic},netdev=sniff,mac=52:54:00:00:00:02"]
        for i in range(self.extra_nics):
            extra = f"socket,id=sniff{i + 2},udp=127.0.0.1:{free_port()},localaddr=127.0.0.1:{free_port()}"
            cmd += ["-netdev", extra, "-device", f"{nic},netdev=sniff{i + 2},mac=52:54:00:00:00:{i + 3:02x}"]
        return cmd + self.extra

    def start(self) -> None:
        require("qemu-system-x86_64")
        log = (self.work / "qemu.log").open("wb")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)

    def remote(self, port: int | None = None) -> Remote:
        """The management user's SSH connection (paramiko; the VM's host key recorded in
        its work folder on first use), on the forwarded port or another forward."""
        port = port or self.ssh_port
        if port not in self.remotes:
            self.remotes[port] = Remote("127.0.0.1", port, self.key, known_hosts=self.work / "known_hosts", timeout=10)
        return self.remotes[port]

    def ssh(self, *cmd: str, check: bool = True, timeout: float = 60) -> str:
        try:
            done = self.remote().run(*cmd, timeout=timeout)
        except SSHError as e:
            if check:
                raise BuildError(f"in the VM: {' '.join(cmd)}: {e}") from None
            return ""
        if check and done.code != 0:
            raise BuildError(f"in the VM: {' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def copy(self, local: Path, remote: str) -> None:
        """A file of the host into the VM, as the management user (SFTP)."""
        try:
            self.remote().put(local, remote)
        except SSHError as e:
            raise BuildError(f"in the VM: {e}") from None

    def wait_ssh(self) -> float:
        start = time.monotonic()
        while time.monotonic() - start < BOOT_TIMEOUT:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BuildError(f"QEMU exited ({self.proc.returncode}); see {self.work / 'qemu.log'}")
            if self._ssh_ok():
                return time.monotonic() - start
            time.sleep(3)
        raise BuildError(f"the VM did not answer on SSH in {BOOT_TIMEOUT} s; see {self.work / 'serial.log'}")

    def _ssh_ok(self) -> bool:
        return self.ssh("echo", "up", check=False, timeout=10).strip() == "up"

    def send_frames(self, frames: list[bytes]) -> None:
        """Into the sniffing NIC: QEMU's UDP socket backend takes one frame per datagram."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i, frame in enumerate(frames):
                s.sendto(frame, ("127.0.0.1", self.sniff_port))
                if i % 200 == 199:
                    time.sleep(0.02)  # the emulated NIC is slow: do not overrun its queue

    def stop(self) -> None:
        for remote in self.remotes.values():
            remote.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@contextlib.contextmanager
def booted(
    disk: Path,
    fmt: str,
    properties: dict[str, str],
    work: Path,
    forwards: dict[str, int] | None = None,
    extra_nics: int = 0,
    ports: dict[int, int] | None = None,
) -> Iterator[VM]:
    """A VM of the image with the OVF properties (plus a fresh SSH key), booted."""
    require("ssh-keygen")
    work.mkdir(parents=True, exist_ok=True)
    key = work / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    props = {**properties, "ssh.authorized_key": (work / "id_ed25519.pub").read_text().strip()}
    iso = environment_iso(props, work / "ovf-env.iso")
    vm = VM(disk, fmt, iso, key, work, forwards=dict(forwards or {}), extra_nics=extra_nics, ports=dict(ports or {}))
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


ESCAPE = b"\x1d"  # Ctrl-], as telnet and virsh console


def attach(port: int, escape: bytes = ESCAPE) -> None:
    """This terminal on the VM's serial line (its TCP socket) until the line closes or
    `escape` is typed: keys go as typed (raw mode: escape sequences, Ctrl-L), what the
    VM writes comes back byte for byte. The terminal is restored however it ends."""
    import selectors
    import termios
    import tty

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(None)
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        sel = selectors.DefaultSelector()
        sel.register(0, selectors.EVENT_READ)
        sel.register(sock, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj == 0:
                    data = os.read(0, 4096)
                    if not data or escape in data:
                        sock.sendall(data.split(escape, 1)[0])
                        return
                    sock.sendall(data)
                else:
                    data = sock.recv(65536)
                    if not data:
                        return
                    os.write(1, data)
    finally:
        with contextlib.suppress(termios.error):  # the terminal may be gone already
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        # What the VM's full-screen console left set on this terminal: the alternate
        # screen, colours, a hidden cursor.
        with contextlib.suppress(OSError):
            os.write(1, b"\x1b[?1049l\x1b[0m\x1b[?25h\r\n")
        sock.close()


@dataclass
class Result:
    fmt: str
    boot_seconds: float
    checks: dict[str, bool]

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


TEST_PROPERTIES = {
    "hostname": "nps-test-1",
    "mgmt.mode": "dhcp",
    "proxy.address": "proxy.example.net",
    "proxy.port": "3128",
    "proxy.auth": "basic",
    "proxy.user": "sensor",
    "proxy.password": "s3cret-pw",
    "registration.code": "12345678901234",
}


def check(disk: Path, fmt: str, work: Path, frames: list[bytes]) -> Result:
    """Boot the image and check what the issue asks of it; every check by name."""
    with booted(disk, fmt, TEST_PROPERTIES, work) as vm:
        boot = vm.wait_ssh()
        checks: dict[str, bool] = {}
        addrs = json.loads(vm.ssh("ip", "-j", "addr"))
        by_name = {a["ifname"]: a for a in addrs}
        mgmt = [i["local"] for i in by_name.get("eth0", {}).get("addr_info", []) if i["family"] == "inet"]
        checks["management NIC got an address by DHCP"] = bool(mgmt) and mgmt[0].startswith("10.0.2.")
        sniff = by_name.get("eth1", {})
        checks["sniffing NIC is up"] = "UP" in sniff.get("flags", [])
        checks["sniffing NIC is promiscuous"] = bool(
            json.loads(vm.ssh("ip", "-j", "-d", "link", "show", "eth1"))[0].get("promiscuity", 0)
        )
        checks["sniffing NIC has no address"] = not [i for i in sniff.get("addr_info", []) if i["family"] == "inet"]
        deadline = time.monotonic() + 180
        while vm.ssh("systemctl", "is-active", "nps-sensor", check=False).strip() != "active":
            if time.monotonic() > deadline:
                break
            time.sleep(3)
        state = vm.ssh("systemctl", "is-active", "nps-sensor", check=False).strip()
        checks["sensor service is active"] = state == "active"
        consoles = vm.ssh("systemctl", "is-active", "nps-console@tty1", "nps-console@ttyS0", check=False).split()
        checks["console on tty1 and the serial line"] = consoles == ["active", "active"]
        checks["no login prompt beside the console"] = "agetty" not in vm.ssh("ps", "-eo", "comm", check=False)
        checks["OVF hostname applied"] = vm.ssh("hostname").strip() == TEST_PROPERTIES["hostname"]
        checks["OVF registration code applied (root only)"] = (
            vm.ssh("sudo", "stat", "-c", "%a %U", "/etc/nps-sensor/registration", check=False).strip() == "600 root"
            and vm.ssh("sudo", "cat", "/etc/nps-sensor/registration", check=False).strip()
            == TEST_PROPERTIES["registration.code"]
        )
        checks["OVF proxy applied (root only)"] = "NPS_PROXY_ADDRESS=proxy.example.net" in vm.ssh(
            "sudo", "cat", "/etc/nps-sensor/proxy.env", check=False
        ) and vm.ssh("stat", "-c", "%a", "/etc/nps-sensor/proxy.env", check=False).strip() in ("", "600")
        offloads = vm.ssh("/usr/sbin/ethtool", "-k", "eth1", check=False)
        checks["GRO and LRO off on the sniffing NIC"] = (
            "generic-receive-offload: off" in offloads and "large-receive-offload: on" not in offloads
        )
        wait_capturing(vm, time.monotonic() + 120)
        send_until_seen(vm, frames, len(frames) // 2)
        vm.ssh("sudo", "systemctl", "stop", "nps-sensor")
        reports = vm.ssh("sudo", "sh", "-c", "cat /var/lib/nps-sensor/spool/0*.json", check=False)
        assets = set()
        for line in reports.splitlines():
            with contextlib.suppress(ValueError):
                assets |= {a.get("ip") for a in json.loads(line).get("assets", [])}
        checks["frames on the sniffing NIC show up as assets"] = len(assets - {None}) >= 5
        (work / "assets.json").write_text(json.dumps(sorted(a for a in assets if a)))
        return Result(fmt, boot, checks)


def wait_capturing(vm: VM, deadline: float) -> bool:
    """Until the appliance's own status says it is sensing with every sniffing interface
    captured (True), or the deadline (False). systemd calls the service active before
    its start-up (the configuration, the calibration, the rings) is done, and the hub's
    "Sensing" is the last heartbeat's word: frames sent before the rings exist are lost
    to a sensor that is not yet listening, and under QEMU's emulation that start can
    take longer than any fixed wait."""
    while time.monotonic() < deadline:
        with contextlib.suppress(SSHError):
            body = sensor_status(vm.remote())
            interfaces = body.get("interfaces") or []
            if (
                body.get("state") == "sensing"
                and body.get("capture_workers")
                and interfaces
                and all(i.get("capturing", True) for i in interfaces)
            ):
                return True
        time.sleep(2)
    return False


def send_until_seen(vm: VM, frames: list[bytes], want: int, rounds: int = 3) -> int:
    """The frames into the sniffing NIC until the appliance has counted `want` of them, at
    most `rounds` times; how many were sent. A burst the emulated NIC drops whole (its
    queue full while the guest is busy) is sent again rather than failing the check."""
    sent = 0
    for _ in range(rounds):
        vm.send_frames(frames)
        sent += len(frames)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if packets_seen(vm) >= want:
                return sent
            time.sleep(4)
    return sent


def packets_seen(vm: VM) -> int:
    """What the appliance's sniffing interfaces have received, by its own status (0 when
    it does not answer)."""
    try:
        return Verdict(sensor_status(vm.remote())).packets()
    except SSHError:
        return 0


def extract_disk(dist: Path, name: str, version: str, fmt: str, into: Path) -> Path:
    """The disk out of the deliverable: the VMDK from the OVA, the VHDX from its zip."""
    import tarfile
    import zipfile

    into.mkdir(parents=True, exist_ok=True)
    member = f"{name}-{version}-disk1.{fmt}"
    if fmt == "vmdk":
        with tarfile.open(dist / f"{name}-{version}.ova") as tar:
            source = tar.extractfile(member)
            if source is None:
                raise BuildError(f"{member} is not a file in the OVA")
            with source, (into / member).open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    else:
        with zipfile.ZipFile(dist / f"{name}-{version}-vhdx.zip") as z:
            z.extract(member, into)
    return into / member


def latest(dist: Path, name: str) -> str:
    """The version of the newest OVA in `dist`."""
    ovas = sorted(dist.glob(f"{name}-*.ova"), key=lambda p: p.stat().st_mtime)
    if not ovas:
        raise BuildError(f"no {name}-*.ova in {dist}: run `inv image.build` first")
    return ovas[-1].name[len(name) + 1 : -len(".ova")]


def keep_logs(work: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for name in ("serial.log", "qemu.log", "assets.json"):
        if (work / name).exists():
            shutil.copy2(work / name, into / name)


__all__ = [
    "VM",
    "Result",
    "attach",
    "booted",
    "check",
    "environment_iso",
    "keep_logs",
    "os",
    "ovf_environment",
    "send_until_seen",
]
