"""Direction detection: each track's heading matched against named directions.

The equivalent of DeepStream nvdsanalytics' direction detection
(``direction-<label>=x1;y1;x2;y2`` per stream, ``class-id``, ``mode``).

**Heading.** A track's heading is the displacement of its anchor from the
oldest of its last ``history_frames`` observations to the current one (the
observations of up to ``history_frames`` frames ago; DeepStream uses 10). With
fewer observations the oldest one available is used. A displacement shorter
than ``min_displacement_px`` gives no heading (the track is standing still):
its established direction is kept and no event is made.

**Match.** The heading is compared with every named direction; the one with
the smallest angle wins if that angle is below ``max_angle_deg`` — by default
from ``mode`` as for lines: below 90° (loose), at most 60° (balanced,
DeepStream's default) or at most 30° (strict). Otherwise the track has no
matching direction this frame (it keeps the established one).

**Debounce.** A direction becomes the track's *established* direction after
it was the match in ``min_frames`` consecutive observations; a change event is
made when a track's direction is first established and whenever it changes.

Angles in events are screen angles: ``heading_deg = atan2(dy, dx)`` in degrees
with ``y`` down, so 0 is rightwards and 90 is down the picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visionflow.analytics._table import TrackTable, check_positive, check_track_ids, class_mask
from visionflow.analytics.lines import MAX_ANGLE_DEG, Mode
from visionflow.types import Detections

NONE = -1
"""Direction index meaning "no direction"."""


@dataclass(frozen=True, slots=True)
class DirectionChanges:
    """Tracks whose established direction was set or changed in one update.

    Attributes:
        row: ``[K]`` int64 row of the track in the ``tracks`` passed in.
        track_id: ``[K]`` int64 track id.
        class_id: ``[K]`` int32 class of the track in this frame.
        direction: ``[K]`` int64 index into :attr:`DirectionDetector.labels`.
        previous: ``[K]`` int64 previous direction index, ``-1`` when first set.
        heading_deg: ``[K]`` float64 heading that confirmed it (screen angle).
    """

    row: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    class_id: npt.NDArray[np.int32]
    direction: npt.NDArray[np.int64]
    previous: npt.NDArray[np.int64]
    heading_deg: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True, slots=True)
class DirectionStates:
    """The established direction of every held track (struct of arrays).

    Attributes:
        track_id: ``[T]`` int64, sorted.
        direction: ``[T]`` int64 index into the labels, ``-1`` while none is established.
    """

    track_id: npt.NDArray[np.int64]
    direction: npt.NDArray[np.int64]


class DirectionDetector:
    """Finds each track's heading among named directions (see the module docstring).

    One instance per stream; not thread-safe.

    Args:
        name: name of the detector (used in events and errors).
        directions: label → ``(dx, dy)`` direction vector in pixels (only the
            orientation matters).
        class_ids: classes to watch; ``None`` watches every class.
        anchor: box point whose movement is the heading.
        mode: ``loose``, ``balanced`` or ``strict`` (sets ``max_angle_deg``).
        max_angle_deg: overrides the mode's largest matching angle.
        history_frames: observations back to measure the heading over.
        min_displacement_px: shorter displacements give no heading.
        min_frames: consecutive matching observations before a direction is set.
        forget_frames: frames without a sighting after which a track is dropped.
    """

    def __init__(
        self,
        name: str,
        directions: Mapping[str, tuple[float, float]],
        *,
        class_ids: frozenset[int] | None = None,
        anchor: str = "bottom_center",
        mode: Mode = "balanced",
        max_angle_deg: float | None = None,
        history_frames: int = 10,
        min_displacement_px: float = 10.0,
        min_frames: int = 3,
        forget_frames: int = 60,
    ) -> None:
        for arg, value in (("history_frames", history_frames), ("min_frames", min_frames)):
            check_positive(arg, value)
        check_positive("forget_frames", forget_frames)
        if mode not in MAX_ANGLE_DEG:
            raise ValueError(f"mode={mode!r} is not one of {sorted(MAX_ANGLE_DEG)}")
        angle = MAX_ANGLE_DEG[mode] if max_angle_deg is None else float(max_angle_deg)
        if not 0.0 < angle <= 180.0 or min_displacement_px < 0:
            raise ValueError(
                f"max_angle_deg must be in (0, 180] and min_displacement_px >= 0, "
                f"got {angle} and {min_displacement_px}"
            )
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.labels: tuple[str, ...] = tuple(directions)
        self._unit = _unit_vectors(name, directions)
        self.class_ids = class_ids
        self.anchor = anchor
        self.max_angle_deg = angle
        self._loose = angle >= 90.0 and mode == "loose" and max_angle_deg is None
        self._min_cos = float(np.cos(np.radians(angle)))
        self.history_frames = history_frames
        self.min_displacement_px = float(min_displacement_px)
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self._table = TrackTable(
            {
                "history": np.zeros((history_frames + 1, 2)),
                "seen": np.int32(0),
                "candidate": np.int64(NONE),
                "streak": np.int32(0),
                "current": np.int64(NONE),
                "last_seen": np.int64(0),
            }
        )

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return len(self._table)

    def reset(self) -> None:
        """Forget every track."""
        self._table.clear()

    def states(self) -> DirectionStates:
        """The established direction of every held track (copies)."""
        return DirectionStates(self._table.ids.copy(), self._table["current"].copy())

    def update(self, tracks: Detections, frame_number: int) -> DirectionChanges:
        """Advance by one frame; return the tracks whose direction was set or changed.

        Args:
            tracks: confirmed tracks of one frame of this stream.
            frame_number: 0-based frame number within the stream.
        """
        rows = np.flatnonzero(class_mask(tracks.class_id, self.class_ids))
        track_ids = tracks.track_id[rows]
        check_track_ids(track_ids, f"DirectionDetector {self.name!r}")
        index = self._table.locate(track_ids)
        self._table["last_seen"][index] = frame_number
        heading = self._push(index, tracks.anchors(self.anchor)[rows])
        changed, previous = self._debounce(index, self._match(heading))
        picked = rows[changed]
        h = heading[changed]
        result = DirectionChanges(
            row=picked.astype(np.int64),
            track_id=track_ids[changed],
            class_id=tracks.class_id[picked],
            direction=self._table["current"][index[changed]].astype(np.int64),
            previous=previous[changed],
            heading_deg=np.degrees(np.arctan2(h[:, 1], h[:, 0])),
        )
        # Last: dropping rows invalidates ``index``.
        self._table.keep(frame_number - self._table["last_seen"] < self.forget_frames)
        return result

    def _push(
        self, index: npt.NDArray[np.intp], points: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Append ``points`` to the rows' histories; return ``[N, 2]`` headings."""
        t = self._table
        history = np.concatenate([t["history"][index][:, 1:], points[:, None, :]], axis=1)
        t["history"][index] = history
        seen = np.minimum(t["seen"][index] + 1, self.history_frames + 1)
        t["seen"][index] = seen
        oldest = history[np.arange(len(index)), self.history_frames + 1 - seen]
        heading: npt.NDArray[np.float64] = points - oldest
        return heading

    def _match(self, heading: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """``[N]`` best direction index per heading, ``-1`` for none."""
        length = np.linalg.norm(heading, axis=1)
        moving = (length >= max(self.min_displacement_px, 1e-9)) & (length > 0)
        cos = (heading @ self._unit.T) / np.maximum(length, 1e-12)[:, None]  # [N, L]
        best = np.argmax(cos, axis=1)
        best_cos = cos[np.arange(len(cos)), best]
        ok = best_cos > 0.0 if self._loose else best_cos >= self._min_cos - 1e-12
        return np.where(moving & ok, best, NONE).astype(np.int64)

    def _debounce(
        self, index: npt.NDArray[np.intp], candidate: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Update streaks; return (changed mask, previous direction)."""
        t = self._table
        same = candidate == t["candidate"][index]
        streak = np.where(candidate == NONE, 0, np.where(same, t["streak"][index] + 1, 1))
        t["candidate"][index] = candidate
        t["streak"][index] = streak
        previous = t["current"][index].astype(np.int64)
        changed = (candidate != NONE) & (streak >= self.min_frames) & (candidate != previous)
        t["current"][index[changed]] = candidate[changed]
        return changed, previous


def _unit_vectors(
    name: str, directions: Mapping[str, tuple[float, float]]
) -> npt.NDArray[np.float64]:
    if not directions:
        raise ValueError(f"DirectionDetector {name!r} needs at least one named direction")
    vectors = np.asarray([directions[label] for label in directions], np.float64).reshape(-1, 2)
    norms = np.linalg.norm(vectors, axis=1)
    zero = [label for label, n in zip(directions, norms, strict=True) if not n > 0]
    if zero:
        raise ValueError(
            f"DirectionDetector {name!r}: directions {zero} are zero vectors; "
            "give two distinct points (from → towards)"
        )
    unit: npt.NDArray[np.float64] = vectors / norms[:, None]
    return unit
