"""Turn direction-detection results into ``direction`` events (rare: only on changes)."""

from __future__ import annotations

from collections.abc import Callable

from visionflow.analytics import DirectionChanges, DirectionDetector
from visionflow.events import DirectionEvent, Event
from visionflow.types import Detections, Frame


def direction_events(
    stream_id: str,
    frame: Frame,
    tracks: Detections,
    detector: DirectionDetector,
    changes: DirectionChanges,
    *,
    class_name: Callable[[int], str],
) -> list[Event]:
    """One :class:`DirectionEvent` per track whose direction was set or changed."""
    labels = detector.labels
    return [
        DirectionEvent(
            stream_id=stream_id,
            frame_number=frame.frame_number,
            pts_seconds=frame.pts_seconds,
            track_id=int(track_id),
            class_id=int(class_id),
            class_name=class_name(int(class_id)),
            detector=detector.name,
            direction=labels[int(direction)],
            previous_direction=labels[int(previous)] if previous >= 0 else None,
            heading_deg=float(heading),
            bbox_xyxy=tracks.xyxy[row].tolist(),
        )
        for row, track_id, class_id, direction, previous, heading in zip(
            changes.row,
            changes.track_id,
            changes.class_id,
            changes.direction,
            changes.previous,
            changes.heading_deg,
            strict=True,
        )
    ]
