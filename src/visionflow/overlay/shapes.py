"""Plain data describing what to draw besides boxes: counting lines and zones.

These are display descriptions (coordinates and a caption), not analytics
types; the pipeline fills their ``text`` from the analytics results.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class LineOverlay:
    """A counting line segment and its caption.

    Attributes:
        name: line name (for the caller; not drawn).
        start_xy: ``(x, y)`` start point in source-frame pixels.
        end_xy: ``(x, y)`` end point in source-frame pixels.
        text: caption drawn at the segment's midpoint, e.g. ``"entrance in 3 / out 5"``.
        in_side: which side of the segment is "in", looking from ``start_xy``
            towards ``end_xy`` in image coordinates (y down). ``"right"`` is
            the side where ``cross(end - start, p - start) > 0``. A tick
            arrow at the midpoint points into that side.
        points: for a polyline, every point in order (then ``start_xy`` and
            ``end_xy`` are its first and last); ``()`` for a plain segment. The
            arrow and caption go on the longest segment.
    """

    name: str
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    text: str = ""
    in_side: Literal["left", "right"] = "right"
    points: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.start_xy) == tuple(self.end_xy) and not self.points:
            raise ValueError(
                f"LineOverlay {self.name!r} needs distinct points, got {self.start_xy} twice"
            )
        pts = [tuple(p) for p in self.points]
        if pts and (len(pts) < 2 or any(a == b for a, b in pairwise(pts))):
            raise ValueError(
                f"LineOverlay {self.name!r}: points must be 2+ points with consecutive ones "
                f"distinct, got {pts}"
            )
        if self.in_side not in ("left", "right"):
            raise ValueError(f"LineOverlay.in_side must be 'left' or 'right', got {self.in_side!r}")


@dataclass(frozen=True, slots=True, eq=False)
class ZoneOverlay:
    """A zone polygon and its caption (e.g. occupancy).

    Attributes:
        name: zone name (for the caller; not drawn).
        vertices: ``[V, 2]`` float64 ``x, y`` in source-frame pixels, V >= 3,
            implicitly closed. Any array-like is accepted and converted.
        text: caption drawn at the polygon's top-left vertex, e.g. ``"queue: 4"``.
    """

    name: str
    vertices: npt.NDArray[np.float64]
    text: str = ""

    def __post_init__(self) -> None:
        vertices = np.asarray(self.vertices, dtype=np.float64)
        if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3:
            raise ValueError(
                f"ZoneOverlay {self.name!r}: vertices must be [V, 2] with V >= 3, "
                f"got shape {vertices.shape}"
            )
        object.__setattr__(self, "vertices", vertices)
