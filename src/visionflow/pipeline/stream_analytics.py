"""Analytics of every stream, one vectorised pass per round, and their events.

:class:`AnalyticsHub` holds one bank per kind of analytic (lines, zones,
directions, ROIs) with the counters of every stream as its units, and
updates each bank once per *round* of a batch (at most one frame per stream,
see :mod:`visionflow.analytics._pairs`): a batch of 32 live streams is one
NumPy pass per kind, not 32. :class:`StreamAnalytics` keeps a stream's
counters, names and totals and turns the banks' (rare) results into event
objects and captions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from visionflow.analytics import (
    DirectionBank,
    DirectionChanges,
    DirectionDetector,
    LineBank,
    LineCounter,
    LineCrossings,
    RoiBank,
    RoiFilter,
    Round,
    ZoneBank,
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


@dataclass(frozen=True, slots=True)
class RoundResults:
    """What the banks reported for one round: unit → result, only units with something."""

    lines: dict[int, LineCrossings]
    zones: dict[int, ZoneUpdate]
    directions: dict[int, DirectionChanges]


@dataclass
class StreamAnalytics:
    """Lines and zones of one stream; emits events and keeps totals.

    The counters are updated by the :class:`AnalyticsHub` the stream is added
    to (they become units of its banks); :meth:`update` runs one frame of this
    stream alone through a private hub.

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
    _own_hub: AnalyticsHub | None = None

    def update(self, frame: Frame, tracks: Detections) -> list[Event]:
        """Run one frame of this stream alone (ROI filter, every counter); return its events.

        Single-stream use and tests; the pipeline updates all streams of a
        batch at once through :meth:`AnalyticsHub.update`.
        """
        if self._own_hub is None:
            self._own_hub = AnalyticsHub({self.stream_id: self})
        batch = FrameBatch((frame,))
        tracks = Detections(
            tracks.xyxy,
            tracks.confidence,
            tracks.class_id,
            np.zeros(len(tracks), np.int32),
            tracks.track_id,
        )
        return self._own_hub.update(batch, self._own_hub.roi_filter(batch, tracks))

    def events(self, frame: Frame, tracks: Detections, results: RoundResults) -> list[Event]:
        """This frame's events from a round's results (``row`` fields index ``tracks``)."""
        events: list[Event] = []
        for line in self.lines:
            crossings = results.lines.get(line.counter.unit)
            if crossings is not None and len(crossings):
                events.extend(self._line_events(frame, tracks, line, crossings))
        for counter, _ in self.zones:
            update = results.zones.get(counter.unit)
            if update is not None:
                events.extend(self._zone_events(frame, tracks, counter, update))
        for detector in self.directions:
            changes = results.directions.get(detector.unit)
            if changes is not None and len(changes):
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
        events += self.periodic_events(frame)
        return events

    def periodic_events(self, frame: Frame) -> list[Event]:
        """Record ``frame`` as the stream's latest; a ``counts`` event when one is due.

        The last events of every frame (:meth:`events` ends with them); alone for a
        frame on which no counter reported anything.
        """
        self._last_frame = frame
        # A small tolerance: pts of a 10 fps clip are 0.1 * n in float and must
        # not fall just short of a 0.1 s schedule.
        if self.counts_interval_s > 0 and frame.pts_seconds >= self._next_counts_pts - 1e-6:
            self._next_counts_pts = frame.pts_seconds + self.counts_interval_s
            return [self.counts_event(frame)]
        return []

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
    """The analytics of every stream, updated one round of a batch at a time.

    Each kind of analytic is one bank whose units are the counters of every
    stream; :meth:`update` advances each bank once per round (one frame per
    stream), so its cost grows with the number of tracks, not of streams.
    Streams get a dense index, never reused, when added. ``compiled=False``
    runs the line and zone banks' NumPy steps instead of their compiled
    kernels (same results; the reference and the benchmarks' baseline).
    """

    def __init__(self, streams: dict[str, StreamAnalytics], *, compiled: bool = True) -> None:
        self._streams: dict[str, StreamAnalytics] = {}
        self._index: dict[str, int] = {}
        self._num_indices = 0
        self._with_roi: frozenset[str] = frozenset()
        self._compiled = compiled
        self._compiled_rounds = False  # rounds built by a kernel: once compiled banks have units
        self._lines = LineBank(compiled=compiled)
        self._zones = ZoneBank(compiled=compiled)
        self._directions = DirectionBank()
        self._rois = RoiBank()
        for stream_id, analytics in streams.items():
            self.add(stream_id, analytics)

    def add(self, stream_id: str, analytics: StreamAnalytics) -> None:
        """Start counting for a stream (its counters become units of the banks).

        Shared maps are replaced, not changed in place (copy-on-write), so a
        reader never sees a dict change size under it.
        """
        if stream_id in self._index:
            raise ValueError(f"stream {stream_id!r} already has analytics")
        index = self._num_indices
        self._num_indices += 1
        for line in analytics.lines:  # each counter becomes a view of its bank unit
            self._lines.add(index, line.counter)
        for counter, _ in analytics.zones:
            self._zones.add(index, counter)
        for detector in analytics.directions:
            self._directions.add(index, detector)
        # Their kernels load numba anyway; a hub of directions or ROIs only never does.
        self._compiled_rounds = self._compiled and bool(len(self._lines) or len(self._zones))
        if analytics.roi:
            self._rois.add(index, analytics.roi)
            self._with_roi = self._with_roi | {stream_id}
        self._index = {**self._index, stream_id: index}
        self._streams = {**self._streams, stream_id: analytics}

    def warm_up(self, *, lines: bool = True, zones: bool = True) -> None:
        """Compile (or load from numba's cache) the banks' kernels before any frame waits.

        Args:
            lines: warm the line kernel (the config has counting lines).
            zones: warm the zone kernel (the config has zones).
        """
        if lines:
            self._lines.warm_up()
        if zones:
            self._zones.warm_up()

    def has(self, stream_id: str) -> bool:
        """Whether ``stream_id``'s counters exist (built at its first frame when live)."""
        return stream_id in self._streams

    def remove(self, stream_id: str) -> None:
        """Forget a removed stream's counters and state."""
        index = self._index.get(stream_id)
        if index is None:
            return
        for bank in (self._lines, self._zones, self._directions, self._rois):
            bank.remove_stream(index)
        self._with_roi = self._with_roi - {stream_id}
        self._index = {k: v for k, v in self._index.items() if k != stream_id}
        self._streams = {k: v for k, v in self._streams.items() if k != stream_id}

    def update(self, batch: FrameBatch, tracks: Detections) -> list[Event]:
        """Advance every stream's counters by its frames of ``batch``; return the new events.

        Args:
            batch: the frames; each stream must have been added.
            tracks: the batch's confirmed (ROI-filtered) tracks; ``frame_index``
                is the slot.

        Returns:
            The events in slot order; within a frame: line crossings, zone
            events, direction changes, then the periodic ``counts``.
        """
        streams = [self._streams[frame.stream_id] for frame in batch.frames]
        slot_stream = [self._index[frame.stream_id] for frame in batch.frames]
        slot_frame = [frame.frame_number for frame in batch.frames]
        per_slot: list[list[Event]] = [[] for _ in batch.frames]
        rounds = _rounds(slot_stream)
        for slots, part in zip(rounds, _round_rows(tracks, rounds, len(slot_stream)), strict=True):
            rnd = Round.of_frames(
                part,
                slot_stream,
                slot_frame,
                self._num_indices,
                slots=slots,
                compiled=self._compiled_rounds,
            )
            results = RoundResults(
                self._lines.update(rnd), self._zones.update(rnd), self._directions.update(rnd)
            )
            reporting = self._reporting_streams(results)
            for slot in slots:
                stream, frame = streams[slot], batch.frames[slot]
                if slot_stream[slot] in reporting:
                    per_slot[slot] = stream.events(frame, rnd.tracks, results)
                else:  # nothing happened on this stream: only its periodic counts
                    per_slot[slot] = stream.periodic_events(frame)
        return [event for events in per_slot for event in events]

    def _reporting_streams(self, results: RoundResults) -> set[int]:
        """The stream indices with a line, zone or direction result in ``results``."""
        reporting: set[int] = set()
        for bank, found in (
            (self._lines, results.lines),
            (self._zones, results.zones),
            (self._directions, results.directions),
        ):
            if found:
                reporting |= bank.streams_of(found.keys())
        return reporting

    def roi_filter(self, batch: FrameBatch, tracks: Detections) -> Detections:
        """``tracks`` without the rows that their stream's ROIs drop.

        Call it right after the tracker and pass the result to :meth:`update`,
        the overlay and every other consumer, so filtered objects appear
        nowhere. One vectorised ROI test for the whole batch.
        """
        if not self._with_roi or not len(tracks):
            return tracks
        slot_stream = np.asarray(
            [self._index.get(frame.stream_id, -1) for frame in batch.frames], np.int64
        )
        keep = self._rois.keep_mask(tracks, slot_stream[tracks.frame_index])
        return tracks if keep.all() else tracks[keep]

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


def _round_rows(tracks: Detections, rounds: list[list[int]], n_slots: int) -> list[Detections]:
    """The rows of each round's slots, in their order: one stable sort, then slices (a
    mask per round cost ~60 µs a round at a few hundred rows)."""
    if len(rounds) <= 1:
        return [tracks] * len(rounds)
    round_of_slot = np.empty(n_slots, np.intp)
    for k, slots in enumerate(rounds):
        round_of_slot[slots] = k
    row_round = round_of_slot[tracks.frame_index]
    order = np.argsort(row_round, kind="stable")
    ordered = tracks[order]
    bounds = np.searchsorted(row_round[order], np.arange(len(rounds) + 1)).tolist()
    return [ordered[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _rounds(slot_stream: Sequence[int]) -> list[list[int]]:
    """Slots split into rounds with each stream at most once, in time order."""
    if slot_stream and len(set(slot_stream)) == len(slot_stream):  # most: a frame per stream
        return [list(range(len(slot_stream)))]
    seen: dict[int, int] = {}
    rounds: list[list[int]] = []
    for slot, stream in enumerate(slot_stream):
        k = seen[stream] = seen.get(stream, -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(slot)
    return rounds
