"""The pipeline runtime: threads, queues, per-stream lifecycle.

Threads::

    source[cam0] ─┐   per-stream lanes
    source[cam1] ─┼─▶ batcher ─▶ infer ─▶ track thread ─▶ video worker (annotate + encode)
    source[...]  ─┘   (round-   (detect)  (track,      └▶ event worker ─▶ JSON Lines file
                       robin)              analytics)     (router)    └▶ spool ─▶ delivery
                                                                        thread per broker

The ``infer`` thread detects batch k+1 while the ``track`` thread tracks and
analyses batch k (a one-batch hand-off, in order). A small batch (a few
streams) is finished on the ``infer`` thread instead when ``track`` is idle,
and its events are written there too when the event worker is idle: one
stream's frame crosses one thread hand-off, from its source to ``infer``. NVDEC streams in threaded
mode share ``source-pump-N`` threads instead of a source thread each.

File streams are lossless: a full lane blocks its source. Live streams
(cameras, or files with ``realtime: true``) are paced by the camera: a full
lane drops its oldest frame and counts it, and the video recorder skips
frames of live streams rather than stall inference. Streams can be added and
removed while the pipeline runs; one stream's failure never stops another.

Decode (PyAV), inference (ONNX Runtime) and encode (libx264) release the GIL,
so these threads overlap for real. Python runs per batch and per frame,
never per object.
"""

from __future__ import annotations

import gc
import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Container

import numpy as np

from visionflow.batching import FrameBatcher
from visionflow.config import PipelineConfig, SourceConfig
from visionflow.errors import PipelineStateError
from visionflow.events import Event
from visionflow.pipeline import skipping
from visionflow.pipeline.build import Components, build_components, open_stream_source
from visionflow.pipeline.ingest import SourceThreads
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.stream_analytics import EventBatch
from visionflow.pipeline.stream_events import StreamReporter
from visionflow.pipeline.streams import StreamRecord, StreamStatus
from visionflow.pipeline.summary import PipelineState, RunSummary
from visionflow.sources.base import TERMINAL_STATES
from visionflow.sources.base import StreamState as SourceStreamState
from visionflow.types import Detections, FrameBatch

log = logging.getLogger(__name__)

_WAIT_SLICE_S = 0.1
_IDLE_TICK_S = 0.2
_REFRESH_S = 0.5
_CLOSED = frozenset(state.value for state in TERMINAL_STATES)
_INLINE_MAX_FRAMES = 4
"""Batches up to this size are finished on the ``infer`` thread when ``track`` is idle,
and their events written on the finishing thread when the event thread is idle."""
_GPU_SWITCH_INTERVAL_MS = 1.0
"""GIL switch interval on the GPU path (measured: see ``runtime.gil_switch_interval_ms``)."""

BatchCallback = Callable[[FrameBatch, Detections, Detections], None]

__all__ = ["BatchCallback", "Pipeline", "PipelineState", "RunSummary", "StreamStatus"]


