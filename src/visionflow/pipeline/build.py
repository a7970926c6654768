"""Build the pipeline's stages from a config: the one place that wires them.

Stage packages never import each other; this module creates them, resolves
class names to ids and hands each stage plain arguments.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from visionflow.config import PipelineConfig, SourceConfig
from visionflow.errors import SourceError
from visionflow.events import DeliveryStats, Event, EventRouter
from visionflow.inference import Detector, load_class_names
from visionflow.inference.gpu_detector import GpuDetector, resolve_device
from visionflow.overlay import Annotator
from visionflow.pipeline.classes import resolve_classes
from visionflow.pipeline.gpu_memory import GpuMemoryProbe
from visionflow.pipeline.lines_build import build_direction, build_line
from visionflow.pipeline.publishing import build_router
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.stream_analytics import (
    AnalyticsHub,
    EventBatch,
    StreamAnalytics,
)
from visionflow.pipeline.video_sink import CloseStream, VideoItem, VideoSink
from visionflow.pipeline.workers import QueueWorker
from visionflow.pipeline.zones_build import build_roi_filter, build_zone
from visionflow.sources import source_from_config
from visionflow.sources.base import Source, StateCallback
from visionflow.sources.gpu_file import GpuFileSource
from visionflow.sources.uri import file_path
from visionflow.tracking import BatchedByteTrack, MultiStreamTracker
from visionflow.tracking.factory import build_multistream_tracker

log = logging.getLogger(__name__)

ErrorCallback = Callable[[str, BaseException], None]
_FALLBACK_FPS = 30.0
_MAX_PARALLEL_OPENS = 16


def default_cache_dir() -> Path:
    """``$VISIONFLOW_CACHE``, else ``~/.cache/visionflow``."""
    env = os.environ.get("VISIONFLOW_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "visionflow"


@dataclass
class Components:
    """Every stage of one pipeline, ready to run."""

    sources: dict[str, Source]
    detector: Detector | GpuDetector
    tracker: MultiStreamTracker | BatchedByteTrack
    analytics: AnalyticsHub
    events: QueueWorker[EventBatch]
    video: QueueWorker[VideoItem] | None
    _router: EventRouter
    _video_sink: VideoSink | None
    _stats: LatencyStats
    _flush_timeout_s: float = 10.0
    _config: PipelineConfig | None = None
    _class_names: list[str] = field(default_factory=list)
    device: str = "cpu"
    """Where inference runs (``cpu``, ``cuda``, ``cuda:N``); file streams decode there too."""
    gpu_memory: GpuMemoryProbe = field(default_factory=lambda: GpuMemoryProbe("cpu"))
    """Device memory readings for the summary (inactive on CPU)."""

    def workers(self) -> list[QueueWorker[EventBatch] | QueueWorker[VideoItem]]:
        """The sink threads to start with the pipeline."""
        return [w for w in (self.events, self.video) if w is not None]

    def publish(self, batch: EventBatch, *, in_place: bool = False) -> None:
        """Hand a batch's events to the event thread (blocks while its queue is full).

        ``in_place``: write them on the calling thread instead when the event
        thread is idle (no thread wake-up on the way: small batches, where
        latency matters more than overlap).
        """
        if not (in_place and self.events.handle_if_idle(batch)):
            self.events.submit(batch)

    def attach_stream(self, stream_id: str, fps: float) -> None:
        """Build the per-stream stages (analytics, video) of a stream at ``fps`` frames/s."""
        assert self._config is not None
        if fps <= 0:
            log.warning(
                "stream %s: frame rate unknown, assuming %.0f fps for dwell and loitering times",
                stream_id,
                _FALLBACK_FPS,
            )
            fps = _FALLBACK_FPS
        analytics = _stream_analytics(self._config, stream_id, fps, self._class_names)
        self.analytics.add(stream_id, analytics)
        if self._video_sink is not None:
            self._video_sink.fps[stream_id] = fps

    def ensure_stream(self, stream_id: str, fps: float) -> None:
        """Attach ``stream_id`` at its first frame if its frame rate was unknown before."""
        if not self.analytics.has(stream_id):
            self.attach_stream(stream_id, fps)

    def detach_stream(self, stream_id: str) -> None:
        """Drop a removed stream's tracker and analytics state and finalise its video."""
        self.tracker.remove(stream_id)
        self.analytics.remove(stream_id)
        if self.video is not None:
            self.video.submit(CloseStream(stream_id))

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
        steps: list[tuple[str, Callable[[], object]]] = [
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


def build_components(
    config: PipelineConfig,
    on_error: ErrorCallback,
    stats: LatencyStats,
    on_state: StateCallback | None = None,
) -> Components:
    """Create every stage of ``config``; sources that fail to open are reported via ``on_error``.

    Raises:
        SourceError: no source could be opened.
        ModelError: the model could not be loaded.
        ConfigError: a class name in the config is not one of the model's.
    """
    device = resolve_device(config.device)  # auto: CUDA when torch sees a GPU
    memory = GpuMemoryProbe(device)
    memory.start()
    # The model first: its CUDA graphs must be captured before any decoder works on the
    # GPU (NVDEC's threaded mode starts decoding as a source opens, and work from other
    # threads invalidates a capture).
    detector = _detector(config, device)
    memory.mark("model")
    sources = _open_sources(config, on_error, on_state, device)
    memory.mark("sources")
    try:
        comps = _build_stages(config, detector, sources, stats, device)
        comps.gpu_memory = memory
        return comps
    except BaseException:
        for source in sources.values():
            source.close()
        raise


def _build_stages(
    config: PipelineConfig,
    detector: Detector | GpuDetector,
    sources: dict[str, Source],
    stats: LatencyStats,
    device: str,
) -> Components:
    names = detector.class_names
    # A live source learns its frame rate when it connects: its analytics (dwell and
    # loitering times need the fps) are built at its first frame (Components.ensure_stream).
    analytics = AnalyticsHub(
        {
            sid: _stream_analytics(config, sid, src.fps, names)
            for sid, src in sources.items()
            if src.fps > 0
        }
    )
    # Compile the kernels a frame will need before any frame waits for them (only those:
    # a pipeline without lines or zones skips seconds of compiling on a fresh machine).
    analytics.warm_up(lines=bool(config.analytics.lines), zones=bool(config.analytics.zones))
    tracker = build_multistream_tracker(config.tracker)
    if isinstance(tracker, BatchedByteTrack):
        tracker.warm_up()  # compile the tracker step before any frame waits for it
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
        config,
        names,
        device,
    )


