"""ByteTrack scenarios on synthetic trajectories with exact expectations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.errors import ConfigError
from visionflow.tracking import ByteTrack
from visionflow.types import Detections

F64 = npt.NDArray[np.float64]
W, H = 40.0, 80.0


def boxes_at(centres: npt.ArrayLike, w: float = W, h: float = H) -> F64:
    """``[N, 4]`` xyxy boxes of size ``w x h`` px centred on ``centres [N, 2]``."""
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    half = np.array([w / 2, h / 2])
    return np.concatenate([c - half, c + half], axis=1)


def dets(
    xyxy: npt.ArrayLike, scores: float | Sequence[float] = 0.9, classes: int | Sequence[int] = 0
) -> Detections:
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(boxes)
    return Detections(
        boxes,
        np.broadcast_to(np.asarray(scores, np.float32), n),
        np.broadcast_to(np.asarray(classes, np.int32), n),
    )


def run(tracker: ByteTrack, frames: Sequence[Detections]) -> list[Detections]:
    return [tracker.update(d) for d in frames]


def all_ids(outputs: Sequence[Detections]) -> set[int]:
    return {int(i) for out in outputs for i in out.track_id}


def linear_track(n_frames: int, start: Sequence[float], velocity: Sequence[float]) -> F64:
    """``[n_frames, 2]`` centres moving at a constant ``velocity`` px/frame."""
    t = np.arange(n_frames)[:, None]
    return np.asarray(start, np.float64) + t * np.asarray(velocity, np.float64)


def test_constant_velocity_keeps_one_id_for_100_frames() -> None:
    centres = linear_track(100, (100, 200), (3.0, 1.5))
    outputs = run(ByteTrack(), [dets(boxes_at(c)) for c in centres])
    assert len(outputs[0]) == 0
    assert [len(o) for o in outputs[1:]] == [1] * 99
    assert all_ids(outputs) == {1}
    np.testing.assert_allclose(outputs[50].xyxy, boxes_at(centres[50]))


def test_single_frame_detection_is_never_output() -> None:
    tracker = ByteTrack()
    person = linear_track(30, (100, 200), (2, 0))
    frames = [dets(boxes_at(c)) for c in person]
    frames[10] = dets(np.concatenate([boxes_at(person[10]), boxes_at([(500, 300)])]))
    outputs = []
    for i, frame in enumerate(frames):
        outputs.append(tracker.update(frame))
        if i == 10:
            assert tracker.num_tentative == 1
        if i == 11:
            assert tracker.num_tentative == 0
    assert all_ids(outputs) == {1}
    assert len(outputs[10]) == 1 and outputs[10].xyxy[0, 0] < 400
    assert len(ByteTrack().update(dets(boxes_at([(50, 50)])))) == 0


@pytest.mark.parametrize("min_hits", [1, 2, 3, 5])
def test_first_output_on_frame_min_hits(min_hits: int) -> None:
    centres = linear_track(10, (100, 100), (2, 2))
    outputs = run(ByteTrack(min_hits=min_hits), [dets(boxes_at(c)) for c in centres])
    counts = [len(o) for o in outputs]
    assert counts == [0] * (min_hits - 1) + [1] * (11 - min_hits)
    assert all_ids(outputs) == {1}


@pytest.mark.parametrize(
    ("start_a", "vel_a", "start_b", "vel_b"),
    [
        pytest.param((100, 100), (5, 3), (110, 280), (5, -3), id="diagonal-X"),
        pytest.param((100, 200), (6, 0), (460, 220), (-6, 0), id="head-on"),
        pytest.param((100, 100), (4, 4), (340, 100), (-4, 4), id="X-same-height"),
    ],
)
def test_crossing_objects_keep_their_ids(
    start_a: tuple[float, float],
    vel_a: tuple[float, float],
    start_b: tuple[float, float],
    vel_b: tuple[float, float],
) -> None:
    n = 60
    a, b = linear_track(n, start_a, vel_a), linear_track(n, start_b, vel_b)
    rng = np.random.default_rng(0)
    tracker = ByteTrack()
    ids_of: dict[str, set[int]] = {"a": set(), "b": set()}
    for t in range(n):
        order = rng.permutation(2)  # row order must not matter
        names = np.array(["a", "b"])[order]
        out = tracker.update(dets(boxes_at(np.stack([a[t], b[t]])[order])))
        if t == 0:
            continue
        assert len(out) == 2
        if np.array_equal(a[t], b[t]):
            continue  # identical boxes: which row gets which id is unobservable
        for name, track_id in zip(names, out.track_id, strict=True):
            ids_of[str(name)].add(int(track_id))
    assert sorted(ids_of["a"] | ids_of["b"]) == [1, 2]
    assert len(ids_of["a"]) == len(ids_of["b"]) == 1


@pytest.mark.parametrize(
    ("gap", "expected_ids"),
    [(10, {1}), (30, {1}), (31, {1, 2}), (40, {1, 2})],
)
def test_occlusion_gap_vs_lost_buffer(gap: int, expected_ids: set[int]) -> None:
    start, n = 20, 20 + gap + 10
    centres = linear_track(n, (100, 300), (2, 0.5))
    frames = [dets(boxes_at(c)) for c in centres]
    for t in range(start, start + gap):
        frames[t] = Detections.empty()
    tracker = ByteTrack(lost_buffer_frames=30)
    outputs = []
    for t, frame in enumerate(frames):
        outputs.append(tracker.update(frame))
        if t == start:
            assert (tracker.num_confirmed, tracker.num_lost) == (0, 1)
    assert all_ids(outputs) == expected_ids
    assert all(len(o) == 0 for o in outputs[start : start + gap])
    assert len(outputs[start + gap]) == (1 if expected_ids == {1} else 0)


def test_low_score_detection_keeps_existing_track_alive() -> None:
    centres = linear_track(40, (100, 100), (3, 1))
    scores = [0.9] * 10 + [0.3] * 30
    outputs = run(ByteTrack(), [dets(boxes_at(c), s) for c, s in zip(centres, scores, strict=True)])
    assert [len(o) for o in outputs[1:]] == [1] * 39
    assert all_ids(outputs) == {1}
    np.testing.assert_allclose(outputs[25].confidence, [0.3])


@pytest.mark.parametrize("score", [0.05, 0.3, 0.55])
def test_below_new_track_threshold_never_starts_a_track(score: float) -> None:
    tracker = ByteTrack()
    for c in linear_track(20, (100, 100), (3, 1)):
        assert len(tracker.update(dets(boxes_at(c), score))) == 0
        assert tracker.num_tentative == tracker.num_confirmed == 0


def test_low_score_detection_does_not_revive_lost_track() -> None:
    centres = linear_track(20, (100, 100), (3, 1))
    frames = [dets(boxes_at(c)) for c in centres[:10]]
    frames += [Detections.empty()] + [dets(boxes_at(c), 0.3) for c in centres[11:]]
    tracker = ByteTrack()
    outputs = run(tracker, frames)
    assert all(len(o) == 0 for o in outputs[10:])
    assert tracker.num_lost == 1


@pytest.mark.parametrize(("class_aware", "expected_ids"), [(True, {1, 2}), (False, {1})])
def test_class_aware_prevents_cross_class_matches(
    class_aware: bool, expected_ids: set[int]
) -> None:
    centres = linear_track(20, (100, 100), (2, 0))
    frames = [dets(boxes_at(c), classes=0 if t < 10 else 1) for t, c in enumerate(centres)]
    outputs = run(ByteTrack(class_aware=class_aware), frames)
    assert all_ids(outputs) == expected_ids
    assert len(outputs[10]) == (0 if class_aware else 1)
    assert outputs[15].class_id.tolist() == [1]


def test_class_aware_two_classes_same_place() -> None:
    box = boxes_at([(200, 200)])
    frames = [dets(np.concatenate([box, box]), classes=[0, 1])] * 10
    outputs = run(ByteTrack(), frames)
    assert all_ids(outputs) == {1, 2}
    for out in outputs[1:]:
        assert dict(zip(out.class_id.tolist(), out.track_id.tolist(), strict=True)) == {0: 1, 1: 2}


def grid_centres(n_objects: int, spacing: float = 100.0) -> F64:
    cols = int(np.ceil(np.sqrt(n_objects)))
    idx = np.arange(n_objects)
    return np.stack([100 + spacing * (idx % cols), 100 + 1.5 * spacing * (idx // cols)], axis=1)


def test_fifty_objects_on_a_grid_keep_fifty_ids() -> None:
    base = grid_centres(50)
    rng = np.random.default_rng(1)
    tracker = ByteTrack()
    id_of = np.zeros(50, np.int64)
    for t in range(40):
        order = rng.permutation(50)
        out = tracker.update(dets(boxes_at(base[order] + t * np.array([2.0, 1.0]))))
        if t == 0:
            assert len(out) == 0
            continue
        assert len(out) == 50
        if t == 1:
            id_of[order] = out.track_id
        np.testing.assert_array_equal(out.track_id, id_of[order])
    assert sorted(id_of.tolist()) == list(range(1, 51))
    assert (tracker.num_confirmed, tracker.num_tentative, tracker.num_lost) == (50, 0, 0)


def test_reset_clears_state_and_restarts_ids() -> None:
    tracker = ByteTrack()
    for c in linear_track(5, (100, 100), (2, 0)):
        tracker.update(dets(boxes_at(np.stack([c, c + 300]))))
    assert tracker.num_confirmed == 2
    tracker.reset()
    assert (tracker.num_confirmed, tracker.num_tentative, tracker.num_lost) == (0, 0, 0)
    assert tracker.frame_count == 0 and len(tracker.tracks) == 0
    outputs = run(tracker, [dets(boxes_at([(500, 500)]))] * 3)
    assert all_ids(outputs) == {1}


def test_empty_frames_and_output_fields() -> None:
    tracker = ByteTrack()
    assert len(tracker.update(Detections.empty())) == 0
    frame = Detections(
        boxes_at([(100, 100), (400, 100)]).astype(np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([2, 5], np.int32),
        frame_index=np.array([3, 3], np.int32),
    )
    tracker.update(frame)
    out = tracker.update(frame)
    np.testing.assert_array_equal(out.xyxy, frame.xyxy)
    np.testing.assert_array_equal(out.confidence, frame.confidence)
    np.testing.assert_array_equal(out.class_id, [2, 5])
    np.testing.assert_array_equal(out.frame_index, [3, 3])
    np.testing.assert_array_equal(out.track_id, [1, 2])
    assert out.track_id.dtype == np.int64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"high_threshold": 1.5},
        {"low_threshold": 0.7},  # above high_threshold
        {"match_threshold": -0.1},
        {"min_hits": 0},
        {"lost_buffer_frames": -1},
    ],
)
def test_invalid_parameters_raise_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        ByteTrack(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [10, 100, 500])
def test_many_tracks_moving_together_all_stay_confirmed(n: int) -> None:
    """Cost per frame is measured by benchmarks/tracker_cost.py; here only correctness."""
    base = grid_centres(n)
    tracker = ByteTrack()
    run(tracker, [dets(boxes_at(base + t * np.array([2.0, 1.0]))) for t in range(20)])
    assert tracker.num_confirmed == n
