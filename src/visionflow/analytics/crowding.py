"""Overcrowding: a zone's occupancy at or above a threshold, with hysteresis.

DeepStream's nvdsanalytics flags a frame as overcrowded when the number of
objects in the ROI reaches ``object-threshold`` (optionally for
``time-threshold`` ms). Here the same condition must hold for ``min_frames``
consecutive frames before an alert *starts*, and must be false for
``min_frames`` consecutive frames before it *ends*: a count that flickers
around the threshold gives one start and one end, not one alert per frame.

The alert state of every zone of every stream is held as arrays
(:class:`CrowdingStates`, one entry per zone unit) and advanced for all zones
of a round in one vectorised step; :class:`OvercrowdingMonitor` is a view of
one entry (a standalone monitor owns a one-entry state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from visionflow.analytics._table import check_positive

I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class CrowdingChange:
    """An overcrowding alert started or ended in this frame.

    Attributes:
        state: ``"start"`` or ``"end"``.
        occupancy: objects inside the zone in this frame.
        start_frame: frame number of the first frame of the run of
            ``min_frames`` frames that started the alert.
        duration_frames: for ``"end"``: frames from ``start_frame`` to the
            last frame at or above the threshold, inclusive; ``0`` for
            ``"start"``.
    """

    state: Literal["start", "end"]
    occupancy: int
    start_frame: int
    duration_frames: int


class CrowdingStates:
    """Overcrowding alert state of many units, one array entry per unit.

    A unit with ``threshold`` 0 has overcrowding off: it is never stepped.
    """

    def __init__(self) -> None:
        self.threshold: I64 = np.zeros(0, np.int64)
        self.min_frames: I64 = np.zeros(0, np.int64)
        self.active = np.zeros(0, bool)
        self.pending: I64 = np.zeros(0, np.int64)  # frames contradicting ``active``
        self.run_start: I64 = np.zeros(0, np.int64)  # first frame of the pending run
        self.start_frame: I64 = np.zeros(0, np.int64)  # first frame of the running alert
        self.last_crowded: I64 = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.threshold)

    def add(self, threshold: int, min_frames: int) -> int:
        """Register a unit (``threshold`` 0: off); return its index."""
        self.threshold = np.append(self.threshold, np.int64(threshold))
        self.min_frames = np.append(self.min_frames, np.int64(min_frames))
        self.active = np.append(self.active, False)
        for name in ("pending", "run_start", "start_frame", "last_crowded"):
            setattr(self, name, np.append(getattr(self, name), np.int64(0)))
        return len(self.threshold) - 1

    def take(self, units: Rows) -> None:
        """Keep only ``units``, renumbered in that order."""
        for name in (
            "threshold",
            "min_frames",
            "active",
            "pending",
            "run_start",
            "start_frame",
            "last_crowded",
        ):
            setattr(self, name, getattr(self, name)[units])

    def reset(self, units: Rows) -> None:
        """Forget the alert state of ``units`` (no end is reported)."""
        self.active[units] = False
        for col in (self.pending, self.run_start, self.start_frame, self.last_crowded):
            col[units] = 0

    def step(
        self, units: Rows, occupancy: I64, frame_number: I64
    ) -> tuple[Rows, list[CrowdingChange]]:
        """Advance ``units`` by one frame each; return the units that changed and how.

        Args:
            units: ``[K]`` distinct unit indices (overcrowding on).
            occupancy: ``[K]`` objects inside each unit's zone in this frame.
            frame_number: ``[K]`` each unit's frame number.
        """
        crowded = occupancy >= self.threshold[units]
        self.last_crowded[units[crowded]] = frame_number[crowded]
        flips = crowded != self.active[units]
        pending = np.where(flips, self.pending[units] + 1, 0)
        starts = flips & (pending == 1)
        self.run_start[units[starts]] = frame_number[starts]
        done = flips & (pending >= self.min_frames[units])
        self.pending[units] = np.where(done, 0, pending)
        if not done.any():
            return np.zeros(0, np.intp), []
        changed = units[done]
        self.active[changed] = crowded[done]
        started = changed[crowded[done]]
        self.start_frame[started] = self.run_start[started]
        return changed, [
            self._change(unit, occ)
            for unit, occ in zip(changed.tolist(), occupancy[done].tolist(), strict=True)
        ]

    def _change(self, unit: int, occupancy: int) -> CrowdingChange:
        start = int(self.start_frame[unit])
        if self.active[unit]:
            return CrowdingChange("start", occupancy, start, 0)
        duration = int(self.last_crowded[unit]) - start + 1
        return CrowdingChange("end", occupancy, start, duration)


class OvercrowdingMonitor:
    """Start/end alerts for "occupancy >= threshold" held for ``min_frames`` frames.

    Frames are counted as :meth:`update` calls (one per processed frame of the
    stream), so a stream processed at a lower rate needs proportionally fewer
    frames. A zone's ``crowding`` attribute is a monitor viewing the zone's
    entry of its bank's :class:`CrowdingStates`.

    Args:
        threshold: occupancy (objects inside) at which the zone is crowded.
        min_frames: consecutive frames the condition must hold (or not hold)
            before an alert starts (or ends); ``1`` = no hysteresis.
    """

    def __init__(self, threshold: int, min_frames: int = 1) -> None:
        check_positive("threshold", threshold)
        check_positive("min_frames", min_frames)
        self._states = CrowdingStates()
        self._unit = np.asarray([self._states.add(threshold, min_frames)], np.intp)

    @classmethod
    def view(cls, states: CrowdingStates, unit: int) -> OvercrowdingMonitor:
        """A monitor reading and advancing entry ``unit`` of ``states``."""
        monitor = cls.__new__(cls)
        monitor._states = states
        monitor._unit = np.asarray([unit], np.intp)
        return monitor

    @property
    def threshold(self) -> int:
        """Occupancy at which the zone is crowded."""
        return int(self._states.threshold[self._unit[0]])

    @property
    def min_frames(self) -> int:
        """Hysteresis, frames."""
        return int(self._states.min_frames[self._unit[0]])

    @property
    def active(self) -> bool:
        """Whether an overcrowding alert is running."""
        return bool(self._states.active[self._unit[0]])

    def reset(self) -> None:
        """Forget the alert state (no end is reported for a running alert)."""
        self._states.reset(self._unit)

    def update(self, occupancy: int, frame_number: int) -> CrowdingChange | None:
        """Advance by one frame; return the change of state, if any.

        Args:
            occupancy: objects inside the zone in this frame.
            frame_number: 0-based frame number within the stream.
        """
        _, changes = self._states.step(
            self._unit, np.asarray([occupancy], np.int64), np.asarray([frame_number], np.int64)
        )
        return changes[0] if changes else None
