"""Config of zones (loitering, overcrowding), ROIs and polygon validation, and their wiring."""

from __future__ import annotations

import pytest

from visionflow.config import parse_config
from visionflow.errors import ConfigError
from visionflow.geometry import polygon_problem
from visionflow.pipeline.zones_build import build_roi_filter, build_zone, seconds_to_frames

BASE = """
sources: [{id: cam0, uri: a.mp4}, {id: cam1, uri: b.mp4}]
model: {cfg: a.cfg, weights: a.weights, names: a.names}
"""
TRIANGLE = "[[0, 0], [10, 0], [10, 10]]"
NAMES = ["person", "bicycle", "car"]


@pytest.mark.parametrize(
    ("analytics", "expected"),
    [
        (
            "{zones: [{name: z, polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]}]}",
            "analytics.zones[0].polygon: the polygon intersects itself: edge 0",
        ),
        (
            "{roi: [{name: r, polygon: [[0, 0], [5, 5], [10, 10]]}]}",
            "analytics.roi[0].polygon: the polygon has zero area",
        ),
        (
            "{zones: [{name: z, polygon: [[0, 0], [0, 0], [5, 9], [10, 10]]}]}",
            "analytics.zones[0].polygon: points 0 and 1 are the same point",
        ),
        (
            f"{{zones: [{{name: z, polygon: {TRIANGLE}, "
            "overcrowding: {threshold: 2, min_frames: 3, min_duration_s: 1}}]}",
            "analytics.zones[0].overcrowding: give one of min_frames (3) or min_duration_s",
        ),
        (
            f"{{zones: [{{name: z, polygon: {TRIANGLE}, overcrowding: {{threshold: 0}}}}]}}",
            "analytics.zones[0].overcrowding.threshold: Input should be greater than or equal to 1",
        ),
        (
            f"{{zones: [{{name: z, polygon: {TRIANGLE}, loitering_s: 0}}]}}",
            "analytics.zones[0].loitering_s: Input should be greater than 0",
        ),
        (
            f"{{roi: [{{name: r, polygon: {TRIANGLE}, streams: [cam9]}}]}}",
            "analytics.roi 'r' names unknown streams ['cam9']",
        ),
        (
            f"{{roi: [{{name: r, polygon: {TRIANGLE}, invers: true}}]}}",
            "analytics.roi[0].invers: unknown key; did you mean 'inverse'",
        ),
    ],
)
def test_errors_name_the_yaml_path(analytics: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + f"analytics: {analytics}\n")
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("vertices", "problem"),
    [
        ([(0, 0), (10, 0), (10, 10), (0, 10)], None),
        ([(0, 0), (60, 0), (60, 20), (20, 20), (20, 60), (0, 60)], None),  # concave L
        ([(0, 0), (10, 0)], "at least 3 points"),
        ([(0, 0), (10, 10), (0, 10), (0, 0)], "points 3 and 0 are the same point"),
        ([(0, 0), (10, 0), (10, 10), (5, 0), (0, 10)], "intersects itself"),  # touches edge 0
    ],
)
def test_polygon_problem(vertices: list[tuple[float, float]], problem: str | None) -> None:
    got = polygon_problem(vertices)
    assert got is None if problem is None else (got is not None and problem in got)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [(30.0, 25.0, 750), (1.0, 29.97, 30), (0.1, 10.0, 1), (0.0, 30.0, 1), (2.0, 0.5, 1)],
)
def test_seconds_to_frames(seconds: float, fps: float, frames: int) -> None:
    # At least `seconds` of video: ceil(seconds * fps), and never less than 1 frame.
    assert seconds_to_frames(seconds, fps) == frames


def test_zone_options_reach_the_counter() -> None:
    config = parse_config(
        BASE + "analytics: {zones: [{name: z, polygon: [[0, 0], [10, 0], [10, 10]], "
        "classes: [car], min_frames: 3, loitering_s: 2.5, "
        "overcrowding: {threshold: 4, min_duration_s: 0.5}}], forget_frames: 7}\n"
    )
    counter, vertices = build_zone(config.analytics.zones[0], 0, NAMES, 7, fps=10.0)
    assert counter.class_ids == frozenset({2})
    assert (counter.min_frames, counter.forget_frames) == (3, 7)
    assert counter.loitering_frames == 25  # 2.5 s at 10 fps
    assert counter.crowding is not None
    assert (counter.crowding.threshold, counter.crowding.min_frames) == (4, 5)  # 0.5 s
    assert (counter.recount_window_frames, counter.recount_radius_px) == (30, 50.0)  # defaults
    assert vertices.tolist() == [[0, 0], [10, 0], [10, 10]]


def test_zone_defaults_disable_alerts() -> None:
    config = parse_config(BASE + f"analytics: {{zones: [{{name: z, polygon: {TRIANGLE}}}]}}\n")
    counter, _ = build_zone(config.analytics.zones[0], 0, NAMES, 60, fps=25.0)
    assert counter.loitering_frames is None and counter.crowding is None
    crowd = parse_config(
        BASE + f"analytics: {{zones: [{{name: z, polygon: {TRIANGLE}, "
        "overcrowding: {threshold: 3}}]}\n"
    ).analytics.zones[0]
    assert crowd.overcrowding is not None and crowd.overcrowding.hysteresis_frames(25.0) == 5


def test_roi_entries_apply_to_their_streams() -> None:
    config = parse_config(
        BASE + f"analytics: {{roi: [{{name: a, polygon: {TRIANGLE}, streams: [cam0]}}, "
        f"{{name: b, polygon: {TRIANGLE}, inverse: true, classes: [person]}}]}}\n"
    )
    cam0, cam1 = (build_roi_filter(config, s, NAMES) for s in ("cam0", "cam1"))
    assert [r.name for r in cam0.rois] == ["a", "b"]
    assert [(r.name, r.inverse, r.class_ids) for r in cam1.rois] == [("b", True, frozenset({0}))]


def test_roi_unknown_class_is_a_config_error() -> None:
    config = parse_config(
        BASE + f"analytics: {{roi: [{{name: a, polygon: {TRIANGLE}, classes: [dragon]}}]}}\n"
    )
    with pytest.raises(ConfigError, match=r"analytics\.roi\[0\]\.classes\[0\]"):
        build_roi_filter(config, "cam0", NAMES)
