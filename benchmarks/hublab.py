"""Real peers for the management hub's tests and `inv bench --hub`: the hub as its own
process (uvicorn, HTTPS with a certificate made for the occasion), a user's API client,
and Debian's tinyproxy as the forward proxy with Basic authentication.

Everything listens on loopback (or on a veth the test made); nothing leaves the machine.
"""

from __future__ import annotations

import base64
import os
import select
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

HUB_BIN = Path(sys.executable).parent / "nps-hub"
SENSOR_BIN = Path(sys.executable).parent / "nps-sensor"
ADMIN_PASSWORD = "admin-password-for-tests"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def make_cert(directory: Path, address: str = "127.0.0.1", *more: str) -> tuple[Path, Path]:
    """A self-signed certificate for `address` and `more` addresses (what the sensor pins
    with --ca): a VM reaches the host's loopback at another address (QEMU's 10.0.2.2)."""
    names = ",".join(f"IP:{a}" for a in (address, *more))
    cert, key = directory / "hub.crt", directory / "hub.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=nps-hub test",
            "-addext", f"subjectAltName={names},DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o600)
    return cert, key


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _proc(pid: int, name: str) -> list[str]:
    """The fields of /proc/PID/NAME (after the command's name, for stat), or none."""
    try:
        with open(f"/proc/{pid}/{name}", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()
    except OSError:
        return []


def rss(pids: list[int]) -> int:
    """Resident bytes of these processes together."""
    return sum(int(f[1]) for p in pids if len(f := _proc(p, "statm")) > 1) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time these processes have used so far, with that of their
    children that ended (PostgreSQL's backends come and go with the hub's connections:
    one that ended during a phase took its CPU time out of the live processes' sum)."""
    ticks = sum(sum(int(t) for t in f[11:15]) for p in pids if len(f := _proc(p, "stat")) > 14)
    return ticks / os.sysconf("SC_CLK_TCK")


def high_water(pids: list[int]) -> int:
    """The peak resident bytes each of these processes reached (the kernel's VmHWM),
    added up: exact and free to read, where sampling costs the measuring process CPU
    (an upper bound of the tree's peak when its processes peak at different moments)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        except OSError:
            continue
    return total * 1024


class MemoryPeak:
    """The peak resident memory of a process tree, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, rss(process_tree(self.pid)))

    def stop(self) -> int:
        """The peak, in bytes."""
        self.stopped.set()
        self.thread.join()
        return self.peak


class HubProcess:
    """`nps-hub serve` on a port of its own; stop() and start() again keep its data."""

    def __init__(
        self,
        workdir: Path,
        host: str = "127.0.0.1",
        tls: bool = True,
        database: str = "",
        env: dict[str, str] | None = None,
        also_known_as: tuple[str, ...] = (),
        self_signed: bool = False,
        workers: int = 1,
    ) -> None:
        self.workdir = workdir
        self.workers = workers  # `serve --workers` (PostgreSQL)
        self.self_signed = self_signed  # `serve --self-signed`: the hub makes its certificate
        self.data = workdir / "hub-data"
        self.host = host
        self.port = free_port(host)
        self.cert: Path | None = None
        self.key: Path | None = None
        if tls:
            self.cert, self.key = make_cert(workdir, host, *also_known_as)
        self.database = database
        self.env = {
            **os.environ,
            "NPS_HUB_DATA": str(self.data),
            "NPS_HUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "NPS_HUB_HEARTBEAT": "1",
            "NPS_HUB_OFFLINE_AFTER": "30",
            **(env or {}),
        }
        if database:
            self.env["NPS_HUB_DATABASE"] = database
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "hub.log"

    @property
    def url(self) -> str:
        scheme = "https" if self.cert or self.self_signed else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def database_url(self) -> str:
        """The hub's database, as SQLAlchemy reaches it from outside."""
        return self.database or f"sqlite:///{self.data / 'hub.sqlite3'}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        own = self.data / "tls" / "hub.crt"
        if self.self_signed:
            return ssl.create_default_context(cafile=str(own)) if own.exists() else False
        return ssl.create_default_context(cafile=str(self.cert)) if self.cert else True

    def start(self, timeout: float = 60) -> None:
        cmd = [str(HUB_BIN), "serve", "--host", self.host, "--port", str(self.port)]
        if self.cert and self.key:
            cmd += ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]
        if self.self_signed:
            cmd += ["--self-signed", "--name", self.host]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub ended with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                httpx.get(f"{self.url}/api/v1/health", verify=self.verify, timeout=2).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the hub did not answer:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> HubProcess:
        """Started for a `with` block, stopped at its end whatever happens."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cli(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HUB_BIN), *args],
            check=False,
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
        )

    def api(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> Api:
        return Api(self, user, password)


class Api:
    """A logged-in user of the hub's HTTP API."""

    def __init__(self, hub: HubProcess, user: str, password: str) -> None:
        # No idle keep-alive connections: they would hold the hub's graceful shutdown.
        self.http = httpx.Client(
            base_url=hub.url, verify=hub.verify, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
        )
        r = self.http.post("/api/v1/login", json={"name": user, "password": password})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"

    def get(self, path: str, **kw: Any) -> Any:
        r = self.http.get(path, **kw)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def create_sensor(self, name: str, location: str = "lab", network: str = "Default") -> tuple[int, str]:
        body = self.post("/api/v1/sensors", {"name": name, "location": location, "network": network})
        return int(body["sensor"]["id"]), str(body["code"])

    def sensor(self, sensor_id: int) -> dict[str, Any]:
        body: dict[str, Any] = self.get(f"/api/v1/sensors/{sensor_id}")
        return body

    def act(self, sensor_id: int, action: str) -> dict[str, Any]:
        body: dict[str, Any] = self.post(f"/api/v1/sensors/{sensor_id}/actions", {"action": action})
        return body


