"""A WS-Management endpoint on 127.0.0.1 that stands in for a Hyper-V host.

No Hyper-V host can run here, so the tests talk to this one over the real wire: HTTPS
with a certificate from a CA the test makes, NTLM (pyspnego as the acceptor, with the
channel binding of the TLS certificate, as Windows checks it) or Basic, and the WinRS
shell protocol of MS-WSMV (Create, Command, Send, Receive, Signal, Delete, SOAP faults).
Every envelope the client sends is checked against what a Windows WinRM service
requires; what is wrong is answered with a SOAP fault and kept in `violations`.

The PowerShell it receives (the bootstrap as -EncodedCommand, the script on standard
input) is recorded for the tests to compare with the golden files, and answered by
`FakeHyperV`: a model of the host's state (switches, adapters, VMs, files) that runs each
step the script lists the way the script's PowerShell would, and prints what
powershell.exe would print.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from spnego.channel_bindings import GssChannelBindings

from nps_hypervisors.hyperv_scripts import POWERSHELL, POWERSHELL_ARGS, render

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "delete",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command": "command",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send": "send",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive": "receive",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal": "signal",
}
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
SEALED = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
TIMEOUT_CODE = 2150858793
MAX_ENVELOPE = 150 * 1024
SHELL_NOT_FOUND = 2150858843
INVALID = 2150858817  # WSMAN_ERROR_INVALID_PARAMETER-like: the envelope is malformed


# --- TLS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """A CA and a certificate for 127.0.0.1/localhost signed by it (ECDSA P-256, SHA-256)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nps test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls.key.chmod(0o600)
    return tls


# --- the Hyper-V host model --------------------------------------------------------------

_VAR = re.compile(r"^\$(\w+) = (.+)$", re.M)
_STEP = re.compile(r"^Invoke-(Step|Check) '([\w-]+)' (.+?) \{$", re.M)
_PROBLEM = re.compile(r"^\} ('.*'|\(.+\))$", re.M)


def ps_value(text: str) -> Any:
    """The value of a literal the templates print: 'quoted', 123, $true, $false, $null."""
    text = text.strip()
    if text == "$null":
        return None
    if text in ("$true", "$false"):
        return text == "$true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    m = re.fullmatch(r"'((?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*)'", text)
    if not m:
        raise ValueError(f"not a literal: {text}")
    return re.sub("(['\u2018\u2019\u201a\u201b])\\1", r"\1", m.group(1))


