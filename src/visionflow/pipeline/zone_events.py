"""Turn one :class:`ZoneUpdate` into events: entered, exited, loitering, overcrowding.

Zone results are rare compared with frames (a few rows per frame at most), so
one small loop over the *results* here is fine; the per-track work happened
vectorised in :class:`~visionflow.analytics.ZoneCounter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from visionflow.analytics import ZoneCounter, ZoneUpdate
from visionflow.events import (
    Event,
    LoiteringEvent,
    OvercrowdingEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
)
from visionflow.types import Detections, Frame


@dataclass(frozen=True, slots=True)
class ZoneEventContext:
    """What every zone event of one frame shares.

    Attributes:
        stream_id: the stream.
        frame: the frame the update belongs to.
        tracks: the frame's (ROI-filtered) tracks; ``row`` fields index them.
        fps: the stream's frame rate, to turn frames into seconds.
        class_name: class id → label.
    """

    stream_id: str
    frame: Frame
    tracks: Detections
    fps: float
    class_name: Callable[[int], str]

    def common(self, zone: str) -> dict[str, object]:
        return {
            "stream_id": self.stream_id,
            "frame_number": self.frame.frame_number,
            "pts_seconds": self.frame.pts_seconds,
            "zone": zone,
        }


def zone_events(ctx: ZoneEventContext, counter: ZoneCounter, update: ZoneUpdate) -> list[Event]:
    """Events of one zone for one frame, in order: entries, loitering, exits, crowding."""
    events: list[Event] = [*_entered(ctx, counter.name, update)]
    events += _loitering(ctx, counter, update)
    events += _exited(ctx, counter.name, update)
    crowding = _overcrowding(ctx, counter, update)
    if crowding is not None:
        events.append(crowding)
    return events


def _entered(ctx: ZoneEventContext, zone: str, update: ZoneUpdate) -> list[Event]:
    e = update.entered
    return [
        ZoneEnteredEvent(
            **ctx.common(zone),
            track_id=int(track_id),
            class_id=int(class_id),
            class_name=ctx.class_name(int(class_id)),
            bbox_xyxy=ctx.tracks.xyxy[row].tolist(),
        )
        for row, track_id, class_id in zip(e.row, e.track_id, e.class_id, strict=True)
    ]


def _exited(ctx: ZoneEventContext, zone: str, update: ZoneUpdate) -> list[Event]:
    e = update.exited
    return [
        ZoneExitedEvent(
            **ctx.common(zone),
            track_id=int(track_id),
            class_id=int(class_id),
            class_name=ctx.class_name(int(class_id)),
            dwell_seconds=float(dwell) / ctx.fps,
            bbox_xyxy=ctx.tracks.xyxy[row].tolist() if row >= 0 else None,
            entry_track_id=int(entry_id) if entry_id != track_id else None,
        )
        for row, track_id, class_id, dwell, entry_id in zip(
            e.row, e.track_id, e.class_id, e.dwell_frames, e.entry_track_id, strict=True
        )
    ]


def _loitering(ctx: ZoneEventContext, counter: ZoneCounter, update: ZoneUpdate) -> list[Event]:
    e = update.loitering
    if not len(e) or counter.loitering_frames is None:
        return []
    threshold_s = counter.loitering_frames / ctx.fps
    return [
        LoiteringEvent(
            **ctx.common(counter.name),
            track_id=int(track_id),
            class_id=int(class_id),
            class_name=ctx.class_name(int(class_id)),
            dwell_seconds=float(dwell) / ctx.fps,
            threshold_seconds=threshold_s,
            bbox_xyxy=ctx.tracks.xyxy[row].tolist(),
        )
        for row, track_id, class_id, dwell in zip(
            e.row, e.track_id, e.class_id, e.dwell_frames, strict=True
        )
    ]


def _overcrowding(
    ctx: ZoneEventContext, counter: ZoneCounter, update: ZoneUpdate
) -> OvercrowdingEvent | None:
    change = update.crowding
    if change is None or counter.crowding is None:
        return None
    return OvercrowdingEvent(
        **ctx.common(counter.name),
        state=change.state,
        occupancy=change.occupancy,
        threshold=counter.crowding.threshold,
        counts={ctx.class_name(k): int(v) for k, v in update.occupancy.items()},
        duration_seconds=change.duration_frames / ctx.fps,
    )
