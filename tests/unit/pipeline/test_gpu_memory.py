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
