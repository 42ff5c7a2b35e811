"""A WinRM session to a Hyper-V host: run rendered PowerShell, send a file in chunks.

pywinrm speaks WS-Management (one cmd shell per session: Create, then per script
Command, Send, Receive until Done, Signal, and Delete at the end). A script is never
put on a command line: powershell.exe gets a short bootstrap as its encoded command
(templates/hyperv/bootstrap.ps1.j2) and reads the script on standard input. The password
lives in the session object only; every failure becomes a HyperVError of one line that
names the cause and the fix.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import re
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal as TypingLiteral

import requests
from winrm import transport as winrm_transport
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from .hyperv_scripts import Output, Step, command_line, decode, parse, parse_lines, render

PASSWORD_ENV = "NPS_WINRM_PASSWORD"
AUTHS = ("ntlm", "kerberos", "credssp", "basic")
# One upload chunk: 64 KiB of file is one base64 line of 87,382 characters, which pywinrm
# wraps in base64 again (116,512) inside a Send envelope: under the 150 KiB
# MaxEnvelopeSizekb of the oldest supported hosts (500 KiB on Windows Server 2012 R2 on).
CHUNK = 64 * 1024
CODEPAGE_UTF8 = 65001


class HyperVError(Exception):
    """An operational failure, in one line: what went wrong and how to fix it."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach the host's WinRM service."""

    host: str
    user: str
    auth: str = "ntlm"
    http: bool = False  # HTTPS unless asked
    port: int = 0  # 0: 5986 for HTTPS, 5985 for HTTP
    ca_bundle: str = ""  # PEM file of the CAs to trust; default: the system's store
    read_timeout: int = 60
    operation_timeout: int = 50

    @property
    def url(self) -> str:
        scheme = "http" if self.http else "https"
        port = self.port or (5985 if self.http else 5986)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}/wsman"

    def check(self) -> None:
        """Refuse settings that cannot work or would leak the password, before connecting."""
        if not self.host:
            raise HyperVError("no host: pass --host NAME (the Hyper-V host's DNS name or address)")
        if not self.user and self.auth != "kerberos":  # Kerberos may use the ticket kinit got
            raise HyperVError("no user: pass --user DOMAIN\\NAME (or NAME@DOMAIN, or a local account)")
        if self.auth not in AUTHS:
            raise HyperVError(f"auth {self.auth!r}: choose one of {', '.join(AUTHS)}")
        if self.auth == "basic" and self.http:
            raise HyperVError("Basic authentication over HTTP would send the password in clear: use HTTPS or NTLM")
        if self.auth == "kerberos" and not winrm_transport.HAVE_KERBEROS:
            raise HyperVError("Kerberos needs its extra: pip install 'nps-kit[kerberos]' (and a ticket from kinit)")
        if self.auth == "credssp" and not winrm_transport.HAVE_CREDSSP:
            raise HyperVError("CredSSP needs its extra: pip install 'nps-kit[credssp]'")
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise HyperVError(f"--ca-bundle {self.ca_bundle}: no such file")


