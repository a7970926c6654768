"""Lines and direction detectors built from config, run through StreamAnalytics."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.config import DirectionConfig, LineConfig
from visionflow.events import DirectionEvent, LineCrossedEvent, parse_event
from visionflow.pipeline.lines_build import build_direction, build_line
from visionflow.pipeline.stream_analytics import StreamAnalytics
from visionflow.types import Detections, Frame

IMAGE = np.zeros((2, 2, 3), np.uint8)
NAMES = ["person", "bicycle", "car"]


def boxes(points: list[tuple[float, float]], ids: list[int], cls: int = 0) -> Detections:
    xy = np.asarray(points, np.float32).reshape(-1, 2)
    return Detections(
        xyxy=np.stack([xy[:, 0] - 5, xy[:, 1] - 20, xy[:, 0] + 5, xy[:, 1]], axis=1),
        confidence=np.full(len(xy), 0.8, np.float32),
        class_id=np.full(len(xy), cls, np.int32),
        track_id=np.asarray(ids, np.int64),
    )


def run(analytics: StreamAnalytics, positions: list[tuple[float, float]]) -> list[object]:
    events: list[object] = []
    for n, p in enumerate(positions):
        events += analytics.update(Frame("cam", n, n / 10, 0, IMAGE), boxes([p], [7]))
    return [e for e in events if getattr(e, "type", "") != "counts"]


def test_polyline_line_from_config_counts_and_names_direction() -> None:
    # V-shaped polyline; moving down through its vertex (100,150) is "enter" once.
    lc = LineConfig(
        name="door",
        points=[(0, 100), (100, 150), (200, 100)],
        in_name="enter",
        out_name="leave",
        classes=["person"],
    )
    line = build_line(lc, 0, NAMES, 60)
    analytics = StreamAnalytics("cam", [line], [], NAMES, 10.0, 0.0)
    events = run(analytics, [(100, 100), (100, 140), (100, 160), (100, 180)])
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, LineCrossedEvent)
    assert (event.line, event.direction, event.track_id, event.frame_number) == (
        "door",
        "enter",
        7,
        3,
    )
    assert analytics.line_counts() == {"door": {"enter": {"person": 1}, "leave": {}}}
    (overlay,), _ = analytics.overlays()
    assert overlay.points == ((0, 100), (100, 150), (200, 100))
    assert overlay.text == "door: enter 1 / leave 0"


def test_segment_config_direction_and_mode_reach_the_counter() -> None:
    lc = LineConfig(name="gate", start=(0, 100), end=(200, 100), direction=(0, -1), mode="strict")
    line = build_line(lc, 0, NAMES, 60)
    assert line.counter.mode == "strict"
    analytics = StreamAnalytics("cam", [line], [], NAMES, 10.0, 0.0)
    # Down (against the direction) then up (along it): only the "out" crossing counts.
    events = run(analytics, [(100, 50), (100, 80), (100, 120), (100, 140), (100, 80), (100, 50)])
    assert [(e.direction, e.frame_number) for e in events] == [("out", 5)]  # type: ignore[attr-defined]


def test_direction_detector_from_config_emits_direction_events() -> None:
    dc = DirectionConfig(
        name="compass",
        directions={"East": ((0, 0), (10, 0)), "South": ((5, 5), (5, 50))},
        min_frames=3,
    )
    detector = build_direction(dc, 0, NAMES, 60)
    assert detector.labels == ("East", "South")
    analytics = StreamAnalytics("cam", [], [], NAMES, 10.0, 0.0, directions=[detector])
    # 5 px/frame east: 10 px at f2, established at f4 (see test_direction_cases).
    events = run(analytics, [(5.0 * i, 50.0) for i in range(8)])
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, DirectionEvent)
    assert (event.detector, event.direction, event.previous_direction) == ("compass", "East", None)
    assert (event.frame_number, event.track_id, event.class_name) == (4, 7, "person")
    assert event.heading_deg == 0.0
    assert event.bbox_xyxy == [15.0, 30.0, 25.0, 50.0]
    assert parse_event(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": (0, 0)}, "also needs 'end'"),
        ({}, "neither"),
        ({"start": (0, 0), "end": (1, 1), "points": [(0, 0), (2, 2)]}, "both"),
        ({"points": [(0, 0)]}, "at least 2"),
        ({"points": [(0, 0), (5, 5), (5, 5)]}, "points 1 and 2 are the same"),
        ({"start": (0, 0), "end": (0, 0)}, "same point"),
        ({"start": (0, 0), "end": (10, 0), "direction": (0, 0)}, "non-zero"),
        ({"start": (0, 0), "end": (10, 0), "direction": (3, 0)}, "parallel"),
        ({"start": (0, 0), "end": (10, 0), "mode": "tight"}, "mode"),
        ({"start": (0, 0), "end": (10, 0), "recount_window_frames": -1}, "recount_window_frames"),
    ],
)
def test_line_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LineConfig(name="l", **kwargs)  # type: ignore[arg-type]


def test_line_config_vertices_of_both_forms() -> None:
    assert LineConfig(name="l", start=(1, 2), end=(3, 4)).vertices == [(1, 2), (3, 4)]
    poly = LineConfig(name="l", points=[(1, 2), (3, 4), (5, 0)])
    assert poly.vertices == [(1, 2), (3, 4), (5, 0)]
    assert (poly.mode, poly.direction, poly.recount_window_frames) == ("loose", None, 30)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"directions": {}}, "at least 1"),
        ({"directions": {"N": ((1, 1), (1, 1))}}, "same start and end"),
        ({"directions": {"N": ((0, 0), (0, -1))}, "max_angle_deg": 0}, "greater than 0"),
        ({"directions": {"N": ((0, 0), (0, -1))}, "history_frames": 0}, "greater than or equal"),
    ],
)
def test_direction_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DirectionConfig(name="d", **kwargs)  # type: ignore[arg-type]
