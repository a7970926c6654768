"""The configuration schema: one YAML file, validated by pydantic.

Every model is frozen and rejects unknown keys, so a typo (``confidense:``)
is an error with its YAML path instead of a silently ignored option. The
commented ``default.yaml`` next to this module documents every option.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from visionflow.config.publishers import (
    BrokerPublisherConfig,
    EventType,
    JsonlPublisherConfig,
    KafkaPublisherConfig,
    MqttPublisherConfig,
    PayloadFormat,
    PublisherConfig,
    RedisPublisherConfig,
    SpoolConfig,
    TlsConfig,
    WebhookPublisherConfig,
)
from visionflow.geometry import polygon_problem

CONFIG_VERSION: Literal[1] = 1

XY = tuple[float, float]
Anchor = Literal[
    "center", "bottom_center", "top_center", "bottom_left", "bottom_right", "top_left", "top_right"
]
ClassRef = int | str
"""A class given by index into the model's names (``0``) or by name (``"person"``)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ReconnectConfig(_Model):
    """Backoff of a live source: ``min(max_s, initial_s * multiplier**k)`` with jitter."""

    initial_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 0.5
    max_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 10.0
    multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    jitter: Literal["full", "equal", "none"] = "equal"
    max_attempts: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= initial_s ({self.initial_s})")
        return self


class SourceConfig(_Model):
    """One input stream; the URI picks the kind (see ``sources.uri`` in default.yaml)."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    uri: Annotated[str, Field(min_length=1)]
    loop: bool = False
    realtime: bool = False
    fps: Annotated[float, Field(gt=0.0, le=1000.0)] | None = None
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    latency_ms: Annotated[int, Field(ge=0, le=60000)] | None = None
    open_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0
    stall_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 5.0
    reconnect: ReconnectConfig = ReconnectConfig()
    video_size: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$")] | None = None
    input_format: str | None = None

    @model_validator(mode="after")
    def _options_fit_kind(self) -> SourceConfig:
        from visionflow.sources.uri import classify_uri, misplaced_options

        problems = misplaced_options(classify_uri(self.uri), set(self.model_fields_set))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def kind(self) -> str:
        """``file``, ``images``, ``rtsp``, ``http``, ``v4l2`` or ``synthetic``."""
        from visionflow.sources.uri import classify_uri

        return classify_uri(self.uri)


class ModelConfig(_Model):
    """The detector's model files and runtime."""

    kind: Literal["darknet", "onnx"] = "darknet"
    cfg: Path | None = None
    weights: Path
    names: Path
    input_size: Annotated[int, Field(ge=32, le=4096, multiple_of=32)] | tuple[int, int] = 416
    backend: Literal["onnxruntime"] = "onnxruntime"
    threads: Annotated[int, Field(ge=0, le=256)] = 0
    cache_dir: Path | None = None

    @model_validator(mode="after")
    def _darknet_needs_cfg(self) -> ModelConfig:
        if self.kind == "darknet" and self.cfg is None:
            raise ValueError(
                "model.kind 'darknet' needs model.cfg (the .cfg file next to .weights)"
            )
        return self

    @property
    def input_size_wh(self) -> tuple[int, int]:
        """Model input ``(width, height)`` in pixels."""
        if isinstance(self.input_size, int):
            return (self.input_size, self.input_size)
        return self.input_size


class DetectorConfig(_Model):
    """Thresholds applied after the model."""

    confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    nms_iou: Annotated[float, Field(gt=0.0, le=1.0)] = 0.45
    classes: list[ClassRef] | None = None
    max_detections: Annotated[int, Field(ge=1, le=10000)] = 300
    interval: Annotated[int, Field(ge=0, le=1000)] = 0


class BatchingConfig(_Model):
    """How frames of several streams are grouped for inference."""

    max_batch_size: Annotated[int, Field(ge=1, le=256)] = 4
    timeout_ms: Annotated[float, Field(ge=0.0, le=10000.0)] = 20.0


TrackerKind = Literal["bytetrack", "sort", "iou"]


class TrackerConfig(_Model):
    """Tracker choice and parameters (ByteTrack's names, with units).

    ``sort`` and ``iou`` use ``high_threshold`` as their detection threshold,
    ``lost_buffer_frames`` as their maximum age, ``iou_threshold``,
    ``min_hits`` and ``class_aware``; the other fields are ByteTrack's.
    """

    kind: TrackerKind = "bytetrack"
    iou_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    high_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    low_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    new_track_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    match_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    lost_buffer_frames: Annotated[int, Field(ge=0)] = 30
    min_hits: Annotated[int, Field(ge=1)] = 2
    class_aware: bool = True

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> TrackerConfig:
        if self.low_threshold > self.high_threshold:
            raise ValueError(
                f"tracker.low_threshold ({self.low_threshold}) must be <= "
                f"tracker.high_threshold ({self.high_threshold})"
            )
        return self


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

    roi: list[RoiConfig] = []
    lines: list[LineConfig] = []
    zones: list[ZoneConfig] = []
    directions: list[DirectionConfig] = []
    forget_frames: Annotated[int, Field(ge=1)] = 60


