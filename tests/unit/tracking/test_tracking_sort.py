"""SORT on hand-made trajectories with expectations derived from its rules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.errors import ConfigError
from visionflow.tracking import SORT
from visionflow.types import Detections

W, H = 40.0, 80.0


def frame(centres: npt.ArrayLike, score: float = 0.9, classes: int = 0) -> Detections:
    """40 x 80 px boxes centred on ``centres [N, 2]``."""
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    half = np.array([W / 2, H / 2])
    xyxy = np.concatenate([c - half, c + half], axis=1)
    n = len(c)
    return Detections(xyxy, np.full(n, score), np.full(n, classes))


def ids(outputs: list[Detections]) -> list[list[int]]:
    return [o.track_id.tolist() for o in outputs]


@pytest.mark.parametrize("min_hits", [1, 3, 5])
def test_first_output_on_frame_min_hits_and_one_id(min_hits: int) -> None:
    tracker = SORT(min_hits=min_hits)
    outs = [tracker.update(frame([(100 + 4 * t, 200 + 2 * t)])) for t in range(40)]
    assert ids(outs) == [[]] * (min_hits - 1) + [[1]] * (41 - min_hits)


@pytest.mark.parametrize(
    ("max_age", "gap", "same_id"),
    [(1, 1, True), (1, 2, False), (5, 5, True), (5, 6, False)],
)
def test_gap_up_to_max_age_keeps_the_id(max_age: int, gap: int, same_id: bool) -> None:
    """A still object, missed ``gap`` frames: kept iff ``gap <= max_age_frames``.

    On the last missed frame the track has ``gap`` frames without a match and
    is deleted when that exceeds ``max_age_frames``; a re-found confirmed track
    is output at once, a new one after ``min_hits`` (3) frames as id 2.
    """
    seq = [frame([(300, 300)])] * 10 + [Detections.empty()] * gap + [frame([(300, 300)])] * 4
    outs = list(map(SORT(max_age_frames=max_age).update, seq))
    back = ids(outs)[10 + gap :]
    assert back == ([[1]] * 4 if same_id else [[], [], [2], [2]])


@pytest.mark.parametrize(("jump_px", "matched"), [(20.0, True), (24.0, False)])
def test_iou_threshold_decides_a_jump(jump_px: float, matched: bool) -> None:
    """A still 40 px wide box moving sideways by d: IoU = (40 - d) / (40 + d).

    d = 20 gives 1/3 >= 0.3 (matched); d = 24 gives 0.25 < 0.3 (a new track,
    not output before its third frame). Still measurements keep the Kalman
    velocity at exactly 0, so the prediction is the last box.
    """
    tracker = SORT(iou_threshold=0.3)
    seq = [frame([(300, 300)])] * 5 + [frame([(300 + jump_px, 300)])] * 3
    outs = ids([tracker.update(f) for f in seq])
    assert outs[5:] == ([[1]] * 3 if matched else [[], [], [2]])


def test_detections_below_confidence_threshold_are_ignored() -> None:
    tracker = SORT(confidence_threshold=0.3)
    outs = [tracker.update(frame([(100 + t, 100)], score=0.29)) for t in range(10)]
    assert ids(outs) == [[]] * 10
    assert tracker.num_tentative == tracker.num_confirmed == 0


@pytest.mark.parametrize(("class_aware", "expected"), [(True, [[], [], [2]]), (False, [[1]] * 3)])
def test_class_aware(class_aware: bool, expected: list[list[int]]) -> None:
    tracker = SORT(class_aware=class_aware)
    seq = [frame([(200, 200)], classes=0)] * 5 + [frame([(200, 200)], classes=1)] * 3
    assert ids([tracker.update(f) for f in seq])[5:] == expected


def test_head_on_crossing_keeps_ids_whatever_the_row_order() -> None:
    """Two objects pass each other (boxes overlap for ~10 frames); the Kalman
    prediction makes the right pairing the optimal one throughout."""
    rng = np.random.default_rng(0)
    tracker = SORT()
    id_of = {}
    for t in range(60):
        a, b = (100 + 6 * t, 300), (460 - 6 * t, 330)
        order = rng.permutation(2)
        out = tracker.update(frame(np.array([a, b])[order]))
        if t < 2:
            assert len(out) == 0
            continue
        names = np.array(["a", "b"])[order]
        got = dict(zip(names.tolist(), out.track_id.tolist(), strict=True))
        id_of = id_of or got
        assert got == id_of
    assert sorted(id_of.values()) == [1, 2]


def test_output_rows_keep_input_order_and_fields() -> None:
    tracker = SORT(min_hits=1)
    f = Detections(
        np.array([[400, 100, 440, 180], [100, 100, 140, 180]], np.float32),
        np.array([0.8, 0.9], np.float32),
        np.array([5, 2], np.int32),
        frame_index=np.array([3, 3], np.int32),
    )
    out = tracker.update(f)
    np.testing.assert_array_equal(out.xyxy, f.xyxy)
    np.testing.assert_array_equal(out.class_id, [5, 2])
    np.testing.assert_array_equal(out.frame_index, [3, 3])
    np.testing.assert_array_equal(out.track_id, [1, 2])


def test_reset_restarts_ids() -> None:
    tracker = SORT(min_hits=1)
    tracker.update(frame([(100, 100), (400, 100)]))
    tracker.reset()
    assert len(tracker.tracks) == 0
    assert tracker.update(frame([(700, 300)])).track_id.tolist() == [1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iou_threshold": 1.5},
        {"max_age_frames": -1},
        {"min_hits": 0},
        {"confidence_threshold": -0.1},
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        SORT(**kwargs)  # type: ignore[arg-type]