def open_stream_source(
    src: SourceConfig,
    on_state: StateCallback | None = None,
    device: str = "cpu",
    nvdec_threaded: bool = False,
) -> Source:
    """Create and open the source of one stream; ``on_state`` observes its state moves.

    On a CUDA device, video files decode with NVDEC into GPU memory (falling
    back to the CPU for this stream, with the reason logged, when NVDEC cannot
    take the file); every other source decodes on the CPU. ``nvdec_threaded``
    chooses NVDEC's threaded mode (``runtime.nvdec_mode``).

    Raises:
        SourceError: a file source could not be opened (live sources connect
            in the background and report trouble through their state).
    """
    if device != "cpu" and src.kind == "file":
        gpu_id = int(device.partition(":")[2] or 0)
        return GpuFileSource(
            file_path(src.uri),
            stream_id=src.id,
            loop=src.loop,
            realtime=src.realtime,
            gpu_id=gpu_id,
            threaded=nvdec_threaded,
            on_state=on_state,
        ).open()
    return source_from_config(src, on_state=on_state).open()


def _open_sources(
    config: PipelineConfig, on_error: ErrorCallback, on_state: StateCallback | None, device: str
) -> dict[str, Source]:
    """Open every source at once: a camera slow to answer (an HTTP open waits up to its
    ``open_timeout_s``) does not delay the others' start."""
    sources: dict[str, Source] = {}
    errors: list[str] = []
    # NVDEC sessions are created one after another: concurrent creation was never run on
    # a GPU here.
    workers = 1 if device != "cpu" else min(_MAX_PARALLEL_OPENS, len(config.sources))
    with ThreadPoolExecutor(workers, thread_name_prefix="open-source") as pool:
        opening = [
            (
                src,
                pool.submit(
                    open_stream_source,
                    src,
                    on_state,
                    device,
                    config.runtime.nvdec_threaded(src, len(config.sources)),
                ),
            )
            for src in config.sources
        ]
    unexpected: BaseException | None = None
    for src, future in opening:  # in config order; every future is done here
        exc = future.exception()
        if exc is None:
            sources[src.id] = future.result()
        elif isinstance(exc, SourceError):
            on_error(src.id, exc)
            errors.append(str(exc))
        else:
            unexpected = unexpected or exc
    if unexpected is not None:  # not a source problem: release what opened, then raise
        for source in sources.values():
            source.close()
        raise unexpected
    if not sources:
        raise SourceError("no source could be opened: " + "; ".join(errors))
    return sources


