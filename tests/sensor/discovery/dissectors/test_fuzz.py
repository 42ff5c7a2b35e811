"""Every dissector's cases, and mutations of them, through the whole dispatcher.

Each case's packet must give its facts without a decode error; mutations (random
byte flips, truncations, length fields set to extremes) of every case in one batch
must never raise (a bad packet is a `malformed-NAME` count), and the facts a packet
gave before the damaged bytes must survive. Every protocol the registry knows has a
case, so the fuzzing reaches it: a new protocol's test module lists its `CASES`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.discovery import registry
from nps_sensor.discovery.facts import NO_MAC
from nps_sensor.pipeline import Collector
from tests.sensor.discovery.dissectors.frames import Case, about, all_cases, case_id, collect, declared
from tests.sensor.discovery.dissectors.test_snmp import COMMUNITY

CASES = all_cases()
BATCH = 128
EXTREMES = (0, 1, 0x7F, 0x80, 0xFF)


def mutate(rng: np.random.Generator, case: Case, start: int) -> bytes:
    """A damaged copy of the case's payload; nothing before `start` changes."""
    b = bytearray(case.payload)
    n = len(b)
    if start >= n:
        return bytes(b)
    op = int(rng.integers(4))
    if op in (0, 3):  # byte flips
        for pos in rng.integers(start, n, max(1, int(rng.binomial(n - start, 0.05)))):
            b[int(pos)] = int(rng.integers(256))
    if op in (1, 3):  # a length field at an extreme
        fields = [(o, w) for o, w in case.lengths if o >= start] or [(int(rng.integers(start, n)), 1)]
        off, width = fields[int(rng.integers(len(fields)))]
        value = int(rng.choice(EXTREMES))
        b[off : off + width] = (value if value < 0x80 else (1 << (8 * width)) - (0x100 - value)).to_bytes(width, "big")[
            : max(0, n - off)
        ]
    if op in (2, 3) or not int(rng.integers(3)):  # truncation
        del b[int(rng.integers(start, n + 1)) :]
    return bytes(b)


SURVIVOR_CASES = [c for c in CASES if c.early]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_dissector_finds_the_facts(case: Case) -> None:
    facts, errors = collect([case.make(case.payload)])
    got = about(facts, case.sender_ip, case.sender_mac)
    assert case.expect <= got, f"missing: {case.expect - got}"
    assert not any(k.startswith("malformed-") for k in errors), errors


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), anywhere=st.booleans())
def test_no_exception_escapes_the_dispatcher(seed: int, anywhere: bool) -> None:
    """Mutations of every case's packet in one batch: the engine counts, never raises."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(BATCH):
        case = CASES[int(rng.integers(len(CASES)))]
        start = 0 if anywhere else case.early_end
        frames.append(case.make(mutate(rng, case, start)))
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    facts = declared(c.harvest(final=True).facts)
    stats = c.stats_dict()
    assert stats["packets"] == len(frames)
    names = {case.name for case in CASES}
    for key in stats["decode_errors"]:
        if key.startswith("malformed-"):
            assert key.removeprefix("malformed-") in names
    for _, _, source, key, value in facts:
        assert isinstance(source, str) and isinstance(key, str)
        assert isinstance(value, str | tuple)
        hash(value)
        assert COMMUNITY.decode() not in str(value)


@pytest.mark.parametrize("case", SURVIVOR_CASES, ids=case_id)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_facts_before_the_damage_survive(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [case.make(mutate(rng, case, case.early_end)) for _ in range(4)]
    for frame in frames:
        facts, _ = collect([frame])
        got = about(facts, case.sender_ip, case.sender_mac)
        assert case.early <= got, f"lost {case.early - got} in {frame.hex()}"


def test_every_protocol_has_a_case() -> None:
    """Every protocol the engine dispatches to has a case, so the fuzzing reaches it."""
    covered = {c.name for c in CASES}
    assert covered >= {p.name for p in registry.PROTOCOLS[1:]}
    assert NO_MAC == -1  # facts without a MAC carry -1, as `about` expects
