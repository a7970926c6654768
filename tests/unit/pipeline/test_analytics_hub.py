"""The analytics hub (every stream of a batch in one pass per kind) against each
stream run alone: the same events, in the same order, and the same totals.

The scene has every kind of analytic (ROIs, a segment, a polyline and a
direction-filtered strict line, zones with loitering and overcrowding, a
direction detector), on streams with different subsets of it. Batches mix
streams, miss some streams, and hold several frames of one stream (several
rounds), as a file stream's batches do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from visionflow.config import validate_mapping
from visionflow.events import Event
from visionflow.pipeline import build
from visionflow.pipeline.stream_analytics import (
    AnalyticsHub,
    StreamAnalytics,
    _round_rows,
    _rounds,
)
from visionflow.types import Detections, Frame, FrameBatch

NAMES = ["person", "bicycle", "car"]
FPS = 10.0
IMAGE = np.zeros((2, 2, 3), np.uint8)
STREAMS = ("a", "b", "c", "d")
SCENE: dict[str, Any] = {
    "roi": [
        {"name": "site", "polygon": [[20, 20], [620, 20], [620, 460], [20, 460]], "streams": ["a"]},
        {
            "name": "mask",
            "polygon": [[0, 0], [150, 0], [150, 120], [0, 120]],
            "inverse": True,
            "streams": ["a", "c"],
        },
    ],
    "lines": [
        {"name": "gate", "start": [40, 240], "end": [600, 240], "in_name": "south"},
        {
            "name": "fence",
            "points": [[320, 20], [280, 200], [360, 300], [320, 460]],
            "streams": ["a", "b"],
        },
        {
            "name": "entry",
            "start": [160, 60],
            "end": [160, 420],
            "direction": [-1, 0],
            "mode": "strict",
            "classes": ["person"],
            "streams": ["c", "d"],
        },
    ],
    "zones": [
        {
            "name": "lobby",
            "polygon": [[60, 60], [300, 60], [300, 220], [60, 220]],
            "loitering_s": 1.0,
            "overcrowding": {"threshold": 3, "min_duration_s": 0.2},
        },
        {
            "name": "shop",
            "polygon": [[360, 260], [600, 280], [560, 440], [380, 420]],
            "classes": ["car"],
            "streams": ["b", "d"],
        },
    ],
    "directions": [
        {
            "name": "heading",
            "directions": {"north": [[0, 10], [0, 0]], "east": [[0, 0], [10, 0]]},
            "streams": ["a", "d"],
        }
    ],
}


def _stage(stream_id: str) -> StreamAnalytics:
    config = validate_mapping(
        {
            "sources": [{"id": s, "uri": f"{s}.mp4"} for s in STREAMS],
            "model": {"kind": "onnx", "weights": "m.onnx", "names": "m.names"},
            "analytics": SCENE,
            "events": {"counts_interval_s": 0.5},
        },
        source="hub test",
    )
    return build._stream_analytics(config, stream_id, FPS, NAMES)


def _walks(seed: int, n_frames: int) -> dict[str, list[Detections]]:
    """Per stream, per frame: tracks moving around a 640x480 picture, ids churning."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Detections]] = {}
    for s in STREAMS:
        n = int(rng.integers(4, 12))
        pos = rng.uniform((0, 0), (640, 480), (n, 2))
        vel = rng.normal(0, 12, (n, 2))
        ids = np.arange(1, n + 1, dtype=np.int64)  # the same ids in every stream
        cls = rng.choice([0, 0, 2], n).astype(np.int32)
        next_id = n + 1
        frames = []
        for _ in range(n_frames):
            vel += rng.normal(0, 3, (n, 2))
            pos = np.clip(pos + vel, 0, (640, 480))
            churn = rng.random(n) < 0.03
            ids[churn] = np.arange(next_id, next_id + churn.sum())
            next_id += int(churn.sum())
            seen = rng.random(n) > 0.1  # missed now and then
            xy = pos[seen]
            frames.append(
                Detections(
                    np.column_stack([xy[:, 0] - 8, xy[:, 1] - 30, xy[:, 0] + 8, xy[:, 1]]),
                    np.full(len(xy), 0.9, np.float32),
                    cls[seen],
                    track_id=ids[seen].copy(),
                )
            )
        out[s] = frames
    return out


def _schedule(seed: int, n_frames: int) -> list[list[tuple[str, int]]]:
    """Batches of (stream, frame number): mixed streams, gaps, several frames of one stream."""
    rng = np.random.default_rng(seed + 1000)
    cursor = dict.fromkeys(STREAMS, 0)
    batches: list[list[tuple[str, int]]] = []
    while any(c < n_frames for c in cursor.values()):
        batch = []
        for _ in range(int(rng.integers(1, 9))):
            open_streams = [s for s in STREAMS if cursor[s] < n_frames]
            if not open_streams:
                break
            s = str(rng.choice(open_streams))
            batch.append((s, cursor[s]))
            cursor[s] += 1
        batches.append(batch)
    return batches


def _fields(event: Event) -> dict[str, Any]:
    """What the analytics decide: every field but the per-event id and creation time."""
    return event.model_dump(exclude={"event_id", "wall_time"})


def _dump(events: list[Event]) -> list[dict[str, Any]]:
    return [_fields(e) for e in events]


