"""Repeats dropped in the packet core: a message its sender already sent this window
(an HTTP message by `http.repeat`, a UDP message by its protocol's `Payload`) is never
handed to Python, and the core drops exactly what the dispatcher's own check would.

The oracle is the dispatcher itself: the same frames run once with the core's repeat
tables and once without them; the packets that reach the dissectors must be the same,
and with the tables none of those handed over is a repeat."""

from __future__ import annotations

from typing import Any

import pytest

from nps_sensor import pipeline
from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.discovery import dispatch, registry
from nps_sensor.discovery.protocol import Payload
from nps_sensor.pipeline import Collector
from tests.sensor.discovery.dissectors.frames import Case, all_cases, case_id

IN_CORE = {p.name for p in registry.PROTOCOLS if isinstance(p.repeat, Payload) and p.udp} | {"http"}
CASES = [c for c in all_cases() if c.name in IN_CORE]
Seen = list[tuple[bytes, bool]]  # (a pick's data, a repeat by the dispatcher's check)


def test_the_core_knows_the_repeats_of_these_protocols() -> None:
    assert {"dhcp", "ntp", "mdns", "http", "ssdp", "nbns", "llmnr", "netbios-dgm"} <= IN_CORE
    assert {c.name for c in CASES} == IN_CORE


def variants(payload: bytes) -> list[bytes]:
    """The payload, each byte changed in turn (inside a repeat's key or not), some cut
    short; each twice, so every key comes back."""
    out = [payload]
    for j in range(len(payload)):
        out.append(payload[:j] + bytes([payload[j] ^ 0x21]) + payload[j + 1 :])
    out += [payload[:k] for k in range(len(payload) - 1, 3, -max(1, len(payload) // 16))]
    return out + out


def handed(frames: list[bytes], monkeypatch: pytest.MonkeyPatch, core: bool) -> Seen:
    """What the core hands over, each marked a repeat or not by the dispatcher's check."""
    seen: Seen = []
    original = dispatch.Discoverer.dispatch

    def record(self: dispatch.Discoverer, picks: list[dispatch.Pick]) -> None:
        recent = set(self.facts.recent)
        for i, _t, src, _dst, sm, _dm, _proto, _sport, _dport, data, l4, body in picks:
            content = self.tables.repeats[i]
            key = (i, src, sm, content(data, l4, body)) if content is not None else None
            seen.append((data, key in recent))
            recent.add(key)
        original(self, picks)

    def without() -> dict[str, Any]:
        tables = dict(registry.core_selection())
        tables.pop("repeats")
        tables["ids"] = {**tables["ids"], "http": 0}
        return tables

    monkeypatch.setattr(dispatch.Discoverer, "dispatch", record)
    if not core:
        monkeypatch.setattr(pipeline, "selection", without)
    c = Collector(Config())
    c.process(batch_from_frames(frames, ts=[1_700_000_000.0 + i for i in range(len(frames))]))
    c.harvest(final=True)
    return seen


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_core_drops_what_the_dispatcher_would(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [case.make(p) for p in variants(case.payload)]
    with monkeypatch.context() as m:
        everything = handed(frames, m, core=False)
    with monkeypatch.context() as m:
        chosen = handed(frames, m, core=True)
    assert any(repeat for _, repeat in everything), "no repeat to drop"
    assert not any(repeat for _, repeat in chosen)
    assert [data for data, _ in chosen] == [data for data, repeat in everything if not repeat]


def _http_pick(discoverer: dispatch.Discoverer) -> dispatch.Pick:
    """An HTTP request with a User-Agent, as the core hands it over (IPv4 and TCP headers
    of 20 bytes each; only the destination port is read from them)."""
    head = bytes(20) + bytes([0x9C, 0x40, 0, 80]) + bytes(16)
    data = head + b"GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: probe/1.0\r\n\r\n"
    i = discoverer.tables.ids["http"]
    return (i, 1.0, 0xFFFF0A000001, 0xFFFF0A000002, 1, 2, 6, 40000, 80, data, 20, 40)


def _agents(discoverer: dispatch.Discoverer) -> int:
    return sum(s.count for k, s in discoverer.facts.items.items() if k[2:4] == ("http", "user_agent"))


def test_the_dispatcher_checks_what_the_core_could_not() -> None:
    """Behind the core, HTTP's repeats are the core's to drop while a window's picks
    cannot have filled its set (so a repeat handed over is dissected: the core would
    not hand one over); past that many picks, and without the core, the dispatcher
    drops them itself."""
    from nps_sensor.stats import Stats

    alone = dispatch.Discoverer(Stats())
    alone.dispatch([_http_pick(alone)] * 5)
    assert _agents(alone) == 1
    behind = dispatch.Discoverer(Stats(), core=(10, registry.core_selection()))
    behind.dispatch([_http_pick(behind)] * 5)
    assert _agents(behind) == 5  # trusted: the core hands over no repeat while it has room
    behind.dispatch([_http_pick(behind)] * 6)  # 11 picks this window: the set may be full
    assert _agents(behind) == 6
    behind.facts.drain()
    behind.dispatch([_http_pick(behind)] * 3)
    assert _agents(behind) == 3  # a new window
