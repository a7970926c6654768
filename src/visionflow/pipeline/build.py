"""Build the pipeline's stages from a config: the one place that wires them.

Stage packages never import each other; this module creates them, resolves
class names to ids and hands each stage plain arguments.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionflow.analytics import LineCounter, ZoneCounter
from visionflow.config import LineConfig, PipelineConfig, ZoneConfig
from visionflow.errors import SourceError
from visionflow.events import DeliveryStats, Event, EventRouter
from visionflow.geometry import Line, Point, Polygon
from visionflow.inference import Detector, load_class_names
from visionflow.outputs import VideoWriter
from visionflow.overlay import Annotator, LineOverlay, ZoneOverlay
from visionflow.pipeline.classes import resolve_classes
from visionflow.pipeline.publishing import build_router
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.stream_analytics import (
    AnalyticsHub,
    EventBatch,
    NamedLine,
    StreamAnalytics,
)
from visionflow.pipeline.workers import QueueWorker
from visionflow.sources import FileSource
from visionflow.tracking import ByteTrack, MultiStreamTracker
from visionflow.types import Detections, Frame

log = logging.getLogger(__name__)

VideoItem = tuple[Frame, Detections, tuple[list[LineOverlay], list[ZoneOverlay]]]
ErrorCallback = Callable[[str, BaseException], None]


def default_cache_dir() -> Path:
    """``$VISIONFLOW_CACHE``, else ``~/.cache/visionflow``."""
    env = os.environ.get("VISIONFLOW_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "visionflow"


@dataclass
class Components:
    """Every stage of one pipeline, ready to run."""

    sources: dict[str, FileSource]
    detector: Detector
    tracker: MultiStreamTracker
    analytics: AnalyticsHub
    events: QueueWorker[EventBatch]
    video: QueueWorker[VideoItem] | None
    _router: EventRouter
    _video_sink: VideoSink | None
    _stats: LatencyStats
    _flush_timeout_s: float = 10.0

    def workers(self) -> list[QueueWorker[EventBatch] | QueueWorker[VideoItem]]:
        """The sink threads to start with the pipeline."""
        return [w for w in (self.events, self.video) if w is not None]

    def publish(self, batch: EventBatch) -> None:
        """Hand a batch's events to the event thread (blocks while its queue is full)."""
        self.events.submit(batch)

    def events_written(self) -> int:
        """Events written so far by the JSON Lines publishers."""
        return self._router.events_written

    def delivery_stats(self) -> dict[str, DeliveryStats]:
        """Delivery counters per publisher."""
        return self._router.stats()

    def close(self, final_events: list[Event] | None = None) -> list[str]:
        """Flush and close every sink: events, videos. Each is closed even if another fails.

        Args:
            final_events: the closing events of the run (final counts, stream
                states); None = the final counts of every stream.

        Returns:
            One line per sink that failed to close (empty when all went well).

        Broker publishers get up to ``events.flush_timeout_s`` to deliver what
        is pending; the rest stays in their spools for the next run.
        """
        if final_events is None:
            final_events = self.analytics.final_counts()
        steps: list[tuple[str, Callable[[], None]]] = [
            ("events", lambda: self.events.submit(EventBatch(final_events, ()))),
            *((w.name, w.close) for w in self.workers()),
            ("publishers", lambda: self._router.close(self._flush_timeout_s)),
        ]
        if self._video_sink is not None:
            steps.append(("video", self._video_sink.close))
        problems = []
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # keep closing the others; report every failure
                log.debug("closing %s failed", name, exc_info=True)
                problems.append(f"closing {name} failed: {exc}")
        return problems


@dataclass
class VideoSink:
    """Annotate frames and encode one MP4 per stream (runs on the video thread)."""

    directory: Path
    annotator: Annotator
    fps: dict[str, float]
    codec: str
    crf: int
    preset: str
    stats: LatencyStats
    _writers: dict[str, VideoWriter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, item: VideoItem) -> None:
        """Draw ``item``'s tracks and overlays and encode it."""
        frame, tracks, (lines, zones) = item
        t0 = time.perf_counter()
        image = np.array(frame.image_rgb, copy=True)
        self.annotator.annotate(image, tracks, lines=lines, zones=zones)
        self._writer(frame).write(image)
        self.stats.add("output", time.perf_counter() - t0)

    def close(self) -> None:
        """Finalise every MP4 (idempotent)."""
        with self._lock:
            for writer in self._writers.values():
                writer.close()

    def _writer(self, frame: Frame) -> VideoWriter:
        writer = self._writers.get(frame.stream_id)
        if writer is None:
            path = self.directory / f"{frame.stream_id}.mp4"
            writer = VideoWriter(
                path,
                fps=self.fps[frame.stream_id],
                resolution_wh=frame.resolution_wh,
                codec=self.codec,
                crf=self.crf,
                preset=self.preset,
            ).open()
            with self._lock:
                self._writers[frame.stream_id] = writer
        return writer


def build_components(
    config: PipelineConfig, on_error: ErrorCallback, stats: LatencyStats
) -> Components:
    """Create every stage of ``config``; sources that fail to open are reported via ``on_error``.

    Raises:
        SourceError: no source could be opened.
        ModelError: the model could not be loaded.
        ConfigError: a class name in the config is not one of the model's.
    """
    sources = _open_sources(config, on_error)
    try:
        return _build_stages(config, sources, stats)
    except BaseException:
        for source in sources.values():
            source.close()
        raise


