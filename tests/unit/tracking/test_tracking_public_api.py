"""Pin the public surface of visionflow.tracking."""

from __future__ import annotations

from visionflow import tracking


def test_all_is_pinned_and_sorted() -> None:
    assert tracking.__all__ == [
        "SORT",
        "BatchedByteTrack",
        "ByteTrack",
        "IoUTracker",
        "KalmanFilterXYAH",
        "MultiStreamTracker",
        "TrackState",
        "TrackTable",
        "Tracker",
        "fuse_score",
        "greedy_assignment",
        "iou_distance",
        "iou_matrix",
        "linear_assignment",
        "mask_classes",
        "xyah_to_xyxy",
        "xyxy_to_xyah",
    ]
    for name in tracking.__all__:
        assert getattr(tracking, name) is not None
