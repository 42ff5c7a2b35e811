"""vcsim, govmomi's vSphere simulator: built offline from Debian's packages, run on loopback.

Debian's `golang-github-vmware-govmomi-dev` ships the simulator as a Go library without
its command; `tests/govcsim/main.go` is a small command of our own (with the
simulator extensions the deployer's tests need). It is built in GOPATH mode from
/usr/share/gocode with Debian's `golang-go`, offline (GOPROXY=off), into
build/vcsim/vcsim, and rebuilt only when it is missing or older than its source:
about 20 s cold, 2 s with the Go build cache (build/vcsim/gocache) warm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "govcsim"
BUILD = REPO / "build" / "vcsim"
BINARY = BUILD / "vcsim"
GOCODE = Path("/usr/share/gocode")
GOVMOMI = GOCODE / "src" / "github.com" / "vmware" / "govmomi" / "simulator"
START_TIMEOUT = 30.0


class Unavailable(Exception):
    """The simulator cannot be built here; the message says what to install."""


def build() -> Path:
    """The vcsim binary, built if missing or older than its source; Unavailable if it cannot be."""
    newest = max(p.stat().st_mtime for p in SOURCE.glob("*.go"))
    if BINARY.is_file() and BINARY.stat().st_mtime >= newest:
        return BINARY
    go = shutil.which("go")
    if go is None:
        raise Unavailable("the Go toolchain is not installed (./bootstrap installs Debian's golang-go)")
    if not GOVMOMI.is_dir():
        raise Unavailable(f"{GOVMOMI} is missing (./bootstrap installs golang-github-vmware-govmomi-dev)")
    BUILD.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GO111MODULE": "off",  # GOPATH mode: the packages Debian installed, no module download
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOPATH": f"{BUILD / 'gopath'}:{GOCODE}",
        "GOCACHE": str(BUILD / "gocache"),
        "CGO_ENABLED": "0",  # pure Go: no C compiler involved
    }
    tmp = BUILD / f"vcsim.{os.getpid()}.tmp"  # two test runs building at once do not collide
    proc = subprocess.run(
        [go, "build", "-o", str(tmp), "."], cwd=SOURCE, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise Unavailable(f"building vcsim failed: {proc.stderr.strip()[-2000:]}")
    os.replace(tmp, BINARY)
    return BINARY


@dataclass(frozen=True)
class Server:
    """A running simulator: its SDK URL, its login and its self-signed certificate."""

    url: str  # https://127.0.0.1:PORT/sdk
    user: str
    password: str
    ca_file: Path  # the server's certificate (PEM), to trust it

    @property
    def host(self) -> str:
        return f"{urlsplit(self.url).hostname}:{urlsplit(self.url).port}"


@contextmanager
def running(
    *,
    esx: bool,
    user: str = "administrator",
    password: str = "vcsim-Pa55",
    host_cpus: int = 32,
    host_memory_gib: int = 128,
    datastore_free_gib: int = 800,
) -> Iterator[Server]:
    """Start vcsim on a free loopback port (ESXi with `esx`, else vCenter) for the block's duration.

    Every host has `host_cpus` logical CPUs and `host_memory_gib` of memory, every datastore
    `datastore_free_gib` free: the simulator's own hosts are smaller than any sensor profile.

    The login goes through the environment, not the command line; the simulator
    stops when its standard input closes, so it cannot outlive a killed test run.
    """
    binary = build()
    with tempfile.TemporaryDirectory(prefix="vcsim-") as tmp:
        ca = Path(tmp) / "ca.pem"
        args = [str(binary), "-l", "127.0.0.1:0", "-ca-out", str(ca)] + (["-esx"] if esx else [])
        args += ["-host-cpus", str(host_cpus), "-host-memory-gib", str(host_memory_gib)]
        args += ["-datastore-free-gib", str(datastore_free_gib)]
        env = {**os.environ, "VCSIM_USERNAME": user, "VCSIM_PASSWORD": password, "TMPDIR": tmp}
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("https://"):
                err = proc.stderr.read() if proc.stderr else ""
                raise RuntimeError(f"vcsim did not start: {line} {err}".strip())
            yield Server(line, user, password, ca)
        finally:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
