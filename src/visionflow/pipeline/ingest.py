"""Source threads: one per stream, from its source's frames into the batcher.

Each thread iterates its source, times the decode of file streams, and hands
every frame to the stream's batcher lane (a lossless lane blocks, a live lane
drops its oldest). Errors of one source end that stream only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from visionflow.batching import FrameBatcher
from visionflow.errors import SourceError
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.streams import StreamRecord
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

    def start(self, record: StreamRecord) -> None:
        """Start ``record``'s thread (named ``source-<id>``)."""
        thread = threading.Thread(
            target=self._run, args=(record,), name=f"source-{record.stream_id}", daemon=True
        )
        record.thread = thread
        thread.start()

    def _run(self, record: StreamRecord) -> None:
        status, source = record.status, record.source
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
            record.batcher_dropped = max(
                record.batcher_dropped, self._batcher.dropped(record.stream_id)
            )
            status.stopped = self._stop.is_set() or record.removed
            if not record.removed:
                source.close()
            status.finished = True
            self._batcher.end(record.stream_id)

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
