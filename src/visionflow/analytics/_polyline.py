"""Side tests and path intersections against many open polylines at once, vectorised.

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

For a plain segment the side is the sign of
``(bx - ax) * (py - ay) - (by - ay) * (px - ax)``: the side of its supporting
line, ``0`` anywhere on that line.

Near the polyline this is the side you would point to; far from it (beyond
the open ends) the "side" still flips across the end segments' extensions,
which is why a side change alone never counts: the path must also touch the
polyline (:func:`path_hits`).

**Many lines.** :class:`Polylines` holds the lines of a bank padded to one
vertex count (the last vertex repeated); every function takes ``which``, the
line of each point or path, and masks the padding segments out (never
nearest, never hit). Each point's result is computed with the same float
operations whatever the other lines are, so it is bit-identical to the
result against its line alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]
Rows = npt.NDArray[np.intp]

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


@dataclass(frozen=True, slots=True)
class Polylines:
    """``L`` open polylines padded to one vertex count.

    Attributes:
        vertices: ``[L, V, 2]`` vertices in pixels; a line with fewer than
            ``V`` points repeats its last one.
        segments: ``[L]`` number of real segments of each line (``>= 1``).
        normals: ``[L, V - 1, 2]`` unit right normals, zero on padding.
        start: ``[L, 2]`` first vertex of each line.
        step: ``[L, 2]`` first segment's vector (``vertices[:, 1] - vertices[:, 0]``).
        segment_table: ``[L, V - 1, 5]`` per segment ``ax, ay, dx, dy, dx² + dy²``
            (start, vector, squared length; ``0, 0, 0, 0, 1`` on padding).
    """

    vertices: Points
    segments: Rows
    normals: Points
    start: Points
    step: Points
    segment_table: Points

    @classmethod
    def empty(cls) -> Polylines:
        """No lines (vertex count 2)."""
        z = np.zeros((0, 2))
        return cls(
            np.zeros((0, 2, 2)),
            np.zeros(0, np.intp),
            np.zeros((0, 1, 2)),
            z,
            z,
            np.zeros((0, 1, 5)),
        )

    def __len__(self) -> int:
        return len(self.segments)

    def take(self, lines: Rows) -> Polylines:
        """Only ``lines``, in that order (padding width kept)."""
        return Polylines(
            self.vertices[lines],
            self.segments[lines],
            self.normals[lines],
            self.start[lines],
            self.step[lines],
            self.segment_table[lines],
        )

    def append(self, vertices: Points) -> Polylines:
        """These lines and one more (``[V, 2]`` vertices, ``V >= 2``), re-padded as needed."""
        width = max(self.vertices.shape[1], len(vertices))
        padded = np.concatenate([_pad(self.vertices, width), _pad(vertices[None], width)])
        normals = np.zeros((len(padded), width - 1, 2))
        normals[:-1, : self.normals.shape[1]] = self.normals
        normals[-1, : len(vertices) - 1] = right_normals(vertices)
        segments = np.append(self.segments, len(vertices) - 1).astype(np.intp)
        table = np.zeros((len(padded), width - 1, 5))
        table[..., 4] = 1.0
        table[:-1, : self.segment_table.shape[1]] = self.segment_table
        table[-1, : len(vertices) - 1] = _segment_table(vertices)
        first = padded[:, 0]
        return Polylines(padded, segments, normals, first, padded[:, 1] - first, table)


def _segment_table(vertices: Points) -> Points:
    """``[S, 5]``: ``ax, ay, dx, dy, dx² + dy²`` of each segment."""
    a, d = vertices[:-1], vertices[1:] - vertices[:-1]
    dx, dy = d[:, 0], d[:, 1]
    return np.stack([a[:, 0], a[:, 1], dx, dy, dx * dx + dy * dy], axis=1)


def _pad(vertices: Points, width: int) -> Points:
    """``[L, width, 2]``: each line's last vertex repeated up to ``width`` points."""
    extra = width - vertices.shape[1]
    if extra == 0:
        return vertices
    return np.concatenate([vertices, np.repeat(vertices[:, -1:], extra, axis=1)], axis=1)


