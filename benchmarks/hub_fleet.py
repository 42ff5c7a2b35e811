"""`inv bench --hub`, the fleet run: N simulated sensors uploading their 30-minute
reports to one hub at once, as a site's fleet does.

Each sensor sees 200 to 2,000 devices: its own and the SHARED_PER_NETWORK its Network
shares (gateways, servers: every sensor of the Network sees them); sensors are grouped in
Networks of up to 20. A report carries the sensor's devices and FLOWS_PER_ASSET traffic
records per device, gzip-compressed as the uplink sends it. Per run (database, hub
processes, N):

* new, then update: every sensor uploads its report at the same moment (the hub's
  throughput: assets merged per second over the whole burst; latencies are mostly
  queueing);
* steady: every sensor uploads one update at a random moment of a 30-minute window
  compressed to STEADY_WINDOW seconds (latency as sensors see it at that pace).

After each phase the bench waits until the records of reports that queued are in
`flows` (the hub stores them once no report comes: backlog.py), and says how long that
took and what CPU it used. Afterwards the database is read directly: every device must
be exactly one asset (lost and duplicate assets, both 0), and every record sent a row
of `flows` (records lost, 0). The hub's memory is the peak resident size of
its processes added up (the kernel's high-water mark, read once: sampling it cost this
process CPU during the burst). The simulated sensors make their gzip bodies before a
phase starts and speak raw HTTP/1.1 over asyncio streams, so while it runs they only
send; their CPU is measured beside the hub's and PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from benchmarks.hublab import HubProcess, cpu_seconds, high_water, process_tree, wait_for_records
from nps_sensor.uplink.agent import report_id

FLOWS_PER_ASSET = 5
SHARED_PER_NETWORK = 20
SENSORS_PER_NETWORK = 20
STEADY_WINDOW = 30.0  # seconds standing for the 30-minute reporting window (60 times faster)
TIMEOUT = 600.0


@dataclass
class Phase:
    name: str
    assets: int
    flows: int
    seconds: float
    latencies: list[float]
    retries: int
    hub_cpu: float = 0.0  # CPU seconds the hub's processes used meanwhile
    db_cpu: float = 0.0  # and PostgreSQL's
    client_cpu: float = 0.0  # and the simulated sensors' (this process: sending only, the bodies are made before)
    drain: float = 0.0  # seconds after the last answer until every record of the phase was in `flows`
    drain_cpu: float = 0.0  # CPU seconds the hub and PostgreSQL used meanwhile (backlog.py)

    @property
    def assets_per_second(self) -> float:
        return self.assets / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Run:
    database: str
    workers: int
    sensors: int
    phases: list[Phase]
    memory_mb: float
    expected: int
    found: int
    lost: int
    duplicates: int
    flows_expected: int = 0
    flows_found: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["phases"] = [
            {"name": p.name, "assets": p.assets, "flows": p.flows, "seconds": p.seconds,
             "assets_per_second": p.assets_per_second, "p50": p.percentile(50), "p95": p.percentile(95),
             "retries": p.retries, "hub_cpu": p.hub_cpu, "db_cpu": p.db_cpu,
             "client_cpu": p.client_cpu, "drain": p.drain, "drain_cpu": p.drain_cpu}
            for p in self.phases
        ]  # fmt: skip
        return out


# --- the site -----------------------------------------------------------------------


def sizes(n: int, seed: int = 7) -> list[int]:
    """Each sensor's own devices: with its Network's shared ones, 200 to 2,000 per report."""
    rnd = random.Random(seed)
    return [rnd.randint(200, 2000) - SHARED_PER_NETWORK for _ in range(n)]


def _mac(network: int, sensor: int, i: int) -> str:
    v = (network << 32) | (sensor << 16) | i
    return "02:" + ":".join(f"{v >> s & 255:02x}" for s in (32, 24, 16, 8, 0))


def _ip(sensor: int, i: int) -> str:
    return f"10.{sensor >> 4 & 255}.{(sensor & 15) << 4 | i >> 8}.{i & 255}"


def devices(sensor: int, own: int) -> Iterator[tuple[str, str]]:
    """(MAC, IP) of the devices one sensor sees: its own, then its Network's shared ones."""
    network = sensor // SENSORS_PER_NETWORK
    for i in range(own):
        yield _mac(network, sensor % SENSORS_PER_NETWORK + 1, i), _ip(sensor, i)
    for i in range(SHARED_PER_NETWORK):
        yield _mac(network, 0, i), f"10.255.{network & 255}.{i + 1}"


