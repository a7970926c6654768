"""Recent counted crossings of one line, to catch re-acquired tracks and id switches.

See :mod:`visionflow.analytics.lines` for the rule; this module holds the
records as a few arrays and answers "which record does this crossing repeat"
for all crossings of a frame at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]


class RecentCrossings:
    """Counted crossings (frame, point, direction, track) still inside the window."""

    def __init__(self) -> None:
        self.frame = np.zeros(0, np.int64)
        self.xy = np.zeros((0, 2))
        self.going_in = np.zeros(0, bool)
        self.track_id = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    def prune(self, oldest_frame: int) -> None:
        """Drop records made before ``oldest_frame``."""
        keep = self.frame >= oldest_frame
        if not keep.all():
            self.prune_mask(keep)

    def prune_mask(self, keep: npt.NDArray[np.bool_]) -> None:
        """Keep only the records where ``keep`` is true."""
        self.frame, self.xy = self.frame[keep], self.xy[keep]
        self.going_in, self.track_id = self.going_in[keep], self.track_id[keep]

    def matches(
        self,
        xy: Points,
        going_in: npt.NDArray[np.bool_],
        track_id: npt.NDArray[np.int64],
        first_seen: npt.NDArray[np.int64],
        *,
        present_ids: npt.NDArray[np.int64],
        radius_px: float,
    ) -> npt.NDArray[np.intp]:
        """``[K]`` index of the record each crossing repeats, ``-1`` for none.

        A record is repeated by a crossing in the same direction, by another
        track first seen after the record's frame, within ``radius_px`` of the
        record's point, when the record's track is not in ``present_ids``.
        The nearest such record wins.
        """
        if not len(self) or not len(xy):
            return np.full(len(xy), -1, np.intp)
        dist = np.linalg.norm(xy[:, None, :] - self.xy[None], axis=2)  # [K, M]
        lost = ~np.isin(self.track_id, present_ids)
        ok = (
            (dist <= radius_px)
            & (going_in[:, None] == self.going_in[None])
            & (track_id[:, None] != self.track_id[None])
            & (first_seen[:, None] > self.frame[None])
            & lost[None]
        )
        nearest = np.argmin(np.where(ok, dist, np.inf), axis=1)
        return np.where(ok.any(axis=1), nearest, -1).astype(np.intp)

    def take_over(
        self, index: npt.NDArray[np.intp], track_id: npt.NDArray[np.int64], frame: int
    ) -> None:
        """The tracks ``track_id`` now own records ``index``, as of ``frame``."""
        self.track_id[index] = track_id
        self.frame[index] = frame

    def add(
        self,
        frame: int,
        xy: Points,
        going_in: npt.NDArray[np.bool_],
        track_id: npt.NDArray[np.int64],
    ) -> None:
        """Record counted crossings made in ``frame``; they supersede their tracks' older ones."""
        if not len(xy):
            return
        older = np.isin(self.track_id, track_id)
        if older.any():  # a track's latest crossing is the one a re-acquisition repeats
            self.prune_mask(~older)
        self.frame = np.concatenate([self.frame, np.full(len(xy), frame, np.int64)])
        self.xy = np.concatenate([self.xy, xy])
        self.going_in = np.concatenate([self.going_in, going_in])
        self.track_id = np.concatenate([self.track_id, track_id])


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
