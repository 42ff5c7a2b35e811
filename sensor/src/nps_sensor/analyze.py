"""`nps-sensor analyze`: the engine over capture files, one result for the whole run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nps_sensor import __version__, phases
from nps_sensor.capture import open_capture
from nps_sensor.config import Config
from nps_sensor.errors import CaptureError
from nps_sensor.pipeline import Engine
from nps_sensor.report import Report


@dataclass
class Analysis:
    result: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    # The engine's reports, each as the live service spools it (without its sensor and stats).
    reports: list[dict[str, Any]] = field(default_factory=list)


def analyze(
    paths: list[str], cfg: Config, batch_size: int = 16384, progress: Callable[[int, int], None] | None = None
) -> Analysis:
    """Run every capture through one engine; damaged files give what precedes the damage.

    `progress(bytes done, bytes in all the captures)` is called after each batch.
    """
    phases.mark_start()
    reports: list[Report] = []
    engine = Engine(cfg, reports.append)
    errors: list[str] = []
    sizes = [_size(p) for p in paths]
    total, before = sum(sizes), 0
    started = time.perf_counter()
    for path, size in zip(paths, sizes, strict=True):
        try:
            engine.feed_file(
                open_capture(path), batch_size, None if progress is None else _within(progress, before, total)
            )
        except CaptureError as e:
            errors.append(str(e))
        before += size
    engine.finish()
    elapsed = time.perf_counter() - started
    engine.collector.stats.capture_errors.extend(errors)
    flows = [f for r in reports for f in r.flows]
    with phases.phase("reports"):
        assets = engine.reporter.asset_dicts(list(engine.reporter.assets.values()))
    result = {
        "sensor": {"version": __version__, "config": cfg.source},
        "captures": paths,
        "assets": assets,
        "flows": flows,
        "reports": [
            {
                "kind": r.kind,
                "window_start": r.as_dict()["window_start"],
                "window_end": r.as_dict()["window_end"],
                "assets": len(r.assets),
                "flows": len(r.flows),
            }
            for r in reports
        ],
    }
    stats: dict[str, Any] = engine.stats_dict()
    result["stats"] = stats
    stats["elapsed_seconds"] = round(elapsed, 6)
    stats["packets_per_second"] = round(stats["packets"] / elapsed) if elapsed > 0 else 0
    return Analysis(result, errors, [r.as_dict() for r in reports])


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _within(progress: Callable[[int, int], None], before: int, total: int) -> Callable[[int], None]:
    """Progress through one capture as progress through all of them."""
    return lambda pos: progress(before + pos, total)
