"""Source threads: from each stream's source into the batcher.

A stream gets a thread of its own that iterates its source, times the decode
of file streams, and hands every frame to the stream's batcher lane (a
lossless lane blocks, a live lane drops its oldest). Sources that decode on
native threads and can be polled (NVDEC's threaded mode) share a few
:class:`~visionflow.pipeline.ingest_pump.SourcePump` threads instead. Errors
of one source end that stream only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from visionflow.batching import FrameBatcher
from visionflow.errors import SourceError
from visionflow.pipeline.ingest_pump import SourcePump
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.streams import StreamRecord
from visionflow.sources.base import PolledSource
from visionflow.types import Frame

log = logging.getLogger(__name__)

_PUT_POLL_S = 0.1

ErrorCallback = Callable[[str, BaseException], None]


class SourceThreads:
    """Start and run the thread of each stream's source.

    Args:
        batcher: where frames go.
        stats: receives ``decode`` times of file streams (a live source decodes on its
            own reader thread; the time its iterator blocks is the camera's pace).
        stop: set when the pipeline stops: sources end after their current frame.
        done: set when the run is over: producers waiting for room give up.
        on_error: called with the stream id and the error that ended it.
    """

    def __init__(
        self,
        batcher: FrameBatcher,
        stats: LatencyStats,
        stop: threading.Event,
        done: threading.Event,
        on_error: ErrorCallback,
    ) -> None:
        self._batcher = batcher
        self._stats = stats
        self._stop = stop
        self._done = done
        self._on_error = on_error
        self._pumps: list[SourcePump] = []
        self._lock = threading.Lock()

    def start(self, record: StreamRecord) -> None:
        """Start ``record``'s thread (named ``source-<id>``), or hand it to a pump."""
        source = record.source
        if isinstance(source, PolledSource) and source.pollable:
            self._pump(record, source)
            return
        thread = threading.Thread(
            target=self._run, args=(record,), name=f"source-{record.stream_id}", daemon=True
        )
        record.thread = thread
        thread.start()

    def _pump(self, record: StreamRecord, source: PolledSource) -> None:
        with self._lock:
            self._pumps = [p for p in self._pumps if p.thread.is_alive()]
            if any(pump.add(record, source) for pump in self._pumps):
                return
            pump = SourcePump(
                f"source-pump-{len(self._pumps)}",
                batcher=self._batcher,
                stats=self._stats,
                stop=self._stop,
                done=self._done,
                finish=self._finish,
                on_error=lambda rec, exc: self._on_error(rec.stream_id, exc),
            )
            self._pumps.append(pump)
            pump.add(record, source)

    def _run(self, record: StreamRecord) -> None:
        status = record.status
        try:
            for frame in self._frames(record):
                status.frames_decoded += 1
                if not self._hand_over(frame):
                    break
        except SourceError as exc:
            self._on_error(record.stream_id, exc)
        except Exception as exc:  # a bug in one source must not take the others down
            log.debug("stream %s: source thread failed", record.stream_id, exc_info=True)
            self._on_error(record.stream_id, exc)
        finally:
            self._finish(record)

    def _finish(self, record: StreamRecord) -> None:
        """``record``'s producer has ended (on the thread that produced)."""
        status = record.status
        dropped = self._batcher.dropped(record.stream_id)
        record.batcher_dropped = max(record.batcher_dropped, dropped)
        status.stopped = self._stop.is_set() or record.removed
        if not record.removed:
            record.source.close()
        status.finished = True
        self._batcher.end(record.stream_id)
        record.done.set()

    def _hand_over(self, frame: Frame) -> bool:
        """Queue ``frame`` (lossless lanes block); ``False`` once the stream must stop."""
        while not self._batcher.put(frame, timeout_s=_PUT_POLL_S):
            if self._done.is_set() or not self._batcher.is_open(frame.stream_id):
                return False  # the run is over, or the stream was removed
        return not self._stop.is_set()

    def _frames(self, record: StreamRecord) -> Iterator[Frame]:
        frames = iter(record.source)
        if record.status.live:
            yield from frames
            return
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            self._stats.add("decode", time.perf_counter() - t0)
            yield frame
