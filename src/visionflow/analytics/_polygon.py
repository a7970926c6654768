"""Vectorised point-in-polygon (even-odd ray casting), points × edges in one pass.

:func:`inside_polygons` tests points against different polygons at once (one
polygon per point, e.g. every zone of every stream): the edges of all
polygons are padded to the longest one with edges that never straddle a ray,
so the result is bit-identical to :func:`inside_polygon` on each polygon.

The test is half-open: a point exactly on an edge is inside on the left and
top edges of a square and outside on its right and bottom edges, so of two
polygons that share an edge, a point exactly on it is inside exactly one of
them (each edge is evaluated from its endpoint of smaller ``y``, so a shared
edge gives bit-identical results in both polygons).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]
Rows = npt.NDArray[np.intp]
Edges = tuple[Points, Points, Points, Points]


def polygon_edges(vertices: Points) -> Edges:
    """Per-edge ``(x_low, y_low, y_high, dx_per_dy)`` arrays for :func:`inside_polygon`.

    Args:
        vertices: ``[V, 2]`` polygon vertices in order (implicitly closed).
    """
    xa, ya = vertices[:, 0], vertices[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    swap = yb < ya  # orient every edge from its lower-y end: order-independent rounding
    x0, y0 = np.where(swap, xb, xa), np.where(swap, yb, ya)
    x1, y1 = np.where(swap, xa, xb), np.where(swap, ya, yb)
    dy = np.where(y1 == y0, 1.0, y1 - y0)  # horizontal edges never straddle a ray
    return x0, y0, y1, (x1 - x0) / dy


def inside_polygon(points: Points, edges: Edges) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: which points lie inside (even-odd ray casting, points × edges).

    Args:
        points: ``[N, 2]`` x, y in pixels.
        edges: from :func:`polygon_edges`.
    """
    return _odd_crossings(points, edges)  # each [V], broadcast against [N, 1]


def stack_edges(polygons: Sequence[Edges]) -> Edges:
    """``[U, Emax]`` edges of several polygons (from :func:`polygon_edges`), padded.

    Padding edges have ``y_low == y_high``: they never straddle a ray, so
    they add no crossing.
    """
    width = max((len(edges[0]) for edges in polygons), default=0)
    out = [np.zeros((len(polygons), width)) for _ in range(4)]
    for i, edges in enumerate(polygons):
        for col, values in zip(out, edges, strict=True):
            col[i, : len(values)] = values
    return out[0], out[1], out[2], out[3]


def inside_polygons(points: Points, edges: Edges, which: Rows) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: whether each point lies inside its own polygon.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        edges: ``[U, Emax]`` from :func:`stack_edges`.
        which: ``[N]`` polygon (row of ``edges``) of each point.
    """
    x0, y0, y1, dx_per_dy = edges
    return _odd_crossings(points, (x0[which], y0[which], y1[which], dx_per_dy[which]))


def _odd_crossings(points: Points, edges: Edges) -> npt.NDArray[np.bool_]:
    """Whether a rightward ray from each point crosses an odd number of edges.

    ``edges`` are ``[V]`` (one polygon for all points) or ``[N, V]`` (one per point).
    """
    x0, y0, y1, dx_per_dy = edges
    px, py = points[:, :1], points[:, 1:]  # [N, 1] each
    straddles = (y0 > py) != (y1 > py)  # [N, V]
    x_at_py = x0 + dx_per_dy * (py - y0)
    crossings: npt.NDArray[np.intp] = np.count_nonzero(straddles & (px < x_at_py), axis=1)
    return np.asarray(crossings % 2 == 1, dtype=np.bool_)


def points_in_polygon(points: Points, vertices: Points) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: which points lie inside the polygon (even-odd ray casting).

    Vectorised over points × edges: ``O(N·V)`` work in a few NumPy calls. The
    test is half-open (see the module docstring): on a shared edge, a point is
    inside exactly one of the two polygons.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        vertices: ``[V, 2]`` polygon vertices in order (implicitly closed).
    """
    return inside_polygon(points, polygon_edges(vertices))
