"""The zone bank's per-pair NumPy steps: the reference the compiled kernel matches.

:class:`~visionflow.analytics.zone_bank.ZoneBank` runs them with
``compiled=False``; :mod:`~visionflow.analytics._zone_kernel` does the same
work in one compiled call and is tested equal to them every round.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import Units, key_tracks
from visionflow.analytics._table import TrackTable

I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Points = npt.NDArray[np.float64]


def observe(
    t: TrackTable, index: Rows, points: Points, class_id: npt.NDArray[np.int32], frame: I64
) -> None:
    """Record each pair's sighting: first and last point, last frame, class."""
    new = t["first_seen"][index] < 0
    t["first_seen"][index[new]] = frame[new]
    t["first_xy"][index[new]] = points[new]
    t["last_xy"][index] = points
    t["last_seen"][index] = frame
    t["class_id"][index] = class_id


def step(
    t: TrackTable, units: Units, index: Rows, unit: Rows, *, inside_now: Mask, frame: I64
) -> tuple[Mask, Mask]:
    """Update rows ``index``; return (entered, exited) masks over them."""
    was_inside = t["inside"][index]
    t["last_inside"][index[inside_now]] = frame[inside_now]
    contradicts = inside_now != was_inside
    pending = np.where(contradicts, t["pending"][index] + 1, 0)
    starts = contradicts & (pending == 1)
    t["run_start"][index[starts]] = frame[starts]
    done = pending >= units["min_frames"][unit]
    entered, exited = done & inside_now, done & ~inside_now
    rows = index[entered]
    t["enter_frame"][rows] = t["run_start"][rows]
    t["entry_id"][rows] = key_tracks(t.ids[rows])
    t["loitered"][rows] = False
    t["inside"][index[done]] = inside_now[done]
    t["pending"][index] = np.where(done, 0, pending)
    return entered, exited
