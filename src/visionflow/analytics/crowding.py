"""Overcrowding: a zone's occupancy at or above a threshold, with hysteresis.

DeepStream's nvdsanalytics flags a frame as overcrowded when the number of
objects in the ROI reaches ``object-threshold`` (optionally for
``time-threshold`` ms). Here the same condition must hold for ``min_frames``
consecutive frames before an alert *starts*, and must be false for
``min_frames`` consecutive frames before it *ends*: a count that flickers
around the threshold gives one start and one end, not one alert per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from visionflow.analytics._table import check_positive


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


class OvercrowdingMonitor:
    """Start/end alerts for "occupancy >= threshold" held for ``min_frames`` frames.

    Frames are counted as :meth:`update` calls (one per processed frame of the
    stream), so a stream processed at a lower rate needs proportionally fewer
    frames.

    Args:
        threshold: occupancy (objects inside) at which the zone is crowded.
        min_frames: consecutive frames the condition must hold (or not hold)
            before an alert starts (or ends); ``1`` = no hysteresis.
    """

    def __init__(self, threshold: int, min_frames: int = 1) -> None:
        check_positive("threshold", threshold)
        check_positive("min_frames", min_frames)
        self.threshold = threshold
        self.min_frames = min_frames
        self.reset()

    @property
    def active(self) -> bool:
        """Whether an overcrowding alert is running."""
        return self._active

    def reset(self) -> None:
        """Forget the alert state (no end is reported for a running alert)."""
        self._active = False
        self._pending = 0
        self._run_start = 0
        self._start_frame = 0
        self._last_crowded = 0

    def update(self, occupancy: int, frame_number: int) -> CrowdingChange | None:
        """Advance by one frame; return the change of state, if any.

        Args:
            occupancy: objects inside the zone in this frame.
            frame_number: 0-based frame number within the stream.
        """
        crowded = occupancy >= self.threshold
        if crowded:
            self._last_crowded = frame_number
        if crowded == self._active:
            self._pending = 0
            return None
        self._pending += 1
        if self._pending == 1:
            self._run_start = frame_number
        if self._pending < self.min_frames:
            return None
        self._pending = 0
        self._active = crowded
        if crowded:
            self._start_frame = self._run_start
            return CrowdingChange("start", occupancy, self._start_frame, 0)
        duration = self._last_crowded - self._start_frame + 1
        return CrowdingChange("end", occupancy, self._start_frame, duration)
