"""``tracker.kind`` in the YAML selects and parametrises the tracker."""

from __future__ import annotations

import pytest

from visionflow.config import parse_config
from visionflow.config.schema import TrackerConfig
from visionflow.errors import ConfigError
from visionflow.tracking import SORT, BatchedByteTrack, ByteTrack, IoUTracker, MultiStreamTracker
from visionflow.tracking.factory import TRACKER_KINDS, build_multistream_tracker, build_tracker

BASE = """
sources: [{id: cam0, uri: data/vtest.mp4}]
model: {cfg: a.cfg, weights: a.weights, names: a.names}
"""


def tracker_from_yaml(tracker_yaml: str) -> ByteTrack | SORT | IoUTracker:
    return build_tracker(parse_config(BASE + "tracker: " + tracker_yaml).tracker)


def test_default_is_bytetrack_with_the_config_defaults() -> None:
    tracker = tracker_from_yaml("{}")
    assert isinstance(tracker, ByteTrack)
    assert (tracker.high_threshold, tracker.low_threshold, tracker.new_track_threshold) == (
        0.5,
        0.1,
        0.6,
    )
    assert (tracker.lost_buffer_frames, tracker.min_hits, tracker.class_aware) == (30, 2, True)


def test_sort_takes_the_shared_options() -> None:
    tracker = tracker_from_yaml(
        "{kind: sort, iou_threshold: 0.4, high_threshold: 0.45, lost_buffer_frames: 3,"
        " min_hits: 4, class_aware: false}"
    )
    assert isinstance(tracker, SORT)
    assert (tracker.iou_threshold, tracker.confidence_threshold) == (0.4, 0.45)
    assert (tracker.max_age_frames, tracker.min_hits, tracker.class_aware) == (3, 4, False)


def test_iou_takes_the_shared_options() -> None:
    tracker = tracker_from_yaml(
        "{kind: iou, iou_threshold: 0.5, high_threshold: 0.35, lost_buffer_frames: 7, min_hits: 1}"
    )
    assert isinstance(tracker, IoUTracker)
    assert (tracker.iou_threshold, tracker.confidence_threshold) == (0.5, 0.35)
    assert (tracker.max_age_frames, tracker.min_hits) == (7, 1)


@pytest.mark.parametrize("kind", TRACKER_KINDS)
def test_each_kind_builds_fresh_trackers(kind: str) -> None:
    config = TrackerConfig(kind=kind)  # type: ignore[arg-type]
    assert build_tracker(config) is not build_tracker(config)


def test_unknown_kind_is_a_config_error_with_the_yaml_path() -> None:
    with pytest.raises(ConfigError, match=r"tracker\.kind") as info:
        parse_config(BASE + "tracker: {kind: deepsort}")
    assert "bytetrack" in str(info.value) and "sort" in str(info.value)


@pytest.mark.parametrize("bad", ["iou_threshold: 0", "iou_threshold: 1.5"])
def test_iou_threshold_is_validated(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"tracker\.iou_threshold"):
        parse_config(BASE + "tracker: {" + bad + "}")


def test_build_tracker_rejects_a_kind_the_schema_did_not_check() -> None:
    config = TrackerConfig.model_construct(kind="deepsort")  # bypasses validation
    with pytest.raises(ConfigError, match="deepsort"):
        build_tracker(config)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("bytetrack", BatchedByteTrack), ("sort", MultiStreamTracker), ("iou", MultiStreamTracker)],
)
def test_pipeline_tracker_per_kind(kind: str, expected: type) -> None:
    config = TrackerConfig(kind=kind, lost_buffer_frames=7)  # type: ignore[arg-type]
    tracker = build_multistream_tracker(config)
    assert isinstance(tracker, expected)
    if isinstance(tracker, BatchedByteTrack):  # the YAML's options reach the batched tracker
        assert tracker.lost_buffer_frames == 7
