"""Confidence as a probability: the vote's raw confidence mapped to how often such predictions are right.

A vote's raw confidence (the agreeing sources' strength times their share of the
weight) orders predictions well but is not a probability: measured on the labeled
corpus (`inv bench --discovery`, on random halves of each device's facts, as a sensor
that saw part of a device's traffic would have them), predictions at a raw 0.5 were
right about nine times in ten. STEPS map raw confidence to the share of right
predictions, a step function fitted by isotonic regression
(benchmarks/discovery/calibrate.py); `calibrated` reads it. The table in docs/discovery.md shows the
reliability before and after.
"""

from __future__ import annotations

from bisect import bisect_right

# (raw confidence from which on, share of right predictions): the fitted steps (over
# 196, 12, 324, 87 and 644 type predictions; 32, 209 and 483 OS predictions), never
# above 0.99: a corpus of 76 devices proves no certainty.
STEPS: dict[str, list[tuple[float, float]]] = {
    "type": [(0.0, 0.40), (0.35, 0.58), (0.40, 0.94), (0.60, 0.95), (0.75, 0.97)],
    "os": [(0.0, 0.69), (0.25, 0.97), (0.60, 0.99)],
}


# Each kind's step thresholds, made once rather than for every prediction.
_FROM = {kind: [x for x, _ in steps] for kind, steps in STEPS.items()}


def calibrated(kind: str, raw: float) -> float:
    """The share of right predictions of `kind` ("type", "os") at raw confidence `raw`."""
    return STEPS[kind][max(0, bisect_right(_FROM[kind], raw) - 1)][1]
