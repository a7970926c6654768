"""The pipeline runtime: threads, queues and lifecycle.

Threads (all joined by bounded, blocking queues — file sources are lossless)::

    source[cam0] ─┐
    source[cam1] ─┼─▶ batcher ─▶ infer thread ─▶ video worker  (annotate + encode)
    source[...]  ─┘   (detect, track, analytics) └▶ event worker ─▶ JSON Lines file
                                                     (router)    └▶ spool ─▶ delivery
                                                                    thread per broker

Decode (PyAV), inference (ONNX Runtime) and encode (libx264) release the GIL,
so these threads overlap for real. Python runs per batch and per frame,
never per object.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from visionflow.batching import FrameBatcher
from visionflow.config import PipelineConfig
from visionflow.errors import PipelineStateError, SourceError
from visionflow.events import DeliveryStats
from visionflow.pipeline.build import Components, build_components
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.stream_analytics import EventBatch
from visionflow.pipeline.stream_events import StreamReporter
from visionflow.types import Detections, Frame, FrameBatch

log = logging.getLogger(__name__)

_JOIN_TIMEOUT_S = 30.0
_PUT_POLL_S = 0.1
_WAIT_SLICE_S = 0.1

BatchCallback = Callable[[FrameBatch, Detections, Detections], None]


class PipelineState(enum.Enum):
    """Lifecycle: NEW → RUNNING → (STOPPING →) FINISHED → CLOSED."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    CLOSED = "closed"


@dataclass
class StreamStatus:
    """Progress and health of one stream."""

    stream_id: str
    expected_frames: int = 0
    frames_decoded: int = 0
    frames_processed: int = 0
    corrupt_packets: int = 0
    dropped_frames: int = 0
    error: str | None = None
    finished: bool = False
    stopped: bool = False
    """The stream ended because the pipeline was stopped, not at its end."""
    last_frame_number: int = 0
    last_pts_seconds: float = 0.0


@dataclass
class RunSummary:
    """What a finished run did: per-stream status, latencies and counts."""

    streams: list[StreamStatus]
    wall_s: float
    frames: int
    stats: LatencyStats
    line_counts: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    zone_counts: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    events_written: int = 0
    delivery: dict[str, DeliveryStats] = field(default_factory=dict)
    """Per publisher: delivered, pending, dropped, retries, connected."""
    interrupted: bool = False
    error: str | None = None
    batches: int = 0
    """Model calls; ``frames / batches`` is the mean batch size."""
    process_cpu_s: float = 0.0
    """CPU seconds of the whole process (all threads) during the run."""
    sink_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each sink thread (``events``, ``video``); delivery threads are in
    :attr:`delivery` (``cpu_s``)."""

    @property
    def fps(self) -> float:
        """Frames processed per second of wall time, all streams together."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failed_streams(self) -> list[StreamStatus]:
        """Streams that ended with an error."""
        return [s for s in self.streams if s.error is not None]


