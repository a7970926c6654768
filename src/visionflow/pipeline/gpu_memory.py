"""GPU memory the pipeline holds: the model's share and the streams' share.

NVDEC decoders allocate their surfaces outside PyTorch's allocator, so the
probe reads the device-wide figure (``cudaMemGetInfo``): before the model
is built, after it is built, after the sources open, and then about once a
second while running (:meth:`GpuMemoryProbe.sample`), keeping the peak.
What the model took is measured while it was built; the rest of what the
pipeline held at the peak is divided by the number of streams open then
(decoders, their frame pools, per-stream buffers): the most streams open at
any reading up to the peak, because PyTorch's allocator keeps the blocks of a
stream that has ended cached for the others. Other processes using the same
GPU at the same time skew the readings.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from visionflow.inference.backends._torch import require_torch

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """Device memory held by the pipeline, in MiB.

    Attributes:
        total_mib: peak device memory in use while running minus before the
            pipeline started.
        model_mib: taken while the detector was built (weights, CUDA graphs,
            input and output buffers); ``None`` for processes started side by
            side (:mod:`~visionflow.pipeline.shards`), whose readings of the
            device include each other's models.
        streams: the most streams open at any reading up to the peak.
    """

    total_mib: float
    model_mib: float | None
    streams: int

    @property
    def per_stream_mib(self) -> float | None:
        """What is not the model's, per open stream (decoder surfaces, frame pools)."""
        if self.model_mib is None:
            return None
        return max(self.total_mib - self.model_mib, 0.0) / max(self.streams, 1)


class GpuMemoryProbe:
    """Readings of the device's used memory for :class:`GpuMemory` (inactive on CPU).

    Args:
        device: where inference runs; anything but ``cuda``/``cuda:N`` makes
            an inactive probe that reports ``None``.
    """

    def __init__(self, device: str) -> None:
        self._device = device if device.startswith("cuda") else None
        self._marks: dict[str, int] = {}
        self._peak = (0, 0)  # (used bytes, the most streams open up to then)
        self._most_streams = 0

    def start(self) -> None:
        """The ``start`` reading, taken after what the model's build would do anyway.

        A CUDA graph capture collects garbage and empties PyTorch's cache of free
        blocks (``torch.cuda.graph``), which hands memory that earlier work in this
        process left cached back to the device: read during the build, the model's
        share came out negative (-190 to -360 MiB after other GPU tests). So the
        baseline is read after the same collection and emptying.
        """
        if self._device is not None:
            gc.collect()
            require_torch().cuda.empty_cache()
        self.mark("start")

    def mark(self, name: str) -> None:
        """Record the device's used memory now under ``name``."""
        used = self._used_bytes()
        if used is not None:
            self._marks[name] = used

    def sample(self, streams: int) -> None:
        """Read the used memory now, with ``streams`` open; keep it if it is the peak."""
        used = self._used_bytes()
        if used is None:
            return
        self._most_streams = max(self._most_streams, streams)
        if used >= self._peak[0]:
            self._peak = (used, self._most_streams)

    def snapshot(self) -> GpuMemory | None:
        """Memory held at the peak (``None`` on CPU, or before any sample)."""
        marks = self._marks
        used, streams = self._peak
        if not used or not {"start", "sources", "model"} <= set(marks):
            return None
        return GpuMemory(
            total_mib=(used - marks["start"]) / _MIB,
            model_mib=(marks["model"] - marks["start"]) / _MIB,
            streams=streams,
        )

    def _used_bytes(self) -> int | None:
        if self._device is None:
            return None
        torch: Any = require_torch()  # only on a CUDA run, where the detector loaded it
        free, total = torch.cuda.mem_get_info(torch.device(self._device))
        return int(total - free)
