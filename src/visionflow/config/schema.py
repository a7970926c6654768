"""The configuration schema: one YAML file, validated by pydantic.

Every model is frozen and rejects unknown keys, so a typo (``confidense:``)
is an error with its YAML path instead of a silently ignored option. The
commented ``default.yaml`` next to this module documents every option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from visionflow.config._base import ClassRef
from visionflow.config._base import ConfigModel as _Model
from visionflow.config.analytics import (
    AnalyticsConfig,
    DirectionConfig,
    LineConfig,
    OvercrowdingConfig,
    RoiConfig,
    ZoneConfig,
)
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
from visionflow.config.sources import ReconnectConfig, SourceConfig

CONFIG_VERSION: Literal[1] = 1


class ModelConfig(_Model):
    """The detector's model files and runtime."""

    kind: Literal["darknet", "onnx"] = "darknet"
    cfg: Path | None = None
    weights: Path
    names: Path
    input_size: Annotated[int, Field(ge=32, le=4096, multiple_of=32)] | tuple[int, int] = 416
    backend: Literal["onnxruntime"] = "onnxruntime"
    gpu_runtime: Literal["torch", "onnxruntime-cuda", "onnxruntime-tensorrt"] = "torch"
    """What runs the model when the device is a GPU: the torch module (fp16, CUDA
    graphs), or ONNX Runtime's CUDA or TensorRT execution provider (needs onnxruntime-gpu)."""
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


class EventsConfig(_Model):
    """Where events go, and how often periodic events are made.

    ``jsonl: true`` (the default) adds one JSON Lines publisher writing
    ``<output.dir>/events.jsonl`` unless ``publishers`` already has a
    ``jsonl`` entry; :meth:`effective_publishers` gives the resulting list.
    """

    jsonl: bool = True
    counts_interval_s: Annotated[float, Field(ge=0.0)] = 1.0
    stats_interval_s: Annotated[float, Field(ge=0.0)] = 10.0
    publishers: list[PublisherConfig] = Field(default_factory=list)
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
    gil_switch_interval_ms: Literal["auto"] | Annotated[float, Field(gt=0.0, le=100.0)] = "auto"
    nvdec_mode: Literal["auto", "packet", "threaded"] = "auto"
    idle_spin_ms: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0
    freeze_gc: bool = True
    processes: Annotated[int, Field(ge=1, le=64)] = 1

    def nvdec_threaded(self, source: SourceConfig, streams: int) -> bool:
        """Whether ``source`` decodes on PyNvVideoCodec's native thread (``nvdec_mode``).

        auto: threaded for a live stand-in (``realtime``) or when the pipeline
        has several streams; per packet for a lone file, which it decodes faster
        (end to end on an H200: one file 194 fps per packet, 146 threaded;
        16 files 851 per packet, 1 043 threaded).
        """
        if self.nvdec_mode != "auto":
            return self.nvdec_mode == "threaded"
        return source.realtime or streams > 1


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
