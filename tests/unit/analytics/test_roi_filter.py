"""RoiFilter and the hub's per-stream ROI filtering of a multi-stream batch."""

from __future__ import annotations

import numpy as np
import pytest
from _analytics_helpers import boxes_at

from visionflow.analytics import Roi, RoiFilter
from visionflow.geometry import Point, Polygon
from visionflow.pipeline.stream_analytics import AnalyticsHub, StreamAnalytics
from visionflow.types import Detections, Frame, FrameBatch

SQUARE = Polygon((Point(0, 0), Point(100, 0), Point(100, 100), Point(0, 100)))
IMAGE = np.zeros((2, 2, 3), np.uint8)


@pytest.mark.parametrize(
    ("rois", "expected"),
    [
        # points: (50,50) inside, (150,50) outside, (100,50) on the right edge
        ((), [True, True, True]),
        ((Roi("r", SQUARE),), [True, False, False]),  # right edge: outside (half-open)
        ((Roi("r", SQUARE, inverse=True),), [False, True, True]),
        ((Roi("r", SQUARE, class_ids=frozenset({7})),), [True, True, True]),  # no class 7
    ],
    ids=["no_roi", "keep_inside", "inverse_keeps_outside", "other_class_untouched"],
)
def test_keep_mask(rois: tuple[Roi, ...], expected: list[bool]) -> None:
    tracks = boxes_at([(50, 50), (150, 50), (100, 50)], [1, 2, 3], [0, 0, 0])
    assert RoiFilter(rois).keep_mask(tracks).tolist() == expected


def test_anchor_is_configurable() -> None:
    # Box 40..60 x 80..100 (bottom-centre (50, 100)); an ROI covering y < 95 keeps
    # it by its centre (50, 90) but not by its bottom-centre.
    tracks = boxes_at([(50, 100)], [1], [0])
    band = Polygon((Point(0, 0), Point(100, 0), Point(100, 95), Point(0, 95)))
    assert RoiFilter([Roi("r", band, anchor="center")]).keep_mask(tracks).tolist() == [True]
    assert RoiFilter([Roi("r", band)]).keep_mask(tracks).tolist() == [False]


def test_bad_anchor_is_rejected_early() -> None:
    with pytest.raises(ValueError, match="anchor='middle'"):
        RoiFilter([Roi("r", SQUARE, anchor="middle")])


def test_filter_returns_the_same_object_when_nothing_is_dropped() -> None:
    tracks = boxes_at([(50, 50)], [1], [0])
    assert RoiFilter([Roi("r", SQUARE)]).filter(tracks) is tracks
    assert len(RoiFilter([Roi("r", SQUARE)]).filter(Detections.empty())) == 0


def test_hub_filters_each_frame_with_its_own_streams_rois() -> None:
    # Slot 0 is stream a (ROI = square), slot 1 stream b (no ROI), slot 2 stream a.
    streams = {
        "a": StreamAnalytics("a", [], [], ["person"], 10.0, 0.0, roi=RoiFilter([Roi("r", SQUARE)])),
        "b": StreamAnalytics("b", [], [], ["person"], 10.0, 0.0),
    }
    hub = AnalyticsHub(streams)
    batch = FrameBatch(tuple(Frame(s, 0, 0.0, 0, IMAGE) for s in ("a", "b", "a")))
    points = [(50, 50), (150, 50), (50, 50), (150, 50), (150, 50), (50, 50)]
    tracks = boxes_at(points, [1, 2, 1, 2, 3, 4], [0] * 6)
    tracks.frame_index = np.array([0, 0, 1, 1, 2, 2], np.int32)
    kept = hub.roi_filter(batch, tracks)
    # a drops (150,50) in slots 0 and 2; b keeps both of slot 1.
    assert kept.frame_index.tolist() == [0, 1, 1, 2]
    assert kept.track_id.tolist() == [1, 1, 2, 4]


def test_hub_without_rois_returns_the_tracks_unchanged() -> None:
    hub = AnalyticsHub({"b": StreamAnalytics("b", [], [], ["person"], 10.0, 0.0)})
    tracks = boxes_at([(150, 50)], [1], [0])
    assert hub.roi_filter(FrameBatch((Frame("b", 0, 0.0, 0, IMAGE),)), tracks) is tracks


def test_rois_are_outlined_in_the_overlay() -> None:
    rois = [Roi("door", SQUARE), Roi("desk", SQUARE, inverse=True)]
    analytics = StreamAnalytics("a", [], [], ["person"], 10.0, 0.0, roi=RoiFilter(rois))
    _, zones = analytics.overlays()
    assert [(z.name, z.text) for z in zones] == [("door", "ROI door"), ("desk", "ROI desk (out)")]
    assert zones[0].vertices.tolist() == [[0, 0], [100, 0], [100, 100], [0, 100]]
