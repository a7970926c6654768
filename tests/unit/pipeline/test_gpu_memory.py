"""The GPU memory probe: inactive on CPU; the split between model and streams."""

from __future__ import annotations

import pytest

from visionflow.pipeline.gpu_memory import GpuMemory, GpuMemoryProbe


def test_a_cpu_probe_reports_nothing() -> None:
    probe = GpuMemoryProbe("cpu")
    for name in ("start", "sources", "model"):
        probe.mark(name)
    probe.sample(4)
    assert probe.snapshot() is None


def test_per_stream_share_excludes_the_model() -> None:
    memory = GpuMemory(total_mib=1000.0, model_mib=200.0, streams=4)
    assert memory.per_stream_mib == pytest.approx(200.0)
    assert GpuMemory(total_mib=100.0, model_mib=200.0, streams=0).per_stream_mib == 0.0


class _Readings(GpuMemoryProbe):
    """A probe fed with device readings (MiB) instead of asking the driver."""

    def __init__(self, readings_mib: list[int]) -> None:
        super().__init__("cuda")
        self._readings = iter(readings_mib)

    def _used_bytes(self) -> int | None:
        return next(self._readings) * 1024 * 1024


def test_streams_ending_while_the_allocator_keeps_their_memory_do_not_inflate_the_share() -> None:
    # start 100, model built 300, sources open 300; then 4 streams at 700 MiB; two of
    # them end but their blocks stay cached, and the reading stays at the peak
    probe = _Readings([100, 300, 300, 700, 700, 700])
    for name in ("start", "model", "sources"):
        probe.mark(name)
    for open_streams in (4, 2, 1):
        probe.sample(open_streams)
    memory = probe.snapshot()
    assert memory == GpuMemory(total_mib=600.0, model_mib=200.0, streams=4)
    assert memory.per_stream_mib == pytest.approx(100.0)
