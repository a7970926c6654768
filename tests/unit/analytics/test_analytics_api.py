"""The curated public surface of visionflow.analytics."""

from __future__ import annotations

from visionflow import analytics


def test_public_names_are_pinned() -> None:
    assert analytics.__all__ == [
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
    assert all(hasattr(analytics, name) for name in analytics.__all__)
