"""The whole Pipeline with ``device: cuda`` (needs CUDA and PyNvVideoCodec; skipped elsewhere).

Files decode with NVDEC into GPU memory, the detector letterboxes the NV12
frames on the GPU, and only detections come back to the host; the run must
process every frame of every stream, count people and add/remove a stream
while running — the same contract as the CPU pipeline.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("PyNvVideoCodec")

from visionflow.config import PipelineConfig, SourceConfig
from visionflow.pipeline import Pipeline

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("VISIONFLOW_ASSETS", ROOT / "data")) / "models"
CLIP = Path(os.environ.get("VISIONFLOW_GPU_CLIP", ROOT / ".gpu_assets/vtest_1080p_h264.mp4"))
FRAMES = 300  # the 1080p clip made by benchmarks/gpu_prepare.sh


def _config(out: Path, streams: int) -> PipelineConfig:
    if not CLIP.is_file():
        pytest.fail(f"{CLIP} missing: run benchmarks/gpu_prepare.sh")
    return PipelineConfig.model_validate(
        {
            "device": "cuda",
            "sources": [{"id": f"cam{i}", "uri": str(CLIP)} for i in range(streams)],
            "model": {
                "cfg": str(MODELS / "yolov3-tiny.cfg"),
                "weights": str(MODELS / "yolov3-tiny.weights"),
                "names": str(MODELS / "coco.names"),
            },
            "detector": {"classes": ["person"]},
            "batching": {"max_batch_size": 16},
            "analytics": {
                "zones": [{"name": "all", "polygon": [[0, 0], [1920, 0], [1920, 1080], [0, 1080]]}]
            },
            "events": {"counts_interval_s": 1.0},
            "output": {"dir": str(out), "video": False},
        }
    )


_ENTERED: dict[str, list[int]] = {}


@pytest.mark.parametrize("nvdec_mode", ["packet", "threaded"])
def test_gpu_pipeline_processes_every_frame_of_every_stream(
    tmp_path: Path, nvdec_mode: str
) -> None:
    cfg = _config(tmp_path, streams=4)
    cfg = cfg.model_copy(
        update={"runtime": cfg.runtime.model_copy(update={"nvdec_mode": nvdec_mode})}
    )
    summary = Pipeline(cfg).run()
    assert summary.error is None
    assert [s.frames_processed for s in summary.streams] == [FRAMES] * 4
    entered = [z["all"]["entered"].get("person", 0) for z in summary.zone_counts.values()]
    assert len(set(entered)) == 1 and entered[0] > 10  # same clip, same people, every stream
    _ENTERED[nvdec_mode] = entered
    if len(_ENTERED) == 2:  # both decode modes: the same frames, so the same counts
        assert _ENTERED["packet"] == _ENTERED["threaded"]
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sum(e["type"] == "zone_entered" for e in events) == sum(entered)
    memory = summary.gpu_memory
    assert memory is not None and memory.streams == 4
    assert memory.model_mib > 1 and memory.per_stream_mib > 1
    assert memory.total_mib > memory.model_mib + 4


def test_gpu_pipeline_adds_and_removes_a_stream_while_running(tmp_path: Path) -> None:
    cfg = _config(tmp_path, streams=1).model_copy(
        update={"sources": [SourceConfig(id="main", uri=str(CLIP), loop=True)]}
    )
    with Pipeline(cfg, stay_open=True) as pipeline:
        for i in range(5):
            added = pipeline.add_source(SourceConfig(id=f"extra{i}", uri=str(CLIP)))
            deadline = time.monotonic() + 30
            while added.frames_processed < 10:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            final = pipeline.remove_source(f"extra{i}")
            assert final.error is None and final.stopped
        assert pipeline.streams["main"].frames_processed > 0
    assert pipeline.summary().removed_streams == 5


def test_threaded_nvdec_streams_share_pump_threads(tmp_path: Path) -> None:
    """40 live (paced, looped) NVDEC streams are served by 2 pump threads, not 40
    threads; every stream flows, and stop ends them all promptly."""
    import threading

    base = _config(tmp_path, streams=1).model_dump()
    base["sources"] = [
        {"id": f"live{i}", "uri": str(CLIP), "loop": True, "realtime": True} for i in range(40)
    ]
    base["batching"] = {"max_batch_size": 64}
    cfg = PipelineConfig.model_validate(base)
    with Pipeline(cfg, stay_open=True) as pipeline:
        time.sleep(2.0)
        before = [s.frames_processed for s in pipeline.streams.values()]
        time.sleep(2.0)
        names = [t.name for t in threading.enumerate()]
        after = [s.frames_processed for s in pipeline.streams.values()]
        t0 = time.monotonic()
    close_s = time.monotonic() - t0
    assert sum(n.startswith("source-pump-") for n in names) == 2
    assert not any(n.startswith("source-live") for n in names)
    progress = [b - a for a, b in zip(before, after, strict=True)]
    print("frames per stream in 2 s:", progress)
    assert min(progress) > 30  # 60 frames are due in 2 s at 30 fps: every stream flows
    assert close_s < 5.0
    assert pipeline.summary().error is None
