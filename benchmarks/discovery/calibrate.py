"""Fit the confidence map (nps_sensor.discovery.calibration) to the corpus: isotonic regression.

The raw confidence of a vote (how strong and how unanimous its sources are) orders
predictions well but does not say how often they are right. On random halves of each
labeled device's facts (`score.partial`), the share of right predictions is fitted as
a non-decreasing step function of the raw confidence (pool-adjacent-violators over
bins 0.05 wide), and printed as the steps `calibration.STEPS` holds. `python -m benchmarks.discovery.calibrate`
prints them; they are written into the sensor by hand, with the measurement beside.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.discovery.score import Outcome, labels, partial, run_corpus

ROOT = Path(__file__).resolve().parents[2]
STEP = 0.05


def isotonic(points: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Pool adjacent violators over (bin's lower edge, share right, predictions) sorted by
    edge: the best non-decreasing step function, as (block's lower edge, share, predictions)."""
    blocks: list[list[float]] = []  # lower edge, right (weighted), predictions
    for x, y, w in points:
        blocks.append([x, y * w, float(w)])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] > blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1][1] += last[1]
            blocks[-1][2] += last[2]
    return [(lo, right / w, int(w)) for lo, right, w in blocks]


def knots(items: list[Outcome], name: str) -> list[tuple[float, float, int]]:
    """(raw confidence from which on, share right, predictions) per fitted block."""
    bins: dict[int, list[bool]] = {}
    for o in items:
        right = o.right[name]
        if right is None or not o.said.get(name):
            continue
        at = int(o.confidence.get(name, 0.0) / STEP + 1e-9)  # 0.30 / 0.05 is 5.999…
        bins.setdefault(min(at, round(1 / STEP) - 1), []).append(right)
    points = [(b * STEP, sum(v) / len(v), len(v)) for b, v in sorted(bins.items())]
    return isotonic(points)


def main() -> None:
    pcaps = Path(os.environ.get("NPS_PCAPS", ROOT.parent / "shared" / "pcaps"))
    data = Path(os.environ.get("NPS_FINGERPRINTS", ROOT.parent / "shared" / "fingerprints"))
    rows = labels()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = run_corpus(pcaps, data, Path(tmp), rows)
        halves = partial(corpus, rows, raw=True)
    for name in ("type", "os"):
        fitted = knots(halves, name)
        print(f"{name}: " + ", ".join(f"({x:.2f}, {y:.2f})" for x, y, _ in fitted))
        print(f"  predictions per knot: {[n for _, _, n in fitted]}")


if __name__ == "__main__":
    main()
