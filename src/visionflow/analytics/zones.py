"""Zone occupancy, entries, exits and dwell, per class.

A track is *inside* a zone when its anchor point lies inside the polygon
(ray casting; a point exactly on an edge may fall either way, which the
``min_frames`` hysteresis absorbs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from visionflow.analytics._table import (
    TrackTable,
    check_positive,
    check_track_ids,
    class_mask,
    count_by_class,
)
from visionflow.geometry import Polygon
from visionflow.types import Detections

Points = npt.NDArray[np.float64]


Edges = tuple[Points, Points, Points, Points]


def polygon_edges(vertices: Points) -> Edges:
    """Per-edge ``(x0, y0, y1, dx_per_dy)`` arrays for :func:`inside_polygon`.

    Args:
        vertices: ``[V, 2]`` polygon vertices in order (implicitly closed).
    """
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    dy = np.where(y1 == y0, 1.0, y1 - y0)  # horizontal edges never straddle a ray
    return x0, y0, y1, (x1 - x0) / dy


def inside_polygon(points: Points, edges: Edges) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: which points lie inside (even-odd ray casting, points × edges).

    Args:
        points: ``[N, 2]`` x, y in pixels.
        edges: from :func:`polygon_edges`.
    """
    x0, y0, y1, dx_per_dy = edges
    px, py = points[:, :1], points[:, 1:]  # [N, 1] each, broadcast against [V]
    straddles = (y0 > py) != (y1 > py)  # [N, V]
    x_at_py = x0 + dx_per_dy * (py - y0)
    crossings: npt.NDArray[np.intp] = np.count_nonzero(straddles & (px < x_at_py), axis=1)
    return np.asarray(crossings % 2 == 1, dtype=np.bool_)


def points_in_polygon(points: Points, vertices: Points) -> npt.NDArray[np.bool_]:
    """``[N]`` bool: which points lie inside the polygon (even-odd ray casting).

    Vectorised over points × edges: ``O(N·V)`` work in a few NumPy calls. A
    point exactly on an edge may fall either way.

    Args:
        points: ``[N, 2]`` x, y in pixels.
        vertices: ``[V, 2]`` polygon vertices in order (implicitly closed).
    """
    return inside_polygon(points, polygon_edges(vertices))


@dataclass(frozen=True, slots=True)
class ZoneEntries:
    """Tracks whose entry was counted in this frame.

    Attributes:
        row: ``[K]`` int64 row of the track in the ``tracks`` passed in.
        track_id: ``[K]`` int64.
        class_id: ``[K]`` int32.
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True, slots=True)
class ZoneExits:
    """Tracks whose exit was counted in this frame.

    Attributes:
        row: ``[K]`` int64 row of the track in the ``tracks`` passed in, or
            ``-1`` when the track left the scene (not seen for
            ``forget_frames``), so it has no box in this frame.
        track_id: ``[K]`` int64.
        class_id: ``[K]`` int32, the class the track had when last seen.
        dwell_frames: ``[K]`` int64 frames from the first frame of the entry
            run to the last frame seen inside, inclusive (divide by the
            stream's fps for seconds).
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    dwell_frames: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True, slots=True)
class ZoneUpdate:
    """What one :meth:`ZoneCounter.update` observed.

    Attributes:
        entered: entries counted in this frame.
        exited: exits counted in this frame.
        occupancy: ``{class_id: tracks currently inside}``; with a class
            filter every filtered class is present (possibly ``0``).
    """

    entered: ZoneEntries
    exited: ZoneExits
    occupancy: dict[int, int] = field(default_factory=dict)


_NO_EXITS = ZoneExits(
    row=np.zeros(0, np.int64),
    track_id=np.zeros(0, np.int64),
    class_id=np.zeros(0, np.int32),
    dwell_frames=np.zeros(0, np.int64),
)


