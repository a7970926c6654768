"""The per-frame steps of ByteTrack, on a track table that may hold many streams.

:class:`~visionflow.tracking.ByteTrack` runs them for one stream,
:class:`~visionflow.tracking.BatchedByteTrack` for every stream of a batch at
once. Every step is vectorised over tracks and streams, association included
(see :meth:`ByteTrackSteps._match`). Parameters are the attributes of
:class:`ByteTrack` (documented there).
"""

from __future__ import annotations

import functools
import logging
import operator
import time
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from visionflow.tracking import matching
from visionflow.tracking._table import (
    CONFIRMED,
    FIELD_NAMES,
    LOST,
    TENTATIVE,
    UNASSIGNED_ID,
    TrackTable,
)
from visionflow.tracking.kalman import BlockKalmanXYAH, xyah_to_xyxy, xyxy_to_xyah
from visionflow.types import Detections

log = logging.getLogger(__name__)

I64Array = npt.NDArray[np.int64]
I32Array = npt.NDArray[np.int32]
_T = TypeVar("_T", bound=np.generic)
NO_DET = -1
_ALL_PAIRS_MAX = 1024
"""Up to this many track x detection pairs, association costs every pair of a stream."""


def _writable(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """``array``, or a copy where it is read-only: numba compiles read-only arrays
    as another type, and every new signature is a compile of several seconds."""
    return array if array.flags.writeable else array.copy()


def kernel_detections(
    detections: Detections,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], I32Array, I32Array]:
    """``xyxy, confidence, class_id, frame_index`` as the compiled kernels take them:
    contiguous, writable, of the documented dtypes (one compiled signature)."""
    return (
        _kernel_array(detections.xyxy, np.float32),
        _kernel_array(detections.confidence, np.float32),
        _kernel_array(detections.class_id, np.int32),
        _kernel_array(detections.frame_index, np.int32),
    )


def _kernel_array(array: npt.NDArray[Any], dtype: type[_T]) -> npt.NDArray[_T]:
    out: npt.NDArray[_T] = np.ascontiguousarray(array, dtype)
    return out if out.flags.writeable else out.copy()


_PARAMETER_NAMES = (
    "high_threshold",
    "low_threshold",
    "new_track_threshold",
    "match_threshold",
    "second_match_threshold",
    "unconfirmed_match_threshold",
    "lost_buffer_frames",
    "min_hits",
    "class_aware",
    "fuse_score",
    "assign_ids",
    "confirm_first_frame",
    "predict_tentative",
    "remove_duplicates",
    "iou_pixel_offset",
)
_SETTINGS_KEY = operator.attrgetter(
    *_PARAMETER_NAMES, "_kalman.std_weight_position", "_kalman.std_weight_velocity"
)
"""Every value the kernel settings are built from, as a tuple (one C call per step)."""


