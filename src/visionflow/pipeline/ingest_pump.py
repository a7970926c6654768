"""One thread that takes the frames of many pollable sources into the batcher.

A thread per stream means one more thread wanting the GIL per camera: at 96
NVDEC streams the inference thread's stages ran 2-3x their isolated times
waiting for it. Sources that decode on native threads of their own (NVDEC's
threaded mode, :class:`~visionflow.sources.base.PolledSource`) need no Python
thread each: a pump visits its streams in turn, hands over every frame that
is due (``realtime`` pacing) or that the stream's lane has room for (files),
and sleeps until the earliest next due time. It never blocks on one stream's
lane: a full lossless lane keeps its frame pending and is tried again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from visionflow.batching import FrameBatcher
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.streams import StreamRecord
from visionflow.sources.base import PolledSource
from visionflow.types import Frame

log = logging.getLogger(__name__)

STREAMS_PER_PUMP = 32
"""Streams one pump serves; more streams start another pump."""

_RETRY_S = 0.002
"""How soon a stream whose frame was not ready is tried again."""
_FULL_LANE_RETRY_S = 0.01
"""How soon a file stream whose lane was full is tried again: a full lossless lane
holds a batch's worth of frames or more, and visiting it every 2 ms cost the
GIL more than it gained (every attempt takes the batcher's lock)."""
_IDLE_S = 0.02
"""Longest sleep (streams are added and stopped meanwhile)."""

FinishCallback = Callable[[StreamRecord], None]
ErrorCallback = Callable[[StreamRecord, BaseException], None]


@dataclass(slots=True)
class _Member:
    record: StreamRecord
    source: PolledSource
    pending: Frame | None = None


class SourcePump:
    """A thread serving up to :data:`STREAMS_PER_PUMP` pollable sources.

    Args:
        name: the thread's name.
        batcher: where frames go.
        stats: receives ``decode`` times of file (not live) streams.
        stop: set when the pipeline stops: streams end after their current frame.
        done: set when the run is over: pending frames are dropped.
        finish: called on this thread once a stream has ended, for whatever reason.
        on_error: called with the stream and the error that ended it.
    """

    def __init__(
        self,
        name: str,
        *,
        batcher: FrameBatcher,
        stats: LatencyStats,
        stop: threading.Event,
        done: threading.Event,
        finish: FinishCallback,
        on_error: ErrorCallback,
    ) -> None:
        self._batcher, self._stats = batcher, stats
        self._stop, self._done = stop, done
        self._finish, self._on_error = finish, on_error
        self._members: list[_Member] = []
        self._lock = threading.Lock()
        self._closed = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def add(self, record: StreamRecord, source: PolledSource) -> bool:
        """Serve ``record`` from now on; ``False`` when full or finished (use another pump)."""
        with self._lock:
            if self._closed or len(self._members) >= STREAMS_PER_PUMP:
                return False
            self._members.append(_Member(record, source))
            record.thread = self.thread
            if not self.thread.is_alive():
                self.thread.start()
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._members:
                    self._closed = True  # a later stream starts a new pump
                    return
                members = list(self._members)
            now = time.monotonic()
            wake = now + _IDLE_S
            for member in members:
                wake = min(wake, self._serve_safely(member, now))
            delay = wake - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _serve_safely(self, member: _Member, now: float) -> float:
        try:
            return self._serve(member, now)
        except Exception as exc:  # one stream's failure ends that stream only
            log.debug("stream %s: source failed", member.record.stream_id, exc_info=True)
            self._on_error(member.record, exc)
            self._end(member)
            return math.inf

    def _serve(self, member: _Member, now: float) -> float:
        """Hand over ``member``'s due frames; the monotonic time it next needs a visit."""
        source, record = member.source, member.record
        while True:
            if member.pending is None:
                due = source.due_s()
                if source.ended or self._stop.is_set():
                    self._end(member)
                    return math.inf
                if due > now:
                    return due
                t0 = time.perf_counter()
                member.pending = source.poll()
                if member.pending is None:
                    if source.ended:
                        self._end(member)
                        return math.inf
                    return now + _RETRY_S
                if not record.status.live:
                    self._stats.add("decode", time.perf_counter() - t0)
                record.status.frames_decoded += 1
            if not self._batcher.put(member.pending, timeout_s=0.0):
                if self._done.is_set() or not self._batcher.is_open(record.stream_id):
                    self._end(member)  # the run is over, or the stream was removed
                    return math.inf
                return now + _FULL_LANE_RETRY_S  # a full lossless lane: keep the frame
            member.pending = None

    def _end(self, member: _Member) -> None:
        with self._lock:
            self._members.remove(member)
        member.pending = None
        self._finish(member.record)
