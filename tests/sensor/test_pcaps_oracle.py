"""`nps-sensor analyze` on every shared capture, checked against tshark as the oracle.

Two checks per capture (parametrized by its path below the corpus, so a failure
names the file):

* robustness: with the default configuration the command ends normally (exit 0, or
  1 with a one-line reason for a damaged capture in `malformed/`), without a
  traceback, within a few seconds of CPU time, and prints a JSON result with
  `assets`, `flows` and `stats`;
* oracle: with every address internal and inventoried and duplicate suppression
  off, the assets and flows must agree with what tshark decodes, as
  tests.support.oracle reads it (assets with their MACs; flows oriented by the
  sensor's rules and their per-direction packets and IP bytes).
"""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.analyze import analyze
from nps_sensor.config import parse
from tests.support.flow_oracle import disagreements
from tests.support.oracle import compute_truth, tshark_fields

# --- what is compared ---------------------------------------------------------------

ORACLE_CONFIG = textwrap.dedent(
    """\
    # Every address is internal and inventoried (so every endpoint keeps its own
    # address in the flows and every sender is an asset with its MACs), and nothing
    # is dropped as a duplicate copy.
    internal:
      - name: all
        inventory: true
        ranges: ["0.0.0.0/0", "::/0"]
    duplicates:
      window_ms: 0
    # Watched domains make the engine parse every DNS response (malformed ones
    # included); internal ranges take precedence, so no label changes.
    monitor_external:
      - name: watched
        targets: ["*.com", "*.org", "*.net", "*.de", "*.local", "*.arpa"]
    """
)

# A run of the default configuration over one capture (at most 3 MB; typically
# well under a second of CPU time) that needs more CPU seconds than this fails.
CPU_LIMIT = int(os.environ.get("NPS_ANALYZE_CPU_LIMIT", "3"))

# Known sensor bugs, by capture (relative path) -> reason with the root cause. The
# tests of these captures are strict xfails: once the sensor is fixed they fail as
# XPASS, and the entry goes.
KNOWN_SENSOR_BUGS: dict[str, str] = {}

SensorRun = tuple[int, dict[str, Any] | None, str]  # as conftest.run_analyze returns it
Analyze = Callable[..., SensorRun]

# --- running everything once, in parallel -------------------------------------------------


class SessionCache:
    """Results per capture, computed for all selected captures at once with a thread pool."""

    def __init__(self, compute: Callable[[str], Any], wanted: list[str]) -> None:
        self.compute = compute
        self.wanted = wanted
        self.done: dict[str, Any] = {}

    def get(self, capture: str) -> Any:
        if capture not in self.done:
            todo = [c for c in dict.fromkeys([capture, *self.wanted]) if c not in self.done]
            workers = max(2, (os.cpu_count() or 2) + 1)
            with ThreadPoolExecutor(workers) as pool:
                for c, value in zip(todo, pool.map(self._safe, todo), strict=True):
                    self.done[c] = value
        value = self.done[capture]
        if isinstance(value, BaseException):
            raise value
        return value

    def _safe(self, capture: str) -> Any:
        try:
            return self.compute(capture)
        except Exception as e:  # re-raised by the test of this capture
            return e


def selected(request: pytest.FixtureRequest, fixture: str) -> list[str]:
    """The captures of the collected tests that use `fixture` (after -k/deselection)."""
    out = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and fixture in getattr(item, "fixturenames", ()):
            capture = callspec.params.get("shared_capture")
            if isinstance(capture, str):
                out.append(capture)
    return out


@pytest.fixture(scope="session")
def default_runs(request: pytest.FixtureRequest, pcaps_dir: Path, analyze: Analyze) -> SessionCache:
    def compute(capture: str) -> SensorRun | str:
        run: SensorRun = analyze(pcaps_dir / capture, cpu_limit=CPU_LIMIT)
        if run[0] == -signal.SIGXCPU:
            return f"{capture}: `nps-sensor analyze` used more than {CPU_LIMIT} s of CPU time"
        return run

    return SessionCache(compute, selected(request, "default_runs"))


