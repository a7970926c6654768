"""MultiStreamTracker: one independent tracker per stream, fed from batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from visionflow.tracking import ByteTrack, MultiStreamTracker
from visionflow.types import Detections


def batch(per_slot: Sequence[Sequence[tuple[float, float]]]) -> Detections:
    """Detections of a batch: ``per_slot[i]`` lists box top-left corners (40x80 px) of slot i."""
    rows = [(x, y, x + 40, y + 80, slot) for slot, tls in enumerate(per_slot) for x, y in tls]
    arr = np.asarray(rows, np.float32).reshape(-1, 5)
    n = len(arr)
    return Detections(
        arr[:, :4], np.full(n, 0.9, np.float32), np.zeros(n, np.int32), arr[:, 4].astype(np.int32)
    )


def test_same_boxes_in_two_streams_get_independent_ids() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    outputs = [
        tracker.update(batch([[(10 + 2 * t, 20)], [(10 + 2 * t, 20)]]), ["cam0", "cam1"])
        for t in range(10)
    ]
    assert len(outputs[0]) == 0
    for out in outputs[1:]:
        np.testing.assert_array_equal(out.frame_index, [0, 1])
        np.testing.assert_array_equal(out.track_id, [1, 1])
    assert tracker.stream_ids == ("cam0", "cam1")


@pytest.mark.parametrize("slot_order", [["a", "b"], ["b", "a"]])
def test_streams_do_not_disturb_each_other(slot_order: list[str]) -> None:
    """Stream b's second object gets id 2 in b, while a's single track stays id 1."""
    tracker = MultiStreamTracker(ByteTrack)
    boxes = {"a": [(100.0, 100.0)], "b": [(100.0, 100.0), (400.0, 100.0)]}
    for _ in range(5):
        out = tracker.update(batch([boxes[s] for s in slot_order]), slot_order)
    ids = {s: sorted(out.for_frame(i).track_id.tolist()) for i, s in enumerate(slot_order)}
    assert ids == {"a": [1], "b": [1, 2]}


def test_stream_missing_from_batch_keeps_its_tracks() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    for _ in range(3):
        tracker.update(batch([[(50, 50)], [(50, 50)]]), ["a", "b"])
    for _ in range(5):
        tracker.update(batch([[(50, 50)]]), ["a"])
    out = tracker.update(batch([[(50, 50)], [(50, 50)]]), ["a", "b"])
    np.testing.assert_array_equal(out.track_id, [1, 1])


def test_one_stream_twice_in_a_batch_is_processed_in_slot_order() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    out = tracker.update(batch([[(10, 10)], [(12, 10)], [(14, 10)]]), ["a", "a", "a"])
    np.testing.assert_array_equal(out.frame_index, [1, 2])
    np.testing.assert_array_equal(out.track_id, [1, 1])


def test_rows_in_any_order_are_grouped_by_slot() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    both = batch([[(10, 10)], [(300, 10)]])
    shuffled = both[np.array([1, 0])]
    tracker.update(shuffled, ["a", "b"])
    out = tracker.update(shuffled, ["a", "b"])
    np.testing.assert_array_equal(out.frame_index, [0, 1])
    np.testing.assert_array_equal(out.xyxy[:, 0], [10, 300])


def test_remove_and_reset_restart_ids() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    for t in range(3):
        tracker.update(batch([[(10, 10)], [(10 + 300 * t, 10)]]), ["a", "b"])
    tracker.remove("b")
    tracker.remove("never-seen")
    assert tracker.stream_ids == ("a",)
    out = tracker.update(batch([[(10, 10)], [(10, 10)]]), ["a", "b"])
    np.testing.assert_array_equal(out.track_id, [1])
    tracker.reset()
    assert len(tracker.stream_ids) == 0
    for _ in range(2):
        out = tracker.update(batch([[(10, 10)]]), ["b"])
    np.testing.assert_array_equal(out.track_id, [1])


def test_empty_batch() -> None:
    tracker = MultiStreamTracker(ByteTrack)
    assert len(tracker.update(Detections.empty(), ["a", "b"])) == 0
    assert len(tracker.update(Detections.empty(), [])) == 0
    assert tracker.stream_ids == ("a", "b")


@pytest.mark.parametrize("stream_ids", [[], ["only-one"]])
def test_slot_without_stream_id_raises(stream_ids: list[str]) -> None:
    with pytest.raises(ValueError, match="frame_index spans"):
        MultiStreamTracker(ByteTrack).update(batch([[(0, 0)], [(50, 50)]]), stream_ids)