class ByteTrackSteps:
    """ByteTrack's steps; subclasses set the attributes below."""

    high_threshold: float
    low_threshold: float
    new_track_threshold: float
    match_threshold: float
    second_match_threshold: float
    unconfirmed_match_threshold: float
    lost_buffer_frames: int
    min_hits: int
    class_aware: bool
    fuse_score: bool
    assign_ids: str
    confirm_first_frame: bool
    predict_tentative: bool
    remove_duplicates: bool
    iou_pixel_offset: float
    compiled: bool
    _kalman: BlockKalmanXYAH
    _kernel_cache: tuple[
        tuple[object, ...], tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], I64Array]
    ]
    _tracks: TrackTable
    _frame_counts: I64Array
    """Frames seen, per stream index."""
    _next_ids: I64Array
    """Next track id, per stream index."""

    # A step advances the streams in ``streams`` by one frame each; their
    # detections are the rows ``det_rows`` of one ``Detections``, and
    # ``det_stream[i]`` is the stream of detection row ``i``. Tracks of other
    # streams (``active`` False) are left exactly as they are. No step loops
    # over streams: association too runs on all streams at once, on the pairs
    # of a track and a detection of the same stream (a block-diagonal cost
    # matrix), and each stream's result is the one it gets alone.

    def _step(
        self, dets: Detections, streams: I64Array, det_rows: I64Array, det_stream: I32Array
    ) -> I64Array:
        """One frame for each stream in ``streams``; ``det_row [T]`` of the new table."""
        if self.compiled:
            return self._step_compiled(dets, streams, det_rows, det_stream)
        self._frame_counts[streams] += 1
        active = self._of_streams(streams)
        self._predict(active)
        det_row = np.full(len(self._tracks), NO_DET, np.int64)
        high_left = self._associate(dets, det_stream, det_row, np.flatnonzero(active), det_rows)
        self._correct(dets, det_row, active)
        det_row, active = self._prune(det_row, active)
        det_row = self._spawn(dets, high_left, det_row, det_stream)
        if self.remove_duplicates:
            det_row = self._drop_duplicates(det_row, streams)
        self._assign_ids()
        return det_row

    def warm_up(self) -> None:
        """Compile the step now (or load it from numba's on-disk cache) instead of
        on the first frame; a no-op for the NumPy steps. Tracker state is unchanged.

        The first compile on a machine takes seconds (about 17 s on a 2-core VM);
        later processes load the cached code in well under a second.
        """
        if not self.compiled:
            return
        from visionflow.tracking import _bytetrack_kernel as kernel

        started = time.perf_counter()
        empty, dets = TrackTable.empty(), Detections.empty()
        kernel.step(
            tuple(getattr(empty, name) for name in FIELD_NAMES),
            np.zeros(1, np.int64),
            np.ones(1, np.int64),
            np.zeros(1, np.int64),
            (dets.xyxy, dets.confidence, dets.class_id, np.zeros(0, np.int32)),
            np.zeros(0, np.int64),
            self._kernel_settings(),
        )
        if (seconds := time.perf_counter() - started) > 1.0:
            log.info("compiled the ByteTrack step in %.1f s (cached for later runs)", seconds)

    def _step_compiled(
        self, dets: Detections, streams: I64Array, det_rows: I64Array, det_stream: I32Array
    ) -> I64Array:
        """:meth:`_step` as one call of the compiled kernel (same results)."""
        from visionflow.tracking import _bytetrack_kernel as kernel

        t = self._tracks
        *columns, det_row = kernel.step(
            tuple(getattr(t, name) for name in FIELD_NAMES),
            self._frame_counts,
            self._next_ids,
            np.ascontiguousarray(streams, np.int64),
            (
                _writable(dets.xyxy),
                _writable(dets.confidence),
                _writable(dets.class_id),
                np.ascontiguousarray(det_stream, np.int32),
            ),
            np.ascontiguousarray(det_rows, np.int64),
            self._kernel_settings(),
        )
        self._tracks = TrackTable(*columns)
        out: I64Array = det_row
        return out

    def _kernel_settings(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], I64Array]:
        """The parameters as the kernel reads them (see :meth:`_build_kernel_settings`),
        rebuilt when one has changed since the last step, as the NumPy steps would see it."""
        key = _SETTINGS_KEY(self)
        cached = getattr(self, "_kernel_cache", None)
        if cached is None or cached[0] != key:
            cached = self._kernel_cache = (key, self._build_kernel_settings())
        return cached[1]

    def _build_kernel_settings(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], I64Array]:
        """Kalman noise weights (float64), thresholds (float32: NumPy compares float32
        scores and costs in float32) and flags."""
        from visionflow.tracking import _bytetrack_kernel as kernel

        params = np.empty(kernel.N_FLOAT_PARAMS)
        params[kernel.P_STD_POSITION] = self._kalman.std_weight_position
        params[kernel.P_STD_VELOCITY] = self._kalman.std_weight_velocity
        thresholds = np.empty(kernel.N_THRESHOLDS, np.float32)
        thresholds[kernel.T_HIGH] = self.high_threshold
        thresholds[kernel.T_LOW] = self.low_threshold
        thresholds[kernel.T_NEW] = self.new_track_threshold
        thresholds[kernel.T_MATCH] = self.match_threshold
        thresholds[kernel.T_SECOND] = self.second_match_threshold
        thresholds[kernel.T_UNCONFIRMED] = self.unconfirmed_match_threshold
        thresholds[kernel.T_PIXEL_OFFSET] = self.iou_pixel_offset
        flags = np.empty(kernel.N_FLAGS, np.int64)
        flags[kernel.F_LOST_BUFFER] = self.lost_buffer_frames
        flags[kernel.F_MIN_HITS] = self.min_hits
        flags[kernel.F_CLASS_AWARE] = self.class_aware
        flags[kernel.F_FUSE] = self.fuse_score
        flags[kernel.F_IDS_ON_CREATION] = self.assign_ids == "on_creation"
        flags[kernel.F_CONFIRM_FIRST] = self.confirm_first_frame
        flags[kernel.F_PREDICT_TENTATIVE] = self.predict_tentative
        flags[kernel.F_REMOVE_DUPLICATES] = self.remove_duplicates
        return params, thresholds, flags

    def _of_streams(self, streams: I64Array) -> npt.NDArray[np.bool_]:
        """``[T]`` whether each track belongs to one of ``streams`` (stream indices)."""
        wanted = np.zeros(len(self._frame_counts), np.bool_)
        wanted[streams] = True
        of_streams: npt.NDArray[np.bool_] = wanted[self._tracks.stream]
        return of_streams

    def _predict(self, active: npt.NDArray[np.bool_], *, count_miss: bool = True) -> None:
        t = self._tracks
        move = active if self.predict_tentative else active & (t.state != TENTATIVE)
        rows = np.flatnonzero(move)
        mean = t.mean[rows]
        # As in ByteTrack: a lost track keeps drifting but stops growing or shrinking.
        mean[t.state[rows] == LOST, 7] = 0.0
        t.mean[rows], t.cov[rows] = self._kalman.predict(mean, t.cov[rows])
        if count_miss:
            t.frames_since_update[active] += 1

    def _associate(
        self,
        dets: Detections,
        det_stream: I32Array,
        det_row: I64Array,
        track_rows: I64Array,
        det_rows: I64Array,
    ) -> I64Array:
        """The three association stages between ``track_rows`` and ``det_rows``.

        Both may span many streams (ascending rows); a track is only matched to
        a detection of its own stream. Writes matches into ``det_row``; returns
        the high detections left unmatched (ascending).
        """
        conf = dets.confidence[det_rows]
        high = det_rows[conf >= self.high_threshold]
        low = det_rows[(conf >= self.low_threshold) & (conf < self.high_threshold)]
        state = self._tracks.state
        pool = track_rows[state[track_rows] != TENTATIVE]
        match = functools.partial(self._match, dets=dets, det_stream=det_stream, det_row=det_row)
        pool_left, high_left = match(
            pool, high, threshold=self.match_threshold, fuse=self.fuse_score
        )
        tracked_left = pool_left[state[pool_left] == CONFIRMED]
        match(tracked_left, low, threshold=self.second_match_threshold, fuse=False)
        tentative = track_rows[state[track_rows] == TENTATIVE]
        _, high_left = match(
            tentative, high_left, threshold=self.unconfirmed_match_threshold, fuse=self.fuse_score
        )
        return high_left

    def _match(
        self,
        track_rows: I64Array,
        det_rows: I64Array,
        *,
        dets: Detections,
        det_stream: I32Array,
        det_row: I64Array,
        threshold: float,
        fuse: bool,
    ) -> tuple[I64Array, I64Array]:
        """Match ``track_rows`` to ``det_rows`` within each stream; write pairs into ``det_row``.

        Returns:
            The track rows and the detection rows left unmatched (order kept).
        """
        if len(track_rows) == 0 or len(det_rows) == 0:
            return track_rows, det_rows
        t = self._tracks
        track_stream = t.stream[track_rows]
        boxes = xyah_to_xyxy(t.boxes_xyah()[track_rows])
        det_boxes = dets.xyxy[det_rows]
        if np.float32(1.0) <= threshold or len(track_rows) * len(det_rows) <= _ALL_PAIRS_MAX:
            # Disjoint boxes (cost exactly 1) are acceptable, or there are so few
            # pairs that costing them all is cheaper than finding the overlaps
            # (the disjoint ones then cost 1 and stay unmatched): every pair.
            ti, di = matching.group_pairs(track_stream, det_stream[det_rows])
        else:
            # Only overlapping boxes can be matched: cost only those pairs.
            ti, di = matching.overlap_pairs(
                track_stream, boxes, det_stream[det_rows], det_boxes, self.iou_pixel_offset
            )
        if self.class_aware:
            # Pairs of another class are never matched: leave them out altogether.
            same = t.class_id[track_rows][ti] == dets.class_id[det_rows][di]
            ti, di = ti[same], di[same]
        cost = matching.iou_distance_pairs(boxes, det_boxes, ti, di, self.iou_pixel_offset)
        if fuse:
            cost = matching.fuse_score(cost, dets.confidence[det_rows][di])
        pairs, rows_left, cols_left = matching.sparse_linear_assignment(
            ti, di, cost, (len(track_rows), len(det_rows)), threshold
        )
        det_row[track_rows[pairs[:, 0]]] = det_rows[pairs[:, 1]]
        return track_rows[rows_left], det_rows[cols_left]

    def _correct(self, dets: Detections, det_row: I64Array, active: npt.NDArray[np.bool_]) -> None:
        """Kalman-update matched tracks and move every active track to its new state."""
        t = self._tracks
        matched = det_row != NO_DET
        rows = np.flatnonzero(matched)
        d = det_row[rows]
        z = xyxy_to_xyah(dets.xyxy[d])
        t.mean[rows], t.cov[rows] = self._kalman.update(t.mean[rows], t.cov[rows], z)
        t.frames_since_update[rows] = 0
        t.score[rows] = dets.confidence[d]
        t.class_id[rows] = dets.class_id[d]
        t.hits = np.where(matched, t.hits + 1, np.where(active, 0, t.hits)).astype(np.int32)
        promote = matched & (
            (t.state == LOST) | ((t.state == TENTATIVE) & (t.hits >= self.min_hits))
        )
        t.state[promote] = CONFIRMED
        t.state[active & ~matched & (t.state == CONFIRMED)] = LOST

    def _prune(
        self, det_row: I64Array, active: npt.NDArray[np.bool_]
    ) -> tuple[I64Array, npt.NDArray[np.bool_]]:
        """Drop unmatched tentative tracks and expired lost tracks (of active streams)."""
        t = self._tracks
        dead_tentative = active & (t.state == TENTATIVE) & (det_row == NO_DET)
        expired = (t.state == LOST) & (t.frames_since_update > self.lost_buffer_frames)
        keep: npt.NDArray[np.bool_] = ~(dead_tentative | expired)
        self._tracks = t.select(keep)
        return det_row[keep], active[keep]

    def _spawn(
        self, dets: Detections, high_left: I64Array, det_row: I64Array, det_stream: I32Array
    ) -> I64Array:
        """Start tracks from confident unmatched detections."""
        rows = high_left[dets.confidence[high_left] >= self.new_track_threshold]
        mean, cov = self._kalman.initiate(xyxy_to_xyah(dets.xyxy[rows]))
        n = len(rows)
        stream = det_stream[rows]
        frame = self._frame_counts[stream]
        confirm = np.full(n, self.min_hits <= 1) | (self.confirm_first_frame & (frame == 1))
        ids = np.full(n, UNASSIGNED_ID, np.int64)
        if self.assign_ids == "on_creation":
            ids = self._number(stream)
        new = TrackTable(
            track_id=ids,
            mean=mean,
            cov=cov,
            state=np.where(confirm, CONFIRMED, TENTATIVE).astype(np.int8),
            hits=np.ones(n, np.int32),
            frames_since_update=np.zeros(n, np.int32),
            class_id=dets.class_id[rows].copy(),
            score=dets.confidence[rows].copy(),
            start_frame=frame.copy(),
            stream=stream,
        )
        self._tracks = self._tracks.append(new)
        extended: I64Array = np.concatenate([det_row, rows])
        return extended

    def _drop_duplicates(self, det_row: I64Array, streams: I64Array) -> I64Array:
        """Drop the younger of each tracked/lost pair with IoU > 0.85 (reference step)."""
        t = self._tracks
        active = self._of_streams(streams)
        tracked = np.flatnonzero(active & (t.state != LOST))
        lost = np.flatnonzero(active & (t.state == LOST))
        boxes = xyah_to_xyxy(t.boxes_xyah())
        p, q = matching.overlap_pairs(
            t.stream[tracked], boxes[tracked], t.stream[lost], boxes[lost], self.iou_pixel_offset
        )
        dist = matching.iou_distance_pairs(boxes[tracked], boxes[lost], p, q, self.iou_pixel_offset)
        close = dist < 0.15
        p, q = p[close], q[close]
        # Age at the last update: tracked tracks were updated this frame.
        last_update = self._frame_counts[t.stream] - t.frames_since_update
        age = last_update - t.start_frame
        older = age[tracked[p]] > age[lost[q]]
        drop = np.zeros(len(t), np.bool_)
        drop[lost[q[older]]] = True
        drop[tracked[p[~older]]] = True
        self._tracks = t.select(~drop)
        kept: I64Array = det_row[~drop]
        return kept

    def _assign_ids(self) -> None:
        t = self._tracks
        fresh = np.flatnonzero((t.state == CONFIRMED) & (t.track_id == UNASSIGNED_ID))
        t.track_id[fresh] = self._number(t.stream[fresh])

    def _number(self, stream: I32Array) -> I64Array:
        """Next ids for new tracks of ``stream [n]``: consecutive per stream, in row order."""
        order = np.argsort(stream, kind="stable")
        sorted_streams = stream[order]
        first = np.searchsorted(sorted_streams, sorted_streams, side="left")
        rank = np.empty(len(stream), np.int64)
        rank[order] = np.arange(len(stream)) - first
        ids: I64Array = self._next_ids[stream] + rank
        np.add.at(self._next_ids, stream, 1)
        return ids

    def _output(self, dets: Detections, det_row: I64Array) -> Detections:
        t = self._tracks
        rows = np.flatnonzero((det_row != NO_DET) & (t.state == CONFIRMED))
        order = np.argsort(det_row[rows], kind="stable")
        out = dets[det_row[rows][order]]
        out.track_id = t.track_id[rows][order]
        return out
