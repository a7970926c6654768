"""Per-stage latency recording, cheap enough for the hot path.

Each stage appends one duration per frame (or per batch, for batched stages)
in seconds; summaries are computed on demand with NumPy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

STAGES = (
    "decode",
    "batch_wait",
    "preprocess",
    "inference",
    "postprocess",
    "tracking",
    "analytics",
    "tracking_cpu",
    "analytics_cpu",
    "output",
    "end_to_end",
)
"""Stage names in pipeline order. ``end_to_end`` is arrival → events published.
``tracking_cpu`` and ``analytics_cpu`` are the CPU time the thread spent on those
stages: the wall time less what it waited for the GIL or a core."""


@dataclass(frozen=True, slots=True)
class StageSummary:
    """Latency percentiles of one stage in milliseconds."""

    stage: str
    samples: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


class SampleWindow:
    """The latest ``capacity`` samples of a measure (a long live run must not grow memory)."""

    def __init__(self, capacity: int) -> None:
        self.values = np.empty(capacity, np.float64)
        self.count = 0
        """Samples ever added (the ring holds the last ``capacity`` of them)."""

    def extend(self, seconds: float, n: int) -> None:
        """Record ``seconds`` ``n`` times."""
        cap = self.values.size
        n_kept = min(n, cap)
        pos = (self.count + n - n_kept) % cap
        first = min(n_kept, cap - pos)
        self.values[pos : pos + first] = seconds
        self.values[: n_kept - first] = seconds
        self.count += n

    def add(self, value: float) -> None:
        """Record one sample."""
        self.extend(value, 1)

    def extend_values(self, values: npt.NDArray[np.float64]) -> None:
        """Record ``values`` in order (the ring keeps the last ``capacity`` of all)."""
        cap = self.values.size
        kept = values[-cap:]
        pos = (self.count + len(values) - len(kept)) % cap
        first = min(len(kept), cap - pos)
        self.values[pos : pos + first] = kept[:first]
        self.values[: len(kept) - first] = kept[first:]
        self.count += len(values)

    def snapshot(self) -> npt.NDArray[np.float64]:
        """The samples held, in no particular order (a copy)."""
        return self.values[: min(self.count, self.values.size)].copy()

    def percentiles(self, qs: list[float]) -> list[float]:
        """Percentiles ``qs`` (0-100) of the samples held; zeros when empty."""
        if self.count == 0:
            return [0.0] * len(qs)
        return [float(v) for v in np.percentile(self.snapshot(), qs)]


class LatencyStats:
    """Thread-safe collector of per-stage durations in seconds.

    Keeps the latest ``window`` samples per stage, so memory stays flat on a
    run of any length; percentiles describe that window.
    """

    def __init__(self, window: int = 100_000) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._window = window
        self._rings: dict[str, SampleWindow] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        """Record one duration of ``stage``."""
        self.add_many(stage, seconds, 1)

    def add_many(self, stage: str, seconds: float, count: int) -> None:
        """Record the same duration ``count`` times (a batch held ``count`` frames)."""
        with self._lock:
            self._ring(stage).extend(seconds, count)

    def absorb(self, other: LatencyStats) -> None:
        """Add ``other``'s samples (another process's run) to these, per stage."""
        for stage, samples in other.samples().items():
            self._extend(stage, samples)

    def _extend(self, stage: str, samples: npt.NDArray[np.float64]) -> None:
        with self._lock:
            self._ring(stage).extend_values(samples)

    def _ring(self, stage: str) -> SampleWindow:
        """``stage``'s window, created on first use (``_lock`` held)."""
        ring = self._rings.get(stage)
        if ring is None:
            ring = self._rings[stage] = SampleWindow(self._window)
        return ring

    def samples(self) -> dict[str, npt.NDArray[np.float64]]:
        """The samples held per stage, in seconds (copies)."""
        with self._lock:
            return {k: r.snapshot() for k, r in self._rings.items() if r.count}

    def __getstate__(self) -> dict[str, object]:
        """Pickle the samples, not the lock (a shard's summary crosses processes)."""
        return {"window": self._window, "samples": self.samples()}

    def __setstate__(self, state: dict[str, object]) -> None:
        window, samples = state["window"], state["samples"]
        assert isinstance(window, int) and isinstance(samples, dict)
        self._window, self._rings, self._lock = window, {}, threading.Lock()
        for stage, values in samples.items():
            self._extend(stage, values)

    def reset(self) -> None:
        """Forget every sample: percentiles from now on describe what follows (e.g.
        steady state, once a warm-up is over)."""
        with self._lock:
            self._rings.clear()

    def summary(self) -> list[StageSummary]:
        """Percentiles for every stage that has samples, in pipeline order."""
        items = list(self.samples().items())
        order = {s: i for i, s in enumerate(STAGES)}
        items.sort(key=lambda kv: order.get(kv[0], len(order)))
        out = []
        for stage, arr in items:
            p50, p90, p99 = np.percentile(arr, [50, 90, 99]) * 1e3
            out.append(StageSummary(stage, arr.size, p50, p90, p99, float(arr.max()) * 1e3))
        return out
