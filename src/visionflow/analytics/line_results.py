"""What a line bank takes and gives: a line's validated spec and one update's crossings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LineCrossings:
    """Crossings counted by one line in one update, one row per crossing.

    Attributes:
        row: ``[K]`` int64 row of the crossing track in the ``tracks`` passed in
            (for a bank: in the round's tracks).
        track_id: ``[K]`` int64 track id.
        class_id: ``[K]`` int32 class of the track in this frame.
        direction_in: ``[K]`` bool, ``True`` for *in*, ``False`` for *out*.
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    direction_in: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls) -> LineCrossings:
        """No crossings."""
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, bool)
        )

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True, slots=True)
class LineSpec:
    """What a bank needs to know of one line (validated by ``LineCounter``).

    Attributes:
        vertices: ``[V, 2]`` the line's points in pixels.
        direction: unit ``(dx, dy)`` crossings must move along, or ``None``.
        min_cos: cosine of the mode's largest angle (unused in loose mode).
    """

    vertices: Points
    in_name: str
    out_name: str
    class_ids: frozenset[int] | None
    anchor: str
    min_frames: int
    forget_frames: int
    loose: bool
    min_cos: float
    direction: Points | None
    recount_window_frames: int
    recount_radius_px: float