class Pipeline:
    """A running visionflow pipeline built from a :class:`PipelineConfig`.

    Use as a context manager or call :meth:`start`, :meth:`wait` and
    :meth:`close`. :meth:`stop` may be called from any thread (e.g. a signal
    handler): sources stop reading; frames already queued are processed for
    file streams and dropped for live ones (``runtime.stop_policy``); the
    videos are finalised and every event is flushed. :meth:`add_source` and
    :meth:`remove_source` change the streams of a running pipeline.

    Args:
        config: the validated pipeline config.
        on_batch: called after each batch (on the thread that finished it) with the
            batch, its detections and its confirmed tracks (``frame_index`` =
            batch slot). Keep it cheap: it runs on the hot path.
        stay_open: keep running when every stream has ended (streams may be
            added later) until :meth:`stop`; otherwise the run finishes when
            the last stream ends.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        on_batch: BatchCallback | None = None,
        stay_open: bool = False,
    ) -> None:
        self.config = config
        self._on_batch = on_batch
        self._stay_open = stay_open
        self.state = PipelineState.NEW
        self.stats = LatencyStats()
        self._records: dict[str, StreamRecord] = {}
        self.streams: dict[str, StreamStatus] = {s.id: StreamStatus(s.id) for s in config.sources}
        """Status of every current stream (a snapshot map; replaced on add/remove)."""
        self._reporter = StreamReporter(
            lambda: self.streams,
            config.events.stats_interval_s,
            is_drained=lambda sid: not self._batcher.has_lane(sid),
        )
        self._stop = threading.Event()
        self._interrupted = False
        self._batches = 0
        self._removed = 0
        self._cpu_started = 0.0
        self._cpu_ended = 0.0
        self._next_log_s = 0.0
        self._next_refresh_s = 0.0
        self.error: str | None = None
        """Why the run stopped early, when a stage failed (not a source: see streams)."""
        self._state_moves: deque[tuple[str, str, str]] = deque()
        """Source state moves (stream, new state, reason) waiting to become events."""
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams_lock = threading.RLock()
        """Held while a batch is processed and while streams are added or removed."""
        self._components: Components | None = None
        self._detected: queue.Queue[tuple[int, FrameBatch, Detections | None] | None] = queue.Queue(
            maxsize=1
        )
        """Detected batches (numbered) on their way from the ``infer`` to the ``track`` thread."""
        self._finished_seq = 0
        """Number of the last batch tracked and published (batches finish in order)."""
        self._started_at = 0.0
        self._ended_at = 0.0
        self._saved_switch_s: float | None = None
        """Python's GIL switch interval before start(), restored by close()."""
        self._froze_gc = False
        """Whether start() froze the garbage collector's view (``runtime.freeze_gc``)."""

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
        comps = build_components(
            self.config, self._on_source_error, self.stats, self._on_source_state
        )
        self._components = comps
        self._set_switch_interval(comps.device)
        self._freeze_gc()
        self._reporter.on_end = lambda sid: comps.analytics.final_counts([sid])
        runtime = self.config.runtime
        self._batcher = FrameBatcher(
            self.config.batching.max_batch_size,
            self.config.batching.timeout_ms / 1e3,
            live_capacity=runtime.live_queue_frames,
            stay_open=self._stay_open,
            spin_s=runtime.idle_spin_ms / 1e3,
        )
        for stream_id, source in comps.sources.items():
            self._records[stream_id] = record = StreamRecord(stream_id, source)
            self.streams = {**self.streams, stream_id: record.status}
        self._started_at = time.perf_counter()
        self._cpu_started = time.process_time()
        self._next_log_s = time.monotonic() + runtime.stats_log_interval_s
        self.state = PipelineState.RUNNING
        for worker in comps.workers():
            worker.start()
        comps.publish(EventBatch(self._reporter.started(), ()))
        self._source_threads = SourceThreads(
            self._batcher, self.stats, self._stop, self._done, self._on_source_error
        )
        for stream_id, record in self._records.items():
            self._batcher.register(stream_id, live=record.status.live)
        self._spawn("infer", self._infer_loop)
        self._spawn("track", self._track_loop)
        for record in self._records.values():
            self._source_threads.start(record)

    def add_source(self, source: SourceConfig) -> StreamStatus:
        """Add a stream to the running pipeline; the others are not paused.

        Args:
            source: the new stream (its ``id`` must not be in use).

        Returns:
            The new stream's status object (updated while it runs).

        Raises:
            PipelineStateError: the pipeline is not running.
            ValueError: the id is already in use.
            SourceError: a file source could not be opened (live sources
                connect in the background and report through their state).
        """
        if self.state is not PipelineState.RUNNING:
            raise PipelineStateError(
                f"add_source() needs a running pipeline, it is {self.state.value}"
            )
        comps = self._components
        assert comps is not None
        self._check_new_id(source.id)
        # Opening may take a while (a network handshake, an NVDEC session): outside the
        # lock, so the other streams' batches keep flowing meanwhile.
        opened = open_stream_source(
            source,
            self._on_source_state,
            comps.device,
            self.config.runtime.nvdec_threaded(source, len(self._records) + 1),
        )
        with self._streams_lock:
            try:
                self._check_new_id(source.id)
                if opened.fps > 0:  # else at its first frame, once the camera told its rate
                    comps.attach_stream(source.id, opened.fps)
            except BaseException:
                opened.close()
                raise
            record = StreamRecord(source.id, opened)
            self._records = {**self._records, source.id: record}
            self.streams = {**self.streams, source.id: record.status}
            self._batcher.register(source.id, live=record.status.live)
            comps.publish(EventBatch(self._reporter.add(source.id), ()))
        self._source_threads.start(record)
        log.info("stream %s added", source.id)
        return record.status

    def _check_new_id(self, stream_id: str) -> None:
        if stream_id in self._records:
            raise ValueError(f"stream id {stream_id!r} is already in use; pick another id")

    def remove_source(self, stream_id: str, timeout_s: float | None = None) -> StreamStatus:
        """Stop a stream and release its decoder, thread, queue and per-stream state.

        Frames of the stream still queued are discarded; its closing events
        (final counts, ``stream_state`` stopped) are published and its video
        file is finalised.

        Returns:
            The stream's final status.

        Raises:
            KeyError: no such stream.
        """
        record = self._records.get(stream_id)
        if record is None:
            raise KeyError(f"no stream {stream_id!r}; current streams: {sorted(self._records)}")
        timeout = self.config.runtime.join_timeout_s if timeout_s is None else timeout_s
        record.removed = True
        record.source.stop()
        self._batcher.remove(stream_id)  # also wakes its producer if it waits for room
        if record.thread is not None and not record.done.wait(timeout):
            log.warning("stream %s: source thread still busy after %.0f s", stream_id, timeout)
        comps = self._components
        assert comps is not None
        with self._streams_lock:
            status = record.refresh()
            status.stopped = status.finished = True
            comps.publish(EventBatch(self._reporter.remove(stream_id, "removed"), ()))
            comps.detach_stream(stream_id)
            self._records = {k: v for k, v in self._records.items() if k != stream_id}
            self.streams = {k: v for k, v in self.streams.items() if k != stream_id}
            self._removed += 1
        record.source.close()
        log.info("stream %s removed", stream_id)
        return status

    def stop(self) -> None:
        """Ask the pipeline to stop soon (safe from signal handlers and threads)."""
        if self.state in (PipelineState.NEW, PipelineState.RUNNING):
            self._interrupted = True
        if self.state is PipelineState.RUNNING:
            self.state = PipelineState.STOPPING
        self._stop.set()
        for record in list(self._records.values()):
            record.source.stop()
            if self._drops_on_stop(record):
                self._batcher.discard_queued(record.stream_id)
        if self._components is not None:
            self._batcher.close(self.config.runtime.join_timeout_s)

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
        """Stop, drain and release everything; joins every thread (idempotent)."""
        if self.state is PipelineState.CLOSED:
            return
        if self.state is not PipelineState.NEW:
            timeout = self.config.runtime.join_timeout_s
            self.stop()
            self.wait(timeout)
            deadline = time.monotonic() + timeout
            threads = [r.thread for r in self._records.values() if r.thread is not None]
            threads += self._threads
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            stuck = [t.name for t in threads if t.is_alive()]
            if stuck:
                log.warning("threads still running %.0f s after stop: %s", timeout, stuck)
        if self._saved_switch_s is not None:
            sys.setswitchinterval(self._saved_switch_s)
            self._saved_switch_s = None
        if self._froze_gc:
            gc.unfreeze()
            self._froze_gc = False
        self.state = PipelineState.CLOSED

    def _freeze_gc(self) -> None:
        """``runtime.freeze_gc``: full collections then skip what exists at start."""
        if self.config.runtime.freeze_gc:
            gc.collect()
            gc.freeze()
            self._froze_gc = True

    def _set_switch_interval(self, device: str) -> None:
        """Apply ``runtime.gil_switch_interval_ms`` (auto: 1 ms on the GPU, else unchanged)."""
        setting = self.config.runtime.gil_switch_interval_ms
        if setting == "auto":
            if not device.startswith("cuda"):
                return
            setting = _GPU_SWITCH_INTERVAL_MS
        self._saved_switch_s = sys.getswitchinterval()
        sys.setswitchinterval(setting / 1e3)

    # -- observation -----------------------------------------------------

    @property
    def interrupted(self) -> bool:
        """Whether :meth:`stop` was called before the sources ended."""
        return self._interrupted

    def stream_status(self, stream_id: str) -> StreamStatus:
        """Fresh status of one stream: state, fps in/out, drops, reconnects, frame age."""
        record = self._records.get(stream_id)
        if record is not None:
            return record.refresh(self._batcher.dropped(stream_id))
        if stream_id in self.streams:  # a source that failed to open
            return self.streams[stream_id]
        raise KeyError(f"no stream {stream_id!r}; current streams: {sorted(self.streams)}")

    def summary(self) -> RunSummary:
        """A snapshot of progress, latencies and counts (valid while running too).

        While running it waits for the batch being tracked to finish: the counts
        are read between batches, never from tables in the middle of an update.
        """
        end = self._ended_at or time.perf_counter()
        comps = self._components
        for record in list(self._records.values()):
            record.refresh(self._batcher.dropped(record.stream_id))
        with self._streams_lock:
            line_counts = comps.analytics.line_counts() if comps else {}
            zone_counts = comps.analytics.zone_counts() if comps else {}
        return RunSummary(
            streams=list(self.streams.values()),
            wall_s=end - self._started_at if self._started_at else 0.0,
            frames=sum(s.frames_processed for s in self.streams.values()),
            stats=self.stats,
            line_counts=line_counts,
            zone_counts=zone_counts,
            events_written=comps.events_written() if comps else 0,
            delivery=comps.delivery_stats() if comps else {},
            interrupted=self.interrupted and self.error is None,
            error=self.error,
            batches=self._batches,
            process_cpu_s=(self._cpu_ended or time.process_time()) - self._cpu_started,
            sink_cpu_s={w.name: w.cpu_s for w in comps.workers()} if comps else {},
            removed_streams=self._removed,
            gpu_memory=comps.gpu_memory.snapshot() if comps else None,
        )

    # -- threads ---------------------------------------------------------

    def _spawn(self, name: str, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()
        return thread

    def _drops_on_stop(self, record: StreamRecord) -> bool:
        policy = self.config.runtime.stop_policy
        return policy == "drop" or (policy == "auto" and record.status.live)

    def _on_source_state(
        self, stream_id: str, old: SourceStreamState, new: SourceStreamState, reason: str
    ) -> None:
        """Called on a source's thread: queue the move for the inference thread's tick."""
        del old
        self._state_moves.append((stream_id, new.value, reason))

    def _on_source_error(self, stream_id: str, exc: BaseException) -> None:
        status = self.streams.get(stream_id)
        if status is not None:
            status.error = str(exc)
            status.state = "failed"
        log.error("stream %s failed: %s", stream_id, exc)

    def _infer_loop(self) -> None:
        """The ``infer`` thread: batches → detections, one batch ahead of ``track``.

        While the GPU (or ONNX Runtime, GIL released) detects batch k+1, the
        ``track`` thread tracks and analyses batch k: the two halves overlap
        instead of adding up. A small batch (a few streams, where latency
        matters more than overlap) is finished on this thread when every
        earlier batch is done: no hand-off, no thread wake-up.
        """
        assert self._components is not None
        detector, interval = self._components.detector, self.config.detector.interval
        seq = 0
        try:
            while (batch := self._batcher.next_batch(_IDLE_TICK_S)) is not None:
                seq += 1
                batch = self._current_frames(batch)
                detections = None
                if n := len(batch):
                    self.stats.add_many("batch_wait", self._batcher.last_wait_s, n)
                    detections = skipping.detect(detector, batch, interval)
                    timings = detector.last_timings
                    self.stats.add_many("preprocess", timings.preprocess_s, n)
                    self.stats.add_many("inference", timings.inference_s, n)
                    self.stats.add_many("postprocess", timings.postprocess_s, n)
                if n > _INLINE_MAX_FRAMES or not self._finish_inline(seq, batch, detections):
                    self._detected.put((seq, batch, detections))
        except Exception as exc:  # reported in the summary; the traceback goes to debug logs
            self._fail("inference", exc)
        finally:
            self._detected.put(None)

    def _track_loop(self) -> None:
        """The ``track`` thread: detections → tracks → analytics → events, in batch order."""
        try:
            while (item := self._detected.get()) is not None:
                with self._streams_lock:
                    self._finish_batch(*item)
        except Exception as exc:
            self._fail("tracking", exc)
            while self._detected.get() is not None:  # let the infer thread finish
                pass
        finally:
            self._finish()

    def _finish_inline(self, seq: int, batch: FrameBatch, detections: Detections | None) -> bool:
        """Finish batch ``seq`` on the calling thread if every earlier batch is done."""
        if not self._streams_lock.acquire(blocking=False):
            return False
        try:
            if self._finished_seq != seq - 1:
                return False  # the track thread still has earlier batches: keep the order
            self._finish_batch(seq, batch, detections)
            return True
        finally:
            self._streams_lock.release()

    def _finish_batch(self, seq: int, batch: FrameBatch, detections: Detections | None) -> None:
        """Track, analyse and publish batch ``seq`` (``_streams_lock`` held)."""
        if detections is not None:
            self._process(*only_streams(batch, detections, self._records))
        self._tick()
        self._finished_seq = seq

    def _fail(self, stage: str, exc: Exception) -> None:
        log.debug("%s loop failed", stage, exc_info=True)
        self.error = self.error or f"{type(exc).__name__}: {exc}"
        log.error("pipeline stopped: %s", self.error)
        self.stop()

    def _process(self, batch: FrameBatch, detections: Detections) -> None:
        """Track, analyse and publish one detected batch."""
        comps = self._components
        assert comps is not None
        n = len(batch)
        if n == 0:
            return
        for stream_id in {f.stream_id for f in batch.frames}:
            comps.ensure_stream(stream_id, self._records[stream_id].source.fps)
        self._account_arrivals(batch)
        self._batches += 1
        interval = self.config.detector.interval
        t0, c0 = time.perf_counter(), time.thread_time()
        tracks = skipping.track(comps.tracker, batch, detections, interval)
        t1, c1 = time.perf_counter(), time.thread_time()
        tracks = comps.analytics.roi_filter(batch, tracks)
        events = comps.analytics.update(batch, tracks)
        t2, c2 = time.perf_counter(), time.thread_time()
        self.stats.add_many("tracking", t1 - t0, n)
        self.stats.add_many("analytics", t2 - t1, n)
        # CPU time of this thread: the wall times above less waits for the GIL or a core
        self.stats.add_many("tracking_cpu", c1 - c0, n)
        self.stats.add_many("analytics_cpu", c2 - c1, n)
        comps.publish(
            EventBatch(events, tuple(f.arrival_ns for f in batch.frames)),
            in_place=n <= _INLINE_MAX_FRAMES,
        )
        if self._on_batch is not None:
            self._on_batch(batch, detections, tracks)
        self._hand_to_video(batch, tracks)

    def _current_frames(self, batch: FrameBatch) -> FrameBatch:
        """``batch`` without frames of streams removed since it was formed."""
        records = self._records
        if all(f.stream_id in records for f in batch.frames):
            return batch
        return FrameBatch(tuple(f for f in batch.frames if f.stream_id in records))

    def _account_arrivals(self, batch: FrameBatch) -> None:
        now_ns = time.monotonic_ns()
        now_s = now_ns / 1e9
        records = self._records
        for frame in batch.frames:
            records[frame.stream_id].processed(
                frame.frame_number, frame.pts_seconds, (now_ns - frame.arrival_ns) / 1e9, now_s
            )

    def _tick(self) -> None:
        """Periodic work of the inference thread: stream events and stats log lines."""
        comps = self._components
        assert comps is not None
        now = time.monotonic()
        if now >= self._next_refresh_s:  # fresh health for stats events and log lines
            self._next_refresh_s = now + _REFRESH_S
            for record in self._records.values():
                record.refresh(self._batcher.dropped(record.stream_id))
            comps.gpu_memory.sample(
                sum(r.status.state not in _CLOSED for r in self._records.values())
            )
        moves: list[Event] = []
        while self._state_moves:
            stream_id, state, reason = self._state_moves.popleft()
            moves += self._reporter.source_state(stream_id, state, reason)
        if moves:
            comps.publish(EventBatch(moves, ()))
        if stream_events := self._reporter.tick():
            comps.publish(EventBatch(stream_events, ()))
        interval = self.config.runtime.stats_log_interval_s
        if interval > 0 and now >= self._next_log_s:
            self._next_log_s = now + interval
            for record in self._records.values():
                log.info("%s", record.status.log_line())

    def _hand_to_video(self, batch: FrameBatch, tracks: Detections) -> None:
        comps = self._components
        assert comps is not None
        if comps.video is None:
            return
        records = self._records
        for slot, frame in enumerate(batch.frames):
            overlays = comps.analytics.overlays(frame.stream_id)
            record = records[frame.stream_id]
            evicted = comps.video.submit(
                (frame, tracks.for_frame(slot), overlays), droppable=record.status.live
            )
            if isinstance(evicted, tuple) and (owner := records.get(evicted[0].stream_id)):
                owner.status.video_dropped += 1

    def _finish(self) -> None:
        """Close every sink; whatever fails, mark the run done so waiters return."""
        comps = self._components
        assert comps is not None
        try:
            for record in list(self._records.values()):
                record.refresh(self._batcher.dropped(record.stream_id))
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


def only_streams(
    batch: FrameBatch, detections: Detections, stream_ids: Container[str]
) -> tuple[FrameBatch, Detections]:
    """``batch`` and its detections cut to the frames of ``stream_ids`` (streams removed
    after the batch was detected); kept frames' detections move to their new slots."""
    kept = [i for i, f in enumerate(batch.frames) if f.stream_id in stream_ids]
    if len(kept) == len(batch):
        return batch, detections
    new_slot = np.full(len(batch), -1, np.int32)
    new_slot[kept] = np.arange(len(kept), dtype=np.int32)
    rows = detections[new_slot[detections.frame_index] >= 0]
    rows.frame_index = new_slot[rows.frame_index]
    return FrameBatch(tuple(batch.frames[i] for i in kept)), rows
