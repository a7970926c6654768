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

Differences to the reference code, by default: tracks are confirmed after
``min_hits`` consecutive matched frames with no first-frame exception, ids are
handed out on confirmation (so output ids have no gaps left by false
positives), tentative tracks are Kalman-predicted like the others, matching
can be class-aware, IoU has no ``+1`` pixel convention, and ByteTrack's
removal of tracked/lost duplicates (IoU > 0.85) is not done. Each difference
is an option; :meth:`ByteTrack.like_reference` sets all of them so that the
ids equal the reference's on every frame (tests/quality checks it).

State lives in a struct-of-arrays :class:`~visionflow.tracking._table.TrackTable`;
``update`` has no Python loop over tracks or detections.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from visionflow.errors import ConfigError
from visionflow.tracking._bytetrack_steps import ByteTrackSteps
from visionflow.tracking._table import TrackState, TrackTable
from visionflow.tracking.kalman import BlockKalmanXYAH
from visionflow.types import Detections


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(
            f"ByteTrack {name}={value!r} is outside [{low}, {high}]",
            [f"{name}: must be in [{low}, {high}] (got {value!r})"],
        )


class ByteTrack(ByteTrackSteps):
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
        assign_ids: ``"on_confirmation"`` numbers tracks when they are first
            output (no gaps); ``"on_creation"`` numbers every started track, as
            the reference does (ids of never-confirmed tracks are skipped).
        confirm_first_frame: tracks started on the first frame are confirmed
            at once (the reference's exception for frame 1).
        predict_tentative: Kalman-predict tentative tracks too; the reference
            matches them at their unpredicted first box.
        remove_duplicates: after each frame, of a tracked and a lost track
            overlapping with IoU > 0.85 drop the younger one (the reference).
            Off by default: when one person walks in front of another, the
            hidden one's lost track is the "duplicate", and is dropped (on the
            synthetic crossings scene it costs 8 extra id switches).
        iou_pixel_offset: added to widths and heights in IoU; the reference's
            integer-pixel convention is 1, continuous coordinates use 0.
        compiled: run each frame's step as one call of compiled code (numba,
            compiled on first use and cached on disk); False runs the same
            steps as NumPy calls. Both give the same tracks, values and ids
            (tests compare them); the compiled step is several times faster
            at the track counts of real scenes.
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
        assign_ids: Literal["on_confirmation", "on_creation"] = "on_confirmation",
        confirm_first_frame: bool = False,
        predict_tentative: bool = True,
        remove_duplicates: bool = False,
        iou_pixel_offset: float = 0.0,
        compiled: bool = True,
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
        _check_range("iou_pixel_offset", iou_pixel_offset, 0.0, 1.0)
        if assign_ids not in ("on_confirmation", "on_creation"):
            raise ConfigError(
                f"ByteTrack assign_ids={assign_ids!r} is not one of on_confirmation, on_creation",
                [f"assign_ids: must be on_confirmation or on_creation (got {assign_ids!r})"],
            )
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
        self.assign_ids = assign_ids
        self.confirm_first_frame = confirm_first_frame
        self.predict_tentative = predict_tentative
        self.remove_duplicates = remove_duplicates
        self.iou_pixel_offset = float(iou_pixel_offset)
        self.compiled = compiled
        self._kalman = BlockKalmanXYAH()
        self.reset()

    @classmethod
    def like_reference(
        cls,
        *,
        track_thresh: float = 0.5,
        track_buffer: int = 30,
        match_thresh: float = 0.8,
        frame_rate: float = 30.0,
    ) -> ByteTrack:
        """A tracker that reproduces the ByteTrack authors' ``BYTETracker`` exactly.

        Args:
            track_thresh: the reference's ``track_thresh`` (high/low split;
                new tracks need ``track_thresh + 0.1``).
            track_buffer: frames a lost track is kept, at 30 fps.
            match_thresh: first-association cost threshold.
            frame_rate: stream rate; the reference's buffer is
                ``int(frame_rate / 30 * track_buffer)`` frames.

        The reference's fixed values are used for the rest: low threshold 0.1,
        second / unconfirmed thresholds 0.5 / 0.7, score fusion, class-agnostic
        matching, and the reference's conventions (see the class options). Its
        threshold tests are strict (``score > track_thresh``) where ours are
        ``>=``; scores exactly at a threshold are the only inputs that differ.

        The reference removes an expired lost track one frame late: its final
        bookkeeping subtracts the removed list *before* adding that frame's
        removals, so ``lost_buffer_frames`` is its buffer + 1. A track re-found
        in exactly that extra frame is, in the reference, forgotten the moment
        it is lost again (its id stays in the removed list); this tracker keeps
        it for the full buffer. That reference quirk is not reproduced.
        """
        return cls(
            high_threshold=track_thresh,
            low_threshold=0.1,
            new_track_threshold=min(track_thresh + 0.1, 1.0),
            match_threshold=match_thresh,
            second_match_threshold=0.5,
            unconfirmed_match_threshold=0.7,
            lost_buffer_frames=int(frame_rate / 30.0 * track_buffer) + 1,
            min_hits=2,
            class_aware=False,
            fuse_score=True,
            assign_ids="on_creation",
            confirm_first_frame=True,
            predict_tentative=False,
            remove_duplicates=True,
            iou_pixel_offset=1.0,
        )

    # -- diagnostics -----------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames processed since construction or the last :meth:`reset`."""
        return int(self._frame_counts[0])

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
        # Per stream (one here; BatchedByteTrack has many): frames seen, next id.
        self._frame_counts = np.zeros(1, np.int64)
        self._next_ids = np.ones(1, np.int64)

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
        n = len(detections)
        det_row = self._step(
            detections, np.zeros(1, np.int64), np.arange(n, dtype=np.int64), np.zeros(n, np.int32)
        )
        return self._output(detections, det_row)

    def predict(self) -> Detections:
        """Advance one frame without detections (a skipped inference frame).

        Every track's Kalman state moves one frame ahead; nothing is matched,
        no miss is counted (``lost_buffer_frames`` counts inference frames)
        and no track changes state.

        Returns:
            The predicted boxes of the confirmed tracks, with their
            ``track_id`` and the score of their last matched detection.
        """
        self._predict(np.ones(len(self._tracks), np.bool_), count_miss=False)
        return self._tracks.confirmed_detections()
