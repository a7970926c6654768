"""Multi-stream batcher: frames from N streams → batches of up to ``max_batch_size``.

Every stream has its own bounded lane (a FIFO of frames). Producers (one
thread per stream) call :meth:`FrameBatcher.put`; one consumer calls
:meth:`FrameBatcher.next_batch`, which takes frames from the lanes round-robin
so that a fast stream cannot starve a slow one. A batch is emitted when it is
full, or when ``timeout_s`` has passed since its oldest frame arrived,
whichever comes first (DeepStream's batched-push-timeout).

What a full lane does depends on the stream:

- **lossless** lanes (files): ``put`` blocks until there is room, so files are
  back-pressured by inference and never lose a frame;
- **live** lanes (cameras, or files paced in real time): ``put`` never blocks;
  the oldest queued frame is dropped and counted (a stale frame is worse than
  a dropped one, and a camera cannot be paused).

Streams can be registered and removed while batches are being formed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from visionflow.types import Frame, FrameBatch

DEFAULT_LIVE_CAPACITY = 2
"""Frames a live lane holds before it drops the oldest."""


@dataclass
class _Lane:
    capacity: int
    live: bool
    frames: deque[Frame] = field(default_factory=deque)
    ended: bool = False


class FrameBatcher:
    """Group frames of several streams into :class:`FrameBatch` objects.

    Args:
        max_batch_size: most frames in one batch.
        timeout_s: longest wait for a partial batch to fill, in seconds,
            counted from the arrival (``Frame.arrival_ns``, monotonic clock) of
            its oldest frame.
        capacity: frames a lossless lane buffers before ``put`` blocks
            (default ``max(2, max_batch_size)``).
        live_capacity: frames a live lane buffers before it drops the oldest.
        stay_open: keep :meth:`next_batch` waiting when no stream is
            registered (streams may be added later) until :meth:`close`;
            otherwise it returns ``None`` once every stream has ended.
        spin_s: for this long after it released a batch, :meth:`next_batch`
            polls for the next frame instead of sleeping on the condition
            (0: it sleeps at once). Polling keeps the consumer's core awake,
            so a frame that comes within ``spin_s`` meets a warm CPU instead
            of one that must wake up; the cost is that core, busy while it
            polls. Each poll releases the GIL.

    A :meth:`put` that wakes a consumer idle in :meth:`next_batch` then
    sleeps for zero seconds: that releases the GIL to the consumer at once,
    instead of at the producer's next blocking call or the interpreter's
    switch interval (on a 2-core VM the hand-off took 317 µs median without
    it, 156 µs with it; ``benchmarks/cpu_handoffs.py``). A busy consumer is
    not waiting, so under load nothing changes.
    """

    YIELD_TO_IDLE_CONSUMER = True
    """Class switch for that zero sleep (the benchmark's baseline turns it off)."""

    def __init__(
        self,
        max_batch_size: int,
        timeout_s: float,
        capacity: int | None = None,
        *,
        live_capacity: int = DEFAULT_LIVE_CAPACITY,
        stay_open: bool = False,
        spin_s: float = 0.0,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
        if live_capacity < 1:
            raise ValueError(f"live_capacity must be >= 1, got {live_capacity}")
        if spin_s < 0:
            raise ValueError(f"spin_s must be >= 0, got {spin_s}")
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._capacity = capacity or max(2, max_batch_size)
        self._live_capacity = live_capacity
        self._stay_open = stay_open
        self.spin_s = spin_s
        self._changes = 0  # bumped by every notify: what a polling consumer watches
        self._released_at = -math.inf  # monotonic s when next_batch last returned frames
        self._closed_at: float | None = None
        self._lanes: dict[str, _Lane] = {}
        self._dropped: dict[str, int] = {}
        self._cond = threading.Condition()
        self._next_lane = 0
        self._idle_consumers = 0  # next_batch calls waiting for a first frame
        self.last_wait_s = 0.0
        """Seconds the last batch waited between its first frame and its release."""

    def _notify(self) -> None:
        """Wake every waiter, and a consumer polling in :meth:`_spin` (lock held)."""
        self._changes += 1
        self._cond.notify_all()

    # -- producers -------------------------------------------------------------

    def register(self, stream_id: str, *, live: bool = False) -> None:
        """Open a lane for ``stream_id``; :meth:`next_batch` waits for its end.

        Raises:
            ValueError: ``stream_id`` already has an open lane.
        """
        with self._cond:
            lane = self._lanes.get(stream_id)
            if lane is not None and not lane.ended:
                raise ValueError(f"stream {stream_id!r} is already registered")
            capacity = self._live_capacity if live else self._capacity
            new = _Lane(capacity, live)
            if lane is not None:  # an ended lane still draining: keep its frames first
                new.frames = lane.frames
            self._lanes[stream_id] = new
            self._notify()

    def put(self, frame: Frame, timeout_s: float | None = None) -> bool:
        """Queue a frame: lossless lanes block while full, live lanes drop their oldest.

        Returns:
            ``False`` if ``timeout_s`` passed before there was room, or the
            stream has no open lane (it was removed or ended): stop producing.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                lane = self._lanes.get(frame.stream_id)
                if lane is None or lane.ended:
                    return False
                if len(lane.frames) < lane.capacity:
                    break
                if lane.live:
                    lane.frames.popleft()
                    self._dropped[frame.stream_id] = self._dropped.get(frame.stream_id, 0) + 1
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            lane.frames.append(frame)
            self._notify()
            woke_idle = self._idle_consumers > 0
        if woke_idle and self.YIELD_TO_IDLE_CONSUMER:
            time.sleep(0)  # let the woken consumer take the GIL now (see the class docstring)
        return True

    def end(self, stream_id: str, timeout_s: float | None = None) -> bool:
        """Mark ``stream_id`` finished; its queued frames are still delivered.

        ``timeout_s`` is accepted for compatibility; ending never blocks.

        Returns:
            ``False`` if the stream has no lane (never registered or removed).
        """
        del timeout_s
        with self._cond:
            lane = self._lanes.get(stream_id)
            if lane is None:
                return False
            lane.ended = True
            self._drop_finished_lanes()
            self._notify()
        return True

    def remove(self, stream_id: str) -> int:
        """Close ``stream_id``'s lane now, discarding its queued frames.

        Returns:
            The number of frames discarded.
        """
        with self._cond:
            lane = self._lanes.pop(stream_id, None)
            self._dropped.pop(stream_id, None)
            self._notify()
        return len(lane.frames) if lane is not None else 0

    def discard_queued(self, stream_id: str) -> int:
        """Drop ``stream_id``'s queued frames, counted as dropped (live streams at stop).

        Returns:
            The number of frames discarded.
        """
        with self._cond:
            lane = self._lanes.get(stream_id)
            if lane is None:
                return 0
            n = len(lane.frames)
            lane.frames.clear()
            self._dropped[stream_id] = self._dropped.get(stream_id, 0) + n
            self._drop_finished_lanes()
            self._notify()
        return n

    def close(self, grace_s: float = 10.0) -> None:
        """Finish: :meth:`next_batch` returns ``None`` once every lane has ended and
        drained, or once ``grace_s`` has passed (a producer that never ends)."""
        with self._cond:
            if self._closed_at is None:
                self._closed_at = time.monotonic() + grace_s
            self._notify()

    def wake(self) -> None:
        """Wake a consumer blocked in :meth:`next_batch` (it re-checks and waits again)."""
        with self._cond:
            self._notify()

    # -- observation -------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        """Lanes registered and not yet ended."""
        with self._cond:
            return sum(not lane.ended for lane in self._lanes.values())

    def dropped(self, stream_id: str) -> int:
        """Frames of ``stream_id`` dropped so far (kept after its end, forgotten on remove)."""
        with self._cond:
            return self._dropped.get(stream_id, 0)

    def is_open(self, stream_id: str) -> bool:
        """Whether ``stream_id`` has a lane that still accepts frames."""
        with self._cond:
            lane = self._lanes.get(stream_id)
            return lane is not None and not lane.ended

    def has_lane(self, stream_id: str) -> bool:
        """Whether ``stream_id`` still has a lane (open, or ended with frames queued)."""
        with self._cond:
            return stream_id in self._lanes

    def queued(self, stream_id: str) -> int:
        """Frames of ``stream_id`` waiting to be batched."""
        with self._cond:
            lane = self._lanes.get(stream_id)
            return len(lane.frames) if lane is not None else 0

    # -- consumer ----------------------------------------------------------------

    def next_batch(self, idle_timeout_s: float | None = None) -> FrameBatch | None:
        """Block for the next batch.

        Args:
            idle_timeout_s: give up waiting for a first frame after this long
                and return an empty batch (``None`` = wait as long as needed).

        Returns:
            The batch, frames of one stream in time order; an empty batch
            when ``idle_timeout_s`` passed; ``None`` once the batcher is done
            (every stream ended and drained, or closed and drained).
        """
        with self._cond:
            if not self._wait_for_first(idle_timeout_s):
                return None
            if not self._any_queued():
                return FrameBatch(())
            started = time.perf_counter()
            frames: list[Frame] = []
            self._take_round_robin(frames)
            # The timeout runs from the oldest frame's arrival, not from now: frames that
            # queued while the previous batch was processed have already waited.
            oldest_s = min(f.arrival_ns for f in frames) / 1e9
            deadline = min(oldest_s, time.monotonic()) + self.timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if len(frames) >= self.max_batch_size or remaining <= 0:
                    break
                if not self._more_may_come():
                    break
                self._cond.wait(remaining)
                self._take_round_robin(frames)
            self._drop_finished_lanes()
            self._notify()
            self._released_at = time.monotonic()
        self.last_wait_s = time.perf_counter() - started
        return FrameBatch(tuple(frames))

    def _wait_for_first(self, idle_timeout_s: float | None) -> bool:
        """Wait until a frame is queued; ``False`` when the batcher is done.

        Until ``spin_s`` after the last batch was released the wait polls
        (:meth:`_spin`); after that it sleeps.
        """
        deadline = None if idle_timeout_s is None else time.monotonic() + idle_timeout_s
        spin_until = self._released_at + self.spin_s
        while not self._any_queued():
            if self._done():
                return False
            now = time.monotonic()
            remaining = None if deadline is None else deadline - now
            if remaining is not None and remaining <= 0:
                return True
            if self._closed_at is not None:  # wake up to notice the grace deadline
                remaining = min(remaining or 0.1, 0.1)
            self._idle_consumers += 1
            try:
                if now < spin_until:
                    self._spin(spin_until if deadline is None else min(spin_until, deadline))
                else:
                    self._cond.wait(remaining)
            finally:
                self._idle_consumers -= 1
        return True

    def _spin(self, until: float) -> None:
        """Poll until something changes or ``until`` (monotonic s): lock released, GIL yielded."""
        seen = self._changes
        self._cond.release()
        try:
            while self._changes == seen and time.monotonic() < until:
                time.sleep(0)
        finally:
            self._cond.acquire()

    def _done(self) -> bool:
        all_ended = not any(not lane.ended for lane in self._lanes.values())
        if self._closed_at is not None:
            return all_ended or time.monotonic() >= self._closed_at
        return not self._stay_open and all_ended

    def _any_queued(self) -> bool:
        return any(lane.frames for lane in self._lanes.values())

    def _more_may_come(self) -> bool:
        return any(not lane.ended for lane in self._lanes.values())

    def _take_round_robin(self, frames: list[Frame]) -> None:
        """Move queued frames into ``frames``, one per lane per round, until full or empty."""
        lanes = list(self._lanes.values())
        if not lanes:
            return
        start = self._next_lane % len(lanes)
        order = lanes[start:] + lanes[:start]
        while len(frames) < self.max_batch_size:
            took = False
            for lane in order:
                if lane.frames and len(frames) < self.max_batch_size:
                    frames.append(lane.frames.popleft())
                    took = True
            if not took:
                break
        self._next_lane = start + 1

    def _drop_finished_lanes(self) -> None:
        for stream_id in [s for s, lane in self._lanes.items() if lane.ended and not lane.frames]:
            del self._lanes[stream_id]