def read_password(env: str = PASSWORD_ENV, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The password from the environment, or asked for on the terminal (never an argument)."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise HyperVError(f"no password: set {env} in the environment, or run in a terminal to be asked")
    try:
        value = prompt("WinRM password: ")
    except (EOFError, KeyboardInterrupt):
        raise HyperVError("no password given") from None
    if not value:
        raise HyperVError("no password given")
    return value


def _trust(endpoint: Endpoint) -> str | None:
    """The CA file requests verifies the host with: --ca-bundle, else the system's store
    (where an organisation's CA is installed), else certifi's (None)."""
    if endpoint.ca_bundle:
        return endpoint.ca_bundle
    cafile = ssl.get_default_verify_paths().cafile
    return cafile if cafile and Path(cafile).is_file() else None


def explain(exc: BaseException, endpoint: Endpoint) -> str:
    """One line for a transport failure."""
    where = endpoint.url
    if isinstance(exc, InvalidCredentialsError):
        return (
            f"{where}: the host rejected the credentials of {endpoint.user} (HTTP 401): check the user "
            f"(DOMAIN\\NAME), {PASSWORD_ENV} and that the account may use WinRM (local Administrators)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        reason = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
            detail = reason.split("certificate verify failed:", 1)[-1].split("(_ssl", maxsplit=1)[0].strip(" )'\"")
            return (
                f"{where}: the host's certificate is not trusted ({detail or 'verify failed'}): "
                "pass its CA with --ca-bundle FILE.pem"
            )
        return f"{where}: TLS failed ({_short(reason)}): is this the WinRM HTTPS listener?"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{where}: no answer in {endpoint.read_timeout} s: is the host up and WinRM listening?"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return (
            f"{where}: cannot connect ({_os_reason(exc)}): check the host name, that WinRM listens there "
            "(winrm enumerate winrm/config/listener) and that the firewall lets the port through"
        )
    if isinstance(exc, WSManFaultError):
        return f"{where}: WinRM refused the request: {_short(exc.reason)}"
    if isinstance(exc, WinRMTransportError):
        return f"{where}: HTTP {exc.code} from the WinRM service: {_short(exc.response_text) or 'no detail'}"
    if isinstance(exc, WinRMError):
        return f"{where}: {_short(str(exc))}"
    return f"{where}: {type(exc).__name__}: {_short(str(exc))}"


def _os_reason(exc: BaseException) -> str:
    """The operating system's words at the bottom of requests' nested connection errors."""
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found[-1].strip() if found else _short(str(exc), 120)


def _short(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_TRANSPORT_ERRORS = (requests.exceptions.RequestException, WinRMError, WinRMTransportError)


class Session:
    """One shell on the host for a series of scripts; use as a context manager."""

    def __init__(self, endpoint: Endpoint, password: str) -> None:
        endpoint.check()
        self.endpoint = endpoint
        auth: TypingLiteral["ntlm", "kerberos", "credssp", "ssl", "basic"]
        if endpoint.auth == "basic":
            auth = "ssl"  # pywinrm's name for Basic over HTTPS
        elif endpoint.auth == "ntlm":
            auth = "ntlm"
        elif endpoint.auth == "kerberos":
            auth = "kerberos"
        else:
            auth = "credssp"
        self._protocol = Protocol(
            endpoint.url,
            transport=auth,
            username=endpoint.user or None,
            password=password,
            server_cert_validation="validate",
            ca_trust_path=_trust(endpoint),  # type: ignore[arg-type]  # None: certifi's store
            read_timeout_sec=endpoint.read_timeout,
            operation_timeout_sec=endpoint.operation_timeout,
            message_encryption="auto",  # NTLM, Kerberos, CredSSP encrypt every message over HTTP
            proxy=None,
        )
        self._shell: str | None = None

    def __enter__(self) -> Session:
        try:
            self._shell = self._protocol.open_shell(codepage=CODEPAGE_UTF8, noprofile=True)
        except _TRANSPORT_ERRORS as exc:
            raise HyperVError(explain(exc, self.endpoint)) from None
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._shell is None:
            return
        shell, self._shell = self._shell, None
        try:
            self._protocol.close_shell(shell)
        except _TRANSPORT_ERRORS as error:
            if kind is None:
                raise HyperVError(explain(error, self.endpoint)) from None

    def _command(self, command: str, args: list[str]) -> str:
        assert self._shell is not None, "use the session as a context manager"
        return self._protocol.run_command(self._shell, command, args)

    def _finish(self, command_id: str, output: Output, on_step: Callable[[Step], None] | None) -> Output:
        """Receive until the command is done, handing each step line over as it arrives."""
        assert self._shell is not None
        stdout = b""
        stderr = b""
        done = False
        exit_code = -1
        while not done:
            try:
                out, err, exit_code, done = self._protocol.get_command_output_raw(self._shell, command_id)
            except WinRMOperationTimeoutError:
                continue  # the host answers an idle Receive with a timeout fault: ask again
            stdout += out
            stderr += err
            if b"\n" in stdout:
                complete, stdout = stdout.rsplit(b"\n", 1)
                for step in parse_lines(decode(complete).splitlines(), output):
                    if on_step:
                        on_step(step)
        for step in parse_lines(decode(stdout).splitlines(), output):
            if on_step:
                on_step(step)
        self._protocol.cleanup_command(self._shell, command_id)
        final = parse(b"", stderr, exit_code)
        output.exit_code, output.errors = final.exit_code, final.errors
        return output

    def run(self, script: str, on_step: Callable[[Step], None] | None = None) -> Output:
        """Run `script` (sent on standard input to the bootstrap) and parse what it prints."""
        assert self._shell is not None, "use the session as a context manager"
        command, args = command_line(render("bootstrap"))
        try:
            command_id = self._command(command, args)
            self._protocol.send_command_input(self._shell, command_id, script.encode("utf-8"), end=True)
            return self._finish(command_id, Output(exit_code=-1), on_step)
        except _TRANSPORT_ERRORS as exc:
            raise HyperVError(explain(exc, self.endpoint)) from None

    def _send(self, command_id: str, line: tuple[bytes, int], end: bool, advance: Callable[[int], None] | None) -> None:
        assert self._shell is not None
        self._protocol.send_command_input(self._shell, command_id, line[0], end=end)
        if advance:
            advance(line[1])

    def upload(self, local: Path, remote: str, sha256: str, advance: Callable[[int], None] | None = None) -> Output:
        """Send `local` to `remote` on the host in base64 lines; the host checks its SHA256."""
        assert self._shell is not None, "use the session as a context manager"
        command, args = command_line(render("upload", path=remote, sha256=sha256.upper()))
        try:
            command_id = self._command(command, args)
            pending: tuple[bytes, int] | None = None
            for line in _lines(local):
                if pending is not None:
                    self._send(command_id, pending, False, advance)
                pending = line
            self._send(command_id, pending or (b"", 0), True, advance)
            return self._finish(command_id, Output(exit_code=-1), None)
        except _TRANSPORT_ERRORS as exc:
            raise HyperVError(explain(exc, self.endpoint)) from None


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """The file as base64 lines of CHUNK bytes each, with the bytes each one carries."""
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            yield base64.b64encode(block) + b"\r\n", len(block)


def sha256_file(path: Path, advance: Callable[[int], None] | None = None) -> str:
    """The file's SHA256 in upper-case hex (Get-FileHash's form)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            if advance:
                advance(len(block))
    return digest.hexdigest().upper()
