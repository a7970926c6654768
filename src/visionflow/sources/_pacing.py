"""Pace a finite source at its native frame rate so it stands in for a camera."""

from __future__ import annotations

import threading
import time


class Pacer:
    """Release frame ``i`` no earlier than ``start + i / fps`` (monotonic clock).

    A late frame is released at once; the schedule is not shifted, so a
    temporary slowdown is caught up like a camera's fixed clock would.
    A gap longer than one second (a paused consumer) restarts the schedule
    instead of bursting.

    Either :meth:`wait` per frame (a thread per source), or :meth:`due_s`
    and :meth:`advance` (a loop that serves several sources).

    Args:
        fps: frames per second; 0 or less disables pacing.
        stop: waiting ends early when this event is set.
    """

    def __init__(self, fps: float, stop: threading.Event) -> None:
        self._period_s = 1.0 / fps if fps > 0 else 0.0
        self._stop = stop
        self._start: float | None = None
        self._index = 0

    def wait(self) -> bool:
        """Sleep until the next frame is due; True when stopped meanwhile."""
        if self._period_s == 0.0:
            return self._stop.is_set()
        stopped = self._stop.wait(max(0.0, self.due_s() - time.monotonic()))
        self.advance()
        return stopped

    def due_s(self) -> float:
        """Monotonic time the next frame is due (now or earlier when it is late)."""
        if self._period_s == 0.0:
            return 0.0
        now = time.monotonic()
        if self._start is None or now - self._due() > 1.0:
            self._start, self._index = now, 0
        return self._due()

    def restart(self) -> None:
        """Start the schedule again now: the next frame released is due now.

        For a source that paused on its own (a looped file whose decoder
        restarts): a camera's clock starts with its first picture, and
        delivering the frames of the pause in a burst would overflow a live lane.
        """
        if self._period_s > 0.0:
            self._start, self._index = time.monotonic(), 0

    def advance(self) -> None:
        """The next frame was released: schedule the one after it."""
        self._index += 1

    def _due(self) -> float:
        assert self._start is not None
        return self._start + self._index * self._period_s
