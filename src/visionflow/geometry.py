"""Plain geometry value types in pixel coordinates of the source frame."""

from __future__ import annotations

from collections.abc import Sequence
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
class Polyline:
    """An open polyline of 2+ points (a counting line with bends), never closed.

    Consecutive points must differ; the polyline should not cross itself.
    """

    vertices: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 2:
            raise ValueError(f"Polyline needs at least 2 points, got {len(self.vertices)}")
        for i in range(1, len(self.vertices)):
            if self.vertices[i] == self.vertices[i - 1]:
                raise ValueError(
                    f"Polyline points {i - 1} and {i} are the same point {self.vertices[i]}; "
                    "consecutive points must differ"
                )

    @classmethod
    def from_line(cls, line: Line) -> Polyline:
        """The two-point polyline of a segment."""
        return cls((line.start, line.end))

    def as_array(self) -> npt.NDArray[np.float64]:
        """Return the points as a ``[V, 2]`` float64 array of ``x, y``."""
        return np.array([[p.x, p.y] for p in self.vertices], dtype=np.float64)


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


def polygon_area(vertices: Sequence[tuple[float, float]]) -> float:
    """Absolute area of a simple polygon (shoelace formula), square pixels."""
    xy = np.asarray(vertices, np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def polygon_problem(vertices: Sequence[tuple[float, float]]) -> str | None:
    """Why ``vertices`` is not a usable zone polygon, or ``None`` when it is.

    Rejects fewer than 3 vertices, repeated consecutive vertices, zero area
    (all points on one line) and
    self-intersection (two non-adjacent edges touching, e.g. a bow-tie drawn
    in the wrong vertex order). ``O(V²)``; meant for config validation.
    """
    pts = [(float(x), float(y)) for x, y in vertices]
    if len(pts) < 3:
        return f"a polygon needs at least 3 points, got {len(pts)}"
    n = len(pts)
    repeated = [i for i in range(n) if pts[i] == pts[(i + 1) % n]]
    if repeated:
        i = repeated[0]
        return f"points {i} and {(i + 1) % n} are the same point {list(pts[i])}"
    xy = np.asarray(pts) - pts[0]
    if np.linalg.matrix_rank(xy) < 2:
        return "the polygon has zero area (its points lie on one line)"
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # adjacent edges share a vertex
            a, b, c, d = pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]
            if _segments_touch(a, b, c, d):
                return (
                    f"the polygon intersects itself: edge {i} {list(a)}→{list(b)} touches "
                    f"edge {j} {list(c)}→{list(d)}; list the points in order around the area"
                )
    return None


def _orient(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_touch(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> bool:
    d1, d2, d3, d4 = _orient(c, d, a), _orient(c, d, b), _orient(a, b, c), _orient(a, b, d)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True

    def on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(
            p[1], q[1]
        )

    return (
        (d1 == 0 and on(c, d, a))
        or (d2 == 0 and on(c, d, b))
        or (d3 == 0 and on(a, b, c))
        or (d4 == 0 and on(a, b, d))
    )
