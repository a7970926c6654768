"""Plain geometry value types in pixel coordinates of the source frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Point:
    """A point in pixels; ``x`` grows rightwards, ``y`` downwards."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Line:
    """A line *segment* from ``start`` to ``end`` (never an infinite line)."""

    start: Point
    end: Point

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"Line needs two distinct points, got start == end == {self.start}")

    def as_array(self) -> npt.NDArray[np.float64]:
        """Return ``[[x0, y0], [x1, y1]]`` as float64."""
        return np.array([[self.start.x, self.start.y], [self.end.x, self.end.y]], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon; vertices in order, implicitly closed."""

    vertices: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise ValueError(f"Polygon needs at least 3 vertices, got {len(self.vertices)}")

    def as_array(self) -> npt.NDArray[np.float64]:
        """Return the vertices as a ``[V, 2]`` float64 array of ``x, y``."""
        return np.array([[p.x, p.y] for p in self.vertices], dtype=np.float64)