def _detector(config: PipelineConfig, device: str) -> Detector | GpuDetector:
    from visionflow.inference.postprocess import warm_up

    warm_up()  # compile (or load) the NMS kernel before any frame waits for it
    model, det = config.model, config.detector
    names = load_class_names(model.names)
    class_ids = resolve_classes(det.classes, names, "detector.classes")
    if device != "cpu":
        return _gpu_detector(config, names, class_ids, device)
    if model.gpu_runtime != "torch":
        log.warning(
            "model.gpu_runtime %s applies on a GPU only; the CPU runs onnxruntime",
            model.gpu_runtime,
        )
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


def _gpu_detector(
    config: PipelineConfig, names: list[str], class_ids: frozenset[int] | None, device: str
) -> GpuDetector:
    model, det = config.model, config.detector
    runtime = model.gpu_runtime
    what = "torch backend, fp16, CUDA graphs" if runtime == "torch" else runtime
    log.info("detector on %s (%s)", device, what)
    if model.kind == "onnx":
        detector = GpuDetector.from_onnx(
            model.weights,
            names,
            input_size_wh=model.input_size_wh,
            device=device,
            confidence=det.confidence,
            nms_iou=det.nms_iou,
            class_ids=class_ids,
            max_detections=det.max_detections,
            max_batch_size=config.batching.max_batch_size,
            runtime=runtime,
        )
    else:
        assert model.cfg is not None  # the schema enforces it
        detector = GpuDetector.from_darknet(
            model.cfg,
            model.weights,
            names,
            input_size_wh=model.input_size_wh,
            device=device,
            confidence=det.confidence,
            nms_iou=det.nms_iou,
            class_ids=class_ids,
            max_detections=det.max_detections,
            max_batch_size=config.batching.max_batch_size,
            runtime=runtime,
            cache_dir=model.cache_dir or default_cache_dir(),
        )
    detector.warm_up()  # capture every CUDA graph before decoder threads start
    return detector


def _stream_analytics(
    config: PipelineConfig, stream_id: str, fps: float, names: list[str]
) -> StreamAnalytics:
    cfg = config.analytics
    lines = [
        build_line(lc, i, names, cfg.forget_frames)
        for i, lc in enumerate(cfg.lines)
        if lc.streams is None or stream_id in lc.streams
    ]
    zones = [
        build_zone(zc, i, names, cfg.forget_frames, fps or 30.0)
        for i, zc in enumerate(cfg.zones)
        if zc.streams is None or stream_id in zc.streams
    ]
    return StreamAnalytics(
        stream_id,
        lines,
        zones,
        names,
        fps or 30.0,
        config.events.counts_interval_s,
        roi=build_roi_filter(config, stream_id, names),
        directions=[
            build_direction(dc, i, names, cfg.forget_frames)
            for i, dc in enumerate(cfg.directions)
            if dc.streams is None or stream_id in dc.streams
        ],
    )


def _video_sink(
    config: PipelineConfig, sources: dict[str, Source], names: list[str], stats: LatencyStats
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
