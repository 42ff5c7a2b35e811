"""Exactly one asset per device when sensors upload at the same time: 20 sensors of one
Network, each uploading 10 reports from a thread of its own, all of them seeing the
same 20 devices (same MAC, same address) beside 30 of their own per report. On SQLite
(one hub process) and on PostgreSQL with two hub processes (`serve --workers 2`), so
that the merges race across processes. Then every report is sent again, all at once:
each is recognised, nothing changes."""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from benchmarks.hublab import HubProcess, wait_for_records
from tests.hub.databases import KINDS, database

pytestmark = pytest.mark.slow

SENSORS, REPORTS, OWN, SHARED = 20, 10, 30, 20


@pytest.fixture(params=KINDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubProcess, str]]:
    with database(request.param) as (url, _):
        work = tmp_path_factory.mktemp(request.param)
        with HubProcess(work, tls=False, database=url, workers=2 if url else 1) as h:
            yield h, url or f"sqlite:///{h.data / 'hub.sqlite3'}"


def shared(i: int) -> tuple[str, str]:
    return f"02:aa:00:00:00:{i:02x}", f"10.0.0.{i + 1}"


def reports(sensor: int) -> list[dict[str, Any]]:
    out = []
    for r in range(REPORTS):
        own = [(f"02:{sensor:02x}:00:00:{r:02x}:{i:02x}", f"10.{sensor + 1}.{r}.{i + 1}") for i in range(OWN)]
        devices = own + [shared(i) for i in range(SHARED)]
        assets = [
            {"ip": ip, "mac": mac, "class": "inventoried", "packets": sensor + 1, "bytes_in": 10, "bytes_out": 20,
             "first_seen": "2026-01-01T00:00:00Z", "last_seen": f"2026-01-01T00:{r:02d}:00Z"}
            for mac, ip in devices
        ]  # fmt: skip
        flows = [
            {"client": ip, "server": shared(k % SHARED)[1], "port": 443, "proto": "tcp",
             "client_bytes": sensor * 1000 + k, "server_bytes": r, "last_seen": f"2026-01-01T00:{r:02d}:00Z"}
            for k, (_, ip) in enumerate(own)
        ]  # fmt: skip
        out.append({"kind": "update", "window_end": f"2026-01-01T00:{r:02d}:00Z", "assets": assets, "flows": flows})
    return out


def upload_all(hub: HubProcess, tokens: list[str], bodies: list[list[bytes]]) -> list[dict[str, Any]]:
    """Every sensor's reports from a thread each, started together."""
    start = threading.Barrier(len(tokens))
    answers: list[dict[str, Any]] = []
    failures: list[str] = []

    def sensor(i: int) -> None:
        with httpx.Client(base_url=hub.url, timeout=120, headers={"Authorization": f"Bearer {tokens[i]}"}) as http:
            start.wait()
            for r, body in enumerate(bodies[i]):
                reply = http.post("/api/v1/agent/reports", content=body, headers={"X-Report-Id": f"s{i}-r{r}"})
                if reply.status_code != 200:
                    failures.append(f"sensor {i} report {r}: {reply.status_code} {reply.text[:200]}")
                    return
                answers.append(reply.json())

    threads = [threading.Thread(target=sensor, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    return answers


def test_concurrent_uploads_make_one_asset_per_device(hub: tuple[HubProcess, str]) -> None:
    h, url = hub
    api = h.api()
    tokens = []
    for i in range(SENSORS):
        _, code = api.create_sensor(f"s{i}", network="Plant")
        tokens.append(httpx.post(f"{h.url}/api/v1/agent/register", json={"code": code}).json()["token"])
    sent = [reports(i) for i in range(SENSORS)]
    bodies = [[json.dumps(r).encode() for r in rs] for rs in sent]

    first = upload_all(h, tokens, bodies)
    assert len(first) == SENSORS * REPORTS and not any(a["duplicate"] for a in first)
    wait_for_records(url)  # those of reports that queued are stored once the burst is over
    engine = create_engine(url)
    with engine.connect() as conn:
        per_mac: dict[str, int] = dict(conn.execute(text("SELECT mac, count(*) FROM assets GROUP BY mac")).all())
        assert max(per_mac.values()) == 1, {m: n for m, n in per_mac.items() if n > 1}
        assert len(per_mac) == SENSORS * REPORTS * OWN + SHARED
        # Each shared device: one asset that every sensor saw, its counts the sum of theirs.
        rows = conn.execute(text(
            "SELECT a.packets, count(s.sensor_id) FROM assets a JOIN sightings s ON s.asset_id = a.id "
            "WHERE a.mac LIKE '02:aa:%' GROUP BY a.id, a.packets"
        )).all()  # fmt: skip
        assert sorted(rows) == [(sum(range(1, SENSORS + 1)), SENSORS)] * SHARED
        columns = "client, server, port, proto, client_bytes, server_bytes"
        got = collections.Counter(tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM flows")))
        ends = conn.execute(text("SELECT count(*) FROM flows WHERE client_asset IS NULL OR server_asset IS NULL"))
        assert ends.scalar() == 0  # every flow's two ends are assets
    expected = collections.Counter(
        (f["client"], f["server"], f["port"], f["proto"], f["client_bytes"], f["server_bytes"])
        for rs in sent for r in rs for f in r["flows"]
    )  # fmt: skip
    assert got == expected

    # Sent again, all at once (answers lost, say): recognised, nothing changes.
    again = upload_all(h, tokens, bodies)
    assert len(again) == SENSORS * REPORTS and all(a["duplicate"] for a in again)
    wait_for_records(url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM assets")) == SENSORS * REPORTS * OWN + SHARED
        assert conn.scalar(text("SELECT count(*) FROM flows")) == sum(expected.values())
    engine.dispose()
