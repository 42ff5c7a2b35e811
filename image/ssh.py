"""SSH to the appliance as its management user (nps-admin), with paramiko.

The appliance's host key is recorded the first time the kit connects to an address
(trust on first use) in the kit's own known-hosts file, not the user's
`~/.ssh/known_hosts`, and checked on every later connection: a changed key is refused
with one line that says which file holds the old one. `inv appliance.check`, the
deployers' `--wait-sensing`, `inv demo` and the tests reach the appliance through this
module, one connection per appliance, commands run over it as channels.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko

USER = "nps-admin"
# paramiko logs every failed attempt (a booting VM refuses for a minute) with a traceback;
# this module says why a connection failed, in one line, itself.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class SSHError(Exception):
    """The appliance cannot be reached, refuses us, or is not who it was: one line."""


class HostKeyChanged(SSHError):
    pass


def default_known_hosts() -> Path:
    """$NPS_KNOWN_HOSTS, else ~/.config/nps-kit/known_hosts."""
    env = os.environ.get("NPS_KNOWN_HOSTS")
    if env:
        return Path(env).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "nps-kit" / "known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """As OpenSSH prints it: SHA256:base64, no padding."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str


class _RecordFirstKey(paramiko.MissingHostKeyPolicy):
    """Trust on first use: record the key of a host never seen, in the kit's file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        client.save_host_keys(str(self.path))
        os.chmod(self.path, 0o600)


class Remote:
    """One SSH connection to an appliance; `run` executes commands over it."""

    def __init__(
        self,
        host: str,
        port: int = 22,
        key: Path | None = None,
        user: str = USER,
        known_hosts: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.key, self.user, self.timeout = host, port, key, user, timeout
        self.known_hosts = known_hosts or default_known_hosts()
        self.client: paramiko.SSHClient | None = None

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 22 else "")

    def connect(self) -> paramiko.SSHClient:
        if self.client is not None and (t := self.client.get_transport()) is not None and t.is_active():
            return self.client
        client = paramiko.SSHClient()
        if self.known_hosts.exists():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_RecordFirstKey(self.known_hosts))
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                key_filename=str(self.key) if self.key else None,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                allow_agent=self.key is None,
                look_for_keys=self.key is None,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyChanged(
                f"{self.where}: the host key changed (now {fingerprint(e.key)}, recorded "
                f"{fingerprint(e.expected_key)}); refused. If the appliance was redeployed, remove its line from "
                f"{self.known_hosts} (ssh-keygen -R '{_entry(self.host, self.port)}' -f {self.known_hosts})"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise SSHError(f"{self.where}: the key was refused (is it the one the deployment gave?)") from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            client.close()
            raise SSHError(f"{self.where}: cannot connect: {_reason(e)}") from None
        self.client = client
        return client

    def run(self, *command: str, timeout: float = 60.0, stdin: bytes | None = None) -> Completed:
        """Run a command (its words quoted for the remote shell) and wait for it."""
        return self.shell(shlex.join(command), timeout, stdin)

    def shell(self, line: str, timeout: float = 60.0, stdin: bytes | None = None) -> Completed:
        """Run a line of the remote shell as it is written and wait for it."""
        client = self.connect()
        transport = client.get_transport()
        assert transport is not None
        try:
            channel = transport.open_session(timeout=self.timeout)
            channel.settimeout(timeout)
            channel.exec_command(line)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout = channel.makefile("rb").read()
            stderr = channel.makefile_stderr("rb").read()
            code = channel.recv_exit_status()
        except TimeoutError:
            raise SSHError(f"{self.where}: {line.split(maxsplit=1)[0]} did not finish in {timeout:.0f} s") from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise SSHError(f"{self.where}: the connection failed: {_reason(e)}") from None
        return Completed(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def put(self, local: Path, remote: str) -> None:
        """Copy a file of this machine to `remote` (SFTP over the same connection)."""
        try:
            with self.connect().open_sftp() as sftp:
                sftp.put(str(local), remote)
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise SSHError(f"{self.where}: copying {local.name} failed: {_reason(e)}") from None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _reason(e: Any) -> str:
    if isinstance(e, socket.timeout):
        return "timed out"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