class Tinyproxy:
    """Debian's tinyproxy as the forward proxy, with Basic authentication when a user is given."""

    def __init__(self, workdir: Path, user: str = "", password: str = "", host: str = "127.0.0.1") -> None:
        binary = shutil.which("tinyproxy")
        if binary is None:
            raise FileNotFoundError("tinyproxy is not installed (./bootstrap installs tinyproxy-bin)")
        self.binary = binary
        self.host = host
        self.port = free_port(host)
        self.log = workdir / "tinyproxy.log"
        self.conf = workdir / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            f"Listen {host}",
            "Timeout 60",
            "MaxClients 50",
            "LogLevel Connect",
            "DisableViaHeader Yes",
        ]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        if user:
            lines.append(f"BasicAuth {user} {password}")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:  # in the foreground without a LogFile, it logs to stderr
            self.proc = subprocess.Popen(
                [self.binary, "-d", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("tinyproxy did not start:\n" + self.logtext())

    def logtext(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def env_file(self, path: Path, auth: str = "none", user: str = "", password: str = "") -> Path:
        """The appliance's proxy file for this proxy (root only)."""
        text = (
            f"NPS_PROXY_ADDRESS={self.host}\nNPS_PROXY_PORT={self.port}\nNPS_PROXY_AUTH={auth}\n"
            f"NPS_PROXY_USER={user}\nNPS_PROXY_PASSWORD={password}\n"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Postgres:
    """A throwaway PostgreSQL cluster from Debian's server binaries: initdb in a private
    directory as the postgres user, listening on a Unix socket only (no TCP port).

    The tests' clusters skip fsync (nothing in them outlives the test); a `durable` one
    (the benches') runs with PostgreSQL's defaults as a deployment does, so a report is on
    disk before the hub acknowledges it and the figures count that cost."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins or os.geteuid() != 0:
            raise FileNotFoundError("PostgreSQL tests need Debian's postgresql package and root (./bootstrap)")
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="nps-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@/hub?host={self.root}&port={self.port}"

    def _as_postgres(self, *args: str) -> None:
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
        )
        if out.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed ({out.returncode}): {out.stderr.strip()}")

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # a half-made cluster goes with its directory
            raise

    def _start(self) -> None:
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=''" + ("" if self.durable else " -c fsync=off")
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                          str(self.root / "log"), "start")  # fmt: skip
        self._as_postgres(str(self.bin / "createdb"), "-h", str(self.root), "-p", str(self.port), "hub")

    @property
    def pid(self) -> int | None:
        """The postmaster's process (its backends are its children)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class NtlmProxy:
    """A forward proxy that demands NTLM for CONNECT and checks the answer against its
    own user file (pyspnego's NTLM acceptor, the one pywinrm's servers-side tests use):
    a wrong password is refused. Tunnels go to loopback only."""

    def __init__(self, workdir: Path, domain: str, user: str, password: str) -> None:
        self.users = workdir / "ntlm-users"
        fd = os.open(self.users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{domain}:{user}:{password}\n")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tunnels = 0
        self.refused = 0
        self.server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> None:
        os.environ["NTLM_USER_FILE"] = str(self.users)  # where pyspnego's acceptor reads the credentials
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                import spnego

                context = spnego.server(protocol="ntlm")
                while True:
                    head = self._head()
                    if head is None:
                        return
                    method, target, headers = head
                    if method != "CONNECT":
                        self._send("405 Method Not Allowed", close=True)
                        return
                    auth = headers.get("proxy-authorization", "")
                    if not auth.upper().startswith("NTLM "):
                        self._send("407 Proxy Authentication Required", ["Proxy-Authenticate: NTLM"])
                        continue
                    try:
                        out = context.step(base64.b64decode(auth[5:].strip()))
                    except Exception:  # a wrong password, a malformed message
                        outer.refused += 1
                        self._send("407 Proxy Authentication Required", ["Proxy-Authenticate: NTLM"], close=True)
                        return
                    if not context.complete:
                        challenge = base64.b64encode(out or b"").decode()
                        self._send("407 Proxy Authentication Required", [f"Proxy-Authenticate: NTLM {challenge}"])
                        continue
                    self._tunnel(target)
                    return

            def _head(self) -> tuple[str, str, dict[str, str]] | None:
                line = self.rfile.readline(8192).decode("latin-1").strip()
                if not line:
                    return None
                method, target, *_ = [*line.split(" "), "", ""]
                headers = {}
                while True:
                    h = self.rfile.readline(8192).decode("latin-1")
                    if h in ("\r\n", "\n", ""):
                        break
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                return method, target, headers

            def _send(self, status: str, headers: list[str] | None = None, close: bool = False) -> None:
                lines = [f"HTTP/1.1 {status}", *(headers or []), "Content-Length: 0"]
                if close:
                    lines.append("Connection: close")
                self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                self.wfile.flush()

            def _tunnel(self, target: str) -> None:
                host, _, port = target.rpartition(":")
                if host.strip("[]") not in ("127.0.0.1", "localhost", "::1") or not port.isdigit():
                    self._send("403 Forbidden", close=True)
                    return
                with socket.create_connection((host.strip("[]"), int(port)), timeout=30) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    outer.tunnels += 1
                    sockets = [self.connection, upstream]
                    while True:
                        ready, _, _ = select.select(sockets, [], [], 30)
                        if not ready:
                            return
                        for s in ready:
                            data = s.recv(65536)
                            if not data:
                                return
                            (upstream if s is self.connection else self.connection).sendall(data)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env_file(self, path: Path, user: str, password: str) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                f"NPS_PROXY_ADDRESS={self.host}\nNPS_PROXY_PORT={self.port}\nNPS_PROXY_AUTH=ntlm\n"
                f"NPS_PROXY_USER={user}\nNPS_PROXY_PASSWORD={password}\n"
            )
        return path

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def wait_for_records(url: str, timeout: float = 120.0) -> float:
    """Seconds until no report's records wait to be stored (backlog.py): the records of
    a burst go into `flows` once it is over."""
    engine = create_engine(url)
    start = time.perf_counter()
    try:
        with engine.connect() as conn:
            while conn.scalar(text("SELECT count(*) FROM pending_flows")):
                conn.rollback()
                if time.perf_counter() - start > timeout:
                    raise AssertionError(f"traffic records still waiting after {timeout:.0f} s")
                time.sleep(0.2)
    finally:
        engine.dispose()
    return time.perf_counter() - start
