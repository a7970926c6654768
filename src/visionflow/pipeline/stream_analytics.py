"""Per-stream analytics (lines, zones) and their translation into events.

The analytics counters compute with NumPy over all tracks of a frame; this
module only turns their (rare) results into event objects and captions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from visionflow.analytics import LineCounter, LineCrossings, ZoneCounter, ZoneUpdate
from visionflow.events import (
    CountsEvent,
    Event,
    LineCrossedEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
)
from visionflow.overlay import LineOverlay, ZoneOverlay
from visionflow.types import Detections, Frame, FrameBatch


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events of one batch and the arrival times of its frames (for end-to-end latency)."""

    events: list[Event]
    arrival_ns: tuple[int, ...]


@dataclass
class NamedLine:
    """A line counter with its direction names."""

    counter: LineCounter
    in_name: str
    out_name: str
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]


@dataclass
class StreamAnalytics:
    """Lines and zones of one stream; emits events and keeps totals.

    Args:
        stream_id: the stream these counters belong to.
        lines: line counters of this stream.
        zones: zone counters of this stream with their polygons.
        class_names: the model's labels.
        fps: the stream's frame rate, to turn dwell frames into seconds.
        counts_interval_s: period of ``counts`` events in video seconds; 0 = never.
    """

    stream_id: str
    lines: list[NamedLine]
    zones: list[tuple[ZoneCounter, np.ndarray]]
    class_names: Sequence[str]
    fps: float
    counts_interval_s: float
    _entered: dict[str, dict[str, int]] = field(default_factory=dict)
    _next_counts_pts: float = 0.0
    _last_frame: Frame | None = None

    def update(self, frame: Frame, tracks: Detections) -> list[Event]:
        """Run every counter on this frame's confirmed tracks; return the new events."""
        events: list[Event] = []
        for line in self.lines:
            crossings = line.counter.update(tracks, frame.frame_number)
            if len(crossings):
                events.extend(self._line_events(frame, tracks, line, crossings))
        for counter, _ in self.zones:
            update = counter.update(tracks, frame.frame_number)
            events.extend(self._zone_events(frame, tracks, counter.name, update))
        self._last_frame = frame
        # A small tolerance: pts of a 10 fps clip are 0.1 * n in float and must
        # not fall just short of a 0.1 s schedule.
        if self.counts_interval_s > 0 and frame.pts_seconds >= self._next_counts_pts - 1e-6:
            self._next_counts_pts = frame.pts_seconds + self.counts_interval_s
            events.append(self.counts_event(frame))
        return events

    def counts_event(self, frame: Frame | None = None) -> CountsEvent:
        """A ``counts`` snapshot at ``frame`` (default: the last frame seen)."""
        frame = frame or self._last_frame
        return CountsEvent(
            stream_id=self.stream_id,
            frame_number=frame.frame_number if frame else 0,
            pts_seconds=frame.pts_seconds if frame else 0.0,
            lines=self.line_counts(),
            zones={counter.name: self._named(counter.occupancy()) for counter, _ in self.zones},
        )

    def line_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """line → direction → class name → cumulative count."""
        return {
            line.counter.name: {d: self._named(c) for d, c in line.counter.counts().items()}
            for line in self.lines
        }

    def zone_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """zone → {"occupancy": class → now inside, "entered": class → total}."""
        return {
            counter.name: {
                "occupancy": self._named(counter.occupancy()),
                "entered": dict(self._entered.get(counter.name, {})),
            }
            for counter, _ in self.zones
        }

    def overlays(self) -> tuple[list[LineOverlay], list[ZoneOverlay]]:
        """Captions for the annotated video."""
        lines = []
        for line in self.lines:
            totals = {d: sum(c.values()) for d, c in line.counter.counts().items()}
            text = f"{line.counter.name}: {line.in_name} {totals.get(line.in_name, 0)}"
            text += f" / {line.out_name} {totals.get(line.out_name, 0)}"
            lines.append(LineOverlay(line.counter.name, line.start_xy, line.end_xy, text))
        zones = [
            ZoneOverlay(c.name, verts, f"{c.name}: {sum(c.occupancy().values())}")
            for c, verts in self.zones
        ]
        return lines, zones

    def _named(self, per_class: dict[int, int]) -> dict[str, int]:
        return {self._class_name(k): int(v) for k, v in per_class.items()}

    def _class_name(self, class_id: int) -> str:
        names = self.class_names
        return names[class_id] if 0 <= class_id < len(names) else f"class {class_id}"

    def _line_events(
        self, frame: Frame, tracks: Detections, line: NamedLine, crossings: LineCrossings
    ) -> list[Event]:
        return [
            LineCrossedEvent(
                stream_id=self.stream_id,
                frame_number=frame.frame_number,
                pts_seconds=frame.pts_seconds,
                line=line.counter.name,
                direction=line.in_name if is_in else line.out_name,
                track_id=int(track_id),
                class_id=int(class_id),
                class_name=self._class_name(int(class_id)),
                confidence=float(tracks.confidence[row]),
                bbox_xyxy=tracks.xyxy[row].tolist(),
            )
            for row, track_id, class_id, is_in in zip(
                crossings.row,
                crossings.track_id,
                crossings.class_id,
                crossings.direction_in,
                strict=True,
            )
        ]

    def _zone_events(
        self, frame: Frame, tracks: Detections, zone: str, update: ZoneUpdate
    ) -> list[Event]:
        common = {
            "stream_id": self.stream_id,
            "frame_number": frame.frame_number,
            "pts_seconds": frame.pts_seconds,
            "zone": zone,
        }
        events: list[Event] = []
        entered = update.entered
        for row, track_id, class_id in zip(
            entered.row, entered.track_id, entered.class_id, strict=True
        ):
            name = self._class_name(int(class_id))
            totals = self._entered.setdefault(zone, {})
            totals[name] = totals.get(name, 0) + 1
            events.append(
                ZoneEnteredEvent(
                    **common,
                    track_id=int(track_id),
                    class_id=int(class_id),
                    class_name=name,
                    bbox_xyxy=tracks.xyxy[row].tolist(),
                )
            )
        exited = update.exited
        for row, track_id, class_id, dwell in zip(
            exited.row, exited.track_id, exited.class_id, exited.dwell_frames, strict=True
        ):
            bbox = tracks.xyxy[row].tolist() if row >= 0 else None
            events.append(
                ZoneExitedEvent(
                    **common,
                    track_id=int(track_id),
                    class_id=int(class_id),
                    class_name=self._class_name(int(class_id)),
                    dwell_seconds=float(dwell) / self.fps,
                    bbox_xyxy=bbox,
                )
            )
        return events


