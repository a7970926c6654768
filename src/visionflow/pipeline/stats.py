"""Per-stage latency recording, cheap enough for the hot path.

Each stage appends one duration per frame (or per batch, for batched stages)
in seconds; summaries are computed on demand with NumPy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

STAGES = (
    "decode",
    "batch_wait",
    "preprocess",
    "inference",
    "postprocess",
    "tracking",
    "analytics",
    "output",
    "end_to_end",
)
"""Stage names in pipeline order. ``end_to_end`` is arrival → events published."""


@dataclass(frozen=True, slots=True)
class StageSummary:
    """Latency percentiles of one stage in milliseconds."""

    stage: str
    samples: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LatencyStats:
    """Thread-safe collector of per-stage durations in seconds."""

    _samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        """Record one duration of ``stage``."""
        with self._lock:
            self._samples.setdefault(stage, []).append(seconds)

    def add_many(self, stage: str, seconds: float, count: int) -> None:
        """Record the same duration ``count`` times (a batch held ``count`` frames)."""
        with self._lock:
            self._samples.setdefault(stage, []).extend([seconds] * count)

    def summary(self) -> list[StageSummary]:
        """Percentiles for every stage that has samples, in pipeline order."""
        with self._lock:
            items = [(k, np.asarray(v, np.float64)) for k, v in self._samples.items() if v]
        out = []
        for stage, arr in items:
            p50, p90, p99 = np.percentile(arr, [50, 90, 99]) * 1e3
            out.append(StageSummary(stage, arr.size, p50, p90, p99, float(arr.max()) * 1e3))
        return out
