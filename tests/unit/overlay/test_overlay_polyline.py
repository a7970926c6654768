"""Polyline counting lines are drawn through every point."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.overlay import Annotator, LineOverlay
from visionflow.types import Detections

GRAY = [40, 40, 40]


def test_polyline_is_drawn_through_every_vertex_and_arrow_on_longest_leg() -> None:
    image = np.full((240, 320, 3), 40, np.uint8)
    # An L: (20,60) → (20,200) → (300,200); the longest leg is the horizontal one,
    # whose right side (start→end, y down) is below it.
    points = ((20.0, 60.0), (20.0, 200.0), (300.0, 200.0))
    line = LineOverlay("door", points[0], points[-1], points=points)
    Annotator(["person"]).annotate(image, Detections.empty(), lines=[line])
    for x, y in [(20, 60), (20, 130), (20, 200), (160, 200), (300, 200)]:
        assert not np.array_equal(image[y, x], GRAY), (x, y)
    assert not np.array_equal(image[215, 160], GRAY)  # arrow tip into the in side (below)
    assert np.array_equal(image[185, 160], GRAY)  # nothing drawn above the long leg's middle
    assert np.array_equal(image[130, 160], GRAY)  # no straight start→end chord


@pytest.mark.parametrize(
    "points", [((1.0, 1.0),), ((1.0, 1.0), (1.0, 1.0)), ((0.0, 0.0), (5.0, 5.0), (5.0, 5.0))]
)
def test_bad_polyline_points(points: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(ValueError, match="points"):
        LineOverlay("l", (0.0, 0.0), (9.0, 9.0), points=points)
