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
    from visionflow.pipeline.runtime import StreamStatus


class StreamReporter:
    """Emits state changes and periodic stats of every stream.

    When a stream ends, its last events are, in order: a final ``stream_stats``
    (when enabled), whatever ``on_end`` returns (the final ``counts``), and
    the ``stream_state`` change — always the stream's last event.

    Args:
        streams: the runtime's live status per stream (read, never written).
        stats_interval_s: wall-clock period of ``stream_stats``; 0 disables them.
        clock: monotonic seconds (injectable for tests).
        on_end: closing events of a stream that ended (its final counts).
    """

    def __init__(
        self,
        streams: Mapping[str, StreamStatus],
        stats_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_end: Callable[[str], list[Event]] | None = None,
    ) -> None:
        self._streams = streams
        self._interval_s = stats_interval_s
        self._clock = clock
        self.on_end = on_end
        self._state: dict[str, StreamState] = dict.fromkeys(streams, "new")
        self._last_t = clock()
        self._last_processed = dict.fromkeys(streams, 0)

    def started(self) -> list[Event]:
        """``new → running`` per opened stream, ``new → failed`` per stream that did not open."""
        self._last_t = self._clock()
        return [
            self._change(sid, "failed" if s.error else "running", s.error)
            for sid, s in self._streams.items()
        ]

    def tick(self) -> list[Event]:
        """Periodic stats when the interval passed, and the end of finished streams."""
        events: list[Event] = []
        if self._interval_s > 0 and self._clock() - self._last_t >= self._interval_s:
            events += self.stats()
            self._last_t = self._clock()
        for sid, status in self._streams.items():
            done = status.finished and status.frames_processed >= status.frames_decoded
            if done and self._state[sid] == "running":
                events += self._end(sid, status)
        return events

    def final(self) -> list[Event]:
        """The closing events of every stream still running (see the class docstring)."""
        events: list[Event] = []
        for sid, status in self._streams.items():
            if self._state[sid] == "running":
                events += self._end(sid, status)
        return events

    def stats(self, stream_ids: list[str] | None = None) -> list[Event]:
        """One ``stream_stats`` per running stream, over the period since the last ones."""
        interval = max(self._clock() - self._last_t, 1e-9)
        events: list[Event] = []
        for sid in self._streams if stream_ids is None else stream_ids:
            s = self._streams[sid]
            if self._state[sid] != "running":
                continue
            fps = (s.frames_processed - self._last_processed[sid]) / interval
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
                )
            )
        return events

    def _end(self, sid: str, status: StreamStatus) -> list[Event]:
        events = self.stats([sid]) if self._interval_s > 0 else []
        if self.on_end is not None:
            events += self.on_end(sid)
        if status.error:
            return [*events, self._change(sid, "failed", status.error)]
        return [*events, self._change(sid, "stopped" if status.stopped else "finished", None)]

    def _change(self, sid: str, state: StreamState, reason: str | None) -> StreamStateEvent:
        status = self._streams[sid]
        previous, self._state[sid] = self._state[sid], state
        return StreamStateEvent(
            stream_id=sid,
            frame_number=status.last_frame_number,
            pts_seconds=status.last_pts_seconds,
            state=state,
            previous_state=previous,
            reason=reason,
        )