class ZoneCounter:
    """Tracks entering, leaving and staying in a polygonal zone.

    An entry counts once the anchor has been inside for ``min_frames``
    consecutive observations; an exit once it has been outside for
    ``min_frames`` consecutive observations, or when the track has not been
    seen for ``forget_frames`` frames while inside (it left the scene). A track
    first seen inside enters after ``min_frames`` observations like any other.
    Frames in which a track is missing do not break its run.

    One instance per stream; not thread-safe.

    Args:
        name: name of the zone (used in events and errors).
        polygon: the zone, in source-frame pixels.
        class_ids: classes to watch; ``None`` watches every class.
        anchor: box point that must be inside (see :meth:`Detections.anchors`).
        min_frames: consecutive observations before an entry or exit counts.
        forget_frames: frames without a sighting after which a track is
            dropped (exiting with its dwell if it was inside).
    """

    def __init__(
        self,
        name: str,
        polygon: Polygon,
        *,
        class_ids: frozenset[int] | None = None,
        anchor: str = "bottom_center",
        min_frames: int = 2,
        forget_frames: int = 60,
    ) -> None:
        check_positive("min_frames", min_frames)
        check_positive("forget_frames", forget_frames)
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.polygon = polygon
        self.class_ids = class_ids
        self.anchor = anchor
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self._edges = polygon_edges(polygon.as_array())
        self._table = TrackTable(
            {
                "inside": np.bool_(False),  # the settled state
                "pending": np.int32(0),  # observations contradicting "inside"
                "run_start": np.int64(0),  # first frame of the pending run
                "enter_frame": np.int64(0),
                "last_inside": np.int64(0),
                "last_seen": np.int64(0),
                "class_id": np.int32(0),
            }
        )

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return len(self._table)

    def reset(self) -> None:
        """Forget every track (no exits are reported for them)."""
        self._table.clear()

    def occupancy(self) -> dict[int, int]:
        """``{class_id: tracks currently inside}`` (see :attr:`ZoneUpdate.occupancy`)."""
        t = self._table
        found = count_by_class(t["class_id"][t["inside"]])
        return {**dict.fromkeys(sorted(self.class_ids or ()), 0), **found}

    def update(self, tracks: Detections, frame_number: int) -> ZoneUpdate:
        """Advance by one frame; return entries, exits and the occupancy.

        Args:
            tracks: confirmed tracks of one frame of this stream (positive,
                unique ``track_id``).
            frame_number: 0-based frame number within the stream.
        """
        rows = np.flatnonzero(class_mask(tracks.class_id, self.class_ids))
        track_ids = tracks.track_id[rows]
        check_track_ids(track_ids, f"ZoneCounter {self.name!r}")
        inside_now = inside_polygon(tracks.anchors(self.anchor)[rows], self._edges)
        index = self._table.locate(track_ids)
        self._table["last_seen"][index] = frame_number
        self._table["class_id"][index] = tracks.class_id[rows]
        entered, exited = self._step(index, inside_now, frame_number)
        vanished = self._forget(frame_number)
        return ZoneUpdate(
            entered=ZoneEntries(
                row=rows[entered].astype(np.int64),
                track_id=track_ids[entered],
                class_id=tracks.class_id[rows[entered]],
            ),
            exited=_concat_exits(
                self._exits(index[exited], rows[exited].astype(np.int64)), vanished
            ),
            occupancy=self.occupancy(),
        )

    def _step(
        self, index: npt.NDArray[np.intp], inside_now: npt.NDArray[np.bool_], frame_number: int
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Update rows ``index``; return (entered, exited) masks over them."""
        t = self._table
        was_inside = t["inside"][index]
        t["last_inside"][index[inside_now]] = frame_number
        contradicts = inside_now != was_inside
        pending = np.where(contradicts, t["pending"][index] + 1, 0)
        starts = contradicts & (pending == 1)
        t["run_start"][index[starts]] = frame_number
        done = pending >= self.min_frames
        entered, exited = done & inside_now, done & ~inside_now
        t["enter_frame"][index[entered]] = t["run_start"][index[entered]]
        t["inside"][index[done]] = inside_now[done]
        t["pending"][index] = np.where(done, 0, pending)
        return entered, exited

    def _exits(self, index: npt.NDArray[np.intp], rows: npt.NDArray[np.int64]) -> ZoneExits:
        t = self._table
        return ZoneExits(
            row=rows,
            track_id=t.ids[index],
            class_id=t["class_id"][index],
            dwell_frames=t["last_inside"][index] - t["enter_frame"][index] + 1,
        )

    def _forget(self, frame_number: int) -> ZoneExits:
        """Drop tracks unseen for ``forget_frames``; those inside exit (row ``-1``)."""
        t = self._table
        stale = frame_number - t["last_seen"] >= self.forget_frames
        if not stale.any():
            return _NO_EXITS
        leaving = np.flatnonzero(stale & t["inside"])
        exits = self._exits(leaving, np.full(len(leaving), -1, np.int64))
        t.keep(~stale)
        return exits


def _concat_exits(a: ZoneExits, b: ZoneExits) -> ZoneExits:
    if not len(b):
        return a
    return ZoneExits(
        row=np.concatenate([a.row, b.row]),
        track_id=np.concatenate([a.track_id, b.track_id]),
        class_id=np.concatenate([a.class_id, b.class_id]),
        dwell_frames=np.concatenate([a.dwell_frames, b.dwell_frames]),
    )