@pytest.fixture(scope="session")
def oracle_runs(
    request: pytest.FixtureRequest,
    pcaps_dir: Path,
    tshark: str,
    analyze: Analyze,
    tmp_path_factory: pytest.TempPathFactory,
) -> SessionCache:
    config = tmp_path_factory.mktemp("oracle") / "all-internal.yaml"
    config.write_text(ORACLE_CONFIG, encoding="utf-8")

    def compute(capture: str) -> tuple[SensorRun, list[dict[str, list[str]]], str]:
        run = analyze(pcaps_dir / capture, config=config)
        frames, err = tshark_fields(tshark, pcaps_dir / capture)
        return run, frames, err

    return SessionCache(compute, selected(request, "oracle_runs"))


# --- the tests ----------------------------------------------------------------------


def check_ran(capture: str, run: SensorRun) -> dict[str, Any]:
    code, result, stderr = run
    assert "Traceback" not in stderr, f"{capture}: the sensor crashed:\n{stderr}"
    assert "Warning:" not in stderr, f"{capture}: the sensor printed a Python warning:\n{stderr}"
    lines = stderr.splitlines()
    if capture.startswith("malformed/"):
        assert code in (0, 1), f"{capture}: exit {code}: {stderr}"
    else:
        assert code == 0, f"{capture}: exit {code} for an intact capture: {stderr}"
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("nps-sensor: "), f"{capture}: reason not one line: {stderr!r}"
    assert result is not None, f"{capture}: the output is not a JSON object"
    missing = {"assets", "flows", "stats"} - result.keys()
    assert not missing, f"{capture}: the result lacks {sorted(missing)}"
    assert isinstance(result["assets"], list) and isinstance(result["flows"], list)
    assert isinstance(result["stats"], dict)
    return dict(result)


def test_analyze_survives_capture(shared_capture: str, pcaps_dir: Path, default_runs: SessionCache) -> None:
    capture = shared_capture
    run = default_runs.get(capture)
    if isinstance(run, str):
        pytest.fail(run, pytrace=False)
    check_ran(capture, run)


def test_analyze_agrees_with_tshark(
    shared_capture: str, pcaps_dir: Path, oracle_runs: SessionCache, request: pytest.FixtureRequest
) -> None:
    capture = shared_capture
    if capture in KNOWN_SENSOR_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_SENSOR_BUGS[capture]))
    run, frames, tshark_err = oracle_runs.get(capture)
    result = check_ran(capture, run)
    truth = compute_truth(frames)
    problems = disagreements(truth, result)
    if problems:
        shown = "\n  ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        notes = f"\ntshark: {tshark_err.strip()}" if tshark_err.strip() else ""
        skipped = f"\nframes without a usable IP header: {truth.skipped}" if truth.skipped else ""
        pytest.fail(f"{capture}: {len(problems)} disagreements\n  {shown}{more}{notes}{skipped}", pytrace=False)


def test_a_dhcpv6_server_seen_answering_first_is_the_server(pcaps_dir: Path) -> None:
    """wireshark-dhcpv6.pcap: the client's solicit goes to ff02::1:2; the unicast
    flow begins with the server's advertise (547 -> 546), which used to make the
    server the flow's client."""
    capture = pcaps_dir / "dhcpv6" / "wireshark-dhcpv6.pcap"
    if not capture.is_file():
        pytest.skip(f"{capture} not in the corpus")
    cfg = parse("internal: [{name: all, ranges: ['::/0']}]\ndiscovery: {enabled: false}")
    result = analyze([str(capture)], cfg).result
    flows = [(f["client"], f["server"], f["port"]) for f in result["flows"] if f["proto"] == "udp"]
    assert sorted(flows) == [
        ("fe80::a00:27ff:fefe:8f95", "fe80::a00:27ff:fed4:10bb", 547),
        ("fe80::a00:27ff:fefe:8f95", "ff02::1:2", 547),
    ]