class Pipeline:
    """A running visionflow pipeline built from a :class:`PipelineConfig`.

    Use as a context manager or call :meth:`start`, :meth:`wait` and
    :meth:`close`. :meth:`stop` may be called from any thread (e.g. a signal
    handler): sources stop reading, frames already decoded are processed,
    the videos are finalised and every event is flushed.

    Args:
        config: the validated pipeline config.
        on_batch: called on the inference thread after each batch with the
            batch, its detections and its confirmed tracks (``frame_index`` =
            batch slot). Keep it cheap: it runs on the hot path.
    """

    def __init__(self, config: PipelineConfig, *, on_batch: BatchCallback | None = None) -> None:
        self.config = config
        self._on_batch = on_batch
        self.state = PipelineState.NEW
        self.stats = LatencyStats()
        self.streams = {s.id: StreamStatus(s.id) for s in config.sources}
        self._reporter = StreamReporter(self.streams, config.events.stats_interval_s)
        self._stop = threading.Event()
        self._interrupted = False
        self._batches = 0
        self._cpu_started = 0.0
        self._cpu_ended = 0.0
        self.error: str | None = None
        """Why the run stopped early, when a stage failed (not a source: see streams)."""
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._components: Components | None = None
        self._started_at = 0.0
        self._ended_at = 0.0

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        """Open every source, build the stages and start the threads.

        Raises:
            PipelineStateError: the pipeline was already started or closed.
            VisionflowError: a model or output could not be set up.
        """
        if self.state is not PipelineState.NEW:
            raise PipelineStateError(
                f"start() needs a new pipeline, this one is {self.state.value}"
            )
        comps = build_components(self.config, self._on_source_error, self.stats)
        self._components = comps
        self._reporter.on_end = lambda sid: comps.analytics.final_counts([sid])
        self._batcher = FrameBatcher(
            self.config.batching.max_batch_size, self.config.batching.timeout_ms / 1e3
        )
        for stream_id, source in comps.sources.items():
            self.streams[stream_id].expected_frames = source.frame_count
        self._started_at = time.perf_counter()
        self._cpu_started = time.process_time()
        self.state = PipelineState.RUNNING
        for worker in comps.workers():
            worker.start()
        comps.publish(EventBatch(self._reporter.started(), ()))
        for stream_id in comps.sources:
            self._batcher.register(stream_id)
        self._spawn("infer", self._infer_loop)
        for stream_id in comps.sources:
            self._spawn(f"source-{stream_id}", self._source_loop, stream_id)

    def stop(self) -> None:
        """Ask the pipeline to stop soon (safe from signal handlers and threads)."""
        if self.state in (PipelineState.NEW, PipelineState.RUNNING):
            self._interrupted = True
        if self.state is PipelineState.RUNNING:
            self.state = PipelineState.STOPPING
        self._stop.set()
        if self._components is not None:
            for source in self._components.sources.values():
                source.stop()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run finished; ``False`` if ``timeout_s`` passed first.

        Waits in short slices: CPython runs Python signal handlers only when the
        main thread executes bytecode, and a SIGTERM the kernel delivers to
        another thread does not interrupt a lock wait of the main thread. One
        long wait would let Ctrl-C / SIGTERM go unhandled until the run ends.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            slice_s = _WAIT_SLICE_S
            if deadline is not None:
                slice_s = min(slice_s, deadline - time.monotonic())
                if slice_s <= 0:
                    return self._done.is_set()
            if self._done.wait(slice_s):
                return True

    def run(self) -> RunSummary:
        """Start, wait for the end of every stream, close, and summarise."""
        with self:
            self.wait()
        return self.summary()

    def close(self) -> None:
        """Stop, drain and release everything (idempotent)."""
        if self.state is PipelineState.CLOSED:
            return
        if self.state is not PipelineState.NEW:
            self.stop()
            self.wait(_JOIN_TIMEOUT_S)
            for thread in self._threads:
                thread.join(_JOIN_TIMEOUT_S)
        self.state = PipelineState.CLOSED

    # -- observation -----------------------------------------------------

    @property
    def interrupted(self) -> bool:
        """Whether :meth:`stop` was called before the sources ended."""
        return self._interrupted

    def summary(self) -> RunSummary:
        """A snapshot of progress, latencies and counts (valid while running too)."""
        end = self._ended_at or time.perf_counter()
        comps = self._components
        return RunSummary(
            streams=list(self.streams.values()),
            wall_s=end - self._started_at if self._started_at else 0.0,
            frames=sum(s.frames_processed for s in self.streams.values()),
            stats=self.stats,
            line_counts=comps.analytics.line_counts() if comps else {},
            zone_counts=comps.analytics.zone_counts() if comps else {},
            events_written=comps.events_written() if comps else 0,
            delivery=comps.delivery_stats() if comps else {},
            interrupted=self.interrupted and self.error is None,
            error=self.error,
            batches=self._batches,
            process_cpu_s=(self._cpu_ended or time.process_time()) - self._cpu_started,
            sink_cpu_s={w.name: w.cpu_s for w in comps.workers()} if comps else {},
        )

    # -- threads ---------------------------------------------------------

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _source_loop(self, stream_id: str) -> None:
        assert self._components is not None
        source = self._components.sources[stream_id]
        status = self.streams[stream_id]
        try:
            for frame in self._timed_frames(iter(source)):
                status.frames_decoded += 1
                if not self._hand_to_batcher(frame):
                    break
        except SourceError as exc:
            self._on_source_error(stream_id, exc)
        finally:
            status.corrupt_packets = source.corrupt_packets
            source.close()
            status.stopped = self._stop.is_set()
            status.finished = True
            while not self._batcher.end(stream_id, timeout_s=_PUT_POLL_S):
                if self._done.is_set():
                    break

    def _hand_to_batcher(self, frame: Frame) -> bool:
        """Queue ``frame`` (blocking: files are lossless); ``False`` once the run is over."""
        while not self._batcher.put(frame, timeout_s=_PUT_POLL_S):
            if self._done.is_set():
                return False
        return not self._stop.is_set()

    def _timed_frames(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            self.stats.add("decode", time.perf_counter() - t0)
            yield frame

    def _on_source_error(self, stream_id: str, exc: BaseException) -> None:
        self.streams[stream_id].error = str(exc)
        log.error("stream %s failed: %s", stream_id, exc)

    def _infer_loop(self) -> None:
        assert self._components is not None
        try:
            while (batch := self._batcher.next_batch()) is not None:
                self._process(batch)
        except Exception as exc:  # reported in the summary; the traceback goes to debug logs
            log.debug("inference loop failed", exc_info=True)
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("pipeline stopped: %s", self.error)
            self.stop()
        finally:
            self._finish()

    def _process(self, batch: FrameBatch) -> None:
        comps = self._components
        assert comps is not None
        n = len(batch)
        self.stats.add_many("batch_wait", self._batcher.last_wait_s, n)
        self._batches += 1
        detections = comps.detector.detect([f.image_rgb for f in batch.frames])
        timings = comps.detector.last_timings
        self.stats.add_many("preprocess", timings.preprocess_s, n)
        self.stats.add_many("inference", timings.inference_s, n)
        self.stats.add_many("postprocess", timings.postprocess_s, n)
        t0 = time.perf_counter()
        tracks = comps.tracker.update(detections, [f.stream_id for f in batch.frames])
        t1 = time.perf_counter()
        events = comps.analytics.update(batch, tracks)
        self.stats.add_many("tracking", t1 - t0, n)
        self.stats.add_many("analytics", time.perf_counter() - t1, n)
        comps.publish(EventBatch(events, tuple(f.arrival_ns for f in batch.frames)))
        if self._on_batch is not None:
            self._on_batch(batch, detections, tracks)
        self._hand_to_video(batch, tracks)
        for frame in batch.frames:
            status = self.streams[frame.stream_id]
            status.frames_processed += 1
            status.last_frame_number = frame.frame_number
            status.last_pts_seconds = frame.pts_seconds
        if stream_events := self._reporter.tick():
            comps.publish(EventBatch(stream_events, ()))

    def _hand_to_video(self, batch: FrameBatch, tracks: Detections) -> None:
        comps = self._components
        assert comps is not None
        if comps.video is None:
            return
        for slot, frame in enumerate(batch.frames):
            overlays = comps.analytics.overlays(frame.stream_id)
            comps.video.submit((frame, tracks.for_frame(slot), overlays))

    def _finish(self) -> None:
        """Close every sink; whatever fails, mark the run done so waiters return."""
        comps = self._components
        assert comps is not None
        try:
            problems = comps.close(self._reporter.final())
            problems += [f"{w.name} sink: {w.error}" for w in comps.workers() if w.error]
            if problems and self.error is None:
                self.error = "; ".join(problems)
        finally:
            self._ended_at = time.perf_counter()
            self._cpu_ended = time.process_time()
            if self.state in (PipelineState.RUNNING, PipelineState.STOPPING):
                self.state = PipelineState.FINISHED
            self._done.set()
