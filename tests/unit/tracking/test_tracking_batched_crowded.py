"""BatchedByteTrack equals one ByteTrack per stream on crowded scenes with ties.

Association of a batch runs on all streams at once (a block-diagonal cost
matrix). These scenes make it do real work: boxes crowd a small canvas and
cross each other, coordinates are whole pixels so costs tie exactly, and some
detections are duplicated (identical candidates for one track). Many streams,
irregular schedules (late joins, skipped batches, a stream twice in a batch)
and several parameter sets, over many frames and seeds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from visionflow.tracking import ByteTrack, MultiStreamTracker, matching
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.types import Detections


def crowded_clip(seed: int, n_frames: int) -> list[Detections]:
    """Objects random-walking on a 240 x 200 px canvas, integer boxes, duplicates."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 16))
    pos = rng.uniform(0, 200, (n, 2))
    vel = rng.uniform(-4, 4, (n, 2))
    size = rng.choice([30.0, 40.0, 50.0], (n, 2))
    classes = rng.integers(0, 2, n)
    frames = []
    for _ in range(n_frames):
        vel += rng.normal(0, 0.7, (n, 2))
        pos = np.clip(pos + vel, 0, 200)
        keep = rng.random(n) > 0.15
        c = np.round(pos[keep] + rng.normal(0, 1.0, (int(keep.sum()), 2)))
        xyxy = np.concatenate([c - size[keep] / 2, c + size[keep] / 2], 1)
        score = np.round(rng.choice([0.3, 0.55, 0.7, 0.9], len(c)), 2)
        cls = classes[keep]
        # Exact duplicates and 1-px shifted copies: tied candidates.
        dup = rng.random(len(c)) < 0.15
        shift = rng.integers(-1, 2, (int(dup.sum()), 1)).astype(np.float64)
        xyxy = np.concatenate([xyxy, xyxy[dup] + shift])
        score = np.concatenate([score, score[dup]])
        cls = np.concatenate([cls, cls[dup]])
        order = rng.permutation(len(score))
        frames.append(Detections(xyxy[order], score[order], cls[order]))
    return frames


def schedule(seed: int, n_streams: int, n_batches: int) -> Iterator[list[int]]:
    rng = np.random.default_rng(seed)
    for b in range(n_batches):
        slots = [s for s in range(n_streams) if b >= s and rng.random() > 0.15]
        if slots and rng.random() < 0.25:
            slots.insert(int(rng.integers(0, len(slots) + 1)), slots[-1])
        yield slots


def next_batch(clips: list[list[Detections]], cursor: list[int], slots: list[int]) -> Detections:
    """The next frame of each slot's clip as one batch (``frame_index`` = slot)."""
    parts = []
    for s in slots:
        part = clips[s][cursor[s]][np.arange(len(clips[s][cursor[s]]))]
        part.frame_index = np.full(len(part), len(parts), np.int32)
        parts.append(part)
        cursor[s] += 1
    return Detections.concatenate(parts)


PARAMS = {
    "defaults": {},
    "class_agnostic_no_fuse": {"class_aware": False, "fuse_score": False, "min_hits": 3},
    "like_reference": {
        "class_aware": False,
        "assign_ids": "on_creation",
        "confirm_first_frame": True,
        "predict_tentative": False,
        "remove_duplicates": True,
        "iou_pixel_offset": 1.0,
        "lost_buffer_frames": 10,
    },
    "loose_thresholds": {
        "match_threshold": 1.0,
        "second_match_threshold": 0.95,
        "unconfirmed_match_threshold": 1.0,
        "min_hits": 1,
    },
}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
def test_crowded_streams_identical_to_one_bytetrack_per_stream(
    params: dict[str, object], seed: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    solver_calls = [0]

    def counting_solver(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        solver_calls[0] += 1
        return linear_sum_assignment(cost)  # type: ignore[no-any-return]

    monkeypatch.setattr(matching, "linear_sum_assignment", counting_solver)
    n_streams, n_batches = 10, 60
    clips = [crowded_clip(100 * seed + s, 2 * n_batches) for s in range(n_streams)]
    cursor = [0] * n_streams
    reference = MultiStreamTracker(lambda: ByteTrack(**params, compiled=compiled))  # type: ignore[arg-type]
    batched = BatchedByteTrack(**params, compiled=compiled)
    outputs = 0
    for slots in schedule(seed, n_streams, n_batches):
        stream_ids = [f"cam{s}" for s in slots]
        dets = next_batch(clips, cursor, slots)
        solver_calls[0] = 0
        expected = reference.update(dets, stream_ids)
        per_stream_calls = solver_calls[0]
        solver_calls[0] = 0
        got = batched.update(dets, stream_ids)
        # Each contested group of tracks and detections is solved once either way
        # (the NumPy steps call SciPy; the compiled step has its own solver).
        assert solver_calls[0] == per_stream_calls
        np.testing.assert_array_equal(got.frame_index, expected.frame_index)
        np.testing.assert_array_equal(got.xyxy, expected.xyxy)
        np.testing.assert_array_equal(got.track_id, expected.track_id)
        outputs += len(got)
    assert outputs > 1000
    assert batched.stream_ids == reference.stream_ids


def test_crowded_scenes_reach_the_solver() -> None:
    """The scenes above are not all trivially separable: contested groups occur
    (counted on the NumPy steps, which call SciPy's solver for each)."""
    calls = [0]

    def counting_solver(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls[0] += 1
        return linear_sum_assignment(cost)  # type: ignore[no-any-return]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "linear_sum_assignment", counting_solver)
        tracker = ByteTrack(compiled=False)
        for frame in crowded_clip(0, 60):
            tracker.update(frame)
    assert calls[0] > 20
