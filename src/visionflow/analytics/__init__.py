"""Analytics on confirmed tracks: ROI filtering, line crossings, zones, directions.

Two ways to use them:

- one object per analytic of one stream (``LineCounter``, ``ZoneCounter``,
  ``DirectionDetector``, ``RoiFilter``) with one verb, ``update(tracks,
  frame_number)``, vectorised over the tracks of the frame, and ``reset()``;
- a *bank* per kind (``LineBank``, ``ZoneBank``, ``DirectionBank``,
  ``RoiBank``) that adopts those objects for many streams and updates all of
  them for a :class:`Round` (at most one frame per stream) in one NumPy pass:
  what the pipeline does for every batch. Both run the same code; an object
  is a one-unit bank of its own until a bank adopts it.

Results are small struct-of-arrays dataclasses; the pipeline turns them into
events.
"""

from __future__ import annotations

from visionflow.analytics._pairs import Round
from visionflow.analytics.crowding import CrowdingChange, OvercrowdingMonitor
from visionflow.analytics.direction import DirectionChanges, DirectionDetector, DirectionStates
from visionflow.analytics.direction_bank import DirectionBank
from visionflow.analytics.line_bank import LineBank
from visionflow.analytics.lines import LineCounter, LineCrossings
from visionflow.analytics.roi import Roi, RoiFilter
from visionflow.analytics.roi_bank import RoiBank
from visionflow.analytics.zone_bank import ZoneBank
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
    "DirectionBank",
    "DirectionChanges",
    "DirectionDetector",
    "DirectionStates",
    "LineBank",
    "LineCounter",
    "LineCrossings",
    "OvercrowdingMonitor",
    "Roi",
    "RoiBank",
    "RoiFilter",
    "Round",
    "ZoneBank",
    "ZoneCounter",
    "ZoneEntries",
    "ZoneExits",
    "ZoneLoitering",
    "ZoneUpdate",
    "points_in_polygon",
]
