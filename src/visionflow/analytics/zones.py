"""Zone occupancy, entries, exits, dwell, loitering and overcrowding, per class.

A track is *inside* a zone when its anchor point lies inside the polygon
(even-odd ray casting, half-open: of two zones sharing an edge, a point exactly
on it falls in exactly one, see :mod:`visionflow.analytics._polygon`); the
``min_frames`` hysteresis absorbs jitter across the border.
"""

from __future__ import annotations

from visionflow.analytics._pairs import Round
from visionflow.analytics._polygon import points_in_polygon
from visionflow.analytics._table import check_positive
from visionflow.analytics._view import UnitView
from visionflow.analytics.crowding import OvercrowdingMonitor
from visionflow.analytics.zone_bank import ZoneBank
from visionflow.analytics.zone_results import (
    NO_ENTRIES,
    NO_EXITS,
    ZoneEntries,
    ZoneExits,
    ZoneLoitering,
    ZoneUpdate,
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


class ZoneCounter(UnitView):
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

    One instance per stream; not thread-safe. A standalone counter holds its
    state in a private one-unit :class:`~visionflow.analytics.zone_bank.ZoneBank`;
    :meth:`ZoneBank.add` adopts it as a unit of a bank of many streams, after
    which the bank advances it (one pass for every zone of a round) and the
    counter is a view of its unit's state.

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

    bank_kind = "ZoneBank"
    _bank: ZoneBank

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
        if overcrowding_threshold is not None:
            check_positive("threshold", overcrowding_threshold)
            check_positive("min_frames", overcrowding_frames)
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
        self._crowding_args = (
            None
            if overcrowding_threshold is None
            else (overcrowding_threshold, overcrowding_frames)
        )
        self._own_bank()  # private until a bank adopts the counter (UnitView)

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return self._bank.num_tracks(self._unit)

    @property
    def handovers(self) -> int:
        """Visits continued under a new track id (id switches)."""
        return self._bank.handovers(self._unit)

    @property
    def crowding(self) -> OvercrowdingMonitor | None:
        """The overcrowding alert state; ``None`` when overcrowding is off."""
        return self._bank.crowding(self._unit)

    def reset(self) -> None:
        """Forget every track and the alert state (no exits are reported)."""
        self._bank.reset(self._unit)
        self._updated = False

    def occupancy(self) -> dict[int, int]:
        """``{class_id: tracks currently inside}`` (see :attr:`ZoneUpdate.occupancy`)."""
        return self._bank.occupancy(self._unit)

    def update(self, tracks: Detections, frame_number: int) -> ZoneUpdate:
        """Advance by one frame; return entries, exits, alerts and the occupancy.

        Args:
            tracks: confirmed tracks of one frame of this stream (positive,
                unique ``track_id``).
            frame_number: 0-based frame number within the stream.

        Raises:
            RuntimeError: the counter belongs to a :class:`ZoneBank` (update the bank).
        """
        self._require_standalone()
        self._updated = True
        rnd = Round.single(tracks, frame_number, self._owner())
        update = self._bank.update(rnd).get(self._unit)
        return update or ZoneUpdate(NO_ENTRIES, NO_EXITS, self.occupancy())

    def _own_bank(self) -> None:
        self._bank = ZoneBank()
        self._unit = self._bank._register(0, self)
        self._updated = False  # updated since built or reset (adoption needs a fresh one)

    def _state_note(self) -> str | None:
        return "it was updated" if self._updated else None
