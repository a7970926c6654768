"""A bounded-queue worker thread: the building block between pipeline stages."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class QueueWorker(Generic[T]):
    """Run ``handle(item)`` on a thread for every item submitted, in order.

    ``submit`` blocks while the queue is full (lossless back-pressure, right
    for file sources). The first exception raised by ``handle`` is kept in
    :attr:`error` and later items are discarded, so one failing sink does not
    take the pipeline down with a traceback.

    Args:
        name: thread name, shown in logs.
        handle: called once per item on the worker thread.
        capacity: items buffered before ``submit`` blocks.
    """

    def __init__(self, name: str, handle: Callable[[T], None], capacity: int = 16) -> None:
        self.name = name
        self._handle = handle
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.error: BaseException | None = None
        self.cpu_s = 0.0
        """CPU seconds the worker thread has used so far."""

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, item: T) -> None:
        """Queue ``item``; blocks while the queue is full."""
        self._queue.put(item)

    def close(self, timeout_s: float = 60.0) -> None:
        """Let queued items finish, then stop the thread (idempotent).

        Raises:
            TimeoutError: the thread was still busy after ``timeout_s``.
        """
        if self._thread.is_alive():
            deadline = time.monotonic() + timeout_s
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                raise TimeoutError(
                    f"{self.name} did not take its stop in {timeout_s:.0f} s"
                ) from None
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                raise TimeoutError(f"{self.name} did not finish within {timeout_s:.0f} s")

    def _loop(self) -> None:
        started = time.thread_time()
        while (item := self._queue.get()) is not _STOP:
            self.cpu_s = time.thread_time() - started
            if self.error is not None:
                continue
            try:
                self._handle(item)  # type: ignore[arg-type]
            except Exception as exc:  # a sink failure is reported, not fatal
                log.error("%s failed: %s", self.name, exc)
                self.error = exc
        self.cpu_s = time.thread_time() - started
