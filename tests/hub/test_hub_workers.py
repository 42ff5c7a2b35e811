"""`nps-hub serve --workers N`: each process accepts on a socket of its own (workers.py),
so the kernel spreads connections among them; the supervisor holds none, so a worker
that dies leaves no socket that nobody accepts on, and its replacement binds again."""

from __future__ import annotations

import os
import pickle
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from benchmarks.hublab import HubProcess, make_cert, process_tree
from nps_hub import workers
from tests.hub.databases import database
from tests.support.waiting import wait_for

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def listening(port: int) -> set[str]:
    """The socket inodes listening on `port` (IPv4)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == LISTEN:
            out.add(fields[9])
    return out


def sockets_of(pid: int) -> set[str]:
    """The socket inodes a process holds open (none once it is gone)."""
    out: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # a worker just killed and reaped
        return out
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def test_a_listener_unpickles_as_a_socket_of_its_own() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = pickle.loads(pickle.dumps(workers.Listener("127.0.0.1", port)))
    second = pickle.loads(pickle.dumps(workers.Listener("127.0.0.1", port)))
    try:
        for s in (first, second):
            assert isinstance(s, socket.socket)
            assert s.getsockname() == ("127.0.0.1", port)
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert first.fileno() != second.fileno()
    finally:
        first.close()
        second.close()


def test_a_worker_that_cannot_bind_ends_as_one_that_cannot_start() -> None:
    with socket.socket() as taken:  # bound without SO_REUSEPORT: nobody may join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as ended:
            workers.bind("127.0.0.1", taken.getsockname()[1])
    assert ended.value.code == STARTUP_FAILURE


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with database("postgresql") as (url, _), HubProcess(tmp_path, tls=False, database=url, workers=2) as h:
        yield h


@pytest.mark.slow
def test_each_worker_accepts_on_its_own_socket_and_a_replacement_binds_again(hub: HubProcess) -> None:
    assert hub.proc is not None
    parent = hub.proc.pid

    def children() -> list[int]:
        return [p for p in process_tree(parent) if p != parent]

    def owners() -> dict[str, int]:
        return {inode: p for p in children() for inode in sockets_of(p) & listening(hub.port)}

    wait_for(lambda: len(listening(hub.port)) == 2 and len(owners()) == 2, why="two listening workers")
    assert not sockets_of(parent) & listening(hub.port), "the supervisor holds a listening socket"
    assert len(set(owners().values())) == 2, "each worker has its own"

    victim = next(iter(owners().values()))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in owners().values(), why="the killed worker's socket to go")
    with httpx.Client(timeout=10) as http:  # a connection each: none lands on a dead socket
        for _ in range(20):
            assert http.get(f"{hub.url}/api/v1/health", headers={"Connection": "close"}).status_code == 200
    wait_for(lambda: len(listening(hub.port)) == 2 and len(set(owners().values())) == 2, why="its replacement")
    assert victim not in owners().values()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_an_unreadable_key_ends_serve_in_one_line_before_anything_starts(
    processes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With several processes, each would fail on it with a traceback and be started
    again, forever; with one, the same check refuses it."""
    from nps_hub import cli

    cert, key = make_cert(tmp_path, "127.0.0.1")
    key.write_text("not a key\n")
    argv = ["serve", "--data", str(tmp_path / "data"), "--database", "postgresql://nps@127.0.0.1:1/nps",
            "--port", "0", "--workers", processes, "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot serve HTTPS with" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "data").exists(), "refused before the data directory is made"
