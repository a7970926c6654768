"""ByteTrack multi-object tracker (Zhang et al., ECCV 2022), vectorised.

ByteTrack's point is to associate *every* detection, not only confident ones:
low-score boxes (occluded, blurred objects) are matched to existing tracks in
a second stage, so tracks survive partial occlusion, while only confident
boxes may start tracks. Per frame:

1. Split detections into high (``>= high_threshold``) and low
   (``low_threshold <= score < high_threshold``); drop the rest.
2. Predict every track one frame ahead (one batched Kalman call).
3. Match high detections to confirmed and lost tracks on IoU (score-fused).
4. Match low detections to the still-unmatched confirmed tracks on plain IoU.
5. Match tentative tracks to the remaining high detections.
6. Unmatched tentative tracks die, unmatched confirmed tracks become lost,
   lost tracks older than ``lost_buffer_frames`` die, and unmatched high
   detections scoring ``>= new_track_threshold`` start tentative tracks.

Differences to the reference code: tracks are confirmed after ``min_hits``
consecutive matched frames with no first-frame exception, ids are handed out
on confirmation (so output ids have no gaps left by false positives), matching
can be class-aware, and ByteTrack's removal of tracked/lost duplicates
(IoU > 0.85) is not done.

State lives in a struct-of-arrays :class:`~visionflow.tracking._table.TrackTable`;
``update`` has no Python loop over tracks or detections.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visionflow.errors import ConfigError
from visionflow.tracking import matching
from visionflow.tracking._table import UNASSIGNED_ID, TrackState, TrackTable
from visionflow.tracking.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from visionflow.types import Detections

I64Array = npt.NDArray[np.int64]
_NO_DET = -1


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(
            f"ByteTrack {name}={value!r} is outside [{low}, {high}]",
            [f"{name}: must be in [{low}, {high}] (got {value!r})"],
        )


class ByteTrack:
    """Track the detections of one stream, frame by frame.

    Args:
        high_threshold: confidence at or above which a detection takes part in
            the first association (ByteTrack's ``track_thresh``).
        low_threshold: confidence below which detections are ignored; those in
            ``[low_threshold, high_threshold)`` are only used to keep existing
            tracks alive.
        new_track_threshold: confidence an unmatched high detection needs to
            start a track (ByteTrack: ``track_thresh + 0.1``).
        match_threshold: largest ``1 - IoU*score`` cost accepted in the first
            association.
        second_match_threshold: largest ``1 - IoU`` accepted for low detections.
        unconfirmed_match_threshold: largest cost accepted between tentative
            tracks and leftover high detections.
        lost_buffer_frames: frames a lost track is kept for re-identification.
        min_hits: consecutive matched frames (creation included) before a track
            is confirmed and output; 1 outputs tracks from their first frame.
        class_aware: never match a detection to a track of another class.
        fuse_score: multiply IoU by detection confidence in the high-score
            associations (ByteTrack's MOT17 setting; off for crowded MOT20).
    """

    def __init__(
        self,
        *,
        high_threshold: float = 0.5,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.6,
        match_threshold: float = 0.8,
        second_match_threshold: float = 0.5,
        unconfirmed_match_threshold: float = 0.7,
        lost_buffer_frames: int = 30,
        min_hits: int = 2,
        class_aware: bool = True,
        fuse_score: bool = True,
    ) -> None:
        for name, value in (
            ("high_threshold", high_threshold),
            ("low_threshold", low_threshold),
            ("new_track_threshold", new_track_threshold),
            ("match_threshold", match_threshold),
            ("second_match_threshold", second_match_threshold),
            ("unconfirmed_match_threshold", unconfirmed_match_threshold),
        ):
            _check_range(name, value, 0.0, 1.0)
        _check_range("low_threshold", low_threshold, 0.0, high_threshold)
        _check_range("lost_buffer_frames", lost_buffer_frames, 0, np.iinfo(np.int32).max)
        _check_range("min_hits", min_hits, 1, np.iinfo(np.int32).max)
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.new_track_threshold = new_track_threshold
        self.match_threshold = match_threshold
        self.second_match_threshold = second_match_threshold
        self.unconfirmed_match_threshold = unconfirmed_match_threshold
        self.lost_buffer_frames = int(lost_buffer_frames)
        self.min_hits = int(min_hits)
        self.class_aware = class_aware
        self.fuse_score = fuse_score
        self._kalman = KalmanFilterXYAH()
        self._tracks = TrackTable.empty()
        self._next_id = 1
        self._frame_count = 0

    # -- diagnostics -----------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames processed since construction or the last :meth:`reset`."""
        return self._frame_count

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
        """Confirmed tracks that missed the latest frame(s) and may be re-found."""
        return self._tracks.count(TrackState.LOST)

    @property
    def tracks(self) -> TrackTable:
        """A copy of the live track table (for tests and diagnostics)."""
        return self._tracks.select(np.arange(len(self._tracks)))

    # -- public verbs ----------------------------------------------------------------

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracks = TrackTable.empty()
        self._next_id = 1
        self._frame_count = 0

    def update(self, detections: Detections) -> Detections:
        """Advance the tracker by one frame.

        Args:
            detections: every detection of ONE frame of this stream (may be
                empty, which is how a frame with nothing visible is reported).

        Returns:
            The detections matched to confirmed tracks in this frame, in input
            order, with their measured boxes and ``track_id`` set (positive,
            unique within this tracker, increasing in order of confirmation).
        """
        self._frame_count += 1
        self._predict()
        det_row, high_left = self._associate(detections)
        self._correct(detections, det_row)
        det_row = self._prune(det_row)
        det_row = self._spawn(detections, high_left, det_row)
        self._assign_ids()
        return self._output(detections, det_row)

    # -- steps -----------------------------------------------------------------------

    def _predict(self) -> None:
        t = self._tracks
        mean = t.mean.copy()
        # As in ByteTrack: a lost track keeps drifting but stops growing or shrinking.
        mean[t.state == TrackState.LOST, 7] = 0.0
        t.mean, t.cov = self._kalman.predict(mean, t.cov)
        t.frames_since_update += 1

    def _associate(self, dets: Detections) -> tuple[I64Array, I64Array]:
        """Run the three association stages.

        Returns:
            ``det_row [T]`` (the detection row matched to each track or -1) and
            the rows of high detections left unmatched.
        """
        conf = dets.confidence
        high = np.flatnonzero(conf >= self.high_threshold)
        low = np.flatnonzero((conf >= self.low_threshold) & (conf < self.high_threshold))
        state = self._tracks.state
        det_row = np.full(len(self._tracks), _NO_DET, np.int64)
        pool = np.flatnonzero(state != TrackState.TENTATIVE)
        pool_left, high_left = self._match(
            pool, high, dets, det_row, threshold=self.match_threshold, fuse=self.fuse_score
        )
        tracked_left = pool_left[state[pool_left] == TrackState.CONFIRMED]
        self._match(
            tracked_left, low, dets, det_row, threshold=self.second_match_threshold, fuse=False
        )
        tentative = np.flatnonzero(state == TrackState.TENTATIVE)
        _, high_left = self._match(
            tentative,
            high_left,
            dets,
            det_row,
            threshold=self.unconfirmed_match_threshold,
            fuse=self.fuse_score,
        )
        return det_row, high_left

    def _match(
        self,
        track_rows: I64Array,
        det_rows: I64Array,
        dets: Detections,
        det_row: I64Array,
        *,
        threshold: float,
        fuse: bool,
    ) -> tuple[I64Array, I64Array]:
        """Match ``track_rows`` to ``det_rows``; write pairs into ``det_row``.

        Returns:
            The track rows and the detection rows left unmatched.
        """
        if len(track_rows) == 0 or len(det_rows) == 0:
            return track_rows, det_rows
        boxes = xyah_to_xyxy(self._tracks.boxes_xyah()[track_rows])
        cost = matching.iou_distance(boxes, dets.xyxy[det_rows])
        if fuse:
            cost = matching.fuse_score(cost, dets.confidence[det_rows])
        if self.class_aware:
            cost = matching.mask_classes(
                cost, self._tracks.class_id[track_rows], dets.class_id[det_rows]
            )
        pairs, rows_left, cols_left = matching.linear_assignment(cost, threshold)
        det_row[track_rows[pairs[:, 0]]] = det_rows[pairs[:, 1]]
        return track_rows[rows_left], det_rows[cols_left]

    def _correct(self, dets: Detections, det_row: I64Array) -> None:
        """Kalman-update matched tracks and move every track to its new state."""
        t = self._tracks
        rows = np.flatnonzero(det_row != _NO_DET)
        d = det_row[rows]
        z = xyxy_to_xyah(dets.xyxy[d])
        t.mean[rows], t.cov[rows] = self._kalman.update(t.mean[rows], t.cov[rows], z)
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
        """Drop unmatched tentative tracks and expired lost tracks."""
        t = self._tracks
        dead_tentative = (t.state == TrackState.TENTATIVE) & (det_row == _NO_DET)
        expired = (t.state == TrackState.LOST) & (t.frames_since_update > self.lost_buffer_frames)
        keep: npt.NDArray[np.bool_] = ~(dead_tentative | expired)
        self._tracks = t.select(keep)
        return det_row[keep]

    def _spawn(self, dets: Detections, high_left: I64Array, det_row: I64Array) -> I64Array:
        """Start tracks from confident unmatched detections."""
        rows = high_left[dets.confidence[high_left] >= self.new_track_threshold]
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
        )
        self._tracks = self._tracks.append(new)
        extended: I64Array = np.concatenate([det_row, rows])
        return extended

    def _assign_ids(self) -> None:
        t = self._tracks
        fresh = np.flatnonzero((t.state == TrackState.CONFIRMED) & (t.track_id == UNASSIGNED_ID))
        t.track_id[fresh] = self._next_id + np.arange(len(fresh), dtype=np.int64)
        self._next_id += len(fresh)

    def _output(self, dets: Detections, det_row: I64Array) -> Detections:
        t = self._tracks
        rows = np.flatnonzero((det_row != _NO_DET) & (t.state == TrackState.CONFIRMED))
        order = np.argsort(det_row[rows], kind="stable")
        out = dets[det_row[rows][order]]
        out.track_id = t.track_id[rows][order]
        return out
