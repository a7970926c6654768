"""Results of :meth:`ZoneCounter.update`: small struct-of-arrays records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from visionflow.analytics.crowding import CrowdingChange


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
        entry_track_id: ``[K]`` int64 id the visit's entry was counted under;
            differs from ``track_id`` when an id switch handed the visit over.
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    dwell_frames: npt.NDArray[np.int64]
    entry_track_id: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True, slots=True)
class ZoneLoitering:
    """Tracks whose dwell reached the loitering threshold in this frame.

    At most one per track per visit (entry to exit).

    Attributes:
        row: ``[K]`` int64 row of the track in the ``tracks`` passed in.
        track_id: ``[K]`` int64.
        class_id: ``[K]`` int32.
        dwell_frames: ``[K]`` int64 frames from the first frame of the entry
            run to this frame, inclusive.
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    dwell_frames: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.row)


NO_EXITS = ZoneExits(
    row=np.zeros(0, np.int64),
    track_id=np.zeros(0, np.int64),
    class_id=np.zeros(0, np.int32),
    dwell_frames=np.zeros(0, np.int64),
    entry_track_id=np.zeros(0, np.int64),
)
NO_LOITERING = ZoneLoitering(
    NO_EXITS.row, NO_EXITS.track_id, NO_EXITS.class_id, NO_EXITS.dwell_frames
)


@dataclass(frozen=True, slots=True)
class ZoneUpdate:
    """What one :meth:`ZoneCounter.update` observed.

    Attributes:
        entered: entries counted in this frame.
        exited: exits counted in this frame.
        occupancy: ``{class_id: tracks currently inside}``; with a class
            filter every filtered class is present (possibly ``0``).
        loitering: loitering alerts raised in this frame.
        crowding: an overcrowding alert that started or ended in this frame.
    """

    entered: ZoneEntries
    exited: ZoneExits
    occupancy: dict[int, int] = field(default_factory=dict)
    loitering: ZoneLoitering = NO_LOITERING
    crowding: CrowdingChange | None = None


def concat_exits(a: ZoneExits, b: ZoneExits) -> ZoneExits:
    """Exits of ``a`` then ``b``."""
    if not len(b):
        return a
    return ZoneExits(
        row=np.concatenate([a.row, b.row]),
        track_id=np.concatenate([a.track_id, b.track_id]),
        class_id=np.concatenate([a.class_id, b.class_id]),
        dwell_frames=np.concatenate([a.dwell_frames, b.dwell_frames]),
        entry_track_id=np.concatenate([a.entry_track_id, b.entry_track_id]),
    )
