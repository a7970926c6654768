"""Per-stream analytics on confirmed tracks: line crossings and zones.

Every analytic is one object per stream with one verb, ``update(tracks,
frame_number)``, vectorised over the tracks of the frame, and ``reset()``.
Results are small struct-of-arrays dataclasses; the pipeline turns them into
events.
"""

from __future__ import annotations

from visionflow.analytics.lines import LineCounter, LineCrossings
from visionflow.analytics.zones import (
    ZoneCounter,
    ZoneEntries,
    ZoneExits,
    ZoneUpdate,
    points_in_polygon,
)

__all__ = [
    "LineCounter",
    "LineCrossings",
    "ZoneCounter",
    "ZoneEntries",
    "ZoneExits",
    "ZoneUpdate",
    "points_in_polygon",
]
