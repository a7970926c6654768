"""The source interface every input implements, and the per-stream state machine.

Lifecycle of one stream (an explicit, checked state machine)::

    STARTING ──▶ STREAMING ──▶ STALLED ──▶ RECONNECTING ──▶ STREAMING ...
        │            │                          │
        └────────────┴──▶ RECONNECTING          └──▶ FAILED (after max_attempts)
    files / VOD / image folders: STREAMING ──▶ ENDED
    permanent errors (bad data, unsupported device): STARTING|STREAMING|RECONNECTING ──▶ FAILED
    any state ──▶ STOPPED

An illegal transition raises :class:`AssertionError`-like
:class:`IllegalTransitionError`: it is a bug in the source, not a runtime
condition.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from visionflow.types import Frame

logger = logging.getLogger(__name__)


class StreamState(enum.Enum):
    """Where one stream is in its lifecycle."""

    STARTING = "starting"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"
    ENDED = "ended"


_S = StreamState
ALLOWED_TRANSITIONS: dict[StreamState, frozenset[StreamState]] = {
    _S.STARTING: frozenset({_S.STREAMING, _S.RECONNECTING, _S.FAILED, _S.ENDED}),
    _S.STREAMING: frozenset({_S.STALLED, _S.RECONNECTING, _S.FAILED, _S.ENDED}),
    _S.STALLED: frozenset({_S.RECONNECTING}),
    _S.RECONNECTING: frozenset({_S.STREAMING, _S.FAILED}),
    _S.FAILED: frozenset(),
    _S.ENDED: frozenset(),
    _S.STOPPED: frozenset(),
}
"""Legal ``old → new`` moves besides ``any → STOPPED`` (terminal states have none)."""

TERMINAL_STATES = frozenset({_S.FAILED, _S.ENDED, _S.STOPPED})

HISTORY_LENGTH = 256
"""State moves kept per stream (the oldest are forgotten first)."""

StateCallback = Callable[[str, StreamState, StreamState, str], None]
"""``on_state(stream_id, old, new, reason)``; called on the thread that made the move."""


class IllegalTransitionError(RuntimeError):
    """A source tried a state change the lifecycle forbids (a bug in visionflow)."""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A snapshot of one stream's health (safe to log: URLs and errors are masked).

    Attributes:
        stream_id: the stream's id.
        state: current lifecycle state.
        history: the latest :data:`HISTORY_LENGTH` transitions as
            ``(state, monotonic_s, reason)``, oldest first, starting with
            ``(STARTING, t0, "created")`` until that one is forgotten.
        reconnects: successful reconnections so far.
        attempts: connection attempts that failed since the last frame.
        last_error: the most recent error message (masked), or None.
        frames_read: frames yielded so far.
        frames_dropped: frames the source itself dropped because its consumer
            was slower than the camera (live sources only).
        fps_in: frames per second received over the last few seconds.
        uri_masked: the source URI with any password replaced by ``***``.
        retry_delays_s: the most recent backoff delays, oldest first.
    """

    stream_id: str
    state: StreamState
    history: tuple[tuple[StreamState, float, str], ...]
    reconnects: int
    attempts: int
    last_error: str | None
    frames_read: int
    frames_dropped: int
    fps_in: float
    uri_masked: str
    retry_delays_s: tuple[float, ...] = ()

    @property
    def states(self) -> list[StreamState]:
        """The states of :attr:`history`, in order (handy in tests and logs)."""
        return [state for state, _, _ in self.history]


