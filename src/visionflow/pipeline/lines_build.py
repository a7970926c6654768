"""Build line counters and direction detectors from their config sections."""

from __future__ import annotations

from visionflow.analytics import DirectionDetector, LineCounter
from visionflow.config import DirectionConfig, LineConfig
from visionflow.geometry import Point, Polyline
from visionflow.pipeline.classes import resolve_classes
from visionflow.pipeline.stream_analytics import NamedLine


def build_line(lc: LineConfig, i: int, names: list[str], forget_frames: int) -> NamedLine:
    """The counter of ``analytics.lines[i]`` with its direction names and points."""
    classes = resolve_classes(lc.classes, names, f"analytics.lines[{i}].classes")
    points = lc.vertices
    counter = LineCounter(
        lc.name,
        Polyline(tuple(Point(*p) for p in points)),
        in_name=lc.in_name,
        out_name=lc.out_name,
        class_ids=classes,
        anchor=lc.anchor,
        min_frames=lc.min_frames,
        forget_frames=forget_frames,
        mode=lc.mode,
        direction=lc.direction,
        recount_window_frames=lc.recount_window_frames,
        recount_radius_px=lc.recount_radius_px,
    )
    return NamedLine(counter, lc.in_name, lc.out_name, points[0], points[-1], tuple(points))


def build_direction(
    dc: DirectionConfig, i: int, names: list[str], forget_frames: int
) -> DirectionDetector:
    """The detector of ``analytics.directions[i]``."""
    classes = resolve_classes(dc.classes, names, f"analytics.directions[{i}].classes")
    vectors = {label: (b[0] - a[0], b[1] - a[1]) for label, (a, b) in dc.directions.items()}
    return DirectionDetector(
        dc.name,
        vectors,
        class_ids=classes,
        anchor=dc.anchor,
        mode=dc.mode,
        max_angle_deg=dc.max_angle_deg,
        history_frames=dc.history_frames,
        min_displacement_px=dc.min_displacement_px,
        min_frames=dc.min_frames,
        forget_frames=forget_frames,
    )
