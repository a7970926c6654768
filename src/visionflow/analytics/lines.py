"""Counting tracks that cross a line segment, per direction and class.

Direction convention (image coordinates, ``x`` rightwards, ``y`` downwards):
stand on the segment's ``start`` and look towards its ``end`` *as drawn on the
screen*. The side on your right hand is the **in** side, the side on your left
hand the **out** side; a track crosses **in** when its anchor moves from the
left side to the right side. Numerically, with ``d = end - start`` and
``v = p - start``, the side of a point ``p`` is the sign of the 2-D cross
product ``d.x * v.y - d.y * v.x``: positive is the right (in) side, negative the
left (out) side. Examples:

- horizontal line drawn left → right (``start.x < end.x``): moving **down**
  the picture is *in*, moving up is *out*;
- vertical line drawn top → bottom (``start.y < end.y``): moving **leftwards**
  is *in*, moving rightwards is *out*.

Swap ``start`` and ``end`` to swap the directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visionflow.analytics._table import (
    TrackTable,
    check_positive,
    check_track_ids,
    class_mask,
    count_by_class,
)
from visionflow.geometry import Line
from visionflow.types import Detections

Points = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LineCrossings:
    """Crossings counted by one :meth:`LineCounter.update`, one row per crossing.

    Attributes:
        row: ``[K]`` int64 row of the crossing track in the ``tracks`` passed in.
        track_id: ``[K]`` int64 track id.
        class_id: ``[K]`` int32 class of the track in this frame.
        direction_in: ``[K]`` bool, ``True`` for *in*, ``False`` for *out*.
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    direction_in: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.row)


def side_of(points: Points, segment: Points) -> npt.NDArray[np.int8]:
    """``[N]`` side of each point: ``+1`` right (in), ``-1`` left (out), ``0`` on the line.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        segment: ``[[x0, y0], [x1, y1]]``, directed start → end.
    """
    d = segment[1] - segment[0]
    v = points - segment[0]
    cross: npt.NDArray[np.float64] = d[0] * v[:, 1] - d[1] * v[:, 0]
    return np.sign(cross).astype(np.int8)


def _cross(o: Points, a: Points, b: Points) -> npt.NDArray[np.float64]:
    """Z of ``(a - o) x (b - o)`` row-wise (arrays broadcast)."""
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (
        b[..., 0] - o[..., 0]
    )


