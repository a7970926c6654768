"""Argument checks and reset of the zone alerts (loitering, overcrowding, id switches)."""

from __future__ import annotations

from typing import Any

import pytest
from _analytics_helpers import boxes_at

from visionflow.analytics import OvercrowdingMonitor, ZoneCounter
from visionflow.geometry import Point, Polygon

SQUARE = Polygon((Point(0, 0), Point(100, 0), Point(100, 100), Point(0, 100)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loitering_frames": 0}, "loitering_frames must be an integer >= 1, got 0"),
        ({"overcrowding_threshold": 0}, "threshold must be an integer >= 1, got 0"),
        (
            {"overcrowding_threshold": 2, "overcrowding_frames": 0},
            "min_frames must be an integer >= 1, got 0",
        ),
        ({"recount_window_frames": -1}, "recount_window_frames must be >= 0"),
        ({"recount_radius_px": 0.0}, "recount_radius_px > 0"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ZoneCounter("z", SQUARE, **kwargs)


def test_monitor_sequence_and_reset() -> None:
    # threshold 3, hysteresis 2: crowded at frames 1, 2, 3 → start at 2 (from 1);
    # below at 4, 5 → end at 5, lasting frames 1..3 = 3.
    monitor = OvercrowdingMonitor(3, 2)
    changes = [monitor.update(n, f) for f, n in enumerate([2, 3, 4, 3, 1, 0, 0])]
    got = [(f, c.state, c.start_frame, c.duration_frames) for f, c in enumerate(changes) if c]
    assert got == [(2, "start", 1, 0), (5, "end", 1, 3)]
    assert not monitor.active
    monitor.update(5, 10)
    monitor.update(5, 11)
    assert monitor.active
    monitor.reset()
    assert not monitor.active


def test_reset_clears_alert_state() -> None:
    zone = ZoneCounter("z", SQUARE, min_frames=1, overcrowding_threshold=1)
    update = zone.update(boxes_at([(50, 50)], [1], [0]), 0)
    assert update.crowding is not None and update.crowding.state == "start"
    zone.reset()
    assert zone.crowding is not None and not zone.crowding.active
    assert (zone.num_tracks, zone.handovers, zone.occupancy()) == (0, 0, {})
