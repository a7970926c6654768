"""Side tests and path intersections against an open polyline, vectorised.

A counting line is an open polyline of ``S >= 1`` segments (a plain segment is
the case ``S = 1``). Segment ``i`` runs from ``vertices[i]`` to
``vertices[i + 1]``; its *right* side, looking from start to end in image
coordinates (y down), is where ``cross(d, p - a) > 0`` and its unit right
normal is ``(-d.y, d.x) / |d|``.

**Side of a point** (:func:`polyline_sides`): the sign of the point's signed
distance to the polyline. Take the point ``q`` of the polyline nearest to
``p``:

- ``q`` inside segment ``i`` (or at one of the polyline's two open ends):
  the side of ``p`` relative to segment ``i``;
- ``q`` a vertex shared by segments ``i`` and ``i + 1``: the sign of
  ``(p - q) . (n_i + n_{i+1})``, the vertex's pseudo-normal (the sum of the
  two unit right normals). When ``q`` is the nearest point, ``p - q`` lies in
  the cone between the two normals (or between their opposites), so this
  sign is the side of both segments there: no corner ever flips a side;
- ``p`` on the polyline: ``0``.

Near the polyline this is the side you would point to; far from it (beyond
the open ends) the "side" still flips across the end segments' extensions,
which is why a side change alone never counts: the path must also touch the
polyline (:func:`path_hits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]

_EPS = 1e-9


def _cross(a: Points, b: Points) -> npt.NDArray[np.float64]:
    """Z of ``a x b`` over the last axis (arrays broadcast)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def right_normals(vertices: Points) -> Points:
    """``[S, 2]`` unit right normals of the polyline's segments."""
    d = np.diff(vertices, axis=0)
    normals: Points = np.stack([-d[:, 1], d[:, 0]], axis=1)
    normals /= np.linalg.norm(d, axis=1, keepdims=True)
    return normals


def polyline_sides(points: Points, vertices: Points) -> npt.NDArray[np.int8]:
    """``[N]`` side of each point: ``+1`` right (in), ``-1`` left (out), ``0`` on the line.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        vertices: ``[V, 2]`` polyline vertices in order, ``V >= 2``.
    """
    px, py = points[:, 0], points[:, 1]
    if len(vertices) == 2:  # a segment: the side of its supporting line
        (ax, ay), (bx, by) = vertices.tolist()
        cross: npt.NDArray[np.float64] = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        return np.sign(cross).astype(np.int8)
    a, d = vertices[:-1], np.diff(vertices, axis=0)  # [S, 2]
    vx, vy = px[:, None] - a[:, 0], py[:, None] - a[:, 1]  # [N, S]
    t = np.clip((vx * d[:, 0] + vy * d[:, 1]) / (d * d).sum(axis=1), 0.0, 1.0)
    ox, oy = vx - t * d[:, 0], vy - t * d[:, 1]  # p minus its nearest point on each segment
    dist2 = ox * ox + oy * oy
    nearest = np.argmin(dist2, axis=1)  # [N]
    rows = np.arange(len(points))
    side: npt.NDArray[np.float64] = np.sign(
        d[nearest, 0] * vy[rows, nearest] - d[nearest, 1] * vx[rows, nearest]
    )
    t_k = t[rows, nearest]
    # Nearest point at a shared vertex: use the vertex's pseudo-normal.
    at_end = (t_k >= 1.0) & (nearest < len(d) - 1)
    at_start = (t_k <= 0.0) & (nearest > 0)
    use = at_end | at_start
    if use.any():
        normals = right_normals(vertices)
        seg = np.where(at_end, nearest, nearest - 1)[use]  # segment ending at the vertex
        pseudo = normals[seg] + normals[seg + 1]
        offset = points[use] - vertices[seg + 1]
        side[use] = np.sign(offset[:, 0] * pseudo[:, 0] + offset[:, 1] * pseudo[:, 1])
    side[dist2[rows, nearest] == 0.0] = 0
    return side.astype(np.int8)


@dataclass(frozen=True, slots=True)
class PathHits:
    """Where straight paths first touch a polyline.

    Attributes:
        hit: ``[K]`` bool, the path touches the polyline (endpoints included).
        xy: ``[K, 2]`` first touching point along the path (start if no hit).
        normal: ``[K, 2]`` unit right normal there; at a vertex shared by two
            touched segments, their normalised sum (zero if no hit).
    """

    hit: npt.NDArray[np.bool_]
    xy: Points
    normal: Points


def path_hits(starts: Points, ends: Points, vertices: Points) -> PathHits:
    """First contact of each path ``starts[k] → ends[k]`` with the polyline.

    Args:
        starts: ``[K, 2]`` path starts in pixels.
        ends: ``[K, 2]`` path ends in pixels.
        vertices: ``[V, 2]`` polyline vertices, ``V >= 2``.
    """
    q0, q1 = vertices[:-1][None], vertices[1:][None]  # [1, S, 2]
    p0, p1 = starts[:, None, :], ends[:, None, :]  # [K, 1, 2]
    dp, dq = p1 - p0, q1 - q0
    o1, o2 = _cross(dq, p0 - q0), _cross(dq, p1 - q0)  # path ends vs segment line
    o3, o4 = _cross(dp, q0 - p0), _cross(dp, q1 - p0)  # segment ends vs path line
    hit = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    denom = _cross(dp, dq)
    collinear = denom == 0.0  # parallel and apart fails the orientation test above
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(collinear, _collinear_start(p0, dp, q0, q1), _cross(q0 - p0, dq) / denom)
    s = np.where(hit, np.clip(s, 0.0, 1.0), np.inf)
    first = s.min(axis=1)  # [K]
    any_hit = np.isfinite(first)
    at_first = hit & (s <= first[:, None] + 1e-9)
    normal = at_first.astype(np.float64) @ right_normals(vertices)
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)
    xy = starts + np.where(any_hit, first, 0.0)[:, None] * (ends - starts)
    return PathHits(any_hit, xy, normal)


def _collinear_start(p0: Points, dp: Points, q0: Points, q1: Points) -> npt.NDArray[np.float64]:
    """Path parameter where a collinear path first overlaps the segment."""
    len2 = np.maximum(np.einsum("...k,...k->...", dp, dp), _EPS)
    s0 = np.einsum("...k,...k->...", q0 - p0, dp) / len2
    s1 = np.einsum("...k,...k->...", q1 - p0, dp) / len2
    start: npt.NDArray[np.float64] = np.maximum(np.minimum(s0, s1), 0.0)
    return start
