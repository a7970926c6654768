"""IoUTracker: greedy overlap matching with the ByteTrack interface."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.errors import ConfigError
from visionflow.tracking import IoUTracker, MultiStreamTracker
from visionflow.types import Detections


def frame(top_lefts: npt.ArrayLike, score: float = 0.9, classes: int = 0) -> Detections:
    tl = np.asarray(top_lefts, np.float32).reshape(-1, 2)
    n = len(tl)
    xyxy = np.concatenate([tl, tl + np.array([40, 80], np.float32)], axis=1)
    return Detections(xyxy, np.full(n, score), np.full(n, classes))


@pytest.mark.parametrize("min_hits", [1, 2, 4])
def test_slow_object_keeps_one_id_and_first_output_on_min_hits(min_hits: int) -> None:
    tracker = IoUTracker(min_hits=min_hits)
    outs = [tracker.update(frame([[100 + 3 * t, 100]])) for t in range(50)]
    assert [len(o) for o in outs] == [0] * (min_hits - 1) + [1] * (51 - min_hits)
    assert {int(i) for o in outs for i in o.track_id} == {1}


def test_blip_never_output_and_gap_beyond_max_age_gives_new_id() -> None:
    tracker = IoUTracker(max_age_frames=5)
    seq = [frame([[100, 100]])] * 5 + [frame([[100, 100], [600, 600]])]
    seq += [Detections.empty()] * 6 + [frame([[100, 100]])] * 3
    outs = [tracker.update(f) for f in seq]
    assert [o.track_id.tolist() for o in outs] == [[]] + [[1]] * 5 + [[]] * 7 + [[2]] * 2


@pytest.mark.parametrize(("class_aware", "ids"), [(True, {1, 2}), (False, {1})])
def test_class_aware(class_aware: bool, ids: set[int]) -> None:
    tracker = IoUTracker(class_aware=class_aware)
    seq = [frame([[100, 100]], classes=0)] * 3 + [frame([[100, 100]], classes=1)] * 3
    outs = [tracker.update(f) for f in seq]
    assert {int(i) for o in outs for i in o.track_id} == ids


def test_low_confidence_ignored_and_grid_of_fifty() -> None:
    tracker = IoUTracker()
    assert len(tracker.update(frame([[0, 0]], score=0.1))) == 0
    assert tracker.num_tentative == 0
    idx = np.arange(50)
    base = np.stack([100.0 * (idx % 10), 150.0 * (idx // 10)], axis=1)
    rng = np.random.default_rng(3)
    id_of = np.zeros(50, np.int64)
    for t in range(20):
        order = rng.permutation(50)
        out = tracker.update(frame(base[order] + 2 * t))
        if t == 1:
            id_of[order] = out.track_id
        if t >= 1:
            np.testing.assert_array_equal(out.track_id, id_of[order])
    assert sorted(id_of.tolist()) == list(range(1, 51))
    tracker.reset()
    assert tracker.num_confirmed == tracker.num_lost == tracker.num_tentative == 0


def test_works_under_multistream() -> None:
    tracker = MultiStreamTracker(IoUTracker)
    batch = Detections.concatenate([frame([[10, 10]]), frame([[10, 10]])])
    batch.frame_index = np.array([0, 1], np.int32)
    tracker.update(batch, ["a", "b"])
    np.testing.assert_array_equal(tracker.update(batch, ["a", "b"]).track_id, [1, 1])


def test_invalid_parameters() -> None:
    with pytest.raises(ConfigError, match="iou_threshold"):
        IoUTracker(iou_threshold=2.0)