class EventsConfig(_Model):
    """Where events go, and how often periodic events are made.

    ``jsonl: true`` (the default) adds one JSON Lines publisher writing
    ``<output.dir>/events.jsonl`` unless ``publishers`` already has a
    ``jsonl`` entry; :meth:`effective_publishers` gives the resulting list.
    """

    jsonl: bool = True
    counts_interval_s: Annotated[float, Field(ge=0.0)] = 1.0
    stats_interval_s: Annotated[float, Field(ge=0.0)] = 10.0
    publishers: list[PublisherConfig] = []
    spool_dir: Path | None = None
    flush_timeout_s: Annotated[float, Field(ge=0.0)] = 10.0

    @field_validator("publishers")
    @classmethod
    def _unique_names(cls, publishers: list[PublisherConfig]) -> list[PublisherConfig]:
        names = [p.publisher_name for p in publishers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"publisher names must be unique, repeated: {dup}; give each a distinct 'name'"
            )
        return publishers

    def effective_publishers(self) -> list[PublisherConfig]:
        """``publishers``, plus the default JSONL publisher when ``jsonl`` asks for it."""
        if self.jsonl and not any(p.type == "jsonl" for p in self.publishers):
            default = JsonlPublisherConfig(type="jsonl", name="jsonl")
            if "jsonl" not in {p.publisher_name for p in self.publishers}:
                return [default, *self.publishers]
        return list(self.publishers)


class OutputConfig(_Model):
    """Output folder and annotated video."""

    dir: Path = Path("out")
    video: bool = True
    codec: str = "libx264"
    crf: Annotated[int, Field(ge=0, le=51)] = 23
    preset: str = "ultrafast"


class RuntimeConfig(_Model):
    """Queues, shutdown and periodic stats of the running pipeline."""

    live_queue_frames: Annotated[int, Field(ge=1, le=1000)] = 2
    stop_policy: Literal["auto", "drain", "drop"] = "auto"
    stats_log_interval_s: Annotated[float, Field(ge=0.0)] = 30.0
    join_timeout_s: Annotated[float, Field(gt=0.0)] = 10.0


class PipelineConfig(_Model):
    """The whole pipeline: the root of the YAML file."""

    version: Literal[1] = CONFIG_VERSION
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sources: Annotated[list[SourceConfig], Field(min_length=1)]
    model: ModelConfig
    detector: DetectorConfig = DetectorConfig()
    batching: BatchingConfig = BatchingConfig()
    tracker: TrackerConfig = TrackerConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    events: EventsConfig = EventsConfig()
    output: OutputConfig = OutputConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        ids = [s.id for s in sources]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"source ids must be unique, repeated: {dup}")
        return sources

    @model_validator(mode="after")
    def _known_streams(self) -> PipelineConfig:
        ids = {s.id for s in self.sources}
        a = self.analytics
        groups = (
            ("roi", a.roi),
            ("lines", a.lines),
            ("zones", a.zones),
            ("directions", a.directions),
        )
        for kind, items in groups:
            for item in items:
                unknown = sorted(set(item.streams or ()) - ids)
                if unknown:
                    raise ValueError(
                        f"analytics.{kind} '{item.name}' names unknown streams {unknown}; "
                        f"known source ids: {sorted(ids)}"
                    )
        for i, pub in enumerate(self.events.publishers):
            unknown = sorted(set(pub.streams or ()) - ids)
            if unknown:
                raise ValueError(
                    f"events.publishers[{i}] '{pub.publisher_name}' names unknown streams "
                    f"{unknown}; known source ids: {sorted(ids)}"
                )
        return self


__all__ = [
    "AnalyticsConfig",
    "BatchingConfig",
    "BrokerPublisherConfig",
    "DetectorConfig",
    "DirectionConfig",
    "EventType",
    "EventsConfig",
    "JsonlPublisherConfig",
    "KafkaPublisherConfig",
    "LineConfig",
    "ModelConfig",
    "MqttPublisherConfig",
    "OutputConfig",
    "OvercrowdingConfig",
    "PayloadFormat",
    "PipelineConfig",
    "PublisherConfig",
    "ReconnectConfig",
    "RedisPublisherConfig",
    "RoiConfig",
    "SourceConfig",
    "SpoolConfig",
    "TlsConfig",
    "TrackerConfig",
    "WebhookPublisherConfig",
    "ZoneConfig",
]
