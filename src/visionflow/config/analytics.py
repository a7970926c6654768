"""Config models of ``analytics:`` — lines, zones, ROI, directions (nvdsanalytics' meaning)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from visionflow.config._base import XY, Anchor, ClassRef
from visionflow.config._base import ConfigModel as _Model
from visionflow.geometry import polygon_problem

LineMode = Literal["loose", "balanced", "strict"]
"""How closely a crossing's movement must follow the line's reference direction
(DeepStream nvdsanalytics' ``mode``); see :mod:`visionflow.analytics.lines`."""


class LineConfig(_Model):
    """A counting line: a segment (``start``/``end``) or a polyline (``points``).

    'in' is crossing from the left to the right side of the line as drawn
    (start → end, y down). Exactly one of ``start``+``end`` or ``points``.
    """

    name: Annotated[str, Field(min_length=1)]
    start: XY | None = None
    end: XY | None = None
    points: Annotated[list[XY], Field(min_length=2)] | None = None
    streams: list[str] | None = None
    in_name: str = "in"
    out_name: str = "out"
    classes: list[ClassRef] | None = None
    anchor: Anchor = "bottom_center"
    min_frames: Annotated[int, Field(ge=1)] = 2
    mode: LineMode = "loose"
    direction: XY | None = None
    recount_window_frames: Annotated[int, Field(ge=0)] = 30
    recount_radius_px: Annotated[float, Field(gt=0.0)] = 50.0

    @model_validator(mode="after")
    def _one_geometry(self) -> LineConfig:
        has_ends = self.start is not None or self.end is not None
        if has_ends == (self.points is not None):
            raise ValueError(
                "a line needs exactly one of 'start' + 'end' (a segment) or 'points' "
                "(a polyline), got " + ("both" if has_ends else "neither")
            )
        if has_ends and (self.start is None or self.end is None):
            raise ValueError("a line given by 'start' also needs 'end' (and vice versa)")
        pts = self.vertices
        repeated = [i for i in range(1, len(pts)) if pts[i] == pts[i - 1]]
        if repeated and self.points is None:
            raise ValueError(f"line start and end are the same point {list(pts[0])}")
        if repeated:
            raise ValueError(
                f"line points {repeated[0] - 1} and {repeated[0]} are the same point "
                f"{list(pts[repeated[0]])}; consecutive points must differ"
            )
        if self.direction is not None:
            dx, dy = self.direction
            if dx == 0 and dy == 0:
                raise ValueError("line direction must be a non-zero vector [dx, dy], got [0, 0]")
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            if len(pts) == 2 and (x1 - x0) * dy - (y1 - y0) * dx == 0:
                raise ValueError(
                    f"line direction {list(self.direction)} is parallel to the line; "
                    "it must point across it, towards the side counted crossings go to"
                )
        return self

    @property
    def vertices(self) -> list[XY]:
        """The line's points in order: ``[start, end]`` or ``points``."""
        if self.points is not None:
            return list(self.points)
        assert self.start is not None and self.end is not None  # the validator enforces it
        return [self.start, self.end]


class DirectionConfig(_Model):
    """Direction detection: each track's heading matched against named directions.

    ``directions`` maps a label to ``[[x1, y1], [x2, y2]]`` (DeepStream's
    ``direction-<label>=x1;y1;x2;y2``: from the first point towards the second).
    """

    name: Annotated[str, Field(min_length=1)]
    directions: Annotated[dict[str, tuple[XY, XY]], Field(min_length=1)]
    streams: list[str] | None = None
    classes: list[ClassRef] | None = None
    anchor: Anchor = "bottom_center"
    mode: LineMode = "balanced"
    max_angle_deg: Annotated[float, Field(gt=0.0, le=180.0)] | None = None
    history_frames: Annotated[int, Field(ge=1)] = 10
    min_displacement_px: Annotated[float, Field(ge=0.0)] = 10.0
    min_frames: Annotated[int, Field(ge=1)] = 3

    @field_validator("directions")
    @classmethod
    def _non_zero(cls, directions: dict[str, tuple[XY, XY]]) -> dict[str, tuple[XY, XY]]:
        for label, (a, b) in directions.items():
            if not label:
                raise ValueError("direction labels must be non-empty")
            if a == b:
                raise ValueError(
                    f"direction {label!r} has the same start and end point {list(a)}; "
                    "give two distinct points (from → towards)"
                )
        return directions


def _check_polygon(polygon: list[XY]) -> list[XY]:
    problem = polygon_problem(polygon)
    if problem is not None:
        raise ValueError(problem)  # the loader appends the value it got
    return polygon


class OvercrowdingConfig(_Model):
    """Overcrowding alert of a zone (DeepStream's ``[overcrowding-stream-N]``).

    The hysteresis is ``min_frames`` or ``min_duration_s`` (DeepStream's
    ``time-threshold``, converted with the stream's fps), not both; 5 frames
    when neither is given.
    """

    threshold: Annotated[int, Field(ge=1)]
    min_frames: Annotated[int, Field(ge=1)] | None = None
    min_duration_s: Annotated[float, Field(ge=0.0)] | None = None

    @model_validator(mode="after")
    def _one_hysteresis(self) -> OvercrowdingConfig:
        if self.min_frames is not None and self.min_duration_s is not None:
            raise ValueError(
                f"give one of min_frames ({self.min_frames}) or min_duration_s "
                f"({self.min_duration_s}), not both"
            )
        return self

    def hysteresis_frames(self, fps: float) -> int:
        """Frames the condition must hold (or not) before the alert starts (ends)."""
        if self.min_duration_s is not None:
            return max(1, math.ceil(self.min_duration_s * fps - 1e-9))
        return self.min_frames if self.min_frames is not None else 5


class ZoneConfig(_Model):
    """A polygon zone: occupancy, enter/exit, dwell, loitering and overcrowding."""

    name: Annotated[str, Field(min_length=1)]
    polygon: Annotated[list[XY], Field(min_length=3)]
    streams: list[str] | None = None
    classes: list[ClassRef] | None = None
    anchor: Anchor = "bottom_center"
    min_frames: Annotated[int, Field(ge=1)] = 2
    loitering_s: Annotated[float, Field(gt=0.0)] | None = None
    overcrowding: OvercrowdingConfig | None = None
    recount_window_frames: Annotated[int, Field(ge=0)] = 30
    recount_radius_px: Annotated[float, Field(gt=0.0)] = 50.0

    _valid_polygon = field_validator("polygon")(_check_polygon)


class RoiConfig(_Model):
    """A region of interest (DeepStream's ``[roi-filtering-stream-N]``): filters tracks."""

    name: Annotated[str, Field(min_length=1)]
    polygon: Annotated[list[XY], Field(min_length=3)]
    inverse: bool = False
    streams: list[str] | None = None
    classes: list[ClassRef] | None = None
    anchor: Anchor = "bottom_center"

    _valid_polygon = field_validator("polygon")(_check_polygon)


class AnalyticsConfig(_Model):
    """Lines and zones; each applies to the listed streams (all when omitted)."""

    roi: list[RoiConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    zones: list[ZoneConfig] = Field(default_factory=list)
    directions: list[DirectionConfig] = Field(default_factory=list)
    forget_frames: Annotated[int, Field(ge=1)] = 60