@pytest.mark.parametrize("seed", range(6))
def test_hub_batches_give_the_events_of_each_stream_run_alone(seed: int) -> None:
    n_frames = 80
    walks = _walks(seed, n_frames)
    alone = {s: _stage(s) for s in STREAMS}
    expected: dict[str, list[dict[str, Any]]] = {s: [] for s in STREAMS}
    for s in STREAMS:
        for n, tracks in enumerate(walks[s]):
            expected[s] += _dump(alone[s].update(Frame(s, n, n / FPS, 0, IMAGE), tracks))

    shared = {s: _stage(s) for s in STREAMS}
    hub = AnalyticsHub(shared)
    got: dict[str, list[dict[str, Any]]] = {s: [] for s in STREAMS}
    for k, slots in enumerate(_schedule(seed, n_frames)):
        # A camera that comes and goes: its dead units make the banks compact
        # (renumber every live unit) while the other streams hold state.
        hub.add("flaky", _stage("a"))
        if k % 2:
            batch = FrameBatch((Frame("flaky", 0, 0.0, 0, IMAGE),))
            hub.update(batch, hub.roi_filter(batch, walks["a"][0]))
        hub.remove("flaky")
        frames = tuple(Frame(s, n, n / FPS, 0, IMAGE) for s, n in slots)
        parts = []
        for slot, (s, n) in enumerate(slots):
            tracks = walks[s][n][np.arange(len(walks[s][n]))]
            tracks.frame_index = np.full(len(tracks), slot, np.int32)
            parts.append(tracks)
        batch = FrameBatch(frames)
        events = hub.update(batch, hub.roi_filter(batch, Detections.concatenate(parts)))
        for event in events:
            got[event.stream_id].append(_fields(event))
        # within a batch, events come in slot order
        order = [[s for s, _ in slots].index(e.stream_id) for e in events]
        assert order == sorted(order) or len({s for s, _ in slots}) < len(slots)

    assert sum(len(v) for v in expected.values()) > 100  # the scene really produces events
    kinds = {e["type"] for v in expected.values() for e in v}
    assert {"line_crossed", "zone_entered", "zone_exited", "direction", "counts"} <= kinds
    for s in STREAMS:
        assert got[s] == expected[s], s
    assert hub.line_counts() == {s: a.line_counts() for s, a in alone.items() if a.lines}
    assert hub.zone_counts() == {s: a.zone_counts() for s, a in alone.items() if a.zones}
    assert len(hub._lines) < 4 * len(STREAMS) * 3 + 64  # dead units were dropped


def test_a_removed_stream_added_again_starts_afresh() -> None:
    walks = _walks(3, 30)
    stage = _stage("a")
    hub = AnalyticsHub({"a": stage})
    for n in range(30):
        batch = FrameBatch((Frame("a", n, n / FPS, 0, IMAGE),))
        hub.update(batch, hub.roi_filter(batch, walks["a"][n]))
    assert any(any(c.values()) for c in hub.line_counts()["a"]["gate"].values())
    removed = stage.lines[0].counter
    hub.remove("a")
    # the removed stream's counter forgot its unit: a fresh standalone counter again
    assert removed.counts() == {"south": {}, "out": {}} and removed.num_tracks == 0
    assert not hub.has("a") and hub.line_counts() == {}
    hub.add("a", _stage("a"))
    assert hub.line_counts()["a"]["gate"] == {"south": {}, "out": {}}
    batch = FrameBatch((Frame("a", 0, 0.0, 0, IMAGE),))
    hub.update(batch, hub.roi_filter(batch, walks["a"][0]))


def test_adding_a_stream_twice_is_refused() -> None:
    hub = AnalyticsHub({"a": _stage("a")})
    with pytest.raises(ValueError, match="already has analytics"):
        hub.add("a", _stage("a"))


@pytest.mark.parametrize(
    ("slot_stream", "rounds"),
    [
        ([], []),
        ([4], [[0]]),
        ([0, 1, 2], [[0, 1, 2]]),  # distinct streams: one round (the fast path)
        ([0, 1, 0, 2, 1, 0], [[0, 1, 3], [2, 4], [5]]),
        ([5, 5, 5], [[0], [1], [2]]),
    ],
)
def test_rounds_hold_each_stream_once_in_time_order(
    slot_stream: list[int], rounds: list[list[int]]
) -> None:
    assert _rounds(slot_stream) == rounds


@pytest.mark.parametrize("seed", range(8))
def test_round_rows_are_each_rounds_rows_in_batch_order(seed: int) -> None:
    """The sort-and-slice split equals selecting each round's slots by mask."""
    rng = np.random.default_rng(seed)
    slot_stream = rng.integers(0, 5, int(rng.integers(1, 20))).tolist()
    rounds = _rounds(slot_stream)
    n = int(rng.integers(0, 60))
    tracks = Detections(
        rng.uniform(0, 100, (n, 4)),
        rng.random(n),
        rng.integers(0, 3, n),
        rng.integers(0, len(slot_stream), n).astype(np.int32),
        rng.integers(1, 1000, n),
    )
    got = _round_rows(tracks, rounds, len(slot_stream))
    assert len(got) == len(rounds)
    for slots, part in zip(rounds, got, strict=True):
        want = tracks[np.isin(tracks.frame_index, slots)]
        for name in ("xyxy", "confidence", "class_id", "frame_index", "track_id"):
            np.testing.assert_array_equal(getattr(part, name), getattr(want, name))