def report(sensor: int, own: int, kind: str, rnd: random.Random) -> bytes:
    """One report as the sensor spools it, written as text for speed (the bench makes
    millions of assets)."""
    stamp = "2026-11-27T10:29:59.000000Z" if kind == "update" else "2026-11-27T10:00:30.000000Z"
    assets, flows = [], []
    devs = list(devices(sensor, own))
    for n, (mac, ip) in enumerate(devs):
        host = f',"hostnames":[{{"name":"host-{sensor}-{n}","source":"dhcp"}}]' if n % 3 == 0 and n < own else ""
        assets.append(
            f'{{"ip":"{ip}","name":"{ip}","mac":"{mac}","class":"inventoried","group":"Default",'
            f'"first_seen":"2026-11-27T10:00:00.000000Z","last_seen":"{stamp}","packets":{rnd.randrange(10, 99999)},'
            f'"bytes_in":{rnd.randrange(1000, 9999999)},"bytes_out":{rnd.randrange(1000, 9999999)},'
            f'"ips":[{{"ip":"{ip}"}}],"macs":["{mac}"],"vlans":[{10 + n % 8}],"services":[],"evidence":[]{host}}}'
        )
        if n < own:
            for k in range(FLOWS_PER_ASSET):
                server = devs[rnd.randrange(len(devs))][1] if k % 4 else "External"
                flows.append(
                    f'{{"client":"{ip}","server":"{server}","port":{(53, 80, 443, 445, 502)[k % 5]},"proto":"tcp",'
                    f'"client_bytes":{rnd.randrange(60, 999999)},"server_bytes":{rnd.randrange(60, 999999)},'
                    f'"client_packets":{rnd.randrange(1, 999)},"server_packets":{rnd.randrange(1, 999)},'
                    f'"first_seen":"2026-11-27T10:00:00.000000Z","last_seen":"{stamp}"}}'
                )
    return (
        f'{{"kind":"{kind}","window_start":"2026-11-27T10:00:00.000000Z","window_end":"{stamp}",'
        f'"assets":[{",".join(assets)}],"flows":[{",".join(flows)}],"stats":{{}}}}'
    ).encode()


@dataclass
class Upload:
    sensor: int
    token: str
    body: bytes  # gzip
    rid: str
    assets: int
    flows: int


def uploads(tokens: list[str], own: list[int], kind: str) -> list[Upload]:
    rnd = random.Random(kind)
    out = []
    for i, token in enumerate(tokens):
        data = report(i, own[i], kind, rnd)
        z = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        body = z.compress(data) + z.flush()
        out.append(Upload(i, token, body, report_id(data), own[i] + SHARED_PER_NETWORK, own[i] * FLOWS_PER_ASSET))
    return out


# --- the simulated sensors -----------------------------------------------------------


async def post(host: str, port: int, u: Upload) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        head = (
            f"POST /api/v1/agent/reports HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {u.token}\r\n"
            f"Content-Type: application/json\r\nContent-Encoding: gzip\r\nX-Report-Id: {u.rid}\r\n"
            f"Content-Length: {len(u.body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + u.body)
        await writer.drain()
        status_line = await reader.readline()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body
    finally:
        writer.close()


async def send(host: str, port: int, u: Upload, delay: float, latencies: list[float], retries: list[int]) -> None:
    await asyncio.sleep(delay)
    start = time.perf_counter()
    for _ in range(20):
        status, headers, body = await post(host, port, u)
        if status == 200:
            latencies.append(time.perf_counter() - start)
            return
        if status in (429, 503):
            retries.append(1)
            await asyncio.sleep(float(headers.get("retry-after", "5")))
            continue
        raise AssertionError(f"sensor {u.sensor}: the hub answered {status}: {body[:300]!r}")
    raise AssertionError(f"sensor {u.sensor}: still refused after 20 tries")


def phase(hub: HubProcess, name: str, batch: list[Upload], window: float, db_pid: int | None) -> Phase:
    latencies: list[float] = []
    retries: list[int] = []
    rnd = random.Random(name)

    async def main() -> None:
        await asyncio.wait_for(
            asyncio.gather(*(send(hub.host, hub.port, u, rnd.uniform(0, window), latencies, retries) for u in batch)),
            TIMEOUT + window,
        )

    hub_pid = hub.proc.pid if hub.proc else 0
    cpu0 = cpu_seconds(process_tree(hub_pid)), cpu_seconds(process_tree(db_pid)) if db_pid else 0.0
    client0 = time.process_time()
    start = time.perf_counter()
    asyncio.run(main())
    seconds = time.perf_counter() - start
    client = time.process_time() - client0
    cpu1 = cpu_seconds(process_tree(hub_pid)), cpu_seconds(process_tree(db_pid)) if db_pid else 0.0
    drain = wait_for_records(hub.database_url, TIMEOUT)
    cpu2 = cpu_seconds(process_tree(hub_pid)) + (cpu_seconds(process_tree(db_pid)) if db_pid else 0.0)
    return Phase(name, sum(u.assets for u in batch), sum(u.flows for u in batch), seconds, latencies, len(retries),
                 cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], client, drain, cpu2 - sum(cpu1))  # fmt: skip


# --- a run --------------------------------------------------------------------------