@runtime_checkable
class Source(Protocol):
    """What the runtime needs from any input: iterate frames, stop, report health."""

    stream_id: str

    @property
    def is_live(self) -> bool:
        """Paced by the camera (the runtime uses drop-oldest queues), not by the pipeline."""
        ...

    @property
    def fps(self) -> float:
        """Nominal frames per second; 0.0 when unknown."""
        ...

    @property
    def frame_count(self) -> int:
        """Frames per pass; 0 when unknown or live."""
        ...

    @property
    def corrupt_packets(self) -> int:
        """Packets or images skipped because they could not be decoded."""
        ...

    def open(self) -> Source:
        """Prepare the source; files raise :class:`SourceError`, live sources only for bad args."""
        ...

    def __iter__(self) -> Iterator[Frame]: ...

    def stop(self) -> None:
        """End iteration promptly; from any thread, in any state."""
        ...

    def close(self) -> None:
        """Release everything; idempotent."""
        ...

    def health(self) -> SourceHealth:
        """A consistent snapshot of state, counters and the last error."""
        ...


@runtime_checkable
class PolledSource(Protocol):
    """A source that a loop serving many streams can drive, without a thread of its own."""

    @property
    def pollable(self) -> bool:
        """Whether :meth:`poll` may be used now (else iterate the source on a thread)."""
        ...

    @property
    def ended(self) -> bool:
        """No more frames will come."""
        ...

    def due_s(self) -> float:
        """Monotonic time the next frame is due (0 or the past: now)."""
        ...

    def poll(self) -> Frame | None:
        """The next frame if it is due, else ``None``; one polling thread at a time."""
        ...


class StateMachine:
    """The checked lifecycle of one stream, with its history (thread-safe).

    Args:
        stream_id: passed to ``on_state``.
        on_state: optional observer of every transition; exceptions it
            raises are logged, never propagated into the source.
    """

    def __init__(self, stream_id: str, on_state: StateCallback | None = None) -> None:
        self.stream_id = stream_id
        self._on_state = on_state
        self._lock = threading.Lock()
        self._state = StreamState.STARTING
        # Bounded: a camera that reconnects for weeks must not grow memory.
        self._history: collections.deque[tuple[StreamState, float, str]] = collections.deque(
            [(StreamState.STARTING, time.monotonic(), "created")], maxlen=HISTORY_LENGTH
        )

    @property
    def state(self) -> StreamState:
        """The current state."""
        return self._state

    @property
    def history(self) -> tuple[tuple[StreamState, float, str], ...]:
        """Every state entered, as ``(state, monotonic_s, reason)``."""
        with self._lock:
            return tuple(self._history)

    def move(self, new: StreamState, reason: str) -> bool:
        """Enter ``new``. A no-op returning False once STOPPED (a stop wins every race).

        Raises:
            IllegalTransitionError: ``old → new`` is not in the lifecycle.
        """
        with self._lock:
            old = self._state
            if old is StreamState.STOPPED:
                return False
            if new is not StreamState.STOPPED and new not in ALLOWED_TRANSITIONS[old]:
                raise IllegalTransitionError(
                    f"stream {self.stream_id!r}: illegal transition {old.value} -> {new.value} "
                    f"({reason}); allowed from {old.value}: "
                    f"{[*sorted(s.value for s in ALLOWED_TRANSITIONS[old]), 'stopped']}"
                )
            self._state = new
            self._history.append((new, time.monotonic(), reason))
        logger.info("stream %s: %s -> %s (%s)", self.stream_id, old.value, new.value, reason)
        self._notify(old, new, reason)
        return True

    def _notify(self, old: StreamState, new: StreamState, reason: str) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(self.stream_id, old, new, reason)
        except Exception:  # an observer must not break the stream
            logger.exception("stream %s: on_state callback failed", self.stream_id)


class RateMeter:
    """Frames per second over a sliding window of recent arrivals (monotonic clock)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window_s = window_s
        self._times: collections.deque[float] = collections.deque()

    def tick(self, now_s: float) -> None:
        """Record one frame arriving at ``now_s``."""
        self._times.append(now_s)
        cutoff = now_s - self._window_s
        while self._times[0] < cutoff:
            self._times.popleft()

    def rate(self, now_s: float) -> float:
        """Frames per second over the window ending at ``now_s`` (0.0 with < 2 frames)."""
        snapshot = list(self._times)  # one C-level copy: safe against the reader thread
        recent = [t for t in snapshot if t >= now_s - self._window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(now_s - recent[0], 1e-9)