def polyline_sides(points: Points, lines: Polylines, which: Rows) -> npt.NDArray[np.int8]:
    """``[N]`` side of each point: ``+1`` right (in), ``-1`` left (out), ``0`` on the line.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        lines: the polylines.
        which: ``[N]`` line of each point.
    """
    px, py = points[:, 0], points[:, 1]
    a, d = lines.start[which], lines.step[which]
    # Every line's first segment; the exact side for plain segments, the common case.
    cross = d[:, 0] * (py - a[:, 1]) - d[:, 1] * (px - a[:, 0])
    side = np.sign(cross).astype(np.int8)
    bent = lines.segments[which] > 1
    if bent.any():
        side[bent] = _nearest_segment_sides(points[bent], lines, which[bent])
    return side


def _nearest_segment_sides(points: Points, lines: Polylines, which: Rows) -> npt.NDArray[np.int8]:
    """Sides against polylines of 2+ segments: the nearest segment's, or a pseudo-normal's."""
    px, py = points[:, 0], points[:, 1]
    seg = lines.segment_table[which]  # [N, S, 5]
    ax, ay, dx, dy, len2 = (seg[..., i] for i in range(5))
    vx, vy = px[:, None] - ax, py[:, None] - ay  # [N, S]
    segments = lines.segments[which]
    width = dx.shape[1]
    t = np.clip((vx * dx + vy * dy) / len2, 0.0, 1.0)  # padding: len2 = 1, d = 0
    ox, oy = vx - t * dx, vy - t * dy  # p minus its nearest point on each segment
    dist2 = np.where(np.arange(width) < segments[:, None], ox * ox + oy * oy, np.inf)
    nearest = np.argmin(dist2, axis=1)  # [N]
    at = np.arange(len(points)) * width + nearest  # flat index of each nearest segment
    side: npt.NDArray[np.float64] = np.sign((dx * vy - dy * vx).ravel()[at])
    t_k = t.ravel()[at]
    # Nearest point at a shared vertex: use the vertex's pseudo-normal.
    at_end = (t_k >= 1.0) & (nearest < segments - 1)
    at_start = (t_k <= 0.0) & (nearest > 0)
    use = at_end | at_start
    if use.any():
        ends = np.where(at_end, nearest, nearest - 1)[use]  # segment ending at the vertex
        line = which[use]
        pseudo = lines.normals[line, ends] + lines.normals[line, ends + 1]
        offset = points[use] - lines.vertices[line, ends + 1]
        side[use] = np.sign(offset[:, 0] * pseudo[:, 0] + offset[:, 1] * pseudo[:, 1])
    # A plain segment keeps the sign of its cross product (0 on its whole supporting line).
    side[(dist2.ravel()[at] == 0.0) & (segments > 1)] = 0
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


def path_hits(starts: Points, ends: Points, lines: Polylines, which: Rows) -> PathHits:
    """First contact of each path ``starts[k] → ends[k]`` with its polyline.

    Args:
        starts: ``[K, 2]`` path starts in pixels.
        ends: ``[K, 2]`` path ends in pixels.
        lines: the polylines.
        which: ``[K]`` line of each path.
    """
    vertices = lines.vertices[which]  # [K, V, 2]
    q0, q1 = vertices[:, :-1], vertices[:, 1:]  # [K, S, 2]
    p0, p1 = starts[:, None, :], ends[:, None, :]  # [K, 1, 2]
    dp, dq = p1 - p0, q1 - q0
    o1, o2 = _cross(dq, p0 - q0), _cross(dq, p1 - q0)  # path ends vs segment line
    o3, o4 = _cross(dp, q0 - p0), _cross(dp, q1 - p0)  # segment ends vs path line
    real = np.arange(q0.shape[1]) < lines.segments[which][:, None]
    hit = (o1 * o2 <= 0) & (o3 * o4 <= 0) & real
    denom = _cross(dp, dq)
    collinear = denom == 0.0  # parallel and apart fails the orientation test above
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(collinear, _collinear_start(p0, dp, q0, q1), _cross(q0 - p0, dq) / denom)
    s = np.where(hit, np.clip(s, 0.0, 1.0), np.inf)
    first = s.min(axis=1)  # [K]
    any_hit = np.isfinite(first)
    at_first = hit & (s <= first[:, None] + 1e-9)
    normal = (at_first[..., None] * lines.normals[which]).sum(axis=1)
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
