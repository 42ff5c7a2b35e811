"""The report's pre-parse count: a body with more objects, arrays or values than a report
can have is refused (413) before any parser materialises it; a real report passes."""

from __future__ import annotations

import json
import random

import pytest

from benchmarks import hub_fleet
from nps_hub import report


def test_a_fleet_report_passes_the_count() -> None:
    own = report.MAX_ASSETS - hub_fleet.SHARED_PER_NETWORK  # the largest report a sensor sends
    body = hub_fleet.report(0, own, "new", random.Random(1))
    report.count(body)
    assert len(report.parse(body)["assets"]) == report.MAX_ASSETS


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b'{"assets":[' + b"{}," * report.MAX_CONTAINERS + b'{}],"flows":[]}', "objects and arrays"),
        (b'{"assets":[' + b"[]," * report.MAX_CONTAINERS + b'[]],"flows":[]}', "objects and arrays"),
        (b'{"assets":[],"flows":[],"stats":{"x":[' + b"1," * report.MAX_SEPARATORS + b"1]}}", "JSON values"),
    ],
)
def test_too_many_objects_or_values_are_refused_before_parsing(body: bytes, what: str) -> None:
    with pytest.raises(report.Refused) as refused:
        report.count(body)
    assert refused.value.status == 413 and what in str(refused.value)


def test_the_count_is_the_bytes_counted_at_the_limit() -> None:
    """Exactly at each limit passes; the marks inside strings count too (the safe side)."""
    at = b'{"a":[' + b"{}," * (report.MAX_CONTAINERS - 3) + b"{}]}"
    assert at.count(b"{") + at.count(b"[") == report.MAX_CONTAINERS
    report.count(at)
    with pytest.raises(report.Refused):
        report.count(at.replace(b'{"a"', b'{"{a"'))
    values = json.dumps({"s": "," * report.MAX_SEPARATORS}).encode()
    report.count(values)
    with pytest.raises(report.Refused):
        report.count(values[:-2] + b',"t":1}')
