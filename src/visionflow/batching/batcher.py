"""Multi-stream batcher: frames from N streams → batches of up to ``max_batch_size``.

Producers (one thread per stream) call :meth:`FrameBatcher.put`; one consumer
calls :meth:`FrameBatcher.next_batch`. A batch is emitted when it is full, or
when ``timeout_s`` has passed since its first frame arrived, whichever comes
first. The queue is bounded and ``put`` blocks when it is full, so file
sources are lossless and back-pressured by inference.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from visionflow.types import Frame, FrameBatch


@dataclass(frozen=True, slots=True)
class _EndOfStream:
    stream_id: str


class FrameBatcher:
    """Group frames of several streams into :class:`FrameBatch` objects.

    Args:
        max_batch_size: most frames in one batch.
        timeout_s: longest wait for a partial batch to fill, in seconds,
            counted from the batch's first frame.
        capacity: frames buffered before ``put`` blocks (default 2 batches).
    """

    def __init__(self, max_batch_size: int, timeout_s: float, capacity: int | None = None) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Frame | _EndOfStream] = queue.Queue(
            maxsize=capacity or 2 * max_batch_size
        )
        self._open_streams: set[str] = set()
        self._lock = threading.Lock()
        self.last_wait_s = 0.0
        """Seconds the last batch waited between its first frame and its release."""

    def register(self, stream_id: str) -> None:
        """Announce a producer; :meth:`next_batch` waits for its end marker."""
        with self._lock:
            self._open_streams.add(stream_id)

    def put(self, frame: Frame, timeout_s: float | None = None) -> bool:
        """Queue a frame, blocking while the queue is full.

        Returns:
            ``False`` if ``timeout_s`` passed before there was room.
        """
        try:
            self._queue.put(frame, timeout=timeout_s)
        except queue.Full:
            return False
        return True

    def end(self, stream_id: str, timeout_s: float | None = None) -> bool:
        """Mark ``stream_id`` finished; its queued frames are still delivered.

        Returns:
            ``False`` if ``timeout_s`` passed before there was room for the marker.
        """
        try:
            self._queue.put(_EndOfStream(stream_id), timeout=timeout_s)
        except queue.Full:
            return False
        return True

    @property
    def open_streams(self) -> int:
        """Producers registered and not yet ended."""
        with self._lock:
            return len(self._open_streams)

    def next_batch(self) -> FrameBatch | None:
        """Block for the next batch; ``None`` once every stream has ended."""
        frames: list[Frame] = []
        deadline = 0.0
        started = 0.0
        while len(frames) < self.max_batch_size:
            wait = None if not frames else max(0.0, deadline - time.perf_counter())
            item = self._get(wait, idle=not frames)
            if item is None:
                break
            if isinstance(item, _EndOfStream):
                with self._lock:
                    self._open_streams.discard(item.stream_id)
                continue
            if not frames:
                started = time.perf_counter()
                deadline = started + self.timeout_s
            frames.append(item)
        self.last_wait_s = time.perf_counter() - started if frames else 0.0
        return FrameBatch(tuple(frames)) if frames else None

    def _get(self, wait_s: float | None, *, idle: bool) -> Frame | _EndOfStream | None:
        """Next queue item; ``None`` when the partial batch must go or all ended."""
        while True:
            if idle and self.open_streams == 0 and self._queue.empty():
                return None
            try:
                return self._queue.get(timeout=0.05 if wait_s is None else wait_s)
            except queue.Empty:
                if wait_s is not None:
                    return None
