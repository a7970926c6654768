"""What a run reports: its lifecycle state and its summary."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from visionflow.events import DeliveryStats
from visionflow.pipeline.gpu_memory import GpuMemory
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.streams import StreamStatus


class PipelineState(enum.Enum):
    """Lifecycle: NEW → RUNNING → (STOPPING →) FINISHED → CLOSED."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    CLOSED = "closed"


@dataclass
class RunSummary:
    """What a finished run did: per-stream status, latencies and counts."""

    streams: list[StreamStatus]
    wall_s: float
    frames: int
    stats: LatencyStats
    line_counts: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    zone_counts: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    events_written: int = 0
    delivery: dict[str, DeliveryStats] = field(default_factory=dict)
    """Per publisher: delivered, pending, dropped, retries, connected."""
    interrupted: bool = False
    error: str | None = None
    batches: int = 0
    """Model calls; ``frames / batches`` is the mean batch size."""
    process_cpu_s: float = 0.0
    """CPU seconds of the whole process (all threads) during the run."""
    sink_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each sink thread (``events``, ``video``); delivery threads are in
    :attr:`delivery` (``cpu_s``)."""
    removed_streams: int = 0
    """Streams removed with :meth:`Pipeline.remove_source` during the run (not in ``streams``)."""
    gpu_memory: GpuMemory | None = None
    """Device memory held by the pipeline, model and per stream (``None`` on CPU)."""

    @property
    def fps(self) -> float:
        """Frames processed per second of wall time, all streams together."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failed_streams(self) -> list[StreamStatus]:
        """Streams that ended with an error."""
        return [s for s in self.streams if s.error is not None]
