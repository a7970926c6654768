"""The whole pipeline on real RTSP cameras: one camera's outage never stops another,
the broken one recovers by itself, and its state moves become events."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from conftest import RtspServer
from visionflow.config import PipelineConfig
from visionflow.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2e_helpers import base_config


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_camera_outage_recovers_while_the_other_camera_keeps_running(
    rtsp_server: RtspServer,
    second_rtsp_server: RtspServer,
    models_dir: Path,
    onnx_cache_dir: Path,
    tmp_path: Path,
) -> None:
    data = base_config(models_dir, onnx_cache_dir, tmp_path, [])
    reconnect = {"initial_s": 0.2, "max_s": 1.0}
    data["sources"] = [
        {"id": "flaky", "uri": rtsp_server.url(), "stall_timeout_s": 2, "reconnect": reconnect},
        {"id": "steady", "uri": second_rtsp_server.url(), "stall_timeout_s": 2},
    ]
    data["model"]["input_size"] = 160
    data["output"] = {"dir": str(tmp_path), "video": False}
    data["events"] = {"counts_interval_s": 0, "stats_interval_s": 1}
    cfg = PipelineConfig.model_validate(data)
    with Pipeline(cfg) as pipeline:
        streams = pipeline.streams
        _wait(lambda: streams["flaky"].frames_processed >= 10, 20, "first frames of flaky")
        rtsp_server.kill()
        killed_at = time.monotonic()
        steady_before = streams["steady"].frames_processed
        _wait(lambda: pipeline.stream_status("flaky").state != "streaming", 10, "flaky to notice")
        time.sleep(1.0)
        rtsp_server.start()  # same port
        processed_at_restart = streams["flaky"].frames_processed
        _wait(
            lambda: streams["flaky"].frames_processed > processed_at_restart + 5,
            1.0 + 2.0 + 10.0,  # backoff cap + 2 s, plus the RTSP handshake on a busy CPU
            "flaky to recover",
        )
        recovered_after_s = time.monotonic() - killed_at
        flaky = pipeline.stream_status("flaky")
        steady_progress = streams["steady"].frames_processed - steady_before
    assert steady_progress > 0  # the other camera never stopped
    assert flaky.reconnects >= 1 and flaky.error is None
    assert recovered_after_s < 20
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    moves = [
        e["state"] for e in events if e["type"] == "stream_state" and e["stream_id"] == "flaky"
    ]
    assert moves[0] == "running" and moves[-1] == "stopped"
    assert "reconnecting" in moves
    assert moves[moves.index("reconnecting") + 1 :].count("running") >= 1  # back to running
    stats = [e for e in events if e["type"] == "stream_stats" and e["stream_id"] == "flaky"]
    assert stats and stats[-1]["reconnects"] >= 1


def test_a_cameras_frame_rate_is_learned_at_its_first_frame(
    rtsp_server: RtspServer, models_dir: Path, onnx_cache_dir: Path, tmp_path: Path
) -> None:
    """An RTSP camera tells its rate only once connected (10 fps here, not the 30 fps
    fallback): the recording plays at that rate and dwell times are computed with it."""
    import av

    data = base_config(models_dir, onnx_cache_dir, tmp_path, [])
    data["sources"] = [{"id": "cam", "uri": rtsp_server.url()}]
    data["model"]["input_size"] = 160
    data["output"] = {"dir": str(tmp_path), "video": True}
    with Pipeline(PipelineConfig.model_validate(data)) as pipeline:
        _wait(lambda: pipeline.streams["cam"].frames_processed >= 10, 20, "frames")
        pipeline.stop()
    with av.open(str(tmp_path / "cam.mp4")) as container:
        assert float(container.streams.video[0].average_rate) == 10.0