def paths_hit_segment(starts: Points, ends: Points, segment: Points) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: does the path ``starts[i] → ends[i]`` touch the segment?

    Touching counts, endpoints included. Callers guarantee every ``ends[i]`` is
    strictly off the line and ``starts[i]`` is on it or on the other side, so
    the collinear-overlap case cannot occur.

    Args:
        starts: ``[N, 2]`` path starts in pixels.
        ends: ``[N, 2]`` path ends in pixels.
        segment: ``[[x0, y0], [x1, y1]]``.
    """
    q0, q1 = segment[0], segment[1]
    path_vs_line = _cross(q0, q1, starts) * _cross(q0, q1, ends)
    line_vs_path = _cross(starts, ends, q0) * _cross(starts, ends, q1)
    return (path_vs_line <= 0) & (line_vs_path <= 0)


class LineCounter:
    """Counts tracks crossing a line segment, per direction and class.

    A track's *settled* side changes only after its anchor has been on the
    other side for ``min_frames`` consecutive observations (hysteresis: a track
    jittering on the line counts at most once). The change counts as a crossing
    only if the path from the last position on the settled side to the first
    position on the new side touches the segment, so passing beyond either end
    of the segment does not count. A point exactly on the line keeps the side of
    the track's previous observation. A track first seen on one side just
    settles there. Frames in which a track is missing do not break its run of
    consecutive observations. See the module docstring for which side is *in*.

    One instance per stream; not thread-safe.

    Args:
        name: name of the line (used in events and errors).
        line: the directed segment, in source-frame pixels.
        in_name: label of the left → right direction.
        out_name: label of the right → left direction.
        class_ids: classes to count; ``None`` counts every class.
        anchor: box point that must cross (see :meth:`Detections.anchors`).
        min_frames: consecutive observations on the new side before a crossing
            counts (``1`` = no hysteresis).
        forget_frames: frames without a sighting after which a track's state is
            dropped; a track that reappears later starts afresh.
    """

    def __init__(
        self,
        name: str,
        line: Line,
        *,
        in_name: str = "in",
        out_name: str = "out",
        class_ids: frozenset[int] | None = None,
        anchor: str = "bottom_center",
        min_frames: int = 2,
        forget_frames: int = 60,
    ) -> None:
        check_positive("min_frames", min_frames)
        check_positive("forget_frames", forget_frames)
        if in_name == out_name:
            raise ValueError(f"in_name and out_name must differ, both are {in_name!r}")
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.line = line
        self.in_name = in_name
        self.out_name = out_name
        self.class_ids = class_ids
        self.anchor = anchor
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self._segment = line.as_array()
        self._counts: dict[str, dict[int, int]] = {in_name: {}, out_name: {}}
        self._table = TrackTable(
            {
                "settled_side": np.int8(0),  # 0 until first seen off the line
                "observed_side": np.int8(0),  # side of the latest off-line observation
                "settled_xy": np.zeros(2),
                "first_new_xy": np.zeros(2),
                "pending": np.int32(0),
                "last_seen": np.int64(0),
            }
        )

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return len(self._table)

    def reset(self) -> None:
        """Forget every track and zero the counts."""
        self._table.clear()
        self._counts = {self.in_name: {}, self.out_name: {}}

    def counts(self) -> dict[str, dict[int, int]]:
        """Cumulative crossings: ``{in_name: {class_id: n}, out_name: {...}}`` (a copy)."""
        return {direction: dict(per_class) for direction, per_class in self._counts.items()}

    def update(self, tracks: Detections, frame_number: int) -> LineCrossings:
        """Advance by one frame and return the crossings counted in it.

        Args:
            tracks: confirmed tracks of one frame of this stream (positive,
                unique ``track_id``).
            frame_number: 0-based frame number within the stream.

        Returns:
            One entry per crossing counted in this frame.
        """
        rows = np.flatnonzero(class_mask(tracks.class_id, self.class_ids))
        track_ids = tracks.track_id[rows]
        check_track_ids(track_ids, f"LineCounter {self.name!r}")
        points = tracks.anchors(self.anchor)[rows]
        index = self._table.locate(track_ids)
        self._table["last_seen"][index] = frame_number
        crossed, direction_in = self._step(index, points)
        self._forget(frame_number)
        result = LineCrossings(
            row=rows[crossed].astype(np.int64),
            track_id=track_ids[crossed],
            class_id=tracks.class_id[rows[crossed]],
            direction_in=direction_in[crossed],
        )
        self._accumulate(result)
        return result

    def _step(
        self, index: npt.NDArray[np.intp], points: Points
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Update the side state of rows ``index``; return (crossed, direction_in)."""
        t = self._table
        raw = side_of(points, self._segment)
        side = np.where(raw == 0, t["observed_side"][index], raw)
        t["observed_side"][index] = side
        settled = t["settled_side"][index]
        stay = (side != 0) & ((settled == 0) | (side == settled))
        flipped = (settled != 0) & (side == -settled)
        pending = np.where(flipped, t["pending"][index] + 1, 0)
        first = flipped & (pending == 1)
        t["first_new_xy"][index[first]] = points[first]
        done = pending >= self.min_frames
        crossed = np.zeros(len(index), bool)
        if done.any():  # rare: most frames settle nothing
            ends = index[done]
            crossed[done] = paths_hit_segment(
                t["settled_xy"][ends], t["first_new_xy"][ends], self._segment
            )
        moved = stay | done
        t["settled_side"][index[moved]] = side[moved]
        t["settled_xy"][index[moved]] = points[moved]
        t["pending"][index] = np.where(done, 0, pending)
        return crossed, side > 0

    def _forget(self, frame_number: int) -> None:
        self._table.keep(frame_number - self._table["last_seen"] < self.forget_frames)

    def _accumulate(self, crossings: LineCrossings) -> None:
        if not len(crossings):
            return
        for direction, mask in (
            (self.in_name, crossings.direction_in),
            (self.out_name, ~crossings.direction_in),
        ):
            per_class = self._counts[direction]
            for class_id, n in count_by_class(crossings.class_id[mask]).items():
                per_class[class_id] = per_class.get(class_id, 0) + n
