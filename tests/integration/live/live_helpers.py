"""Helpers for the live-source tests: consume a source on a thread, wait for states."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from visionflow.sources import Source, StreamState


@dataclass
class Collected:
    """What a consumer thread saw: per frame (monotonic arrival s, frame_number, pts)."""

    frames: list[tuple[float, int, float]] = field(default_factory=list)
    error: BaseException | None = None
    ended_s: float | None = None


class Consumer:
    """Iterate ``source`` on a thread until it ends, fails or is stopped."""

    def __init__(
        self, source: Source, max_frames: int | None = None, per_frame_s: float = 0.0
    ) -> None:
        self.source = source
        self.got = Collected()
        self._max = max_frames
        self._per_frame_s = per_frame_s
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for frame in self.source:
                self.got.frames.append((time.monotonic(), frame.frame_number, frame.pts_seconds))
                if self._max is not None and len(self.got.frames) >= self._max:
                    break
                time.sleep(self._per_frame_s)  # a slow consumer
        except BaseException as exc:  # recorded for the test to assert on
            self.got.error = exc
        finally:
            self.got.ended_s = time.monotonic()

    def frames_after(self, t_s: float) -> int:
        return sum(1 for arrival, _, _ in self.got.frames if arrival > t_s)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``predicate`` every 20 ms; the monotonic time it became true, else fail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def in_state(source: Source, state: StreamState) -> Callable[[], bool]:
    return lambda: source.health().state is state


def entered(source: Source, state: StreamState, after_index: int = 0) -> Callable[[], bool]:
    """True once ``state`` appears in the history at or after position ``after_index``."""
    return lambda: state in source.health().states[after_index:]
