"""A bounded-queue worker thread: the building block between pipeline stages."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Stop:
    pass


_STOP = _Stop()


class QueueWorker(Generic[T]):
    """Run ``handle(item)`` on a thread for every item submitted, in order.

    ``submit`` blocks while the queue is full (lossless back-pressure, right
    for file sources), except for items submitted as *droppable* (frames of
    live streams): when the queue is full those evict the oldest droppable
    item instead, so a slow sink never stalls a camera's pipeline; a
    non-droppable item is never evicted. The first exception raised by
    ``handle`` is kept in :attr:`error` and later items are discarded, so one
    failing sink does not take the pipeline down with a traceback.

    Args:
        name: thread name, shown in logs.
        handle: called once per item on the worker thread.
        capacity: items buffered before ``submit`` blocks or evicts.
    """

    def __init__(self, name: str, handle: Callable[[T], None], capacity: int = 16) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.name = name
        self._handle = handle
        self._capacity = capacity
        self._items: deque[tuple[T | _Stop, bool]] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.error: BaseException | None = None
        self.cpu_s = 0.0
        """CPU seconds the worker thread has used so far (not items handled in place)."""
        self._busy = False
        """An item is being handled (on the worker thread or in place): the next waits."""

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, item: T, *, droppable: bool = False) -> T | None:
        """Queue ``item``; blocks while full unless a droppable item can be evicted.

        Returns:
            The evicted (oldest droppable) item when ``item`` is droppable and
            the queue was full, else ``None``.
        """
        with self._cond:
            while len(self._items) >= self._capacity:
                if droppable and (evicted := self._evict_oldest_droppable()) is not None:
                    self._items.append((item, True))
                    self._cond.notify_all()
                    return evicted
                self._cond.wait()
            self._items.append((item, droppable))
            self._cond.notify_all()
        return None

    def handle_if_idle(self, item: T) -> bool:
        """Handle ``item`` on the calling thread if nothing is queued or being handled.

        Saves the hand-off (a thread wake-up) when the worker is idle, e.g. one
        stream's events, which are small. Order is kept: the worker takes no
        item while this one is handled. Returns False, without handling it,
        when the worker has work (then :meth:`submit` it), was stopped or failed.
        """
        with self._cond:
            if self._items or self._busy or self.error is not None or not self._thread.is_alive():
                return False
            self._busy = True
        try:
            self._handle_safely(item)
        finally:
            self._idle()
        return True

    def close(self, timeout_s: float = 60.0) -> None:
        """Let queued items finish, then stop the thread (idempotent).

        Raises:
            TimeoutError: the thread was still busy after ``timeout_s``.
        """
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._items) >= self._capacity:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name} did not take its stop in {timeout_s:.0f} s")
                self._cond.wait(remaining)
            self._items.append((_STOP, False))
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            raise TimeoutError(f"{self.name} did not finish within {timeout_s:.0f} s")

    def _evict_oldest_droppable(self) -> T | None:
        for i, (queued, droppable) in enumerate(self._items):
            if droppable:
                del self._items[i]
                assert not isinstance(queued, _Stop)
                return queued
        return None

    def _next(self) -> T | _Stop:
        with self._cond:
            while not self._items or self._busy:
                self._cond.wait()
            item, _ = self._items.popleft()
            self._busy = not isinstance(item, _Stop)
            self._cond.notify_all()
        return item

    def _loop(self) -> None:
        started = time.thread_time()
        while not isinstance(item := self._next(), _Stop):
            self.cpu_s = time.thread_time() - started
            try:
                self._handle_safely(item)
            finally:
                self._idle()
        self.cpu_s = time.thread_time() - started

    def _idle(self) -> None:
        """The item being handled is done: the next may start."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _handle_safely(self, item: T) -> None:
        """Handle ``item`` unless an earlier item failed; keep the first failure."""
        if self.error is not None:
            return
        try:
            self._handle(item)
        except Exception as exc:  # a sink failure is reported, not fatal
            log.error("%s failed: %s", self.name, exc)
            self.error = exc
