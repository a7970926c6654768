"""Results of :meth:`ZoneCounter.update` and :meth:`ZoneBank.update`: small
struct-of-arrays records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

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


NO_ENTRIES = ZoneEntries(
    row=np.zeros(0, np.int64), track_id=np.zeros(0, np.int64), class_id=np.zeros(0, np.int32)
)
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
    """What one :meth:`ZoneCounter.update` (or one unit of :meth:`ZoneBank.update`) observed.

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


Records = TypeVar("Records", ZoneEntries, ZoneExits, ZoneLoitering)
Rows = npt.NDArray[np.intp]


def take(records: Records, index: slice | npt.NDArray[np.intp]) -> Records:
    """The rows ``index`` of ``records`` (a slice gives views, no copy)."""
    return type(records)(*(getattr(records, name)[index] for name in records.__slots__))


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What a :class:`ZoneBank` round observed in all its units, each record sorted by unit.

    Attributes:
        entry_unit, exit_unit, loiter_unit, crowd_unit: ``[K]`` unit of each
            row of the record that follows it (non-decreasing).
        entries, exits, loitering: the records of every unit together.
        crowding: the overcrowding changes, one per ``crowd_unit``.
    """

    entry_unit: Rows
    entries: ZoneEntries
    exit_unit: Rows
    exits: ZoneExits
    loiter_unit: Rows
    loitering: ZoneLoitering
    crowd_unit: Rows
    crowding: list[CrowdingChange]

    def units(self) -> Rows:
        """Sorted units with something to report."""
        parts = (self.entry_unit, self.exit_unit, self.loiter_unit, self.crowd_unit)
        if not any(len(p) for p in parts):
            return np.zeros(0, np.intp)
        return np.unique(np.concatenate(parts))

    def split(self, units: Rows, occupancy: dict[int, dict[int, int]]) -> dict[int, ZoneUpdate]:
        """One :class:`ZoneUpdate` per unit of ``units`` (from :meth:`units`).

        Args:
            units: the units to report.
            occupancy: ``unit → {class_id: tracks inside}`` of each of them.
        """
        bounds = [
            zip(
                np.searchsorted(keys, units, "left").tolist(),
                np.searchsorted(keys, units, "right").tolist(),
                strict=True,
            )
            for keys in (self.entry_unit, self.exit_unit, self.loiter_unit)
        ]
        crowding = dict(zip(self.crowd_unit.tolist(), self.crowding, strict=True))
        out: dict[int, ZoneUpdate] = {}
        for u, (e0, e1), (x0, x1), (l0, l1) in zip(units.tolist(), *bounds, strict=True):
            out[u] = ZoneUpdate(
                entered=take(self.entries, slice(e0, e1)) if e1 > e0 else NO_ENTRIES,
                exited=take(self.exits, slice(x0, x1)) if x1 > x0 else NO_EXITS,
                occupancy=occupancy[u],
                loitering=take(self.loitering, slice(l0, l1)) if l1 > l0 else NO_LOITERING,
                crowding=crowding.get(u),
            )
        return out
