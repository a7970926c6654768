"""Match a track entering a zone with the lost track whose visit it continues.

An id switch or a re-acquisition inside a zone looks like this: track ``A``
is inside, disappears (occlusion, a missed detection, the tracker gives up),
and a *new* track ``B`` appears where ``A`` was last seen. Without care the
zone counts a second entry and holds both until ``A`` is forgotten. A pair
``(B, A)`` is a handover when:

- ``A`` is settled inside and absent from the current frame;
- ``B`` was first seen after ``A`` was last seen, at most ``window_frames``
  later (``B`` is a new id, not an object that was there at the same time);
- ``B``'s first position is within ``radius_px`` of ``A``'s last one;
- both have the same class.

Entries are rare, so matching runs per zone with entries, and loops over its
few entering tracks (nearest candidate first); the candidate search itself is
vectorised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.analytics._table import TrackTable

Rows = npt.NDArray[np.intp]


def match_handovers(
    table: TrackTable,
    zone_rows: slice,
    entering: Rows,
    frame_number: int,
    *,
    window_frames: int,
    radius_px: float,
) -> tuple[Rows, Rows]:
    """``(new_rows, old_rows)``: entering tracks that continue a lost track's visit.

    Args:
        table: the zones' track table (``inside``, ``last_seen``, ``first_seen``,
            ``first_xy``, ``last_xy``, ``class_id`` columns).
        zone_rows: the rows of the zone's tracks (a handover stays in its zone).
        entering: rows (within ``zone_rows``) whose entry counts in this frame.
        frame_number: the current frame of the zone's stream.
        window_frames: longest gap between ``A``'s last and ``B``'s first sighting.
        radius_px: largest distance between those two positions.
    """
    start = zone_rows.start or 0
    zone_inside = table["inside"][zone_rows] & (table["last_seen"][zone_rows] < frame_number)
    lost = start + np.flatnonzero(zone_inside)
    if not len(lost) or not len(entering) or window_frames <= 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    gap = table["first_seen"][entering][:, None] - table["last_seen"][lost][None, :]
    dist = np.linalg.norm(
        table["first_xy"][entering][:, None, :] - table["last_xy"][lost][None, :, :], axis=-1
    )
    same = table["class_id"][entering][:, None] == table["class_id"][lost][None, :]
    ok = (gap > 0) & (gap <= window_frames) & (dist <= radius_px) & same
    if not ok.any():
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    cost = np.where(ok, dist, np.inf)
    new, old = [], []
    for i in np.argsort(cost.min(axis=1)):  # the closest pairs first
        j = int(np.argmin(cost[i]))
        if np.isfinite(cost[i, j]):
            new.append(entering[i])
            old.append(lost[j])
            cost[:, j] = np.inf  # each lost track hands over once
    return np.asarray(new, np.intp), np.asarray(old, np.intp)
