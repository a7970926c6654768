"""Per-stream bookkeeping of the runtime: status, frame age, rates and source health.

One :class:`StreamRecord` per running stream holds its source, its thread and
the measures the runtime updates per frame (cheap appends); the public,
plain-data :class:`StreamStatus` is refreshed from them on demand.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from visionflow.pipeline.stats import SampleWindow
from visionflow.sources.base import RateMeter, Source

_AGE_WINDOW = 2048
"""Frame ages kept per stream for the p50/p99 (the latest ones)."""
_RATE_WINDOW_S = 5.0


@dataclass
class StreamStatus:
    """Progress and health of one stream (a snapshot; see :meth:`Pipeline.stream_status`).

    Attributes:
        stream_id: the stream's id.
        live: paced by its camera (drop-oldest queues) rather than by the pipeline.
        state: lifecycle state of the source (``starting``, ``streaming``,
            ``stalled``, ``reconnecting``, ``failed``, ``stopped``, ``ended``).
        expected_frames: frames per pass announced by the file; 0 when unknown or live.
        frames_decoded: frames the source delivered to the pipeline.
        frames_processed: frames that went through detection, tracking and analytics.
        corrupt_packets: packets or images skipped because they could not be decoded.
        dropped_frames: frames the source delivered that were dropped before
            inference because the pipeline was slower than the live stream, or
            discarded at stop (never for lossless file streams);
            ``frames_decoded = frames_processed + dropped_frames`` once a stream ended.
        source_dropped: frames a live source skipped before delivering them
            (it was not read fast enough, e.g. a CPU-starved reader thread).
        video_dropped: frames of a live stream the video recorder skipped
            because encoding was slower than the stream.
        reconnects: successful reconnections of a live source.
        last_error: the most recent source error (credentials masked), even if
            the source recovered since.
        error: why the stream ended in failure; None while it is healthy.
        fps_in: frames per second received over the last few seconds.
        fps_out: frames per second processed over the last few seconds.
        frame_age_p50_ms: median of now − arrival when a frame entered
            inference, over the stream's latest frames.
        frame_age_p99_ms: 99th percentile of the same.
        finished: the stream's source ended (end of file, failure or stop).
        stopped: it ended because the pipeline or the user stopped it.
        last_frame_number: number of the last processed frame.
        last_pts_seconds: presentation time of the last processed frame.
    """

    stream_id: str
    live: bool = False
    state: str = "starting"
    expected_frames: int = 0
    frames_decoded: int = 0
    frames_processed: int = 0
    corrupt_packets: int = 0
    dropped_frames: int = 0
    source_dropped: int = 0
    video_dropped: int = 0
    reconnects: int = 0
    last_error: str | None = None
    error: str | None = None
    fps_in: float = 0.0
    fps_out: float = 0.0
    frame_age_p50_ms: float = 0.0
    frame_age_p99_ms: float = 0.0
    finished: bool = False
    stopped: bool = False
    last_frame_number: int = 0
    last_pts_seconds: float = 0.0

    def log_line(self) -> str:
        """One line for periodic logs."""
        line = (
            f"stream {self.stream_id}: {self.state}, in {self.fps_in:.1f} fps, "
            f"out {self.fps_out:.1f} fps, processed {self.frames_processed}, "
            f"dropped {self.dropped_frames + self.source_dropped}, reconnects {self.reconnects}, "
            f"frame age p50 {self.frame_age_p50_ms:.0f} ms p99 {self.frame_age_p99_ms:.0f} ms"
        )
        if self.last_error:
            line += f", last error: {self.last_error}"
        return line


class StreamRecord:
    """A running stream: its source, its thread and its live measures.

    Args:
        stream_id: the stream's id.
        source: the opened source.
    """

    def __init__(self, stream_id: str, source: Source) -> None:
        self.stream_id = stream_id
        self.source = source
        self.status = StreamStatus(
            stream_id, live=source.is_live, expected_frames=source.frame_count
        )
        self.thread: threading.Thread | None = None  # its own, or a pump's it shares
        self.done = threading.Event()  # set once its producer has ended
        self.batcher_dropped = 0
        self.removed = False
        self._ages_s = SampleWindow(_AGE_WINDOW)
        self._out = RateMeter(_RATE_WINDOW_S)
        self._lock = threading.Lock()

    def processed(self, frame_number: int, pts_seconds: float, age_s: float, now_s: float) -> None:
        """Account one processed frame (inference thread)."""
        status = self.status
        status.frames_processed += 1
        status.last_frame_number = frame_number
        status.last_pts_seconds = pts_seconds
        with self._lock:
            self._ages_s.add(age_s)
            self._out.tick(now_s)

    def refresh(self, batcher_dropped: int | None = None) -> StreamStatus:
        """Update :attr:`status` from the source's health and the measures; return it."""
        if batcher_dropped is not None:
            self.batcher_dropped = max(self.batcher_dropped, batcher_dropped)
        status = self.status
        health = self.source.health()
        status.state = health.state.value
        status.reconnects = health.reconnects
        status.last_error = health.last_error
        status.fps_in = health.fps_in
        status.corrupt_packets = self.source.corrupt_packets
        status.dropped_frames = self.batcher_dropped
        status.source_dropped = health.frames_dropped
        with self._lock:
            p50, p99 = self._ages_s.percentiles([50, 99])
            status.fps_out = self._out.rate(time.monotonic())
        status.frame_age_p50_ms = p50 * 1e3
        status.frame_age_p99_ms = p99 * 1e3
        return status
