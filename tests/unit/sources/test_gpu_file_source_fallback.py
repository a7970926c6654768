"""GpuFileSource on a machine where NVDEC cannot run: it must fall back to the CPU, say why,
and yield exactly what the CPU FileSource yields."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from visionflow.errors import SourceNotFoundError, SourceOpenError
from visionflow.sources.file import FileSource
from visionflow.sources.gpu_file import GpuFileSource

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("PyNvVideoCodec") is not None,
    reason="PyNvVideoCodec is installed: NVDEC is tried (tests/gpu cover it)",
)


def test_falls_back_to_cpu_with_a_reason(sample_mp4: Path) -> None:
    source = GpuFileSource(sample_mp4, stream_id="cam").open()
    assert source.decoder == "cpu"
    assert source.fallback_reason is not None
    assert "PyNvVideoCodec" in source.fallback_reason
    assert "visionflow[gpu]" in source.fallback_reason
    frames = [f for f, _ in zip(source, range(5), strict=False)]
    source.close()
    with FileSource(sample_mp4, stream_id="cam") as cpu:
        expected = [f for f, _ in zip(cpu, range(5), strict=False)]
    assert [f.frame_number for f in frames] == [0, 1, 2, 3, 4]
    for got, want in zip(frames, expected, strict=True):
        assert not got.on_device
        assert got.pts_seconds == want.pts_seconds
        np.testing.assert_array_equal(got.image_rgb, want.image_rgb)


def test_no_fallback_raises_with_the_reason(sample_mp4: Path) -> None:
    with pytest.raises(SourceOpenError, match="NVDEC cannot decode it"):
        GpuFileSource(sample_mp4, fallback=False).open()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        GpuFileSource(tmp_path / "nope.mp4").open()
