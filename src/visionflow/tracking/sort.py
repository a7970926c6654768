"""SORT: Kalman prediction + Hungarian IoU matching (Bewley et al., ICIP 2016), vectorised.

The cheapest tracker with a motion model: one association per frame, no
low-score stage, no appearance. Per frame:

1. Drop detections below ``confidence_threshold``.
2. Predict every track one frame ahead (one batched Kalman call).
3. Match tracks to detections by optimal assignment on ``1 - IoU``, rejecting
   pairs with IoU below ``iou_threshold``.
4. Matched tracks are corrected; a track with ``min_hits`` consecutive matches
   is confirmed (and numbered); unmatched detections start tentative tracks;
   tracks unmatched for more than ``max_age_frames`` frames are deleted.

Differences to the paper's code: the Kalman filter is the ``cx, cy, a, h``
one shared with :class:`~visionflow.tracking.ByteTrack` (SORT's state is
``cx, cy, area, aspect`` with a constant aspect); a confirmed track that
misses frames and is re-found is output again at once (SORT re-counts
``min_hits``), there is no exception for the first ``min_hits`` frames, ids
are handed out on confirmation, and matching can be class-aware.

State lives in a :class:`~visionflow.tracking._table.TrackTable`; ``update``
and ``predict`` have no Python loop over tracks or detections.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.tracking import matching
from visionflow.tracking._params import check_simple_tracker
from visionflow.tracking._table import UNASSIGNED_ID, TrackState, TrackTable
from visionflow.tracking.kalman import BlockKalmanXYAH, xyah_to_xyxy, xyxy_to_xyah
from visionflow.types import Detections

I64Array = npt.NDArray[np.int64]
_NO_DET = -1


class SORT:
    """Track the detections of one stream with SORT.

    Args:
        iou_threshold: smallest IoU accepted between a track's predicted box
            and a detection (paper: 0.3).
        max_age_frames: frames a track survives without a match (paper: 1).
        min_hits: consecutive matched frames (creation included) before a
            track is confirmed and output (paper: 3).
        confidence_threshold: detections below this confidence are ignored.
        class_aware: never match a detection to a track of another class.
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_age_frames: int = 1,
        min_hits: int = 3,
        confidence_threshold: float = 0.3,
        class_aware: bool = True,
    ) -> None:
        check_simple_tracker(
            "SORT",
            iou_threshold=iou_threshold,
            confidence_threshold=confidence_threshold,
            min_hits=min_hits,
            max_age_frames=max_age_frames,
        )
        self.iou_threshold = iou_threshold
        self.max_age_frames = int(max_age_frames)
        self.min_hits = int(min_hits)
        self.confidence_threshold = confidence_threshold
        self.class_aware = class_aware
        self._kalman = BlockKalmanXYAH()
        self.reset()

    @property
    def num_tentative(self) -> int:
        """Tracks started but not yet confirmed (never output)."""
        return self._tracks.count(TrackState.TENTATIVE)

    @property
    def num_confirmed(self) -> int:
        """Confirmed tracks matched in the latest frame."""
        return self._tracks.count(TrackState.CONFIRMED)

    @property
    def num_lost(self) -> int:
        """Confirmed tracks that missed the latest frame(s)."""
        return self._tracks.count(TrackState.LOST)

    @property
    def tracks(self) -> TrackTable:
        """A copy of the live track table (for tests and diagnostics)."""
        return self._tracks.select(np.arange(len(self._tracks)))

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracks = TrackTable.empty()
        self._next_id = 1
        self._frame_count = 0

    def update(self, detections: Detections) -> Detections:
        """Advance by one frame; same contract as :meth:`ByteTrack.update`."""
        self._frame_count += 1
        self._predict()
        candidates = np.flatnonzero(detections.confidence >= self.confidence_threshold)
        det_row, new_rows = self._match(detections, candidates)
        self._correct(detections, det_row)
        det_row = self._prune(det_row)
        det_row = self._spawn(detections, new_rows, det_row)
        self._assign_ids()
        rows = np.flatnonzero((det_row != _NO_DET) & (self._tracks.state == TrackState.CONFIRMED))
        order = np.argsort(det_row[rows], kind="stable")
        out = detections[det_row[rows][order]]
        out.track_id = self._tracks.track_id[rows][order]
        return out

    def predict(self) -> Detections:
        """Advance one frame without detections (a skipped inference frame).

        Every track's Kalman state moves one frame ahead; nothing is matched,
        no miss is counted and no track is confirmed, lost or deleted.

        Returns:
            The predicted boxes of the confirmed tracks (``confidence`` is the
            last matched detection's), with their ``track_id``.
        """
        self._predict(count_miss=False)
        return self._tracks.confirmed_detections()

    def _predict(self, *, count_miss: bool = True) -> None:
        t = self._tracks
        t.mean, t.cov = self._kalman.predict(t.mean, t.cov)
        if count_miss:
            t.frames_since_update += 1

    def _match(self, dets: Detections, candidates: I64Array) -> tuple[I64Array, I64Array]:
        """``det_row [T]`` (matched detection row or -1) and the unmatched candidates."""
        t = self._tracks
        det_row = np.full(len(t), _NO_DET, np.int64)
        if len(t) == 0 or len(candidates) == 0:
            return det_row, candidates
        cost = matching.iou_distance(xyah_to_xyxy(t.boxes_xyah()), dets.xyxy[candidates])
        if self.class_aware:
            cost = matching.mask_classes(cost, t.class_id, dets.class_id[candidates])
        pairs, _, cols_left = matching.linear_assignment(cost, 1.0 - self.iou_threshold)
        det_row[pairs[:, 0]] = candidates[pairs[:, 1]]
        return det_row, candidates[cols_left]

    def _correct(self, dets: Detections, det_row: I64Array) -> None:
        t = self._tracks
        rows = np.flatnonzero(det_row != _NO_DET)
        d = det_row[rows]
        t.mean[rows], t.cov[rows] = self._kalman.update(
            t.mean[rows], t.cov[rows], xyxy_to_xyah(dets.xyxy[d])
        )
        t.frames_since_update[rows] = 0
        t.score[rows] = dets.confidence[d]
        t.class_id[rows] = dets.class_id[d]
        matched = det_row != _NO_DET
        t.hits = np.where(matched, t.hits + 1, 0).astype(np.int32)
        promote = matched & (
            (t.state == TrackState.LOST)
            | ((t.state == TrackState.TENTATIVE) & (t.hits >= self.min_hits))
        )
        t.state[promote] = TrackState.CONFIRMED
        t.state[~matched & (t.state == TrackState.CONFIRMED)] = TrackState.LOST

    def _prune(self, det_row: I64Array) -> I64Array:
        keep = self._tracks.frames_since_update <= self.max_age_frames
        self._tracks = self._tracks.select(keep)
        kept: I64Array = det_row[keep]
        return kept

    def _spawn(self, dets: Detections, rows: I64Array, det_row: I64Array) -> I64Array:
        mean, cov = self._kalman.initiate(xyxy_to_xyah(dets.xyxy[rows]))
        n = len(rows)
        first = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
        new = TrackTable(
            track_id=np.full(n, UNASSIGNED_ID, np.int64),
            mean=mean,
            cov=cov,
            state=np.full(n, first, np.int8),
            hits=np.ones(n, np.int32),
            frames_since_update=np.zeros(n, np.int32),
            class_id=dets.class_id[rows].copy(),
            score=dets.confidence[rows].copy(),
            start_frame=np.full(n, self._frame_count, np.int64),
            stream=np.zeros(n, np.int32),
        )
        self._tracks = self._tracks.append(new)
        extended: I64Array = np.concatenate([det_row, rows])
        return extended

    def _assign_ids(self) -> None:
        t = self._tracks
        fresh = np.flatnonzero((t.state == TrackState.CONFIRMED) & (t.track_id == UNASSIGNED_ID))
        t.track_id[fresh] = self._next_id + np.arange(len(fresh), dtype=np.int64)
        self._next_id += len(fresh)
