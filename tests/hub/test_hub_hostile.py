"""The hub under hostile input, on SQLite and on PostgreSQL: `nps-hub serve` as its own
process, fed the bodies of issue 14 by raw sockets (so that a body can be cut off the
way a real sender's is) while another client asks /api/v1/health every 20 ms.

Every body is answered 4xx (naming the field where there is one, never echoing the
body); the hub's memory (its whole process tree) stays under 300 MiB; the health
check is answered meanwhile; no table gains or loses a row.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from benchmarks.hublab import HubProcess, MemoryPeak
from tests.hub.databases import KINDS, database

pytestmark = pytest.mark.slow

MiB = 1 << 20
EVIL = "ev\x00il\x1b[2J"
TABLES = ("users", "sensors", "assets", "sightings", "flows", "reports", "commands", "events", "config_versions",
          "range_tags", "user_sessions")  # fmt: skip


@dataclass
class Lab:
    hub: HubProcess
    url: str  # the database, read directly for row counts
    user: str  # an administrator's token
    sensor: str  # a registered sensor's token


@pytest.fixture(scope="module", params=KINDS)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with (
        database(request.param) as (url, _),
        HubProcess(work, tls=False, database=url, env={"NPS_HUB_LOGIN_LIMIT": "0"}) as hub,
    ):
        api = hub.api()
        _, code = api.create_sensor("target")
        token = httpx.post(f"{hub.url}/api/v1/agent/register", json={"code": code}).json()["token"]
        user = str(api.http.headers["Authorization"]).removeprefix("Bearer ")
        yield Lab(hub, url or f"sqlite:///{hub.data / 'hub.sqlite3'}", user, token)


def send(hub: HubProcess, path: str, body: bytes, headers: dict[str, str] | None = None,
         chunked: bool = False) -> tuple[int, bytes]:  # fmt: skip
    """POST `body` the way a client does, 1 MiB at a time, stopping when the hub has
    answered or closed; returns the status and the answer's body."""
    s = socket.create_connection((hub.host, hub.port))
    s.settimeout(120)
    head = [f"POST {path} HTTP/1.1", f"Host: {hub.host}", "Content-Type: application/json"]
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    try:
        for i in range(0, len(body), MiB):
            piece = body[i : i + MiB]
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if _answered(s):
                break
        else:
            if chunked:
                s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the hub closed the connection after its answer: read it
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < _length(data):
            more = s.recv(65536)
            if not more:
                break
            data += more
    finally:
        s.close()
    head_text, _, answer = data.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), answer


def _answered(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return bool(s.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        s.setblocking(True)
        s.settimeout(120)


def _length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data)


def _poll(url: str, stop: Any, out: Any) -> None:
    latencies, failures = [], 0
    with httpx.Client(timeout=30) as http:
        while not stop.wait(0.02):
            start = time.perf_counter()
            try:
                http.get(url).raise_for_status()
            except httpx.HTTPError:
                failures += 1
                continue
            latencies.append(time.perf_counter() - start)
    out.send((latencies, failures))


class Health:
    """/api/v1/health asked every 20 ms by a process of its own (this one's threads wait
    for its own interpreter while it builds and sends bodies), latencies kept."""

    def __init__(self, hub: HubProcess) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stopping = ctx.Event()
        self.receive, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_poll, args=(f"{hub.url}/api/v1/health", self.stopping, send))
        self.process.start()
        self.latencies: list[float] = []
        self.failures = 0

    def stop(self) -> None:
        self.stopping.set()
        self.latencies, self.failures = self.receive.recv()
        self.process.join(30)


def rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = {t: int(conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}
    engine.dispose()
    return out


# --- the bodies -------------------------------------------------------------------------


def objects(size: int, key: str = "name") -> bytes:
    """`{"key":[{},{},...]}` of about `size` bytes: millions of objects for a parser."""
    return b'{"' + key.encode() + b'":[' + b"{}," * (size // 3) + b"{}]}"


def report(assets: list[dict[str, Any]], flows: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({"kind": "update", "assets": assets, "flows": flows or []}).encode()


ASSET = {"ip": "10.0.0.1", "mac": "00:11:22:33:44:55", "class": "inventoried"}
FLOW = {"client": "10.0.0.1", "server": "10.0.0.2", "port": 443, "proto": "tcp"}


def largest_poisoned() -> bytes:
    """2,000 assets and 25,000 flows (the most a report holds), NUL in the last hostname."""
    assets = [
        {**ASSET, "ip": f"10.1.{i >> 8}.{i & 255}", "mac": f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}",
         "hostname": f"host-{i}", "evidence": [{"source": "dhcp", "key": "hostname", "value": f"host-{i}"}]}
        for i in range(2000)
    ]  # fmt: skip
    assets[-1]["hostname"] = EVIL
    flows = [{**FLOW, "client": f"10.1.{k % 2000 >> 8}.{k % 256}", "client_bytes": k} for k in range(25_000)]
    return report(assets, flows)


def poisoned_reports() -> Iterator[tuple[str, bytes]]:
    """A report with NUL and an escape sequence in each of its text fields in turn."""
    for field in ("name", "class", "group", "first_seen", "last_seen", "hostname", "vendor", "id"):
        yield f"assets[0].{field}", report([{**ASSET, field: EVIL}])
    yield "assets[0].hostnames[0].name", report([{**ASSET, "hostnames": [{"name": EVIL, "source": "llmnr"}]}])
    yield "assets[0].hostnames[0]", report([{**ASSET, "hostnames": [EVIL]}])
    yield "assets[0].services[0].product", report([{**ASSET, "services": [{"port": 1, "product": EVIL}]}])
    yield "assets[0].evidence[0].value", report([{**ASSET, "evidence": [{"source": "dns", "value": EVIL}]}])
    yield "assets[0].os.name", report([{**ASSET, "os": {"name": EVIL}}])
    yield "assets[0].device.candidates[0].type", report([{**ASSET, "device": {"candidates": [{"type": EVIL}]}}])
    yield "assets[0].tls_sni[0]", report([{**ASSET, "tls_sni": [EVIL]}])
    yield "assets[0].user_agents[0]", report([{**ASSET, "user_agents": [EVIL]}])
    for field in ("client", "server", "proto", "first_seen"):
        yield f"flows[0].{field}", report([ASSET], [{**FLOW, field: EVIL}])
    yield "kind", json.dumps({"kind": EVIL, "assets": [], "flows": []}).encode()
    yield "stats.x", json.dumps({"assets": [], "flows": [], "stats": {"x": EVIL}}).encode()


def wrong_reports() -> Iterator[tuple[str, bytes]]:
    yield "assets[0].mac", report([{**ASSET, "mac": ["x"]}])
    yield "assets[0].mac", report([{**ASSET, "mac": "0" * 40}])
    yield "assets[0].packets", report([{**ASSET, "packets": 2**70}])
    yield "assets[0].packets", report([{**ASSET, "packets": "many"}])
    yield "assets[0].vlans[0]", report([{**ASSET, "vlans": [70000]}])
    yield "flows[0].port", report([ASSET], [{**FLOW, "port": 2**40}])
    yield "flows[0].client_bytes", report([ASSET], [{**FLOW, "client_bytes": -1}])
    yield "flows", json.dumps({"assets": [], "flows": {}}).encode()
    yield "assets", json.dumps({"flows": []}).encode()
    yield "body", b"[]"
    yield "body", b'{"assets": [], "flows": [], "x": NaN'
    yield "body", b'{"assets":' + b"[" * 100_000 + b"]" * 100_000 + b',"flows":[]}'


def poisoned_heartbeats() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "status.state", {"status": {"state": EVIL}}
    yield "status.interfaces[0].name", {"status": {"interfaces": [{"name": EVIL}]}}
    yield "status.stats.worker", {"status": {"stats": {"worker": EVIL}}}
    yield "acks[0].result", {"acks": [{"id": 1, "result": EVIL}]}
    yield "status.system.memory", {"status": {"system": {"memory": [1, 2]}}}
    yield "status.system.cpu_percent", {"status": {"system": {"cpu_percent": "high"}}}
    yield "status.assets_last_hour", {"status": {"assets_last_hour": 2**70}}
    yield "status.counters", {"status": {"counters": 2**70}}
    yield "config_version", {"config_version": 2**70}
    yield "acks[0].id", {"acks": [{"id": 2**70}]}
    yield "status", {"status": [1]}
    yield "acks", {"acks": {"id": 1}}


# --- the suite ------------------------------------------------------------------------------


def test_hostile_bodies_get_4xx_and_change_nothing(lab: Lab) -> None:
    hub = lab.hub
    before = rows(lab.url)
    assert hub.proc is not None
    peak = MemoryPeak(hub.proc.pid)
    health = Health(hub)
    sensor = {"Authorization": f"Bearer {lab.sensor}"}
    user = {"Authorization": f"Bearer {lab.user}"}
    answers: list[tuple[str, int, bytes]] = []
    uploads = iter(range(1_000_000))

    def upload(body: bytes, encoding: str = "identity") -> tuple[int, bytes]:
        headers = {**sensor, "X-Report-Id": f"r{next(uploads)}", "Content-Encoding": encoding}
        return send(hub, "/api/v1/agent/reports", body, headers)

    def expect(name: str, status: int | tuple[int, ...], got: tuple[int, bytes], field: str | None = None) -> None:
        code, body = got
        answers.append((name, code, body))
        wanted = status if isinstance(status, tuple) else (status,)
        assert code in wanted, f"{name}: {code} {body[:300]!r}"
        assert len(body) < 2048, f"{name}: the answer echoes the body ({len(body)} bytes)"
        assert b"\\u0000" not in body and b"\x1b" not in body, f"{name}: the answer repeats what was sent"
        if field is not None:
            assert json.loads(body)["detail"].startswith(f"{field}: "), f"{name}: {body!r}"

    try:
        # Too large, before anything is parsed: declared, streamed, on every door.
        expect("200 MiB login", 413, send(hub, "/api/v1/login", b"x" * (200 * MiB)))
        expect("200 MiB login, chunked", 413, send(hub, "/api/v1/login", b"x" * (200 * MiB), chunked=True))
        expect("30 MiB of objects, login", 413, send(hub, "/api/v1/login", objects(30 * MiB)))
        expect("30 MiB of objects, report", 413, upload(objects(30 * MiB, "assets")))
        expect("30 MiB form", 413, send(hub, "/login", b"name=" + b"a" * (30 * MiB),
                                        {"Content-Type": "application/x-www-form-urlencoded"}))  # fmt: skip
        expect("heartbeat of 20 MiB", 413, send(hub, "/api/v1/agent/heartbeat", objects(20 * MiB, "status"), sensor))
        # Decompression bombs: past the size cap, under it but past the ratio, and under
        # both but with more objects than a report holds.
        for name, size in (("gzip bomb 100 MiB", 100 * MiB), ("gzip bomb 12 MiB", 12 * MiB)):
            expect(name, 413, upload(gzip.compress(objects(size, "assets"), 9), "gzip"))
        expect("3 MiB of objects, gzip", 413, upload(gzip.compress(objects(3 * MiB, "assets"), 1), "gzip"))
        expect("not gzip", 400, upload(b"\x1f\x8b nope", "gzip"))
        expect("brotli", 415, upload(b"{}", "br"))
        # The largest report the hub takes, poisoned in its last asset: parsed whole, refused.
        expect("2,000 assets, the last one poisoned", 400, upload(largest_poisoned(), "identity"),
               "assets[1999].hostname")  # fmt: skip
        # Reports: NUL and escape sequences in every text field, wrong types, big numbers.
        for field, body in [*poisoned_reports(), *wrong_reports()]:
            expect(f"report {field}", 400, upload(body), field if field != "body" else None)
        # Heartbeats, registration, and the user's side: the same rules.
        for field, beat in poisoned_heartbeats():
            expect(f"heartbeat {field}", 400, send(hub, "/api/v1/agent/heartbeat", json.dumps(beat).encode(), sensor),
                   field)  # fmt: skip
        deep = b'{"status":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        expect("heartbeat nested 100,000 deep", 400, send(hub, "/api/v1/agent/heartbeat", deep, sensor))
        for field in ("hostname", "model", "version", "mac"):
            body = json.dumps({"code": "12345678901234", "facts": {field: EVIL}}).encode()
            expect(f"registration facts.{field}", 400, send(hub, "/api/v1/agent/register", body), f"facts.{field}")
        expect("login name", 400, send(hub, "/api/v1/login", json.dumps({"name": EVIL, "password": "x"}).encode()),
               "name")  # fmt: skip
        expect("login name type", 400, send(hub, "/api/v1/login", b'{"name": 7, "password": "x"}'), "name")
        for field in ("name", "location", "network"):
            body = json.dumps({"name": "n", field: EVIL}).encode()
            expect(f"sensor {field}", 400, send(hub, "/api/v1/sensors", body, user), field)
        new_user = json.dumps({"name": EVIL, "password": "p" * 8}).encode()
        expect("user name", 400, send(hub, "/api/v1/users", new_user, user), "name")
        expect("tag", 400, send(hub, "/api/v1/tags", json.dumps({"name": "t", "ranges": [EVIL]}).encode(), user),
               "ranges[0]")  # fmt: skip
        config = {"internal": [{"name": EVIL, "ranges": ["10.0.0.0/8"]}]}
        expect("configuration", 400, _put(hub, "/api/v1/configuration", config, lab.user), "internal[0].name")
        expect("sensor id 2**70", (400, 404, 405), _get(hub, f"/api/v1/sensors/{2**70}", lab.user))
    finally:
        health.stop()
        memory = peak.stop()
    print(f"peak memory {memory / MiB:.0f} MiB; health: {len(health.latencies)} checks, worst "
          f"{max(health.latencies) * 1000:.0f} ms; {len(answers)} bodies refused")  # fmt: skip
    assert memory < 300 * MiB, f"the hub's memory reached {memory / MiB:.0f} MiB"
    assert rows(lab.url) == before
    assert hub.proc is not None and hub.proc.poll() is None
    log = hub.log.read_text()
    assert "Traceback" not in log and "Internal Server Error" not in log
    # Answered meanwhile, without a failure, 95 % of the checks within 200 ms (the machine
    # is shared: a check can wait for a core; one blocked behind a parse on the event
    # loop, as before, waited seconds).
    assert health.failures == 0 and len(health.latencies) >= 10
    assert statistics.quantiles(health.latencies, n=20)[-1] < 0.2, sorted(health.latencies)[-10:]


def _put(hub: HubProcess, path: str, body: Any, token: str) -> tuple[int, bytes]:
    r = httpx.put(f"{hub.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.content


def _get(hub: HubProcess, path: str, token: str) -> tuple[int, bytes]:
    r = httpx.get(f"{hub.url}{path}", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.content