class AnalyticsHub:
    """The :class:`StreamAnalytics` of every stream, updated per batch."""

    def __init__(self, streams: dict[str, StreamAnalytics]) -> None:
        self._streams = streams

    def update(self, batch: FrameBatch, tracks: Detections) -> list[Event]:
        """Route each frame's tracks to its stream's counters; return all new events."""
        events: list[Event] = []
        for slot, frame in enumerate(batch.frames):
            events.extend(self._streams[frame.stream_id].update(frame, tracks.for_frame(slot)))
        return events

    def final_counts(self, stream_ids: Sequence[str] | None = None) -> list[Event]:
        """One closing ``counts`` event per stream (of ``stream_ids``; None = all)."""
        wanted = self._streams if stream_ids is None else stream_ids
        return [
            s.counts_event()
            for sid in wanted
            if (s := self._streams.get(sid)) is not None and s.counts_interval_s > 0
        ]

    def overlays(self, stream_id: str) -> tuple[list[LineOverlay], list[ZoneOverlay]]:
        """Line and zone captions of ``stream_id``."""
        return self._streams[stream_id].overlays()

    def line_counts(self) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """stream → line → direction → class → count."""
        return {sid: s.line_counts() for sid, s in self._streams.items() if s.lines}

    def zone_counts(self) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """stream → zone → occupancy/entered → class → count."""
        return {sid: s.zone_counts() for sid, s in self._streams.items() if s.zones}
