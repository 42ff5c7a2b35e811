"""Auto-scaling at start: how many packets per second this machine's cores sustain.

The engine runs over a built-in synthetic sample (the project's generator, the same
mix as the benchmark) for about a second; packets per second per core, times the
capture workers, times the sample's mean frame size gives the throughput the sensor
can take before the kernel starts dropping, which the status endpoint publishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector

SAMPLE_PACKETS = 32768


@dataclass(frozen=True)
class Capacity:
    pps_per_core: float
    mean_frame_bytes: float
    workers: int

    @property
    def pps(self) -> float:
        return self.pps_per_core * self.workers

    @property
    def mbps(self) -> float:
        return self.pps * self.mean_frame_bytes * 8 / 1e6

    def as_dict(self) -> dict[str, float]:
        return {
            "pps_per_core": round(self.pps_per_core),
            "pps": round(self.pps),
            "mbps": round(self.mbps),
            "mean_frame_bytes": round(self.mean_frame_bytes),
            "workers": self.workers,
        }


def calibrate(workers: int, seconds: float = 1.0) -> Capacity:
    from nps_sensor.synth.traffic import generate

    stamped = list(generate(SAMPLE_PACKETS, seed=7))
    frames = [f for _, f in stamped]
    mean = sum(len(f) for f in frames) / len(frames)
    rounds, spent = 0, 0.0
    while spent < seconds:
        # Timestamps move on each round, as live traffic's do; only the processing counts.
        batch = batch_from_frames(frames, ts=[rounds * 10.0 + t for t, _ in stamped])
        collector = Collector(Config())
        start = time.process_time()
        for part in range(0, len(frames), 8192):
            collector.process(batch, part, part + 8192)
        spent += time.process_time() - start
        rounds += 1
    return Capacity(rounds * len(frames) / spent, mean, workers)
