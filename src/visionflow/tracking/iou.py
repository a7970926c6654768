"""A cheap IoU tracker: greedy overlap matching, no motion model.

Good enough for slow objects at a high frame rate, and several times cheaper
than :class:`~visionflow.tracking.ByteTrack` (no Kalman filter, no Hungarian
solver). It loses identities when objects move more than about their own
width between frames or cross each other.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.tracking import matching
from visionflow.tracking._params import check_simple_tracker
from visionflow.tracking._table import UNASSIGNED_ID, TrackState
from visionflow.types import Detections

I64Array = npt.NDArray[np.int64]
_NO_DET = -1


class IoUTracker:
    """Match each frame's boxes to the previous boxes of the tracks by IoU.

    Args:
        iou_threshold: smallest IoU accepted between a track's last box and
            a detection.
        confidence_threshold: detections below this confidence are ignored.
        min_hits: consecutive matched frames (creation included) before a
            track is confirmed and output.
        max_age_frames: frames a confirmed track survives without a match.
        class_aware: never match a detection to a track of another class.
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        confidence_threshold: float = 0.3,
        min_hits: int = 2,
        max_age_frames: int = 5,
        class_aware: bool = True,
    ) -> None:
        check_simple_tracker(
            "IoUTracker",
            iou_threshold=iou_threshold,
            confidence_threshold=confidence_threshold,
            min_hits=min_hits,
            max_age_frames=max_age_frames,
        )
        self.iou_threshold = iou_threshold
        self.confidence_threshold = confidence_threshold
        self.min_hits = int(min_hits)
        self.max_age_frames = int(max_age_frames)
        self.class_aware = class_aware
        self.reset()

    @property
    def num_tentative(self) -> int:
        """Tracks started but not yet confirmed."""
        return int(np.count_nonzero(self._state == TrackState.TENTATIVE))

    @property
    def num_confirmed(self) -> int:
        """Confirmed tracks matched in the latest frame."""
        return int(np.count_nonzero(self._state == TrackState.CONFIRMED))

    @property
    def num_lost(self) -> int:
        """Confirmed tracks that missed the latest frame(s)."""
        return int(np.count_nonzero(self._state == TrackState.LOST))

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._ids = np.zeros(0, np.int64)
        self._xyxy = np.zeros((0, 4), np.float32)
        self._state = np.zeros(0, np.int8)
        self._hits = np.zeros(0, np.int32)
        self._since_update = np.zeros(0, np.int32)
        self._class_id = np.zeros(0, np.int32)
        self._score = np.zeros(0, np.float32)
        self._next_id = 1

    def update(self, detections: Detections) -> Detections:
        """Advance by one frame; same contract as :meth:`ByteTrack.update`."""
        candidates = np.flatnonzero(detections.confidence >= self.confidence_threshold)
        det_row = self._match(detections, candidates)
        self._advance(detections, det_row)
        matched_dets = det_row[det_row != _NO_DET]
        new_rows = np.setdiff1d(candidates, matched_dets).astype(np.int64)
        det_row = self._prune(det_row)
        det_row = self._spawn(detections, new_rows, det_row)
        return self._output(detections, det_row)

    def predict(self) -> Detections:
        """A frame without inference: confirmed tracks at their last boxes.

        There is no motion model, so nothing moves; no miss is counted and no
        track changes state. Same contract as :meth:`ByteTrack.predict`.
        """
        rows = np.flatnonzero(self._state == TrackState.CONFIRMED)
        out = Detections(self._xyxy[rows], self._score[rows], self._class_id[rows])
        out.track_id = self._ids[rows].copy()
        return out

    def _match(self, dets: Detections, candidates: I64Array) -> I64Array:
        cost = matching.iou_distance(self._xyxy, dets.xyxy[candidates])
        if self.class_aware:
            cost = matching.mask_classes(cost, self._class_id, dets.class_id[candidates])
        pairs, _, _ = matching.greedy_assignment(cost, 1.0 - self.iou_threshold)
        det_row = np.full(len(self._ids), _NO_DET, np.int64)
        det_row[pairs[:, 0]] = candidates[pairs[:, 1]]
        return det_row

    def _advance(self, dets: Detections, det_row: I64Array) -> None:
        matched = det_row != _NO_DET
        self._xyxy[matched] = dets.xyxy[det_row[matched]]
        self._class_id[matched] = dets.class_id[det_row[matched]]
        self._score[matched] = dets.confidence[det_row[matched]]
        self._hits = np.where(matched, self._hits + 1, 0).astype(np.int32)
        self._since_update = np.where(matched, 0, self._since_update + 1).astype(np.int32)
        promote = matched & (
            (self._state == TrackState.LOST)
            | ((self._state == TrackState.TENTATIVE) & (self._hits >= self.min_hits))
        )
        self._state[promote] = TrackState.CONFIRMED
        self._state[~matched & (self._state == TrackState.CONFIRMED)] = TrackState.LOST

    def _prune(self, det_row: I64Array) -> I64Array:
        dead = (self._state == TrackState.TENTATIVE) & (det_row == _NO_DET)
        dead |= self._since_update > self.max_age_frames
        keep = ~dead
        self._take(keep)
        kept: I64Array = det_row[keep]
        return kept

    def _take(self, index: npt.NDArray[np.bool_]) -> None:
        self._ids, self._xyxy = self._ids[index], self._xyxy[index]
        self._state, self._hits = self._state[index], self._hits[index]
        self._since_update, self._class_id = self._since_update[index], self._class_id[index]
        self._score = self._score[index]

    def _spawn(self, dets: Detections, rows: I64Array, det_row: I64Array) -> I64Array:
        n = len(rows)
        first = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
        self._ids = np.concatenate([self._ids, np.full(n, UNASSIGNED_ID, np.int64)])
        self._xyxy = np.concatenate([self._xyxy, dets.xyxy[rows]])
        self._state = np.concatenate([self._state, np.full(n, first, np.int8)])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int32)])
        self._since_update = np.concatenate([self._since_update, np.zeros(n, np.int32)])
        self._class_id = np.concatenate([self._class_id, dets.class_id[rows]])
        self._score = np.concatenate([self._score, dets.confidence[rows]])
        extended: I64Array = np.concatenate([det_row, rows])
        return extended

    def _output(self, dets: Detections, det_row: I64Array) -> Detections:
        confirmed = self._state == TrackState.CONFIRMED
        fresh = np.flatnonzero(confirmed & (self._ids == UNASSIGNED_ID))
        self._ids[fresh] = self._next_id + np.arange(len(fresh), dtype=np.int64)
        self._next_id += len(fresh)
        rows = np.flatnonzero((det_row != _NO_DET) & confirmed)
        order = np.argsort(det_row[rows], kind="stable")
        out = dets[det_row[rows][order]]
        out.track_id = self._ids[rows][order]
        return out