def ps_eval(expr: str, names: dict[str, Any]) -> str:
    """The templates' detail expressions: 'text', $Var, ('fmt' -f $A, ($B / N))."""
    expr = expr.strip()
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    if expr.startswith("$"):
        return str(names[expr[1:]])
    m = re.fullmatch(r"('(?:[^']|'')*') -f (.+)", expr)
    if not m:
        return str(ps_value(expr))
    args = []
    for raw in re.split(r",\s*(?![^()]*\))", m.group(2)):
        arg = raw.strip()
        division = re.fullmatch(r"\(\$(\w+) / (\d+)\)", arg)
        if division:
            args.append(str(names[division.group(1)] // int(division.group(2))))
        else:
            args.append(str(names[arg.lstrip("$")]))
    return str(ps_value(m.group(1))).format(*args)


class StepFailed(Exception):
    pass


@dataclass
class Nic:
    switch: str | None
    mirroring: str = "None"
    vlan: str = "Untagged"
    allowed: str = ""
    native: int = 0


@dataclass
class VM:
    generation: int = 1
    memory: int = 1 << 30
    dynamic: bool = False
    cpus: int = 1
    stop_action: str = "Save"
    state: str = "Off"
    vhdx: str = ""
    nics: dict[str, Nic] = field(default_factory=dict)
    com1: str = ""  # the named pipe COM1 is wired to


@dataclass
class Switch:
    kind: str = "External"
    adapter: str | None = None
    allow_management_os: bool = True
    monitor_mode: int | None = None


@dataclass
class FakeHyperV:
    """A host's state, changed by the scripts the way their PowerShell changes a real one."""

    adapters: dict[str, str] = field(
        default_factory=lambda: {"Ethernet": "Intel(R) I350 #1", "Ethernet 2": "Intel(R) I350 #2"}
    )
    switches: dict[str, Switch] = field(default_factory=lambda: {"LAN": Switch("External", "Ethernet", True)})
    vms: dict[str, VM] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    hyperv_module: bool = True
    fail: dict[str, str] = field(default_factory=dict)  # step -> the error Hyper-V raises
    output_encoding: str = "utf-8"

    # The scripts, as powershell.exe runs them -------------------------------------------

    def run_script(self, script: str) -> tuple[bytes, bytes, int]:
        names = {m.group(1): ps_value(m.group(2)) for m in _VAR.finditer(script.split("\nfunction ", 1)[0])}
        names.setdefault("Apply", False)
        action = re.match(r"# nps-kit: (\w+) ", script)
        if not action:
            return b"", b"the script is not one of nps-kit's\r\n", 1
        lines: list[dict[str, Any]] = []
        context: dict[str, Any] = {}
        vm = self.vms.get(names.get("VmName", ""))
        if vm is not None and action.group(1) == "resize":
            context["Resize"] = vm.dynamic or vm.memory != names["MemoryBytes"] or vm.cpus != names["Cpus"]
        if vm is not None and action.group(1) == "nic":
            nic = vm.nics.get(names["SniffingNic"])
            removing = "$Ready = -not $nic" in script
            context["Ready"] = nic is None if removing else (nic is not None and nic.switch == names["SniffingSwitch"])
        if vm is not None:
            context["WasRunning"] = vm.state == "Running"
        problems = iter(_PROBLEM.findall(script))
        for m in _STEP.finditer(script):
            kind, step, detail_expr = m.groups()
            detail = ps_eval(detail_expr, names)
            try:
                if step in self.fail:
                    raise StepFailed(self.fail[step])
                if kind == "Check":
                    problem = ps_eval(next(problems), names)
                    if not self.check(step, names):
                        raise StepFailed(problem)
                    status = "ok"
                elif self.test(step, names, context):
                    status = "ok"
                elif not names["Apply"]:
                    status = "change"
                else:
                    self.change(step, names)
                    status = "changed"
            except StepFailed as e:
                lines.append({"step": step, "status": "failed", "detail": " ".join(str(e).split())})
                return self._out(lines), f"step {step} failed\r\n".encode(), 1
            lines.append({"step": step, "status": status, "detail": detail})
        if action.group(1) == "probe":
            vhdx = names["Vhdx"] in self.files
            zipped = self.files.get(names["DiskZip"])
            digest = hashlib.sha256(zipped).hexdigest().upper() if zipped is not None and not vhdx else None
            lines.append({"disk": {"vhdx": vhdx, "zip_sha256": digest}})
        if action.group(1) == "status":
            lines.append({"vm": self.status(names["VmName"])})
        return self._out(lines), b"", 0

    def _out(self, lines: list[dict[str, Any]]) -> bytes:
        text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\r\n" for line in lines)
        return text.encode(self.output_encoding, errors="replace")

    def receive_upload(self, path: str, expected: str, data: bytes) -> tuple[bytes, bytes, int]:
        """What upload.ps1 does with the base64 lines it reads."""
        content = b"".join(base64.b64decode(line) for line in data.split(b"\r\n") if line.strip())
        digest = hashlib.sha256(content).hexdigest().upper()
        if digest != expected:
            detail = f"{path}: received SHA256 {digest}, sent {expected}"
            return self._out([{"step": "upload", "status": "failed", "detail": detail}]), b"", 1
        self.files[path] = content
        detail = f"{path}: {len(content)} bytes, SHA256 {digest}"
        return self._out([{"step": "upload", "status": "changed", "detail": detail}]), b"", 0

    # Each step's test and change, after the PowerShell of templates/hyperv -------------

    def _vm(self, n: dict[str, Any]) -> VM | None:
        return self.vms.get(n["VmName"])

    def _nic(self, n: dict[str, Any], name: str) -> Nic | None:
        vm = self._vm(n)
        return vm.nics.get(name) if vm else None

    def _off(self, n: dict[str, Any], what: str) -> VM:
        vm = self._vm(n)
        assert vm is not None
        if vm.state != "Off":
            raise StepFailed(
                f"VM {n['VmName']} is {vm.state}: its {what} change only while it is off; stop it and run again "
                "(inv deploy.hyperv-resize stops and starts it for its size)"
            )
        return vm

    def check(self, step: str, n: dict[str, Any]) -> bool:
        if step == "hyper-v":
            return self.hyperv_module
        if step == "management-switch":
            return n["ManagementSwitch"] in self.switches
        if step == "sniffing-adapter":
            return n["SniffingAdapter"] in self.adapters
        if step == "disk":
            return n["Vhdx"] in self.files
        if step == "vm":
            return n["VmName"] in self.vms
        raise AssertionError(f"no check {step}")

    def test(self, step: str, n: dict[str, Any], context: dict[str, Any]) -> bool:
        vm = self._vm(n) if "VmName" in n else None
        if step == "disk":
            return n["Vhdx"] in self.files
        if step == "vm":
            if vm and vm.generation != 1:
                raise StepFailed(
                    f"VM {n['VmName']} exists and is Generation {vm.generation}: remove it or choose another VM name"
                )
            return vm is not None
        if step == "memory":
            return bool(vm and not vm.dynamic and vm.memory == n["MemoryBytes"])
        if step == "processors":
            return bool(vm and vm.cpus == n["Cpus"])
        if step == "stop-action":
            return bool(vm and vm.stop_action == "TurnOff")
        if step == "serial-console":
            return bool(vm and vm.com1 == n["SerialPipe"])
        if step == "management-nic":
            nic = self._nic(n, n["ManagementNic"])
            return bool(nic and nic.switch == n["ManagementSwitch"])
        if step == "sniffing-switch":
            sw = self.switches.get(n["SniffingSwitch"])
            if sw is None:
                return False
            if sw.kind != "External":
                raise StepFailed(
                    f"virtual switch {n['SniffingSwitch']} exists and is {sw.kind}, not External: "
                    "remove it or name another sniffing switch"
                )
            if sw.adapter != n["SniffingAdapter"]:
                raise StepFailed(
                    f"virtual switch {n['SniffingSwitch']} is bound to "
                    f"{self.adapters.get(sw.adapter or '', '')}, not to {n['SniffingAdapter']}"
                )
            return not sw.allow_management_os
        if step == "monitor-mode":
            sw = self.switches.get(n["SniffingSwitch"])
            return bool(sw and sw.monitor_mode == 2)
        if step == "sniffing-nic":
            nic = self._nic(n, n["SniffingNic"])
            return bool(nic and nic.switch == n["SniffingSwitch"])
        if step == "port-mirroring":
            nic = self._nic(n, n["SniffingNic"])
            return bool(nic and nic.mirroring == "Destination")
        if step == "vlan-trunk":
            nic = self._nic(n, n["SniffingNic"])
            return bool(nic and nic.vlan == "Trunk" and nic.native == 0 and nic.allowed == "1-4094")
        if step == "power":
            return bool(vm and vm.state == "Running")
        if step == "power-off":
            ready = context["Ready"] if "Ready" in context else not context["Resize"]
            return bool(ready or (vm and vm.state == "Off"))
        if step == "power-on":
            return bool(not context.get("WasRunning") or (vm and vm.state == "Running"))
        if step == "sniffing-nic-removed":
            return self._nic(n, n["SniffingNic"]) is None
        raise AssertionError(f"no step {step}")

    def change(self, step: str, n: dict[str, Any]) -> None:
        vm = self._vm(n) if "VmName" in n else None
        if step == "disk":
            data = self.files.get(n["DiskZip"])
            if data is None:
                raise StepFailed(f"Cannot find path '{n['DiskZip']}' because it does not exist.")
            digest = hashlib.sha256(data).hexdigest().upper()
            if n["DiskSha256"] and digest != n["DiskSha256"]:
                raise StepFailed(f"{n['DiskZip']} has SHA256 {digest}, not {n['DiskSha256']}: copy it again")
            self.files[n["Vhdx"]] = b"vhdx"
        elif step == "vm":
            nic = Nic(n["ManagementSwitch"])
            self.vms[n["VmName"]] = VM(memory=n["MemoryBytes"], vhdx=n["Vhdx"], nics={n["ManagementNic"]: nic})
        elif step == "memory":
            vm = self._off(n, "memory and processors")
            vm.memory, vm.dynamic = n["MemoryBytes"], False
        elif step == "processors":
            self._off(n, "memory and processors").cpus = n["Cpus"]
        elif step == "stop-action":
            self._off(n, "automatic stop action").stop_action = "TurnOff"
        elif step == "serial-console":
            self._off(n, "COM ports").com1 = n["SerialPipe"]
        elif step == "management-nic":
            assert vm is not None
            vm.nics.setdefault(n["ManagementNic"], Nic(None)).switch = n["ManagementSwitch"]
        elif step == "sniffing-switch":
            sw = self.switches.get(n["SniffingSwitch"])
            if sw:
                sw.allow_management_os = False
            else:
                bound = [name for name, s in self.switches.items() if s.adapter == n["SniffingAdapter"]]
                if bound:
                    raise StepFailed(
                        f"Failed while adding virtual Ethernet switch connections. The network adapter "
                        f"{n['SniffingAdapter']} is already bound to virtual switch {bound[0]}."
                    )
                self.switches[n["SniffingSwitch"]] = Switch("External", n["SniffingAdapter"], False)
        elif step == "monitor-mode":
            self.switches[n["SniffingSwitch"]].monitor_mode = 2
        elif step == "sniffing-nic":
            vm = self._off(n, "network adapters")
            vm.nics.setdefault(n["SniffingNic"], Nic(None)).switch = n["SniffingSwitch"]
        elif step == "port-mirroring":
            mirrored = self._nic(n, n["SniffingNic"])
            assert mirrored is not None
            mirrored.mirroring = "Destination"
        elif step == "vlan-trunk":
            trunk = self._nic(n, n["SniffingNic"])
            assert trunk is not None
            trunk.vlan, trunk.allowed, trunk.native = "Trunk", "1-4094", 0
        elif step in ("power", "power-on"):
            assert vm is not None
            vm.state = "Running"
        elif step == "power-off":
            assert vm is not None
            vm.state = "Off"
        elif step == "sniffing-nic-removed":
            assert vm is not None
            del vm.nics[n["SniffingNic"]]
        else:
            raise AssertionError(f"no step {step}")

    def status(self, name: str) -> dict[str, Any]:
        vm = self.vms[name]
        return {
            "name": name,
            "state": vm.state,
            "generation": vm.generation,
            "memory_bytes": vm.memory,
            "dynamic_memory": vm.dynamic,
            "cpus": vm.cpus,
            "uptime_seconds": 42 if vm.state == "Running" else 0,
            "stop_action": vm.stop_action,
            "nics": [
                {
                    "name": nic_name,
                    "switch": nic.switch,
                    "mac": f"00155D00000{i}",
                    "mirroring": nic.mirroring,
                    "vlan": nic.vlan,
                    "allowed_vlans": nic.allowed,
                    "addresses": ["192.0.2.10"] if i == 0 and vm.state == "Running" else [],
                    "monitor_mode": self.switches[nic.switch].monitor_mode if nic.switch in self.switches else None,
                }
                for i, (nic_name, nic) in enumerate(vm.nics.items())
            ],
        }

    @classmethod
    def complete(cls, deployed: dict[str, Any]) -> FakeHyperV:
        """A host where a deploy with these settings has already run."""
        host = cls()
        host.files[deployed["vhdx"]] = b"vhdx"
        host.switches[deployed["sniffing_switch"]] = Switch("External", deployed["sniffing_adapter"], False, 2)
        nics = {
            "Management": Nic(deployed["management_switch"]),
            "Sniffing": Nic(deployed["sniffing_switch"], "Destination", "Trunk", "1-4094", 0),
        }
        host.vms[deployed["vm_name"]] = VM(
            1,
            deployed["memory_bytes"],
            False,
            deployed["cpus"],
            "TurnOff",
            "Running",
            deployed["vhdx"],
            nics,
            deployed["serial_pipe"],
        )
        return host


# --- the WS-Management endpoint ------------------------------------------------------------


@dataclass
class Command:
    id: str
    kind: str  # script or upload
    upload: tuple[str, str] | None = None  # (path, sha256)
    stdin: bytearray = field(default_factory=bytearray)
    stdin_done: bool = False
    stdout: list[bytes] = field(default_factory=list)  # chunks still to deliver
    stderr: bytes = b""
    exit_code: int | None = None


@dataclass
class Shell:
    id: str
    commands: dict[str, Command] = field(default_factory=dict)


class WSManServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: Tls | None, users: dict[str, str], auth: str, host: FakeHyperV) -> None:
        """HTTPS with `tls`; without, HTTP, where (as Windows insists, AllowUnencrypted
        being false) every message after NTLM must be sealed with the NTLM session key."""
        super().__init__(("127.0.0.1", 0), _Handler)
        self.users = users
        self.auth = auth
        self.hyperv = host
        self.lock = threading.Lock()
        self.shells: dict[str, Shell] = {}
        self.actions: list[str] = []  # every action in order: create, command, send, ...
        self.scripts: list[str] = []  # scripts received on standard input
        self.encoded: list[str] = []  # the -EncodedCommand texts
        self.violations: list[str] = []
        self.auth_failures = 0
        self.timeouts_to_send = 0  # answer this many Receives with the operation timeout fault
        self.encrypted = 0  # messages that came sealed (HTTP)
        self.https = tls is not None
        self.bindings: GssChannelBindings | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            der = ssl.PEM_cert_to_DER_cert(tls.cert.read_text())
            cert = x509.load_der_x509_certificate(der)
            algorithm = cert.signature_hash_algorithm
            name = algorithm.name if algorithm and algorithm.name not in ("md5", "sha1") else "sha256"
            # RFC 5929 tls-server-end-point: what the client must bind its NTLM answer to
            self.bindings = GssChannelBindings(
                application_data=b"tls-server-end-point:" + hashlib.new(name, der).digest()
            )
            self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}/wsman"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, name="wsman-fake", daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def violate(self, what: str) -> None:
        with self.lock:
            self.violations.append(what)


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return node.text if node is not None else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WSManServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, each answer waits for the
        # client's delayed ACK (40 ms)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ntlm: Any = None
        self._authenticated = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # -- HTTP and authentication --------------------------------------------------------

    def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/wsman":
            self._reply(404)
            return
        if not self._authenticate():
            return
        content_type = self.headers.get("Content-Type", "")
        sealed = not self.server.https and self.server.auth == "ntlm"
        if sealed and not body:
            self._reply(200)  # pywinrm's empty POST that sets the NTLM context up for sealing
            return
        try:
            if sealed:
                body = self._unseal(content_type, body)
            elif content_type.replace(" ", "").lower() != "application/soap+xml;charset=utf-8":
                self.server.violate(f"Content-Type {content_type!r}")
            status, reply = self._soap(body)
        except Exception as e:  # a bug in the fake or the client: both show as a fault
            self.server.violate(f"{type(e).__name__}: {e}")
            status, reply = 500, _fault("uuid:0", "s:Receiver", "w:InternalError", str(e), INVALID)
        if sealed:
            self._reply_sealed(status, reply)
        else:
            self._reply(status, reply)

    # -- MS-WSMV 2.2.9.1: messages sealed with the NTLM session over HTTP ------------------

    def _unseal(self, content_type: str, body: bytes) -> bytes:
        expected = f'multipart/encrypted;protocol="{SEALED}";boundary="Encrypted Boundary"'
        if content_type != expected:
            raise ValueError(f"a message over HTTP is not sealed (Content-Type {content_type!r})")
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        header, payload = parts[0].strip(), parts[1]
        if not header.startswith(b"Content-Type: " + SEALED.encode()):
            raise ValueError("the sealed part's header is wrong")
        length = int(header.split(b"Length=")[1])
        payload = payload.removesuffix(BOUNDARY + b"--\r\n").removeprefix(
            b"\tContent-Type: application/octet-stream\r\n"
        )
        size = struct.unpack("<i", payload[:4])[0]
        message = self._ntlm.unwrap(payload[4 : 4 + size] + payload[4 + size :]).data
        if len(message) != length:
            raise ValueError("the sealed message's length is not the one declared")
        self.server.encrypted += 1
        return bytes(message)

    def _reply_sealed(self, code: int, body: bytes) -> None:
        wrapped = self._ntlm.wrap(body, encrypt=True).data
        payload = (
            BOUNDARY + b"\r\n\tContent-Type: " + SEALED.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(body)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", 16)
            + wrapped
            + BOUNDARY
            + b"--\r\n"
        )
        self.send_response(code)
        self.send_header("Content-Type", f'multipart/encrypted;protocol="{SEALED}";boundary="Encrypted Boundary"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authenticate(self) -> bool:
        if self._authenticated:
            return True
        header = self.headers.get("Authorization", "")
        if self.server.auth == "basic":
            scheme, _, token = header.partition(" ")
            if scheme == "Basic":
                user, _, password = base64.b64decode(token).decode().partition(":")
                if self.server.users.get(user) == password:
                    return True  # Basic authenticates each request, not the connection
            self.server.auth_failures += bool(header)
            self._reply(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return False
        scheme, _, token = header.partition(" ")
        if scheme not in ("Negotiate", "NTLM") or not token:
            self._ntlm = None
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        if self._ntlm is None:
            self._ntlm = spnego.server(protocol="ntlm", channel_bindings=self.server.bindings)
        try:
            answer = self._ntlm.step(base64.b64decode(token))
        except spnego.exceptions.SpnegoError:
            self._ntlm = None
            self.server.auth_failures += 1
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        if not self._ntlm.complete:
            self._reply(401, headers={"WWW-Authenticate": f"{scheme} {base64.b64encode(answer or b'').decode()}"})
            return False
        self._authenticated = True
        return True

    # -- SOAP -----------------------------------------------------------------------------

    def _soap(self, body: bytes) -> tuple[int, bytes]:
        server = self.server
        root = ET.fromstring(body)
        header = root.find("s:Header", NS)
        message_id = _text(root, "s:Header/a:MessageID") or ""
        problems = []
        if len(body) > MAX_ENVELOPE:
            problems.append(
                f"an envelope of {len(body)} bytes: the oldest hosts take {MAX_ENVELOPE} (MaxEnvelopeSizekb 150)"
            )
        if header is None or root.find("s:Body", NS) is None:
            problems.append("no SOAP header or body")
        # Windows does not compare wsa:To with its own address (pywinrm sends a placeholder),
        # but the header must be there, and ReplyTo must be the anonymous role.
        if not (_text(root, "s:Header/a:To") or "").endswith("/wsman"):
            problems.append(f"wsa:To {_text(root, 's:Header/a:To')!r}")
        if _text(root, "s:Header/a:ReplyTo/a:Address") != ANONYMOUS:
            problems.append("wsa:ReplyTo is not the anonymous role")
        for must in ("a:Action", "w:ResourceURI", "w:MaxEnvelopeSize"):
            node = root.find(f"s:Header/{must}", NS)
            if node is None or node.get(f"{{{NS['s']}}}mustUnderstand", node.get("mustUnderstand")) != "true":
                problems.append(f"{must} is not mustUnderstand")
        if _text(root, "s:Header/w:ResourceURI") != SHELL_URI:
            problems.append(f"ResourceURI {_text(root, 's:Header/w:ResourceURI')!r}")
        if not re.fullmatch(r"uuid:[0-9a-fA-F-]{36}", message_id):
            problems.append(f"MessageID {message_id!r}")
        if _text(root, "s:Header/w:MaxEnvelopeSize") != "153600":
            problems.append("MaxEnvelopeSize is not 153600")
        if not re.fullmatch(r"PT\d+(\.\d+)?S", _text(root, "s:Header/w:OperationTimeout") or ""):
            problems.append("OperationTimeout missing")
        action = ACTIONS.get(_text(root, "s:Header/a:Action") or "")
        if action is None:
            problems.append(f"unknown action {_text(root, 's:Header/a:Action')!r}")
        if problems:
            for p in problems:
                server.violate(p)
            return 500, _fault(message_id, "s:Sender", "w:InvalidParameter", "; ".join(problems), INVALID)
        assert action is not None
        with server.lock:
            server.actions.append(action)
        if action == "create":
            return self._create(root, message_id)
        shell_id = _text(root, "s:Header/w:SelectorSet/w:Selector[@Name='ShellId']") or ""
        shell = server.shells.get(shell_id)
        if shell is None:
            return 500, _fault(
                message_id,
                "s:Sender",
                "w:InvalidSelectors",
                f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was "
                "not found on the server.",
                SHELL_NOT_FOUND,
            )
        handler: Callable[[ET.Element, str, Shell], tuple[int, bytes]] = getattr(self, f"_{action}")
        return handler(root, message_id, shell)

    def _create(self, root: ET.Element, message_id: str) -> tuple[int, bytes]:
        options = {o.get("Name"): o.text for o in root.findall("s:Header/w:OptionSet/w:Option", NS)}
        if options.get("WINRS_CODEPAGE") != "65001":
            self.server.violate(f"WINRS_CODEPAGE {options.get('WINRS_CODEPAGE')}: scripts and names travel as UTF-8")
        if options.get("WINRS_NOPROFILE") != "TRUE":
            self.server.violate("WINRS_NOPROFILE is not TRUE")
        if _text(root, "s:Body/rsp:Shell/rsp:InputStreams") != "stdin":
            self.server.violate("InputStreams is not stdin")
        if _text(root, "s:Body/rsp:Shell/rsp:OutputStreams") != "stdout stderr":
            self.server.violate("OutputStreams is not stdout stderr")
        shell = Shell(str(uuid.uuid4()).upper())
        self.server.shells[shell.id] = shell
        body = (
            "<x:ResourceCreated><a:Address>" + self.server.url() + "</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{SHELL_URI}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell.id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            "</x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell.id}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri>"
            "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "</rsp:Shell>"
        )
        return 200, _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", message_id, body)

    def _command(self, root: ET.Element, message_id: str, shell: Shell) -> tuple[int, bytes]:
        command = _text(root, "s:Body/rsp:CommandLine/rsp:Command")
        arguments = (_text(root, "s:Body/rsp:CommandLine/rsp:Arguments") or "").split(" ")
        problems = []
        if command != POWERSHELL:
            problems.append(f"command {command!r} is not {POWERSHELL}")
        if arguments[:-1] != list(POWERSHELL_ARGS):
            problems.append(f"arguments {arguments[:-1]} are not {list(POWERSHELL_ARGS)}")
        try:
            encoded = base64.b64decode(arguments[-1], validate=True).decode("utf-16-le")
        except ValueError:
            problems.append("the encoded command is not base64 of UTF-16LE")
            encoded = ""
        cmd = Command(str(uuid.uuid4()).upper(), "script")
        if encoded == render("bootstrap"):
            cmd.kind = "script"
        elif encoded.startswith("begin {") and "$Expected = " in encoded:
            path = re.search(r"^    \$Path = (.+)$", encoded, re.M)
            expected = re.search(r"^    \$Expected = (.+)$", encoded, re.M)
            assert path and expected
            cmd.kind, cmd.upload = "upload", (ps_value(path.group(1)), ps_value(expected.group(1)))
            if encoded != render("upload", path=cmd.upload[0], sha256=cmd.upload[1]):
                problems.append("the upload script is not templates/hyperv/upload.ps1.j2's")
        else:
            problems.append("the encoded command is neither the bootstrap nor the upload script")
        self.server.encoded.append(encoded)
        if len(" ".join([command or "", *arguments])) > 8191:
            problems.append("the command line is longer than cmd.exe's 8191 characters")
        if problems:
            for p in problems:
                self.server.violate(p)
            return 500, _fault(message_id, "s:Sender", "w:InvalidParameter", "; ".join(problems), INVALID)
        shell.commands[cmd.id] = cmd
        body = f"<rsp:CommandResponse><rsp:CommandId>{cmd.id}</rsp:CommandId></rsp:CommandResponse>"
        return 200, _envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", message_id, body
        )

    def _send(self, root: ET.Element, message_id: str, shell: Shell) -> tuple[int, bytes]:
        stream = root.find("s:Body/rsp:Send/rsp:Stream", NS)
        cmd = shell.commands.get(stream.get("CommandId", "") if stream is not None else "")
        if stream is None or cmd is None or stream.get("Name") != "stdin" or cmd.stdin_done:
            self.server.violate("Send to no running command's stdin")
            return 500, _fault(message_id, "s:Sender", "w:InvalidParameter", "no such command", INVALID)
        cmd.stdin += base64.b64decode(stream.text or "")
        if stream.get("End") == "true":
            cmd.stdin_done = True
            self._execute(cmd)
        return 200, _envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse", message_id, "<rsp:SendResponse/>"
        )

    def _execute(self, cmd: Command) -> None:
        hyperv = self.server.hyperv
        if cmd.kind == "upload":
            assert cmd.upload is not None
            out, err, code = hyperv.receive_upload(cmd.upload[0], cmd.upload[1], bytes(cmd.stdin))
        else:
            try:
                script = bytes(cmd.stdin).decode("utf-8")
            except UnicodeDecodeError:
                self.server.violate("the script on stdin is not UTF-8")
                script = ""
            with self.server.lock:
                self.server.scripts.append(script)
            out, err, code = hyperv.run_script(script)
        # powershell.exe writes as it goes: one Receive per line, as a real host often answers
        cmd.stdout = [line + b"\n" for line in out.split(b"\n") if line] or [b""]
        cmd.stderr, cmd.exit_code = err, code

    def _receive(self, root: ET.Element, message_id: str, shell: Shell) -> tuple[int, bytes]:
        desired = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        cmd = shell.commands.get(desired.get("CommandId", "") if desired is not None else "")
        if desired is None or cmd is None or desired.text != "stdout stderr":
            self.server.violate("Receive for no command, or not of stdout and stderr")
            return 500, _fault(message_id, "s:Sender", "w:InvalidParameter", "no such command", INVALID)
        if self.server.timeouts_to_send or not cmd.stdin_done:
            self.server.timeouts_to_send = max(0, self.server.timeouts_to_send - 1)
            if not cmd.stdin_done:
                self.server.violate("Receive before the end of stdin: the script would wait forever")
            return 500, _fault(
                message_id,
                "s:Receiver",
                "w:TimedOut",
                "The WS-Management service cannot complete the operation within the time specified in "
                "OperationTimeout.",
                TIMEOUT_CODE,
            )
        chunk = cmd.stdout.pop(0) if cmd.stdout else b""
        streams = f'<rsp:Stream Name="stdout" CommandId="{cmd.id}">{base64.b64encode(chunk).decode()}</rsp:Stream>'
        if cmd.stdout:
            state = f'<rsp:CommandState CommandId="{cmd.id}" State="{RUNNING}"/>'
        else:
            streams += f'<rsp:Stream Name="stdout" CommandId="{cmd.id}" End="true"></rsp:Stream>'
            if cmd.stderr:
                err = base64.b64encode(cmd.stderr).decode()
                streams += f'<rsp:Stream Name="stderr" CommandId="{cmd.id}">{err}</rsp:Stream>'
            streams += f'<rsp:Stream Name="stderr" CommandId="{cmd.id}" End="true"></rsp:Stream>'
            state = (
                f'<rsp:CommandState CommandId="{cmd.id}" State="{DONE}">'
                f"<rsp:ExitCode>{cmd.exit_code}</rsp:ExitCode></rsp:CommandState>"
            )
        body = f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>"
        return 200, _envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", message_id, body
        )

    def _signal(self, root: ET.Element, message_id: str, shell: Shell) -> tuple[int, bytes]:
        signal = root.find("s:Body/rsp:Signal", NS)
        code = _text(root, "s:Body/rsp:Signal/rsp:Code")
        if signal is None or signal.get("CommandId") not in shell.commands or code != TERMINATE:
            self.server.violate(f"Signal {code!r} for no command")
        else:
            cmd = shell.commands.pop(signal.get("CommandId", ""))
            if cmd.stdout:
                self.server.violate("terminate before all output was received")
        return 200, _envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse",
            message_id,
            "<rsp:SignalResponse/>",
        )

    def _delete(self, root: ET.Element, message_id: str, shell: Shell) -> tuple[int, bytes]:
        if shell.commands:
            self.server.violate("shell deleted with commands not terminated")
        del self.server.shells[shell.id]
        return 200, _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", message_id, "")


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault(relates_to: str, code: str, subcode: str, reason: str, wsman_code: int) -> bytes:
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{_escape(reason)}</s:Text></s:Reason>'
        '<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f'Code="{wsman_code}" Machine="127.0.0.1"><f:Message>{_escape(reason)}</f:Message></f:WSManFault>'
        "</s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
