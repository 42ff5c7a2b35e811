"""`nps-sensor analyze`'s results stay what they were: the regression net of the packet path.

Every shared capture and the project's own generated captures (the benchmark's
plain, 802.1Q and ERSPAN II traffic, and the engine's hard cases: fragments, nested
tunnels, server-first exchanges, a mirror's copies) are analyzed with the default
configuration and compared with `reports_golden/<capture>.json`: assets (with
discovery's evidence and predictions), flows, the report windows and every counter
of `stats` but the timings. The goldens are the sensor's own output, one asset or
flow per line; no capture byte is in them. The generated captures' goldens, with
hundreds of devices each, are gzipped (`zcat` reads them).

Predictions read no fingerprint database (an empty data directory, without the
Debian packages' lists), so that the goldens do not move with those files: the
rule tables alone, which are in the repository.

After a deliberate change of results, rewrite the goldens with
`NPS_REGOLD=1 .venv/bin/pytest tests/sensor/test_reports_golden.py` and review the diff.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.analyze import analyze
from nps_sensor.config import Config
from nps_sensor.discovery import fingerprints
from nps_sensor.synth.traffic import write_capture
from nps_sensor.synth.tunnels import encapsulate
from tests.conftest import NO_CORPUS
from tests.sensor import test_engine_cases as cases

GOLDEN = Path(__file__).resolve().parent / "reports_golden"
REGOLD = os.environ.get("NPS_REGOLD") == "1"
GENERATED_PACKETS = 10_000
TIMINGS = ("elapsed_seconds", "packets_per_second")


def _engine_cases() -> dict[str, cases.Frames]:
    fragments, fragment_copies = cases.fragment_cases()
    nested: cases.Frames = []
    for n, kinds in enumerate(cases.NESTINGS):
        for i, (ts, frame) in enumerate(cases.conversation(n, cases.T0 + 1 + n * 0.01)):
            nested.append((ts, encapsulate(frame, kinds, seq=i + 1)))
    server_first, _ = cases.server_first_cases()
    traffic, copies, _ = cases.mirror_cases()
    return {
        "fragments-mirrored": sorted(fragments + fragment_copies),
        "nested-tunnels": sorted(nested),
        "server-first": server_first,
        "mirror-copies": sorted(traffic + copies),
    }


GENERATED: dict[str, Callable[[Path], None]] = {
    **{
        f"generated-{wrap}": (lambda path, wrap=wrap: write_capture(str(path), GENERATED_PACKETS, 1, wrap))  # type: ignore[misc]
        for wrap in ("plain", "vlan", "erspan2")
    },
    **{
        f"engine-{name}": (lambda path, frames=frames: cases.write(path, frames))  # type: ignore[misc]
        for name, frames in _engine_cases().items()
    },
}


@pytest.fixture(scope="module", autouse=True)
def no_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Predictions from the rule tables alone (see the module docstring)."""
    fingerprints.use(fingerprints.Databases(tmp_path_factory.mktemp("no-data"), system=False))
    yield
    fingerprints.use(None)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What the goldens hold of a result: all but the run's paths, version and timings."""
    stats = {k: v for k, v in result["stats"].items() if k not in TIMINGS}
    return {"assets": result["assets"], "flows": result["flows"], "reports": result["reports"], "stats": stats}


def dump(data: dict[str, Any]) -> str:
    """JSON with one asset, flow or report per line: compact, and a diff names the entry."""
    lines = ["{"]
    for i, (key, value) in enumerate(data.items()):
        comma = "," if i < len(data) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f" {json.dumps(key)}: [")
            lines += [
                f"  {json.dumps(v, sort_keys=True)}{',' if j < len(value) - 1 else ''}" for j, v in enumerate(value)
            ]
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, sort_keys=True)}{comma}")
    return "\n".join(lines) + "\n}\n"


def golden_name(capture: str) -> str:
    return capture.removesuffix(Path(capture).suffix).replace("/", "--") + ".json"


def check(name: str, result: dict[str, Any]) -> None:
    path = GOLDEN / name
    got = comparable(result)
    zipped = name.endswith(".gz")
    if REGOLD:
        GOLDEN.mkdir(exist_ok=True)
        text = dump(got).encode()
        path.write_bytes(gzip.compress(text, mtime=0) if zipped else text)
        return
    if not path.is_file():
        pytest.fail(f"no golden {path.name}: write it with NPS_REGOLD=1 and review it")
    raw = path.read_bytes()
    want = json.loads(gzip.decompress(raw) if zipped else raw)
    problems = []
    for part in ("assets", "flows", "reports"):
        if got[part] != want[part]:
            problems.append(_first_difference(part, got[part], want[part]))
    for key in sorted(set(got["stats"]) | set(want["stats"])):
        if got["stats"].get(key) != want["stats"].get(key):
            problems.append(f"stats.{key}: {got['stats'].get(key)!r}, golden {want['stats'].get(key)!r}")
    assert not problems, f"{name} differs from its golden:\n  " + "\n  ".join(problems)


def _first_difference(part: str, got: list[Any], want: list[Any]) -> str:
    if len(got) != len(want):
        extra = [x for x in got if x not in want][:2]
        missing = [x for x in want if x not in got][:2]
        return f"{part}: {len(got)} entries, golden {len(want)}; new {extra}; missing {missing}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) else []
            return f"{part}[{i}] differs in {keys}: {json.dumps(a)[:400]} vs golden {json.dumps(b)[:400]}"
    return f"{part}: differ"


def test_shared_capture_reports_match_their_goldens(shared_capture: str, request: pytest.FixtureRequest) -> None:
    if shared_capture == NO_CORPUS:
        request.getfixturevalue("pcaps_dir")  # skips, saying where the corpus was looked for
    root: Path = request.getfixturevalue("pcaps_dir")
    check(golden_name(shared_capture), analyze([str(root / shared_capture)], Config()).result)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_capture_reports_match_their_goldens(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pcap"
    GENERATED[name](path)
    check(f"{name}.json.gz" if name.startswith("generated-") else f"{name}.json", analyze([str(path)], Config()).result)
