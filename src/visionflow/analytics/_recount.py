"""Recent counted crossings of every line of a bank, to catch re-acquired tracks and id switches.

See :mod:`visionflow.analytics.lines` for the rule; this module holds the
records of all units (lines) as a few arrays and answers "which record does
this crossing repeat" for all crossings of a round at once. A record is only
ever matched by a crossing of its own unit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import pair_keys

Points = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]


class RecentCrossings:
    """Counted crossings (unit, frame, point, direction, track) still inside their window.

    Records of one unit keep the order they were made in, so the nearest-record
    tie-break is the same as with one list per unit.
    """

    def __init__(self) -> None:
        self.unit: Rows = np.zeros(0, np.intp)
        self.frame: I64 = np.zeros(0, np.int64)
        self.xy: Points = np.zeros((0, 2))
        self.going_in: Mask = np.zeros(0, bool)
        self.track_id: I64 = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    def keep(self, mask: Mask) -> None:
        """Keep only the records where ``mask`` is true."""
        if mask.all():
            return
        self.unit, self.frame, self.xy = self.unit[mask], self.frame[mask], self.xy[mask]
        self.going_in, self.track_id = self.going_in[mask], self.track_id[mask]

    def prune(self, now: I64, window: I64) -> None:
        """Drop records older than their unit's window.

        Args:
            now: ``[U]`` current frame of each unit's stream, ``-1`` if it has
                none this round (its records stay).
            window: ``[U]`` each unit's window in frames.
        """
        if len(self):
            unit_now = now[self.unit]
            self.keep((unit_now < 0) | (self.frame >= unit_now - window[self.unit]))

    def matches(
        self,
        unit: Rows,
        xy: Points,
        going_in: Mask,
        track_id: I64,
        first_seen: I64,
        *,
        lost: Mask,
        radius_px: npt.NDArray[np.float64],
    ) -> Rows:
        """``[K]`` index of the record each crossing repeats, ``-1`` for none.

        A record is repeated by a crossing of the same unit in the same
        direction, by another track first seen after the record's frame,
        within ``radius_px`` (``[K]``) of the record's point, when the record's
        track is ``lost`` (``[M]``: absent from its stream's current frame).
        The nearest such record wins.
        """
        if not len(self) or not len(xy):
            return np.full(len(xy), -1, np.intp)
        dist = np.linalg.norm(xy[:, None, :] - self.xy[None], axis=2)  # [K, M]
        ok = (
            (unit[:, None] == self.unit[None])
            & (dist <= radius_px[:, None])
            & (going_in[:, None] == self.going_in[None])
            & (track_id[:, None] != self.track_id[None])
            & (first_seen[:, None] > self.frame[None])
            & lost[None]
        )
        nearest = np.argmin(np.where(ok, dist, np.inf), axis=1)
        return np.where(ok.any(axis=1), nearest, -1).astype(np.intp)

    def take_over(self, index: Rows, track_id: I64, frame: I64) -> None:
        """The tracks ``track_id`` now own records ``index``, as of ``frame`` (``[K]`` each)."""
        self.track_id[index] = track_id
        self.frame[index] = frame

    def add(self, unit: Rows, frame: I64, xy: Points, going_in: Mask, track_id: I64) -> None:
        """Record counted crossings; they supersede their tracks' older ones in their unit."""
        if not len(xy):
            return
        self.keep(~member(pair_keys(self.unit, self.track_id), np.sort(pair_keys(unit, track_id))))
        self.unit = np.concatenate([self.unit, unit])
        self.frame = np.concatenate([self.frame, frame])
        self.xy = np.concatenate([self.xy, xy])
        self.going_in = np.concatenate([self.going_in, going_in])
        self.track_id = np.concatenate([self.track_id, track_id])


def member(values: I64, sorted_keys: I64) -> Mask:
    """``[N]`` whether each value is in ``sorted_keys`` (sorted ascending): cheaper than isin."""
    if not len(sorted_keys):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    found: Mask = sorted_keys[at] == values
    return found


def unit_direction(
    direction: tuple[float, float] | None, vertices: Points
) -> npt.NDArray[np.float64] | None:
    """The unit vector of ``direction`` (None stays None), checked against a segment.

    Raises:
        ValueError: the vector is zero, or parallel to a single-segment line
            (no crossing could ever move along it).
    """
    if direction is None:
        return None
    vec = np.asarray(direction, np.float64).reshape(2)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"direction must be a non-zero vector (dx, dy), got {tuple(direction)}")
    if len(vertices) == 2:
        d = vertices[1] - vertices[0]
        if d[0] * vec[1] - d[1] * vec[0] == 0.0:
            raise ValueError(
                f"direction {tuple(direction)} is parallel to the line {vertices.tolist()}; "
                "it must point across the line (towards the side crossings go to)"
            )
    return vec / norm
