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

**Many streams.** A :class:`~visionflow.analytics.direction_bank.DirectionBank`
holds the detectors of every stream and advances them all in one pass per
round; a standalone detector is a bank of one detector.

Angles in events are screen angles: ``heading_deg = atan2(dy, dx)`` in degrees
with ``y`` down, so 0 is rightwards and 90 is down the picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import Round
from visionflow.analytics._table import check_positive
from visionflow.analytics._view import UnitView
from visionflow.analytics.lines import MAX_ANGLE_DEG, Mode
from visionflow.types import Detections

if TYPE_CHECKING:
    from visionflow.analytics.direction_bank import DirectionBank

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


class DirectionDetector(UnitView):
    """Finds each track's heading among named directions (see the module docstring).

    One instance per stream; not thread-safe. Standalone, a detector is a
    :class:`~visionflow.analytics.direction_bank.DirectionBank` of one unit fed
    by :meth:`update`; once added to a bank (the pipeline's, with every
    detector of every stream) it is a view of its unit, and the bank updates it.

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

    bank_kind = "DirectionBank"
    _bank: DirectionBank

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
        self._unit_vectors = _unit_vectors(name, directions)
        self.class_ids = class_ids
        self.anchor = anchor
        self.max_angle_deg = angle
        self._loose = angle >= 90.0 and mode == "loose" and max_angle_deg is None
        self._min_cos = float(np.cos(np.radians(angle)))
        self.history_frames = history_frames
        self.min_displacement_px = float(min_displacement_px)
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self._own_bank()  # private until a bank adopts the detector (UnitView)

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return self._bank.num_tracks(self._unit)

    def reset(self) -> None:
        """Forget every track."""
        self._bank.reset(self._unit)

    def states(self) -> DirectionStates:
        """The established direction of every held track (copies)."""
        return self._bank.states(self._unit)

    def update(self, tracks: Detections, frame_number: int) -> DirectionChanges:
        """Advance by one frame; return the tracks whose direction was set or changed.

        Args:
            tracks: confirmed tracks of one frame of this stream.
            frame_number: 0-based frame number within the stream.

        Raises:
            RuntimeError: the detector belongs to a bank (update the bank instead).
            ValueError: a track id is not positive or repeats.
        """
        self._require_standalone()
        changes = self._bank.update(Round.single(tracks, frame_number, self._owner()))
        return changes[self._unit] if changes else _no_changes()

    def _own_bank(self) -> None:
        from visionflow.analytics.direction_bank import DirectionBank  # it imports this module

        self._bank = DirectionBank()
        self._unit = self._bank._register(0, self)

    def _state_note(self) -> str | None:
        n = self.num_tracks
        return f"holds {n} tracks" if n else None


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


def _no_changes() -> DirectionChanges:
    i64 = np.zeros(0, np.int64)
    return DirectionChanges(
        i64, i64.copy(), np.zeros(0, np.int32), i64.copy(), i64.copy(), np.zeros(0)
    )
