"""Per-stream analytics (lines, zones) and their translation into events.

The analytics counters compute with NumPy over all tracks of a frame; this
module only turns their (rare) results into event objects and captions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from visionflow.analytics import (
    DirectionDetector,
    LineCounter,
    LineCrossings,
    RoiFilter,
    ZoneCounter,
    ZoneUpdate,
)
from visionflow.events import (
    CountsEvent,
    Event,
    LineCrossedEvent,
)
from visionflow.overlay import LineOverlay, ZoneOverlay
from visionflow.pipeline.direction_events import direction_events
from visionflow.pipeline.zone_events import ZoneEventContext, zone_events
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
    points: tuple[tuple[float, float], ...] = ()  # every point of a polyline


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
        roi: the stream's ROI filter; tracks it drops reach no counter.
        directions: direction detectors of this stream.
    """

    stream_id: str
    lines: list[NamedLine]
    zones: list[tuple[ZoneCounter, np.ndarray]]
    class_names: Sequence[str]
    fps: float
    counts_interval_s: float
    roi: RoiFilter = field(default_factory=lambda: RoiFilter(()))
    directions: list[DirectionDetector] = field(default_factory=list)
    _entered: dict[str, dict[str, int]] = field(default_factory=dict)
    _next_counts_pts: float = 0.0
    _last_frame: Frame | None = None

    def update(self, frame: Frame, tracks: Detections) -> list[Event]:
        """Run every counter on this frame's confirmed tracks; return the new events."""
        tracks = self.roi.filter(tracks)  # idempotent: the hub may have filtered already
        events: list[Event] = []
        for line in self.lines:
            crossings = line.counter.update(tracks, frame.frame_number)
            if len(crossings):
                events.extend(self._line_events(frame, tracks, line, crossings))
        for counter, _ in self.zones:
            update = counter.update(tracks, frame.frame_number)
            events.extend(self._zone_events(frame, tracks, counter, update))
        for detector in self.directions:
            changes = detector.update(tracks, frame.frame_number)
            if len(changes):
                events.extend(
                    direction_events(
                        self.stream_id,
                        frame,
                        tracks,
                        detector,
                        changes,
                        class_name=self._class_name,
                    )
                )
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
            overlay = LineOverlay(
                line.counter.name, line.start_xy, line.end_xy, text, points=line.points
            )
            lines.append(overlay)
        zones = [ZoneOverlay(c.name, verts, _zone_caption(c)) for c, verts in self.zones]
        zones += [  # ROIs outlined too, as DeepStream's display-roi does
            ZoneOverlay(r.name, r.polygon.as_array(), f"ROI {r.name}" + " (out)" * r.inverse)
            for r in self.roi.rois
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
        self, frame: Frame, tracks: Detections, counter: ZoneCounter, update: ZoneUpdate
    ) -> list[Event]:
        if len(update.entered):
            totals = self._entered.setdefault(counter.name, {})
            classes, counts = np.unique(update.entered.class_id, return_counts=True)
            for class_id, n in zip(classes.tolist(), counts.tolist(), strict=True):
                name = self._class_name(class_id)
                totals[name] = totals.get(name, 0) + n
        ctx = ZoneEventContext(self.stream_id, frame, tracks, self.fps, self._class_name)
        return zone_events(ctx, counter, update)


class AnalyticsHub:
    """The :class:`StreamAnalytics` of every stream, updated per batch."""

    def __init__(self, streams: dict[str, StreamAnalytics]) -> None:
        self._streams = streams

    def add(self, stream_id: str, analytics: StreamAnalytics) -> None:
        """Start counting for a stream added while running (copy-on-write: readers never
        see a dict change size under them)."""
        self._streams = {**self._streams, stream_id: analytics}

    def has(self, stream_id: str) -> bool:
        """Whether ``stream_id``'s counters exist (built at its first frame when live)."""
        return stream_id in self._streams

    def remove(self, stream_id: str) -> None:
        """Forget a removed stream's counters and state."""
        self._streams = {k: v for k, v in self._streams.items() if k != stream_id}

    def update(self, batch: FrameBatch, tracks: Detections) -> list[Event]:
        """Route each frame's tracks to its stream's counters; return all new events."""
        events: list[Event] = []
        for slot, frame in enumerate(batch.frames):
            events.extend(self._streams[frame.stream_id].update(frame, tracks.for_frame(slot)))
        return events

    def roi_filter(self, batch: FrameBatch, tracks: Detections) -> Detections:
        """``tracks`` without the rows that their stream's ROIs drop.

        Call it right after the tracker and pass the result to :meth:`update`,
        the overlay and every other consumer, so filtered objects appear
        nowhere. One vectorised ROI test per frame of the batch.
        """
        keep: np.ndarray | None = None
        for slot, frame in enumerate(batch.frames):
            stream = self._streams.get(frame.stream_id)
            if stream is None or not stream.roi:
                continue
            rows = np.flatnonzero(tracks.frame_index == slot)
            if keep is None:
                keep = np.ones(len(tracks), bool)
            keep[rows] = stream.roi.keep_mask(tracks[rows])
        return tracks if keep is None or keep.all() else tracks[keep]

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


def _zone_caption(counter: ZoneCounter) -> str:
    text = f"{counter.name}: {sum(counter.occupancy().values())}"
    if counter.crowding is not None and counter.crowding.active:
        text += " OVERCROWDED"
    return text
