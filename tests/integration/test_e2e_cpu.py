"""End to end on the real clip with the real weights: detect, track, count, write."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import base_config, ffprobe_frames, read_events

from visionflow import Detections, FrameBatch, Pipeline, RunSummary
from visionflow.config import validate_mapping
from visionflow.events import parse_event

SAMPLE_FRAMES = 795


@dataclass
class Recorder:
    """Keeps per-frame detections and tracks seen by the pipeline's on_batch hook."""

    persons: dict[int, int] = field(default_factory=dict)
    tracks: dict[int, list[tuple[int, np.ndarray]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def __call__(self, batch: FrameBatch, detections: Detections, tracks: Detections) -> None:
        for slot, frame in enumerate(batch.frames):
            self.persons[frame.frame_number] = int(np.sum(detections.frame_index == slot))
            mine = tracks.for_frame(slot)
            for track_id, box in zip(mine.track_id, mine.xyxy, strict=True):
                self.tracks[int(track_id)].append((frame.frame_number, box.copy()))


@pytest.fixture(scope="module")
def full_run(
    sample_mp4: Path,
    models_dir: Path,
    onnx_cache_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunSummary, Recorder, Path]:
    out = tmp_path_factory.mktemp("e2e")
    mapping = base_config(
        models_dir, onnx_cache_dir, out, [("vtest", sample_mp4)], events={"counts_interval_s": 10.0}
    )
    recorder = Recorder()
    summary = Pipeline(validate_mapping(mapping), on_batch=recorder).run()
    return summary, recorder, out


def test_every_frame_is_processed(full_run: tuple) -> None:
    summary, recorder, _ = full_run
    assert isinstance(summary, RunSummary)
    assert summary.frames == SAMPLE_FRAMES
    assert sorted(recorder.persons) == list(range(SAMPLE_FRAMES))
    assert not summary.failed_streams and not summary.interrupted
    assert summary.batches >= summary.frames / 4  # max_batch_size 4
    assert set(summary.sink_cpu_s) == {"events", "video"}
    assert 0 < sum(summary.sink_cpu_s.values()) < summary.process_cpu_s


@pytest.mark.parametrize(("frame", "people"), [(0, 3), (200, 7)])
def test_people_on_known_frames(full_run: tuple, frame: int, people: int) -> None:
    _, recorder, _ = full_run
    assert recorder.persons[frame] == people


def test_a_walking_person_keeps_one_track_id(full_run: tuple) -> None:
    _, recorder, _ = full_run
    lives = dict(recorder.tracks.items())
    longest = max(lives.values(), key=len)
    frames = [f for f, _ in longest]
    centres_x = [float((b[0] + b[2]) / 2) for _, b in longest]
    # One id follows a person for at least 10 s of video while they walk > 150 px.
    assert len(longest) >= 100
    assert max(centres_x) - min(centres_x) > 150
    # Between consecutive sightings the box moves like a walker, never jumps.
    steps = np.abs(np.diff(centres_x)) / np.maximum(np.diff(frames), 1)
    assert steps.max() < 30


def test_track_ids_are_not_recycled_within_the_stream(full_run: tuple) -> None:
    _, recorder, _ = full_run
    for observations in recorder.tracks.values():
        frames = [f for f, _ in observations]
        assert frames == sorted(set(frames))


def test_events_are_valid_and_counts_match_the_events(full_run: tuple) -> None:
    summary, _recorder, out = full_run
    events = read_events(out / "events.jsonl")
    for event in events:
        parse_event(json.dumps(event))
    assert len({e["event_id"] for e in events}) == len(events)
    crossings = Counter(e["direction"] for e in events if e["type"] == "line_crossed")
    final = [e for e in events if e["type"] == "counts"][-1]
    walkway = final["lines"]["walkway"]
    assert crossings["eastbound"] == walkway["eastbound"].get("person", 0)
    assert crossings["westbound"] == walkway["westbound"].get("person", 0)
    assert sum(crossings.values()) > 0
    assert summary.line_counts["vtest"]["walkway"] == walkway
    entered = sum(e["type"] == "zone_entered" for e in events)
    exited = sum(e["type"] == "zone_exited" for e in events)
    assert entered > 0
    assert entered - exited == final["zones"]["plaza"]["person"]


def test_each_crossing_is_backed_by_the_track(full_run: tuple) -> None:
    """The crossing track was seen left of the line before, right of it after (or reverse)."""
    _, recorder, out = full_run
    line_x = 360.0  # the walkway line is vertical at x = 360 from y 150 to 380
    for event in read_events(out / "events.jsonl"):
        if event["type"] != "line_crossed":
            continue
        obs = recorder.tracks[event["track_id"]]
        xs = {f: float((b[0] + b[2]) / 2) for f, b in obs}
        before = [x for f, x in xs.items() if f < event["frame_number"]]
        after = xs[event["frame_number"]]
        assert before, event
        if event["direction"] == "eastbound":
            assert min(before) < line_x < after, event
        else:
            assert max(before) > line_x > after, event


def test_a_track_alternates_directions(full_run: tuple) -> None:
    """Hysteresis: a track can only cross again the other way, never twice the same way."""
    _, _, out = full_run
    by_track: dict[int, list[str]] = defaultdict(list)
    for event in read_events(out / "events.jsonl"):
        if event["type"] == "line_crossed":
            by_track[event["track_id"]].append(event["direction"])
    for directions in by_track.values():
        assert all(a != b for a, b in itertools.pairwise(directions)), directions


def test_annotated_video_has_every_frame(full_run: tuple) -> None:
    _, _, out = full_run
    codec, frames = ffprobe_frames(out / "vtest.mp4")
    assert (codec, frames) == ("h264", SAMPLE_FRAMES)


def test_tracking_and_analytics_cpu_time_is_within_their_wall_time(full_run: tuple) -> None:
    """Every tracked batch records its thread's CPU time beside the wall time; the CPU
    time of one thread cannot exceed the wall time it was measured over."""
    summary, _, _ = full_run
    samples = summary.stats.samples()
    for stage in ("tracking", "analytics"):
        wall, cpu = samples[stage], samples[f"{stage}_cpu"]
        assert len(cpu) == len(wall) == SAMPLE_FRAMES
        assert cpu.sum() > 0
        # samples are per frame (a batch's time repeated), in the same order: compare pairwise
        assert np.all(cpu <= wall + 2e-4), np.max(cpu - wall)  # thread clock granularity
