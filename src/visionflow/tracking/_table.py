"""Struct-of-arrays storage of tracker state: one row per track, no object per track."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.tracking.kalman import COV_BLOCKS_SHAPE, MEASUREMENT_DIM, STATE_DIM, xyah_to_xyxy
from visionflow.types import Detections


class TrackState(enum.IntEnum):
    """Life-cycle code of a track, stored as ``int8`` in :attr:`TrackTable.state`.

    ``TENTATIVE`` tracks are new and not yet output; ``CONFIRMED`` tracks were
    matched in the latest frame; ``LOST`` tracks are confirmed tracks that
    missed at least one frame and may still be re-found.
    """

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


# The codes as plain ints, for the trackers' per-frame steps: in Python 3.11 each
# lookup of an IntEnum member (``TrackState.LOST``) costs about a microsecond, and
# a ByteTrack step made two dozen of them.
TENTATIVE = int(TrackState.TENTATIVE)
CONFIRMED = int(TrackState.CONFIRMED)
LOST = int(TrackState.LOST)

UNASSIGNED_ID = 0
"""``track_id`` of a tentative track: ids are handed out on confirmation."""


@dataclass(slots=True)
class TrackTable:
    """Rows of live tracks.

    Attributes:
        track_id: ``[T]`` int64, positive once confirmed, :data:`UNASSIGNED_ID` before.
        mean: ``[T, 8]`` float64 Kalman means (``cx, cy, a, h`` + velocities per frame).
        cov: ``[T, 3, 4]`` float64 Kalman covariances, in blocks
            (:class:`~visionflow.tracking.kalman.BlockKalmanXYAH`).
        state: ``[T]`` int8 :class:`TrackState` codes.
        hits: ``[T]`` int32 consecutive matched frames (creation counts as one).
        frames_since_update: ``[T]`` int32 frames since the last matched detection.
        class_id: ``[T]`` int32 class of the detection that started the track.
        score: ``[T]`` float32 confidence of the last matched detection.
        start_frame: ``[T]`` int64 frame count of its stream (1-based) at creation.
        stream: ``[T]`` int32 stream index (0 in single-stream trackers).
    """

    track_id: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64]
    cov: npt.NDArray[np.float64]
    state: npt.NDArray[np.int8]
    hits: npt.NDArray[np.int32]
    frames_since_update: npt.NDArray[np.int32]
    class_id: npt.NDArray[np.int32]
    score: npt.NDArray[np.float32]
    start_frame: npt.NDArray[np.int64]
    stream: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> TrackTable:
        """A table with zero tracks."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros((0, STATE_DIM)),
            np.zeros((0, *COV_BLOCKS_SHAPE)),
            np.zeros(0, np.int8),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
        )

    def __len__(self) -> int:
        return len(self.track_id)

    def columns(self) -> tuple[npt.NDArray[Any], ...]:
        """The columns in field order (:data:`FIELD_NAMES`), as the compiled kernels take them."""
        return (
            self.track_id, self.mean, self.cov, self.state, self.hits,
            self.frames_since_update, self.class_id, self.score, self.start_frame, self.stream,
        )  # fmt: skip

    def with_capacity(self, capacity: int) -> tuple[npt.NDArray[Any], ...]:
        """Column buffers of ``capacity`` rows (at least ``len(self)``), this table's first."""
        buffers = []
        for column in self.columns():
            buffer = np.empty((capacity, *column.shape[1:]), column.dtype)
            buffer[: len(self)] = column
            buffers.append(buffer)
        return tuple(buffers)

    def select(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> TrackTable:
        """Rows picked by a boolean mask or an integer index array (copies)."""
        return TrackTable(*(getattr(self, name)[index] for name in FIELD_NAMES))

    def append(self, other: TrackTable) -> TrackTable:
        """This table's rows followed by ``other``'s."""
        return TrackTable(
            *(np.concatenate((getattr(self, n), getattr(other, n))) for n in FIELD_NAMES)
        )

    def count(self, state: TrackState) -> int:
        """Number of tracks in ``state``."""
        return int(np.count_nonzero(self.state == state))

    def boxes_xyah(self) -> npt.NDArray[np.float64]:
        """``[T, 4]`` current ``cx, cy, a, h`` estimates."""
        return self.mean[:, :MEASUREMENT_DIM]

    def confirmed_detections(self) -> Detections:
        """Confirmed tracks' current Kalman boxes as :class:`Detections`, in row order.

        ``confidence`` is each track's last matched detection score; used to
        report tracks on frames without inference.
        """
        rows = np.flatnonzero(self.state == TrackState.CONFIRMED)
        out = Detections(
            xyah_to_xyxy(self.boxes_xyah()[rows]).astype(np.float32),
            self.score[rows],
            self.class_id[rows],
        )
        out.track_id = self.track_id[rows].copy()
        return out


FIELD_NAMES = tuple(f.name for f in fields(TrackTable))
