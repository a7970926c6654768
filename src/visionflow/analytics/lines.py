"""Counting tracks that cross a line segment or polyline, per direction and class.

Direction convention (image coordinates, ``x`` rightwards, ``y`` downwards):
stand on the line's first point and look along it *as drawn on the screen*.
The side on your right hand is the **in** side, the side on your left hand
the **out** side; a track crosses **in** when its anchor moves from the left
side to the right side. For a segment ``start → end`` with ``d = end - start``
and ``v = p - start`` the side of ``p`` is the sign of ``d.x * v.y - d.y * v.x``
(positive: right, in). Examples: a horizontal line drawn left → right counts
moving **down** the picture as *in*; a vertical line drawn top → bottom counts
moving **leftwards** as *in*. Reverse the points to swap the directions.

**Polylines** (3+ points) are one line with bends, counted as a whole: the
side of a point is the side of the polyline nearest to it, with corners
resolved by the vertex pseudo-normal (see :mod:`visionflow.analytics._polyline`),
so a side is well defined everywhere and a path through a shared vertex
changes it once and counts once. A path that crosses the polyline several
times between two observations counts its net effect: a zigzag crossed
in-out-in is one *in*.

**Crossing rule.** A track's *settled* side changes only after its anchor has
been observed on the other side for ``min_frames`` consecutive observations
(hysteresis: a track jittering on the line counts at most once; frames in
which the track is missing neither extend nor break the run, so positions
arriving every k-th frame still count exactly once). The change counts only
if the straight path from the last position on the settled side to the first
position on the new side touches the line (so passing beyond an end never
counts, touching an end point does). A point exactly on the line keeps the
side of the track's previous observation, so stopping on the line and going
on counts once, and touching the line and going back counts nothing. A track
first seen on a side (e.g. entering the frame already across the line)
settles there without counting: nobody saw it cross.

**Confirmed tracks only.** Only the tracker's confirmed tracks reach the
analytics (``tracker.min_hits``); a non-positive id is an error. A crossing
needs at least ``1 + min_frames`` observations of the track (one on the old
side, ``min_frames`` on the new one), so a separate minimum track age would
add nothing: a track seen fewer frames can never count.

**Modes** (DeepStream nvdsanalytics' ``mode``; its docs only say that
*loose* "counts all crossing without strong adherence to direction" and that
*balanced* and *strict* expect increasingly strict adherence, with no
numbers). Each crossing has a *movement*: from the last position on the old
side to the position at which the crossing is confirmed (a longer baseline
than the single crossing step, so box jitter barely turns it). Its
*reference* is the ``direction`` vector when the line has one, else the
normal of the line where the path first touched it, pointing to the side it
went to. The crossing counts when the angle between movement and reference is
below 90° (loose), at most 60° (balanced) or at most 30° (strict) — our
choice. Without a ``direction``, loose accepts every crossing (no angle test
at all); balanced and strict reject grazing crossings. With a
``direction``, only crossings moving along it count (as DeepStream's
``line-crossing-<label>=direction;line``); they are still named *in* or *out*
by the side they reach. A crossing rejected by its mode still moves the
track's settled side.

**Re-acquisition / id switch** (``recount_window_frames``, 0 = off): a
crossing by track ``B`` is *suppressed* when a counted crossing of this line
in the same direction by another track ``A`` happened at most
``recount_window_frames`` earlier, within ``recount_radius_px`` of ``B``'s
crossing point, ``A`` is absent from the current frame (lost), and ``B`` was
first seen after ``A``'s crossing (B is a new id, not a separate object that
was already there). Only a track's latest counted crossing is kept as a
record (in, then out, then lost: a new id crossing in again is counted). The
suppressed crossing then takes over the record, so a chain of
re-acquisitions still counts once. The window trades a missed count
of a second object passing the very same spot right after a first one left
the scene against double counts; keep it short (about a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from visionflow.analytics._polyline import path_hits, polyline_sides
from visionflow.analytics._recount import RecentCrossings, unit_direction
from visionflow.analytics._table import (
    TrackTable,
    check_positive,
    check_track_ids,
    class_mask,
    count_by_class,
)
from visionflow.geometry import Line, Polyline
from visionflow.types import Detections

Points = npt.NDArray[np.float64]
Mode = Literal["loose", "balanced", "strict"]
MAX_ANGLE_DEG: dict[str, float] = {"loose": 90.0, "balanced": 60.0, "strict": 30.0}
"""Largest angle between a crossing's movement and its reference, per mode."""


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
        segment: ``[V, 2]`` line points in order (a segment when ``V = 2``).
    """
    return polyline_sides(points, segment)


class LineCounter:
    """Counts tracks crossing a segment or polyline, per direction and class.

    See the module docstring for the exact rule, the modes and the
    re-acquisition window. One instance per stream; not thread-safe.

    Args:
        name: name of the line (used in events and errors).
        line: the directed segment or polyline, in source-frame pixels.
        in_name: label of the left → right direction.
        out_name: label of the right → left direction.
        class_ids: classes to count; ``None`` counts every class.
        anchor: box point that must cross (see :meth:`Detections.anchors`).
        min_frames: consecutive observations on the new side before a crossing
            counts (``1`` = no hysteresis).
        forget_frames: frames without a sighting after which a track's state is
            dropped; a track that reappears later starts afresh.
        mode: ``loose``, ``balanced`` or ``strict``.
        direction: ``(dx, dy)``: only crossings moving along it count.
        recount_window_frames: re-acquisition window in frames; 0 disables it.
        recount_radius_px: re-acquisition radius around a crossing point.
    """

    def __init__(
        self,
        name: str,
        line: Line | Polyline,
        *,
        in_name: str = "in",
        out_name: str = "out",
        class_ids: frozenset[int] | None = None,
        anchor: str = "bottom_center",
        min_frames: int = 2,
        forget_frames: int = 60,
        mode: Mode = "loose",
        direction: tuple[float, float] | None = None,
        recount_window_frames: int = 30,
        recount_radius_px: float = 50.0,
    ) -> None:
        check_positive("min_frames", min_frames)
        check_positive("forget_frames", forget_frames)
        if in_name == out_name:
            raise ValueError(f"in_name and out_name must differ, both are {in_name!r}")
        if mode not in MAX_ANGLE_DEG:
            raise ValueError(f"mode={mode!r} is not one of {sorted(MAX_ANGLE_DEG)}")
        if recount_window_frames < 0 or not recount_radius_px > 0:
            raise ValueError(
                "recount_window_frames must be >= 0 and recount_radius_px > 0, got "
                f"{recount_window_frames} and {recount_radius_px}"
            )
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.line = Polyline.from_line(line) if isinstance(line, Line) else line
        self.in_name, self.out_name = in_name, out_name
        self.class_ids = class_ids
        self.anchor = anchor
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self.mode = mode
        self.recount_window_frames = recount_window_frames
        self.recount_radius_px = float(recount_radius_px)
        self._vertices = self.line.as_array()
        self._direction = unit_direction(direction, self._vertices)
        self._min_cos = float(np.cos(np.radians(MAX_ANGLE_DEG[mode])))
        self._recent = RecentCrossings()
        self.suppressed_recounts = 0
        self._counts: dict[str, dict[int, int]] = {in_name: {}, out_name: {}}
        self._table = TrackTable(
            {
                "settled_side": np.int8(0),  # 0 until first seen off the line
                "observed_side": np.int8(0),  # side of the latest off-line observation
                "settled_xy": np.zeros(2),
                "first_new_xy": np.zeros(2),
                "pending": np.int32(0),
                "first_seen": np.int64(-1),
                "last_seen": np.int64(0),
            }
        )

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return len(self._table)

    @property
    def vertices(self) -> Points:
        """``[V, 2]`` the line's points in pixels (a copy)."""
        return self._vertices.copy()

    def reset(self) -> None:
        """Forget every track and recent crossing, and zero the counts."""
        self._table.clear()
        self._recent = RecentCrossings()
        self.suppressed_recounts = 0
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
        t = self._table
        t["last_seen"][index] = frame_number
        fresh = index[t["first_seen"][index] < 0]
        t["first_seen"][fresh] = frame_number
        crossed, direction_in = self._step(index, points, tracks.track_id, frame_number)
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
        self,
        index: npt.NDArray[np.intp],
        points: Points,
        present_ids: npt.NDArray[np.int64],
        frame_number: int,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Update the side state of rows ``index``; return (crossed, direction_in)."""
        t = self._table
        raw = polyline_sides(points, self._vertices)
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
            rows, going_in = index[done], side[done] > 0
            ok, hit_xy = self._judge(rows, points[done], going_in)
            if self.recount_window_frames and ok.any():
                ok[ok] = self._not_recounted(
                    rows[ok], hit_xy[ok], going_in[ok], present_ids, frame_number
                )
            crossed[done] = ok
        moved = stay | done
        t["settled_side"][index[moved]] = side[moved]
        t["settled_xy"][index[moved]] = points[moved]
        t["pending"][index] = np.where(done, 0, pending)
        return crossed, side > 0

    def _judge(
        self, rows: npt.NDArray[np.intp], now_xy: Points, going_in: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.bool_], Points]:
        """Which confirmed side changes are crossings the mode accepts, and where they hit."""
        t = self._table
        start = t["settled_xy"][rows]
        hits = path_hits(start, t["first_new_xy"][rows], self._vertices)
        if self._direction is None and self.mode == "loose":
            return hits.hit, hits.xy
        if self._direction is not None:
            reference = np.broadcast_to(self._direction, hits.normal.shape)
        else:
            reference = np.where(going_in[:, None], hits.normal, -hits.normal)
        movement = now_xy - start
        length = np.maximum(np.linalg.norm(movement, axis=1), 1e-12)
        cos = np.einsum("kc,kc->k", movement, reference) / length
        aligned = cos > 0.0 if self.mode == "loose" else cos >= self._min_cos - 1e-12
        return hits.hit & aligned, hits.xy

    def _not_recounted(
        self,
        rows: npt.NDArray[np.intp],
        hit_xy: Points,
        going_in: npt.NDArray[np.bool_],
        present_ids: npt.NDArray[np.int64],
        frame_number: int,
    ) -> npt.NDArray[np.bool_]:
        """False for crossings that repeat a lost track's recent one (see the module doc)."""
        recent = self._recent
        recent.prune(frame_number - self.recount_window_frames)
        ids = self._table.ids[rows]
        first_seen = self._table["first_seen"][rows]
        match = recent.matches(
            hit_xy,
            going_in,
            ids,
            first_seen,
            present_ids=present_ids,
            radius_px=self.recount_radius_px,
        )
        repeat = match >= 0
        recent.take_over(match[repeat], ids[repeat], frame_number)
        recent.add(frame_number, hit_xy[~repeat], going_in[~repeat], ids[~repeat])
        self.suppressed_recounts += int(repeat.sum())
        return ~repeat

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
