"""The CLI on real inputs: clear one-line errors, partial failures, clean signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import ffprobe_frames, read_events, write_yaml

from visionflow.events import parse_event

CLI = [sys.executable, "-m", "visionflow"]
SHORT_FRAMES = 40


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def text_as_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    return path


@pytest.fixture
def random_bytes_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return path


def test_validate_accepts_a_good_config(make_config, short_clip: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "ok.yaml", make_config([("cam0", short_clip)]))
    result = run_cli("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


@pytest.mark.parametrize(
    ("patch", "needles"),
    [
        ({"detector": {"confidense": 0.3}}, ["detector.confidense: unknown key", "confidence"]),
        ({"batching": {"max_batch_size": "four"}}, ["batching.max_batch_size", "'four'"]),
        ({"tracker": {"min_hits": -1}}, ["tracker.min_hits", "greater than or equal to 1"]),
    ],
)
def test_validate_reports_yaml_paths(
    make_config, short_clip: Path, tmp_path: Path, patch: dict, needles: list[str]
) -> None:
    path = write_yaml(tmp_path / "bad.yaml", make_config([("cam0", short_clip)], **patch))
    assert_clean_error(run_cli("validate", str(path)), *needles)
    assert_clean_error(run_cli("run", str(path)), *needles)


def test_schema_is_json_schema() -> None:
    result = run_cli("schema")
    schema = json.loads(result.stdout)
    assert {"sources", "model", "detector", "analytics"} <= set(schema["properties"])


def test_models_lists_backends(models_dir: Path) -> None:
    result = run_cli("models", "--assets", str(models_dir.parent))
    assert result.returncode == 0, result.stderr
    assert "onnxruntime" in result.stdout
    assert "yolov3-tiny.weights" in result.stdout


def test_missing_inputs_are_config_errors(make_config, tmp_path: Path) -> None:
    config = make_config([("cam0", tmp_path / "nope.mp4")])
    config["model"]["weights"] = str(tmp_path / "missing.weights")
    path = write_yaml(tmp_path / "c.yaml", config)
    assert_clean_error(
        run_cli("run", str(path)),
        "model.weights: file not found",
        "sources[0].uri: file not found",
    )


@pytest.mark.parametrize("bad", ["text_as_mp4", "random_bytes_mp4"])
def test_a_file_that_is_not_video(
    make_config, tmp_path: Path, bad: str, request: pytest.FixtureRequest
) -> None:
    video = request.getfixturevalue(bad)
    path = write_yaml(tmp_path / "c.yaml", make_config([("cam0", video)]))
    assert_clean_error(run_cli("run", str(path)), str(video))


def test_mismatched_cfg_and_weights(
    make_config, short_clip: Path, models_dir: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "short.weights"
    weights.write_bytes((models_dir / "yolov3-tiny.weights").read_bytes()[:5_000_000])
    config = make_config([("cam0", short_clip)])
    config["model"]["weights"] = str(weights)
    path = write_yaml(tmp_path / "c.yaml", config)
    assert_clean_error(run_cli("run", str(path)), "weights")


def test_output_folder_that_is_a_file(make_config, short_clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should go")
    path = write_yaml(tmp_path / "c.yaml", make_config([("cam0", short_clip)]))
    assert_clean_error(run_cli("run", str(path), "-q"), str(blocker))


def test_truncated_video_is_processed_as_far_as_it_goes(
    make_config, short_clip: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.mp4"
    data = short_clip.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    path = write_yaml(tmp_path / "c.yaml", make_config([("cam0", cut)]))
    result = run_cli("run", str(path), "-q")
    assert result.returncode == 0, result.stderr
    _, frames = ffprobe_frames(tmp_path / "out" / "cam0.mp4")
    assert 0 < frames < SHORT_FRAMES


def test_truncated_video_without_its_index_is_a_clear_error(
    make_config, sample_mp4: Path, short_clip: Path, tmp_path: Path
) -> None:
    # Same clip with the index (moov) at the end, cut before it: nothing can be decoded.
    late_index = tmp_path / "late.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(short_clip), "-c", "copy", str(late_index)], check=True
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(late_index.read_bytes()[: late_index.stat().st_size // 2])
    path = write_yaml(tmp_path / "c.yaml", make_config([("cam0", cut)]))
    assert_clean_error(run_cli("run", str(path), "-q"), str(cut))


def test_a_corrupt_stream_does_not_stop_the_others(
    make_config, short_clip: Path, random_bytes_mp4: Path, tmp_path: Path
) -> None:
    config = make_config([("good", short_clip), ("bad", random_bytes_mp4)])
    path = write_yaml(tmp_path / "c.yaml", config)
    result = run_cli("run", str(path), "-q")
    assert_clean_error(result, "1 stream(s) failed: bad")
    assert ffprobe_frames(tmp_path / "out" / "good.mp4") == ("h264", SHORT_FRAMES)
    events = read_events(tmp_path / "out" / "events.jsonl")
    bad = [e for e in events if e["stream_id"] == "bad"]
    assert [(e["type"], e["previous_state"], e["state"]) for e in bad] == [
        ("stream_state", "new", "failed")
    ]
    assert bad[0]["reason"]
    good = [(e["type"], e.get("state")) for e in events if e["stream_id"] == "good"]
    assert good[0] == ("stream_state", "running")
    assert good[-1] == ("stream_state", "finished")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(make_config, short_clip: Path, tmp_path: Path, signum: int) -> None:
    config = make_config([("cam0", short_clip)], events={"counts_interval_s": 0.5})
    config["sources"][0]["loop"] = True  # runs until signalled
    path = write_yaml(tmp_path / "c.yaml", config)
    proc = subprocess.Popen(
        [*CLI, "run", str(path), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    events_file = tmp_path / "out" / "events.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _has_lines(events_file, 3):
        time.sleep(0.2)
    proc.send_signal(signum)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:  # never leave a looping pipeline behind, whatever happened
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    events = read_events(events_file)
    for event in events:
        parse_event(json.dumps(event))
    # the closing snapshot was flushed, then the stream's end (always its last event)
    assert [e["type"] for e in events[-2:]] == ["counts", "stream_state"]
    assert (events[-1]["previous_state"], events[-1]["state"]) == ("running", "stopped")
    codec, frames = ffprobe_frames(tmp_path / "out" / "cam0.mp4")
    assert codec == "h264" and frames > 0
    assert "interrupted" in stdout


def _has_lines(path: Path, n: int) -> bool:
    return path.exists() and len(path.read_text().splitlines()) >= n
