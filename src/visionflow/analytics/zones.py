"""Zone occupancy, entries, exits, dwell, loitering and overcrowding, per class.

A track is *inside* a zone when its anchor point lies inside the polygon
(even-odd ray casting, half-open: of two zones sharing an edge, a point exactly
on it falls in exactly one, see :mod:`visionflow.analytics._polygon`); the
``min_frames`` hysteresis absorbs jitter across the border.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.analytics._handover import match_handovers
from visionflow.analytics._polygon import inside_polygon, points_in_polygon, polygon_edges
from visionflow.analytics._table import (
    TrackTable,
    check_positive,
    check_track_ids,
    class_mask,
    count_by_class,
)
from visionflow.analytics.crowding import OvercrowdingMonitor
from visionflow.analytics.zone_results import (
    NO_EXITS,
    NO_LOITERING,
    ZoneEntries,
    ZoneExits,
    ZoneLoitering,
    ZoneUpdate,
    concat_exits,
)
from visionflow.geometry import Polygon
from visionflow.types import Detections

__all__ = [
    "ZoneCounter",
    "ZoneEntries",
    "ZoneExits",
    "ZoneLoitering",
    "ZoneUpdate",
    "points_in_polygon",
]


class ZoneCounter:
    """Tracks entering, leaving and staying in a polygonal zone.

    An entry counts once the anchor has been inside for ``min_frames``
    consecutive observations; an exit once it has been outside for
    ``min_frames`` consecutive observations, or when the track has not been
    seen for ``forget_frames`` frames while inside (it left the scene, or its
    id was lost). A track first seen inside (e.g. coming in over the frame
    border) enters after ``min_frames`` observations like any other. Frames
    in which a track is missing do not break its run, and a track that is
    missing but not yet forgotten still counts in the occupancy (it may be
    occluded), so ``entries - exits == occupancy`` holds at every frame.

    Dwell is measured in frame numbers, from the first frame of the entry run
    to the last frame seen inside, so frames skipped by the pipeline count.
    A *loitering* alert is raised once per visit when the dwell reaches
    ``loitering_frames``; an *overcrowding* alert starts when the occupancy
    (all watched classes together) is at least ``overcrowding_threshold`` for
    ``overcrowding_frames`` consecutive frames and ends after as many frames
    below it (see :class:`~visionflow.analytics.crowding.OvercrowdingMonitor`).

    One instance per stream; not thread-safe.

    Args:
        name: name of the zone (used in events and errors).
        polygon: the zone, in source-frame pixels.
        class_ids: classes to watch; ``None`` watches every class.
        anchor: box point that must be inside (see :meth:`Detections.anchors`).
        min_frames: consecutive observations before an entry or exit counts.
        forget_frames: frames without a sighting after which a track is
            dropped (exiting with its dwell if it was inside).
        loitering_frames: dwell in frames that raises a loitering alert;
            ``None`` disables loitering alerts.
        overcrowding_threshold: occupancy at which the zone is overcrowded;
            ``None`` disables overcrowding alerts.
        overcrowding_frames: hysteresis of the overcrowding alert, frames.
        recount_window_frames: id-switch window (see
            :mod:`visionflow.analytics._handover`): a new track that appears
            where a lost track inside was last seen, at most this many frames
            later, continues its visit (no second entry, no exit, dwell from
            the first entry); ``0`` disables it.
        recount_radius_px: how close to the lost track's last anchor the new
            track must first appear.
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
        loitering_frames: int | None = None,
        overcrowding_threshold: int | None = None,
        overcrowding_frames: int = 1,
        recount_window_frames: int = 0,
        recount_radius_px: float = 50.0,
    ) -> None:
        check_positive("min_frames", min_frames)
        check_positive("forget_frames", forget_frames)
        if loitering_frames is not None:
            check_positive("loitering_frames", loitering_frames)
        if recount_window_frames < 0 or not recount_radius_px > 0:
            raise ValueError(
                "recount_window_frames must be >= 0 and recount_radius_px > 0, got "
                f"{recount_window_frames} and {recount_radius_px}"
            )
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.polygon = polygon
        self.class_ids = class_ids
        self.anchor = anchor
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self.loitering_frames = loitering_frames
        self.recount_window_frames = recount_window_frames
        self.recount_radius_px = float(recount_radius_px)
        self.handovers = 0  # visits continued under a new track id (id switches)
        self.crowding = (
            None
            if overcrowding_threshold is None
            else OvercrowdingMonitor(overcrowding_threshold, overcrowding_frames)
        )
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
                "loitered": np.bool_(False),  # alert raised during this visit
                "entry_id": np.int64(0),  # the id the visit entered under
                "first_seen": np.int64(-1),
                "first_xy": np.zeros(2),
                "last_xy": np.zeros(2),
            }
        )

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return len(self._table)

    def reset(self) -> None:
        """Forget every track and the alert state (no exits are reported)."""
        self._table.clear()
        self.handovers = 0
        if self.crowding is not None:
            self.crowding.reset()

    def occupancy(self) -> dict[int, int]:
        """``{class_id: tracks currently inside}`` (see :attr:`ZoneUpdate.occupancy`)."""
        t = self._table
        found = count_by_class(t["class_id"][t["inside"]])
        return {**dict.fromkeys(sorted(self.class_ids or ()), 0), **found}

    def update(self, tracks: Detections, frame_number: int) -> ZoneUpdate:
        """Advance by one frame; return entries, exits, alerts and the occupancy.

        Args:
            tracks: confirmed tracks of one frame of this stream (positive,
                unique ``track_id``).
            frame_number: 0-based frame number within the stream.
        """
        rows = np.flatnonzero(class_mask(tracks.class_id, self.class_ids))
        track_ids = tracks.track_id[rows]
        check_track_ids(track_ids, f"ZoneCounter {self.name!r}")
        points = tracks.anchors(self.anchor)[rows]
        inside_now = inside_polygon(points, self._edges)
        index = self._table.locate(track_ids)
        self._observe(index, points, tracks.class_id[rows], frame_number)
        entered, exited = self._step(index, inside_now, frame_number)
        if self.recount_window_frames and entered.any():
            entered &= ~self._hand_over(index, entered, frame_number)
        loitering = self._loitering(index, rows, inside_now, frame_number)
        # Read every row through ``index`` before _forget compacts the table.
        left = self._exits(index[exited], rows[exited].astype(np.int64))
        vanished = self._forget(frame_number)
        occupancy = self.occupancy()
        crowding = None
        if self.crowding is not None:
            crowding = self.crowding.update(sum(occupancy.values()), frame_number)
        return ZoneUpdate(
            entered=ZoneEntries(
                row=rows[entered].astype(np.int64),
                track_id=track_ids[entered],
                class_id=tracks.class_id[rows[entered]],
            ),
            exited=concat_exits(left, vanished),
            occupancy=occupancy,
            loitering=loitering,
            crowding=crowding,
        )

    def _observe(
        self,
        index: npt.NDArray[np.intp],
        points: npt.NDArray[np.float64],
        class_id: npt.NDArray[np.int32],
        frame_number: int,
    ) -> None:
        t = self._table
        new = t["first_seen"][index] < 0
        t["first_seen"][index[new]] = frame_number
        t["first_xy"][index[new]] = points[new]
        t["last_xy"][index] = points
        t["last_seen"][index] = frame_number
        t["class_id"][index] = class_id

    def _hand_over(
        self, index: npt.NDArray[np.intp], entered: npt.NDArray[np.bool_], frame_number: int
    ) -> npt.NDArray[np.bool_]:
        """Let entering tracks continue lost tracks' visits; return the mask of those."""
        t = self._table
        new, old = match_handovers(
            t, index[entered], frame_number, self.recount_window_frames, self.recount_radius_px
        )
        if not len(new):
            return np.zeros(len(index), bool)
        t["enter_frame"][new] = t["enter_frame"][old]
        t["entry_id"][new] = t["entry_id"][old]
        t["loitered"][new] = t["loitered"][old]
        t["inside"][old] = False  # leaves silently: _forget drops it this frame
        t["last_seen"][old] = frame_number - self.forget_frames
        self.handovers += len(new)
        return np.isin(index, new)

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
        t["entry_id"][index[entered]] = t.ids[index[entered]]
        t["loitered"][index[entered]] = False
        t["inside"][index[done]] = inside_now[done]
        t["pending"][index] = np.where(done, 0, pending)
        return entered, exited

    def _loitering(
        self,
        index: npt.NDArray[np.intp],
        rows: npt.NDArray[np.intp],
        inside_now: npt.NDArray[np.bool_],
        frame_number: int,
    ) -> ZoneLoitering:
        """Raise the alert for tracks seen inside whose dwell reached the threshold."""
        if self.loitering_frames is None:
            return NO_LOITERING
        t = self._table
        dwell = frame_number - t["enter_frame"][index] + 1
        due = inside_now & t["inside"][index] & ~t["loitered"][index]
        due &= dwell >= self.loitering_frames
        if not due.any():
            return NO_LOITERING
        t["loitered"][index[due]] = True
        return ZoneLoitering(
            row=rows[due].astype(np.int64),
            track_id=t.ids[index[due]],
            class_id=t["class_id"][index[due]],
            dwell_frames=dwell[due],
        )

    def _exits(self, index: npt.NDArray[np.intp], rows: npt.NDArray[np.int64]) -> ZoneExits:
        t = self._table
        return ZoneExits(
            row=rows,
            track_id=t.ids[index],
            class_id=t["class_id"][index],
            dwell_frames=t["last_inside"][index] - t["enter_frame"][index] + 1,
            entry_track_id=t["entry_id"][index],
        )

    def _forget(self, frame_number: int) -> ZoneExits:
        """Drop tracks unseen for ``forget_frames``; those inside exit (row ``-1``)."""
        t = self._table
        stale = frame_number - t["last_seen"] >= self.forget_frames
        if not stale.any():
            return NO_EXITS
        leaving = np.flatnonzero(stale & t["inside"])
        exits = self._exits(leaving, np.full(len(leaving), -1, np.int64))
        t.keep(~stale)
        return exits
