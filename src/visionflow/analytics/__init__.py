"""Per-stream analytics on confirmed tracks: ROI filtering, line crossings and zones.

Every analytic is one object per stream with one verb, ``update(tracks,
frame_number)``, vectorised over the tracks of the frame, and ``reset()``.
Results are small struct-of-arrays dataclasses; the pipeline turns them into
events.
"""

from __future__ import annotations

from visionflow.analytics.crowding import CrowdingChange, OvercrowdingMonitor
from visionflow.analytics.direction import DirectionChanges, DirectionDetector, DirectionStates
from visionflow.analytics.lines import LineCounter, LineCrossings
from visionflow.analytics.roi import Roi, RoiFilter
from visionflow.analytics.zones import (
    ZoneCounter,
    ZoneEntries,
    ZoneExits,
    ZoneLoitering,
    ZoneUpdate,
    points_in_polygon,
)

__all__ = [
    "CrowdingChange",
    "DirectionChanges",
    "DirectionDetector",
    "DirectionStates",
    "LineCounter",
    "LineCrossings",
    "OvercrowdingMonitor",
    "Roi",
    "RoiFilter",
    "ZoneCounter",
    "ZoneEntries",
    "ZoneExits",
    "ZoneLoitering",
    "ZoneUpdate",
    "points_in_polygon",
]
