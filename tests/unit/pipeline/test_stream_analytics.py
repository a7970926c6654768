"""Periodic counts events follow the video clock exactly."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.pipeline.stream_analytics import StreamAnalytics
from visionflow.types import Detections, Frame

IMAGE = np.zeros((2, 2, 3), np.uint8)


@pytest.mark.parametrize(
    ("fps", "interval_s", "frames", "expected"),
    [
        (10.0, 0.1, 795, 795),  # interval == frame period: one per frame
        (10.0, 1.0, 795, 80),  # frames 0, 10, ..., 790
        (30.0, 0.5, 90, 6),
        (10.0, 0.0, 50, 0),  # disabled
    ],
)
def test_counts_events_per_interval(
    fps: float, interval_s: float, frames: int, expected: int
) -> None:
    analytics = StreamAnalytics("cam", [], [], ["person"], fps, interval_s)
    emitted = sum(
        len(analytics.update(Frame("cam", n, n / fps, 0, IMAGE), Detections.empty()))
        for n in range(frames)
    )
    assert emitted == expected
