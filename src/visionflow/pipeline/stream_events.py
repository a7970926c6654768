"""``stream_state`` and ``stream_stats`` events, made from the runtime's stream status.

Called on the inference thread once per batch (after the batch's own events),
so a stream's ``finished`` event always follows the events of its last frame.
Python runs per batch and per stream here, never per frame or object.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from visionflow.events import Event, StreamState, StreamStateEvent, StreamStatsEvent

if TYPE_CHECKING:
    from visionflow.pipeline.streams import StreamStatus


_LIVE_STATES = frozenset({"running", "stalled", "reconnecting"})


class StreamReporter:
    """Emits state changes and periodic stats of every stream.

    When a stream ends, its last events are, in order: a final ``stream_stats``
    (when enabled), whatever ``on_end`` returns (the final ``counts``), and
    the ``stream_state`` change — always the stream's last event.

    Args:
        streams: returns the runtime's current status per stream (read, never
            written); a callable because streams come and go while running.
        stats_interval_s: wall-clock period of ``stream_stats``; 0 disables them.
        clock: monotonic seconds (injectable for tests).
        on_end: closing events of a stream that ended (its final counts).
        is_drained: whether an ended stream has no frame left to process;
            default: every decoded frame was processed (lossless streams).
    """

    def __init__(
        self,
        streams: Callable[[], Mapping[str, StreamStatus]],
        stats_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_end: Callable[[str], list[Event]] | None = None,
        is_drained: Callable[[str], bool] | None = None,
    ) -> None:
        self._streams = streams
        self._interval_s = stats_interval_s
        self._clock = clock
        self.on_end = on_end
        self._is_drained = is_drained
        self._state: dict[str, StreamState] = dict.fromkeys(streams(), "new")
        self._last_t = clock()
        self._last_processed = dict.fromkeys(streams(), 0)

    def started(self) -> list[Event]:
        """``new → running`` per opened stream, ``new → failed`` per stream that did not open."""
        self._last_t = self._clock()
        return [
            self._change(sid, "failed" if s.error else "running", s.error)
            for sid, s in self._streams().items()
        ]

    def add(self, stream_id: str) -> list[Event]:
        """``new → running`` of a stream added while running."""
        self._state[stream_id] = "new"
        self._last_processed[stream_id] = 0
        return [self._change(stream_id, "running", None)]

    def remove(self, stream_id: str, reason: str) -> list[Event]:
        """The closing events of a removed stream (if still running); then forget it."""
        status = self._streams().get(stream_id)
        events: list[Event] = []
        if status is not None and self._state.get(stream_id) in _LIVE_STATES:
            events = self._end(stream_id, status, reason)
        self._state.pop(stream_id, None)
        self._last_processed.pop(stream_id, None)
        return events

    def tick(self) -> list[Event]:
        """Periodic stats when the interval passed, and the end of finished streams."""
        events: list[Event] = []
        if self._interval_s > 0 and self._clock() - self._last_t >= self._interval_s:
            events += self.stats()
            self._last_t = self._clock()
        for sid, status in self._streams().items():
            if (
                self._state.get(sid) in _LIVE_STATES
                and status.finished
                and self._drained(sid, status)
            ):
                events += self._end(sid, status)
        return events

    def source_state(self, stream_id: str, source_state: str, reason: str) -> list[Event]:
        """A live source's own move (stalled, reconnecting, streaming again) as an event.

        Ends (failed, stopped, ended) are reported when the stream finishes, with its
        closing events, so they are ignored here.
        """
        current = self._state.get(stream_id)
        state: StreamState | None = {
            "stalled": "stalled",
            "reconnecting": "reconnecting",
            "streaming": "running",
        }.get(source_state)  # type: ignore[assignment]
        if state is None or current in (None, "new", state) or current not in _LIVE_STATES:
            return []
        return [self._change(stream_id, state, reason or None)]

    def _drained(self, sid: str, status: StreamStatus) -> bool:
        if self._is_drained is not None:
            return self._is_drained(sid)
        return status.frames_processed >= status.frames_decoded

    def final(self) -> list[Event]:
        """The closing events of every stream still running (see the class docstring)."""
        events: list[Event] = []
        for sid, status in self._streams().items():
            if self._state.get(sid) in _LIVE_STATES:
                events += self._end(sid, status)
        return events

    def stats(self, stream_ids: list[str] | None = None) -> list[Event]:
        """One ``stream_stats`` per running stream, over the period since the last ones."""
        interval = max(self._clock() - self._last_t, 1e-9)
        events: list[Event] = []
        streams = self._streams()
        for sid in streams if stream_ids is None else stream_ids:
            s = streams.get(sid)
            if s is None or self._state.get(sid) not in _LIVE_STATES:
                continue
            fps = (s.frames_processed - self._last_processed.get(sid, 0)) / interval
            self._last_processed[sid] = s.frames_processed
            events.append(
                StreamStatsEvent(
                    stream_id=sid,
                    frame_number=s.last_frame_number,
                    pts_seconds=s.last_pts_seconds,
                    frames_decoded=s.frames_decoded,
                    frames_processed=s.frames_processed,
                    fps=fps,
                    dropped_frames=s.dropped_frames,
                    corrupt_packets=s.corrupt_packets,
                    interval_s=interval,
                    state=s.state,
                    fps_in=s.fps_in,
                    reconnects=s.reconnects,
                    frame_age_p50_ms=s.frame_age_p50_ms,
                    frame_age_p99_ms=s.frame_age_p99_ms,
                    last_error=s.last_error,
                )
            )
        return events

    def _end(self, sid: str, status: StreamStatus, reason: str | None = None) -> list[Event]:
        events = self.stats([sid]) if self._interval_s > 0 else []
        if self.on_end is not None:
            events += self.on_end(sid)
        if status.error:
            return [*events, self._change(sid, "failed", status.error, status)]
        state: StreamState = "stopped" if status.stopped else "finished"
        return [*events, self._change(sid, state, reason, status)]

    def _change(
        self, sid: str, state: StreamState, reason: str | None, status: StreamStatus | None = None
    ) -> StreamStateEvent:
        status = status or self._streams()[sid]
        previous, self._state[sid] = self._state.get(sid, "new"), state
        return StreamStateEvent(
            stream_id=sid,
            frame_number=status.last_frame_number,
            pts_seconds=status.last_pts_seconds,
            state=state,
            previous_state=previous,
            reason=reason,
        )