def register(hub: HubProcess, n: int) -> list[str]:
    api = hub.api()
    tokens = []
    with httpx.Client(base_url=hub.url, timeout=60) as http:
        for i in range(n):
            _, code = api.create_sensor(f"fleet-{i:04d}", network=f"site-{i // SENSORS_PER_NETWORK}")
            r = http.post("/api/v1/agent/register", json={"code": code})
            r.raise_for_status()
            tokens.append(r.json()["token"])
    return tokens


def count(url: str) -> tuple[int, int, int]:
    """(assets, distinct (network, MAC), traffic records) in the hub's database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        assets = conn.scalar(text("SELECT count(*) FROM assets")) or 0
        distinct = conn.scalar(text("SELECT count(*) FROM (SELECT DISTINCT network, mac FROM assets) d")) or 0
        flows = conn.scalar(text("SELECT count(*) FROM flows")) or 0
    engine.dispose()
    return int(assets), int(distinct), int(flows)


def run(workdir: Path, database: str, url: str, workers: int, n: int, db_pid: int | None = None) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"NPS_HUB_LOGIN_LIMIT": "0", "NPS_HUB_CODE_LIMIT": "0"}
    hub = HubProcess(workdir, tls=False, database=url, env=env, workers=workers)
    hub.start()
    try:
        tokens = register(hub, n)
        own = sizes(n)
        phases = []
        for kind, window in (("new-assets", 0.0), ("update", 0.0), ("steady", STEADY_WINDOW)):
            batch = uploads(tokens, own, "update" if kind == "steady" else kind)
            if kind == "steady":  # new ids: the same content again would be a duplicate
                batch = [dataclasses.replace(u, rid=u.rid + "-steady") for u in batch]
            phases.append(phase(hub, kind, batch, window, db_pid))
            del batch
        memory = high_water(process_tree(hub.proc.pid if hub.proc else 0)) / 2**20
    finally:
        hub.stop()
    expected = sum(own) + SHARED_PER_NETWORK * ((n + SENSORS_PER_NETWORK - 1) // SENSORS_PER_NETWORK)
    found, distinct, flows = count(hub.database_url)
    return Run(database, workers, n, phases, memory, expected, found, expected - distinct, found - distinct,
               sum(p.flows for p in phases), flows)  # fmt: skip


# --- the bench ------------------------------------------------------------------------


def configurations(sizes: list[int], postgres: bool) -> list[tuple[str, int, int]]:
    """(database, workers, sensors): SQLite with one process, PostgreSQL with one and two."""
    out = [("SQLite", 1, n) for n in sizes]
    if postgres:
        out += [("PostgreSQL", w, n) for w in (1, 2) for n in sizes]
    return out


def fleet(root: Path, sizes: list[int], console: Any) -> list[Run]:
    from benchmarks.hublab import Postgres

    try:
        Postgres()
        postgres = True
    except FileNotFoundError as e:
        console.print(f"PostgreSQL skipped: {e}")
        postgres = False
    runs = []
    for database, workers, n in configurations(sizes, postgres):
        console.print(f"fleet: {database}, {workers} hub process(es), {n} sensors ...")
        work = root / f"{database}-{workers}-{n}"
        if database == "SQLite":
            runs.append(run(work, database, "", workers, n))
            continue
        pg = Postgres(durable=True)
        pg.start()
        try:
            runs.append(run(work, database, pg.url, workers, n, pg.pid))
        finally:
            pg.stop()
    return runs


def table(runs: list[Run], load: str) -> Any:
    from rich.table import Table

    t = Table(title=f"Fleet: N sensors uploading at once ({FLOWS_PER_ASSET} flows per asset; load average {load})")
    for col in ("database", "proc.", "sensors", "phase", "assets", "s", "assets/s", "p50 s", "p95 s", "503",
                "hub CPU/10k", "DB CPU/10k", "bench CPU/10k", "records +s", "records CPU/10k", "MiB", "lost", "dup.",
                "records lost"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("database", "phase") else "right")
    for r in runs:
        for i, p in enumerate(r.phases):
            first = i == 0
            t.add_row(
                r.database if first else "", str(r.workers) if first else "", f"{r.sensors:,}" if first else "",
                p.name, f"{p.assets:,}", f"{p.seconds:.1f}", f"{p.assets_per_second:,.0f}",
                f"{p.percentile(50):.2f}", f"{p.percentile(95):.2f}", str(p.retries),
                f"{p.hub_cpu / p.assets * 1e4:.2f}", f"{p.db_cpu / p.assets * 1e4:.2f}" if p.db_cpu else "",
                f"{p.client_cpu / p.assets * 1e4:.2f}", f"{p.drain:.1f}", f"{p.drain_cpu / p.assets * 1e4:.2f}",
                f"{r.memory_mb:.0f}" if first else "", str(r.lost) if first else "", str(r.duplicates) if first else "",
                str(r.flows_expected - r.flows_found) if first else "",
            )  # fmt: skip
    return t