def _build_stages(
    config: PipelineConfig, sources: dict[str, FileSource], stats: LatencyStats
) -> Components:
    detector = _detector(config)
    names = detector.class_names
    analytics = AnalyticsHub(
        {sid: _stream_analytics(config, sid, src.fps, names) for sid, src in sources.items()}
    )
    tracker = _tracker(config)
    sink = _video_sink(config, sources, names, stats) if config.output.video else None
    router = build_router(config)
    router.start()
    events = QueueWorker[EventBatch]("events", _event_writer(router, stats), capacity=64)
    video = QueueWorker[VideoItem]("video", sink.write, capacity=16) if sink else None
    return Components(
        sources,
        detector,
        tracker,
        analytics,
        events,
        video,
        router,
        sink,
        stats,
        config.events.flush_timeout_s,
    )


def _open_sources(config: PipelineConfig, on_error: ErrorCallback) -> dict[str, FileSource]:
    sources: dict[str, FileSource] = {}
    errors: list[str] = []
    for src in config.sources:
        source = FileSource(src.uri, stream_id=src.id, loop=src.loop)
        try:
            sources[src.id] = source.open()
        except SourceError as exc:
            on_error(src.id, exc)
            errors.append(str(exc))
    if not sources:
        raise SourceError("no source could be opened: " + "; ".join(errors))
    return sources


def _detector(config: PipelineConfig) -> Detector:
    if config.device == "cuda":
        log.warning("device 'cuda' requested: the GPU path is not available yet, running on CPU")
    model, det = config.model, config.detector
    names = load_class_names(model.names)
    class_ids = resolve_classes(det.classes, names, "detector.classes")
    if model.kind == "onnx":
        return Detector.from_onnx(
            model.weights,
            names,
            input_size_wh=model.input_size_wh,
            confidence=det.confidence,
            nms_iou=det.nms_iou,
            class_ids=class_ids,
            max_detections=det.max_detections,
            threads=model.threads,
        )
    assert model.cfg is not None  # the schema enforces it
    return Detector.from_darknet(
        model.cfg,
        model.weights,
        names,
        input_size_wh=model.input_size_wh,
        cache_dir=model.cache_dir or default_cache_dir(),
        confidence=det.confidence,
        nms_iou=det.nms_iou,
        class_ids=class_ids,
        max_detections=det.max_detections,
        threads=model.threads,
    )


def _tracker(config: PipelineConfig) -> MultiStreamTracker:
    t = config.tracker

    def factory() -> ByteTrack:
        return ByteTrack(
            high_threshold=t.high_threshold,
            low_threshold=t.low_threshold,
            new_track_threshold=t.new_track_threshold,
            match_threshold=t.match_threshold,
            lost_buffer_frames=t.lost_buffer_frames,
            min_hits=t.min_hits,
            class_aware=t.class_aware,
        )

    return MultiStreamTracker(factory)


def _stream_analytics(
    config: PipelineConfig, stream_id: str, fps: float, names: list[str]
) -> StreamAnalytics:
    cfg = config.analytics
    lines = [
        _line(lc, i, names, cfg.forget_frames)
        for i, lc in enumerate(cfg.lines)
        if lc.streams is None or stream_id in lc.streams
    ]
    zones = [
        _zone(zc, i, names, cfg.forget_frames)
        for i, zc in enumerate(cfg.zones)
        if zc.streams is None or stream_id in zc.streams
    ]
    return StreamAnalytics(
        stream_id, lines, zones, names, fps or 30.0, config.events.counts_interval_s
    )


def _line(lc: LineConfig, i: int, names: list[str], forget: int) -> NamedLine:
    classes = resolve_classes(lc.classes, names, f"analytics.lines[{i}].classes")
    counter = LineCounter(
        lc.name,
        Line(Point(*lc.start), Point(*lc.end)),
        in_name=lc.in_name,
        out_name=lc.out_name,
        class_ids=classes,
        anchor=lc.anchor,
        min_frames=lc.min_frames,
        forget_frames=forget,
    )
    return NamedLine(counter, lc.in_name, lc.out_name, lc.start, lc.end)


def _zone(zc: ZoneConfig, i: int, names: list[str], forget: int) -> tuple[ZoneCounter, np.ndarray]:
    classes = resolve_classes(zc.classes, names, f"analytics.zones[{i}].classes")
    polygon = Polygon(tuple(Point(*p) for p in zc.polygon))
    counter = ZoneCounter(
        zc.name,
        polygon,
        class_ids=classes,
        anchor=zc.anchor,
        min_frames=zc.min_frames,
        forget_frames=forget,
    )
    return counter, polygon.as_array()


def _video_sink(
    config: PipelineConfig, sources: dict[str, FileSource], names: list[str], stats: LatencyStats
) -> VideoSink:
    out = config.output
    fps = {sid: src.fps or 30.0 for sid, src in sources.items()}
    return VideoSink(Path(out.dir), Annotator(names), fps, out.codec, out.crf, out.preset, stats)


def _event_writer(router: EventRouter, stats: LatencyStats) -> Callable[[EventBatch], None]:
    def write(batch: EventBatch) -> None:
        router.publish(batch.events)
        now = time.monotonic_ns()
        for arrival in batch.arrival_ns:
            stats.add("end_to_end", (now - arrival) / 1e9)

    return write
