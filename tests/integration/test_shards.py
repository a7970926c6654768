"""runtime.processes on the real clip and weights: the streams shared by processes count what
one process counts, each process writes its own outputs, and a signal stops them all cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_helpers import read_events, write_yaml

from visionflow.config import validate_mapping
from visionflow.events import parse_event
from visionflow.pipeline import Pipeline, ShardedRun
from visionflow.pipeline.shards import ShardProgress

CLI = [sys.executable, "-m", "visionflow"]
FRAMES = 240


@pytest.fixture(scope="module")
def clip_240(first_frames_clip: Callable[[int], Path]) -> Path:
    """The first 240 frames of the sample (people cross the walkway line in them)."""
    return first_frames_clip(FRAMES)


def test_two_processes_count_what_one_process_counts(
    make_config, clip_240: Path, tmp_path: Path
) -> None:
    sources = [("a", clip_240), ("b", clip_240), ("c", clip_240)]
    one = make_config(sources, output={"dir": str(tmp_path / "one"), "video": False})
    two = make_config(sources, output={"dir": str(tmp_path / "two"), "video": False})
    two["runtime"] = {"processes": 2}
    alone = Pipeline(validate_mapping(one)).run()
    progress: list[list[ShardProgress]] = []
    shared = ShardedRun(validate_mapping(two), on_progress=progress.append).run()

    assert shared.error is None and alone.error is None
    assert shared.frames == alone.frames == 3 * FRAMES
    assert sorted(s.stream_id for s in shared.streams) == ["a", "b", "c"]
    assert shared.line_counts == alone.line_counts
    assert shared.zone_counts == alone.zone_counts
    crossed = [
        sum(n for direction in lines["walkway"].values() for n in direction.values())
        for lines in shared.line_counts.values()
    ]
    assert min(crossed) > 0  # people crossed in every stream: not a comparison of empty counts
    # shard 0 took a and c, shard 1 took b; each wrote only its own streams' events
    for index, expected in ((0, {"a", "c"}), (1, {"b"})):
        events = read_events(tmp_path / "two" / f"shard-{index}" / "events.jsonl")
        assert {e["stream_id"] for e in events} == expected
        for event in events:
            parse_event(json.dumps(event))
    assert shared.events_written == sum(
        len(read_events(tmp_path / "two" / f"shard-{i}" / "events.jsonl")) for i in (0, 1)
    )
    assert shared.stats.summary()  # the processes' latencies were pooled
    # each process reported its progress while running: frames only grow, within the files'
    assert progress, "no progress arrived in a run of several seconds"
    for index in (0, 1):
        frames = [p.frames for seen in progress for p in seen if p.index == index]
        assert frames == sorted(frames) and frames[-1] <= (2 - index) * FRAMES
    last = {p.index: p for p in progress[-1]}
    assert all(p.expected_frames == len(two_sources(p.index)) * FRAMES for p in last.values())


def test_cli_processes_option_and_signal_stop_every_process(
    make_config, short_clip: Path, tmp_path: Path
) -> None:
    config = make_config([("cam0", short_clip), ("cam1", short_clip)])
    for source in config["sources"]:
        source["loop"] = True  # runs until signalled
    config["output"]["video"] = False
    path = write_yaml(tmp_path / "c.yaml", config)
    proc = subprocess.Popen(
        [*CLI, "run", str(path), "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    files = [tmp_path / "out" / f"shard-{i}" / "events.jsonl" for i in (0, 1)]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not all(_has_lines(f, 2) for f in files):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # to the parent only: it must stop its processes
    try:
        stdout, stderr = proc.communicate(timeout=90)
    finally:  # never leave looping processes behind, whatever happened
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "2 streams in 2 processes" in stdout
    for index, stream in enumerate(("cam0", "cam1")):
        events = read_events(files[index])
        assert {e["stream_id"] for e in events} == {stream}
        assert events[-1]["type"] == "stream_state" and events[-1]["state"] == "stopped"
    assert "cam0" in stdout and "cam1" in stdout  # the merged summary lists both streams


def two_sources(index: int) -> list[str]:
    """The streams of process ``index`` when a, b, c are shared by two processes."""
    return [["a", "c"], ["b"]][index]


def _has_lines(path: Path, n: int) -> bool:
    return path.exists() and len(path.read_text().splitlines()) >= n


def test_a_failing_process_is_reported_while_the_others_finish(
    make_config, short_clip: Path, tmp_path: Path
) -> None:
    config = make_config([("cam0", short_clip), ("cam1", short_clip)])
    config["output"]["video"] = False
    config["runtime"] = {"processes": 2}
    blocker = tmp_path / "out" / "shard-1"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where shard 1's output folder should go")
    summary = ShardedRun(validate_mapping(config)).run()
    assert summary.error is not None and summary.error.startswith("shard 1: ")
    assert "shard-1" in summary.error
    assert [s.stream_id for s in summary.streams] == ["cam0"]
    assert summary.frames == 40
    events = read_events(tmp_path / "out" / "shard-0" / "events.jsonl")
    assert events[-1]["type"] == "stream_state" and events[-1]["state"] == "finished"
