"""One sample of every event type, built the way the pipeline builds them."""

from __future__ import annotations

import numpy as np

from visionflow.events import (
    CountsEvent,
    DirectionEvent,
    Event,
    LineCrossedEvent,
    LoiteringEvent,
    OvercrowdingEvent,
    StreamStateEvent,
    StreamStatsEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
)

COMMON = {"stream_id": "cam-1", "frame_number": 42, "pts_seconds": 1.68}
TRACK = {"track_id": np.int64(7), "class_id": np.int32(0), "class_name": "person"}
BOX = np.array([10.5, 20.0, 50.25, 120.0], np.float32)


def sample_events() -> dict[str, Event]:
    """Event type → a fresh event (NumPy scalars in, as the pipeline passes them)."""
    return {
        "line_crossed": LineCrossedEvent(
            **COMMON,
            **TRACK,
            line="gate",
            direction="in",
            confidence=np.float32(0.875),
            bbox_xyxy=BOX.tolist(),
        ),
        "zone_entered": ZoneEnteredEvent(**COMMON, **TRACK, zone="plaza", bbox_xyxy=list(BOX)),
        "zone_exited": ZoneExitedEvent(
            **COMMON, **TRACK, zone="plaza", dwell_seconds=3.5, bbox_xyxy=None, entry_track_id=3
        ),
        "loitering": LoiteringEvent(
            **COMMON,
            **TRACK,
            zone="plaza",
            dwell_seconds=np.float64(30.1),
            threshold_seconds=30.0,
            bbox_xyxy=BOX.tolist(),
        ),
        "overcrowding": OvercrowdingEvent(
            **COMMON,
            zone="plaza",
            state="end",
            occupancy=np.int64(4),
            threshold=5,
            counts={"person": 4},
            duration_seconds=12.5,
        ),
        "direction": DirectionEvent(
            **COMMON,
            **TRACK,
            detector="traffic",
            direction="South",
            previous_direction=None,
            heading_deg=np.float64(75.96),
            bbox_xyxy=BOX.tolist(),
        ),
        "counts": CountsEvent(
            **COMMON,
            lines={"gate": {"in": {"person": 3}, "out": {"person": 1, "car": 2}}},
            zones={"plaza": {"person": 2}},
        ),
        "stream_state": StreamStateEvent(
            **COMMON, state="failed", previous_state="running", reason="decoder error"
        ),
        "stream_stats": StreamStatsEvent(
            **COMMON,
            frames_decoded=np.int64(43),
            frames_processed=43,
            fps=np.float32(29.5),
            dropped_frames=0,
            corrupt_packets=1,
            interval_s=10.0,
        ),
    }
