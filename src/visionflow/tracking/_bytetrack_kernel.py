"""ByteTrack's frame step as compiled code (numba): one call per step.

The NumPy steps (:class:`~visionflow.tracking._bytetrack_steps.ByteTrackSteps`)
spend a step in a few hundred small array calls, each a few microseconds of
interpreter and dispatch: at a handful of tracks that overhead, not the
arithmetic, is the cost. This module does the same step in one compiled call
that loops over tracks, streams and pairs directly, and releases the GIL
while it runs.

It is the same algorithm, value for value:

* the Kalman filter (:class:`~visionflow.tracking.kalman.BlockKalmanXYAH`)
  with the same float64 operations in the same order;
* IoU costs in float32 with the operations of
  :func:`~visionflow.tracking.matching.iou_pairs`, thresholds compared in
  float32 as NumPy does;
* the assignment rules of :func:`~visionflow.tracking.matching.sparse_linear_assignment`
  (lone pairs taken, one-row or one-column groups take their cheapest pair,
  other groups solved by :func:`~visionflow.tracking._lsap.solve_lsap`, which
  makes SciPy's choices);
* the table's row order, pruning, spawning, duplicate removal and numbering.

Tests run both on random many-stream scenes and compare every table column.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from visionflow.tracking._lsap import solve_lsap

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

# Track states (as in visionflow.tracking._table); numba reads module globals as constants.
_TENTATIVE = 0
_CONFIRMED = 1
_LOST = 2
_UNASSIGNED_ID = 0
_NO_DET = -1
_EPS_PX = 1e-6
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)
_F32_TINY = np.finfo(np.float32).tiny
_DUPLICATE_DISTANCE = np.float32(0.15)

# Indices into the ``params`` float64 array of :func:`step`.
P_STD_POSITION = 0
P_STD_VELOCITY = 1
N_FLOAT_PARAMS = 2
# Indices into the ``thresholds`` float32 array (compared with float32 scores/costs).
T_HIGH, T_LOW, T_NEW, T_MATCH, T_SECOND, T_UNCONFIRMED, T_PIXEL_OFFSET = range(7)
N_THRESHOLDS = 7
# Indices into the ``flags`` int64 array.
F_LOST_BUFFER, F_MIN_HITS, F_CLASS_AWARE, F_FUSE, F_IDS_ON_CREATION = range(5)
F_CONFIRM_FIRST, F_PREDICT_TENTATIVE, F_REMOVE_DUPLICATES = range(5, 8)
N_FLAGS = 8


@njit(cache=True, nogil=True)
def step(table, frame_counts, next_ids, streams, dets, det_rows, settings):
    """One frame for each stream in ``streams``; see ``ByteTrackSteps._step``.

    Args:
        table: the track table's ten columns, in ``TrackTable`` field order.
        frame_counts: ``[S]`` frames seen per stream index (updated in place).
        next_ids: ``[S]`` next track id per stream index (updated in place).
        streams: the stream indices that advance one frame.
        dets: ``(xyxy [D, 4] float32, confidence [D] float32, class_id [D]
            int32, stream [D] int32)`` of the detections.
        det_rows: the rows of ``dets`` that belong to this frame (ascending).
        settings: ``(params, thresholds, flags)`` (see the index constants).

    Returns:
        The new table's ten columns followed by its ``det_row`` (the detection
        matched to each row, ``-1`` for none). ``table`` is updated in place
        on the way (the caller replaces it with the result).
    """
    det_row, keep, spawn = advance(table, frame_counts, streams, dets, det_rows, settings)
    columns = _allocate(np.count_nonzero(keep) + len(_spawning(dets, spawn, settings[1][T_NEW])))
    n = finish(
        table, det_row, keep, spawn, columns, frame_counts, next_ids, streams, dets, settings
    )
    return _head(columns, n)


@njit(cache=True, nogil=True)
def advance(table, frame_counts, streams, dets, det_rows, settings):
    """``step`` up to the rows' fates, on ``table`` in place: predict, associate, correct.

    Returns:
        ``det_row [T]`` (the detection matched to each row, ``-1`` for none),
        ``keep [T]`` (the rows that survive) and ``spawn [D]`` (the detections
        left to start tracks, if confident enough).
    """
    stream, params, flags = table[9], settings[0], settings[2]
    for s in streams:
        frame_counts[s] += 1
    active = of_streams(stream, streams, len(frame_counts))
    predict(table, active, bool(flags[F_PREDICT_TENTATIVE]), params, True)
    det_row = np.full(len(stream), _NO_DET, np.int64)
    spawn = _associate(table, active, streams, len(frame_counts), dets, det_rows, det_row, settings)
    _correct(table, active, det_row, dets, settings)
    keep = _survivors(table, active, det_row, flags[F_LOST_BUFFER])
    return det_row, keep, spawn


@njit(cache=True, nogil=True)
def finish(table, det_row, keep, spawn, columns, frame_counts, next_ids, streams, dets, settings):
    """``step`` from the rows' fates: the new table in the first rows of ``columns``.

    ``columns`` (ten table columns and a ``det_row`` column) may be the buffers
    that ``table`` views: kept rows only move down. They need room for the kept
    rows and the new tracks. Returns the new table's row count.
    """
    _compact(table, det_row, keep, columns)
    n = _spawn(columns, np.count_nonzero(keep), dets, spawn, frame_counts, next_ids, settings)
    if settings[2][F_REMOVE_DUPLICATES]:
        n = _drop_duplicates(columns, n, streams, frame_counts, settings[1])
    _assign_ids(columns[0][:n], columns[3][:n], columns[9][:n], next_ids)
    return n


@njit(cache=True, nogil=True)
def _allocate(n):
    """Room for ``n`` rows: the ten table columns and a ``det_row`` column."""
    return (
        np.empty(n, np.int64), np.empty((n, 8)), np.empty((n, 3, 4)), np.empty(n, np.int8),
        np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32),
        np.empty(n, np.float32), np.empty(n, np.int64), np.empty(n, np.int32),
        np.empty(n, np.int64),
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _head(columns, n):
    """The first ``n`` rows of each of the eleven columns (views)."""
    return (
        columns[0][:n], columns[1][:n], columns[2][:n], columns[3][:n], columns[4][:n],
        columns[5][:n], columns[6][:n], columns[7][:n], columns[8][:n], columns[9][:n],
        columns[10][:n],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def of_streams(stream, streams, n_streams):
    wanted = np.zeros(n_streams, np.bool_)
    for s in streams:
        wanted[s] = True
    active = np.empty(len(stream), np.bool_)
    for t in range(len(stream)):
        active[t] = wanted[stream[t]]
    return active


@njit(cache=True, nogil=True)
def predict(table, active, predict_tentative, params, count_miss):
    """Kalman-predict the active tracks; with ``count_miss``, count a frame since
    update for each (not on frames without inference)."""
    mean, cov, state, frames_since_update = table[1], table[2], table[3], table[5]
    w_pos, w_vel = params[P_STD_POSITION], params[P_STD_VELOCITY]
    for t in range(len(active)):
        if not active[t]:
            continue
        if count_miss:
            frames_since_update[t] += 1
        if not predict_tentative and state[t] == _TENTATIVE:
            continue
        if state[t] == _LOST:
            mean[t, 7] = 0.0  # a lost track keeps drifting but stops growing or shrinking
        h = mean[t, 3]
        for d in range(4):
            std_pos = 1e-2 if d == 2 else w_pos * h
            std_vel = 1e-5 if d == 2 else w_vel * h
            pp, pv, vv = cov[t, 0, d], cov[t, 1, d], cov[t, 2, d]
            cov[t, 0, d] = (pp + pv) + (pv + vv) + std_pos**2
            cov[t, 1, d] = pv + vv
            cov[t, 2, d] = vv + std_vel**2
            mean[t, d] += mean[t, d + 4]


@njit(cache=True, nogil=True)
def _box_xyxy(mean, t, offset):
    """Track ``t``'s box as float32 ``x1, y1, x2, y2`` (``offset`` added to ``x2, y2``)."""
    cx, cy, a, h = mean[t, 0], mean[t, 1], mean[t, 2], mean[t, 3]
    half_w = a * h / 2
    half_h = h / 2
    return (
        np.float32(cx - half_w),
        np.float32(cy - half_h),
        np.float32(cx + half_w) + offset,
        np.float32(cy + half_h) + offset,
    )


@njit(cache=True, nogil=True)
def _iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    """float32 IoU, the operations of ``matching._iou``."""
    ox = max(min(ax2, bx2) - max(ax1, bx1), _F32_ZERO)
    oy = max(min(ay2, by2) - max(ay1, by1), _F32_ZERO)
    inter = ox * oy
    area_a = max(ax2 - ax1, _F32_ZERO) * max(ay2 - ay1, _F32_ZERO)
    area_b = max(bx2 - bx1, _F32_ZERO) * max(by2 - by1, _F32_ZERO)
    union = max(area_a + area_b - inter, _F32_TINY)
    return inter / union


@njit(cache=True, nogil=True)
def _buckets(keys, n_keys, include):
    """Positions of ``keys`` grouped by key (ascending within a key): ``order, start[n+1]``."""
    start = np.zeros(n_keys + 1, np.int64)
    for i in range(len(keys)):
        if include[i]:
            start[keys[i] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    order = np.empty(start[n_keys], np.int64)
    for i in range(len(keys)):
        if include[i]:
            order[fill[keys[i]]] = i
            fill[keys[i]] += 1
    return order, start


@njit(cache=True, nogil=True)
def _associate(table, active, streams, n_streams, dets, det_rows, det_row, settings):
    """The three association stages, stream by stream; returns ``[D]`` spawn candidates."""
    state, stream = table[3], table[9]
    det_conf, det_stream = dets[1], dets[3]
    thresholds, fuse = settings[1], bool(settings[2][F_FUSE])
    track_order, track_start = _buckets(stream, n_streams, active)
    det_order, det_start = _buckets(
        det_stream[det_rows], n_streams, np.ones(len(det_rows), np.bool_)
    )
    spawn = np.zeros(len(det_conf), np.bool_)
    high_t, low_t = thresholds[T_HIGH], thresholds[T_LOW]
    for s in streams:
        tracks = track_order[track_start[s] : track_start[s + 1]]
        rows = det_rows[det_order[det_start[s] : det_start[s + 1]]]
        conf = det_conf[rows]
        high = rows[conf >= high_t]
        low = rows[(conf >= low_t) & (conf < high_t)]
        pool = tracks[state[tracks] != _TENTATIVE]
        threshold = thresholds[T_MATCH]
        pool_left, high_left = _match(pool, high, threshold, fuse, table, dets, det_row, settings)
        tracked_left = pool_left[state[pool_left] == _CONFIRMED]
        threshold = thresholds[T_SECOND]
        _match(tracked_left, low, threshold, False, table, dets, det_row, settings)
        tentative = tracks[state[tracks] == _TENTATIVE]
        threshold = thresholds[T_UNCONFIRMED]
        _, high_left = _match(tentative, high_left, threshold, fuse, table, dets, det_row, settings)
        for d in high_left:
            spawn[d] = True
    return spawn


@njit(cache=True, nogil=True)
def _match(tracks, rows, threshold, fuse, table, dets, det_row, settings):
    """Match one stream's ``tracks`` to its detection ``rows``; write pairs into ``det_row``.

    Returns the tracks and detection rows left unmatched (order kept).
    """
    m, n = len(tracks), len(rows)
    if m == 0 or n == 0:
        return tracks, rows
    mean, class_id = table[1], table[6]
    det_xyxy, det_conf, det_class = dets[0], dets[1], dets[2]
    offset = settings[1][T_PIXEL_OFFSET]
    class_aware = bool(settings[2][F_CLASS_AWARE])
    cost = np.empty((m, n), np.float32)
    ok = np.zeros((m, n), np.bool_)
    row_degree = np.zeros(m, np.int64)
    col_degree = np.zeros(n, np.int64)
    for i in range(m):
        ax1, ay1, ax2, ay2 = _box_xyxy(mean, tracks[i], offset)
        for j in range(n):
            d = rows[j]
            if class_aware and class_id[tracks[i]] != det_class[d]:
                continue  # never matched: not costed at all
            bx2, by2 = det_xyxy[d, 2] + offset, det_xyxy[d, 3] + offset
            if min(ax2, bx2) - max(ax1, det_xyxy[d, 0]) <= _F32_ZERO:
                c = _F32_ONE  # no overlap in x: IoU exactly 0, cost exactly 1 (fused too)
            else:
                iou = _iou(ax1, ay1, ax2, ay2, det_xyxy[d, 0], det_xyxy[d, 1], bx2, by2)
                c = _F32_ONE - iou
                if fuse:
                    c = _F32_ONE - (_F32_ONE - c) * det_conf[d]
            if c <= threshold:
                cost[i, j] = c
                ok[i, j] = True
                row_degree[i] += 1
                col_degree[j] += 1
    col_of_row = _assign(cost, ok, row_degree, col_degree, threshold)
    taken = np.zeros(n, np.bool_)
    track_left = np.ones(m, np.bool_)
    for i in range(m):
        j = col_of_row[i]
        if j >= 0:
            det_row[tracks[i]] = rows[j]
            taken[j] = True
            track_left[i] = False
    return tracks[track_left], rows[~taken]


@njit(cache=True, nogil=True)
def _assign(cost, ok, row_degree, col_degree, threshold):
    """``sparse_linear_assignment``'s matching of the accepted pairs ``ok``: column per row."""
    m, n = ok.shape
    col_of_row = np.full(m, -1, np.int64)
    # Union-find over rows (0..m-1) and columns (m..m+n-1) of contested pairs.
    parent = np.arange(m + n)
    contested = False
    for i in range(m):
        for j in range(n):
            if not ok[i, j]:
                continue
            if row_degree[i] == 1 and col_degree[j] == 1:
                col_of_row[i] = j  # each other's only candidate
                continue
            contested = True
            a, b = _root(parent, i), _root(parent, m + j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    if not contested:
        return col_of_row
    for root in range(m + n):
        if _root(parent, root) != root:
            continue
        rows = np.array([i for i in range(m) if row_degree[i] and _root(parent, i) == root])
        cols = np.array([j for j in range(n) if col_degree[j] and _root(parent, m + j) == root])
        if len(rows) == 0 or len(cols) == 0 or (len(rows) == 1 and len(cols) == 1):
            continue  # a node without contested pairs, or a lone pair (taken above)
        if len(rows) == 1 or len(cols) == 1:
            _cheapest(cost, ok, rows, cols, col_of_row)
        else:
            _solve_group(cost, ok, rows, cols, threshold, col_of_row)
    return col_of_row


@njit(cache=True, nogil=True)
def _root(parent, node):
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@njit(cache=True, nogil=True)
def _cheapest(cost, ok, rows, cols, col_of_row):
    """A one-row or one-column group: its cheapest pair (ties: lowest column, then row)."""
    best_i, best_j = -1, -1
    for j in cols:
        for i in rows:
            if ok[i, j] and (best_i < 0 or cost[i, j] < cost[best_i, best_j]):
                best_i, best_j = i, j
    col_of_row[best_i] = best_j


@njit(cache=True, nogil=True)
def _solve_group(cost, ok, rows, cols, threshold, col_of_row):
    """A group of several rows and columns: optimal matching on its own submatrix.

    Pairs not accepted cost the threshold (in float32, as the NumPy path's
    submatrix), so leaving a pair out costs as much as the dearest match.
    """
    sub = np.empty((len(rows), len(cols)))
    for a in range(len(rows)):
        for b in range(len(cols)):
            i, j = rows[a], cols[b]
            sub[a, b] = cost[i, j] if ok[i, j] else threshold
    assigned = solve_lsap(sub)
    for a in range(len(rows)):
        b = assigned[a]
        if b >= 0 and ok[rows[a], cols[b]]:
            col_of_row[rows[a]] = cols[b]


@njit(cache=True, nogil=True)
def _correct(table, active, det_row, dets, settings):
    """Kalman-update matched tracks and move every active track to its new state."""
    mean, cov, state, hits = table[1], table[2], table[3], table[4]
    frames_since_update, class_id, score = table[5], table[6], table[7]
    w_pos, min_hits = settings[0][P_STD_POSITION], settings[2][F_MIN_HITS]
    z = np.empty(4)
    for t in range(len(det_row)):
        d = det_row[t]
        if d == _NO_DET:
            if active[t]:
                hits[t] = 0
                if state[t] == _CONFIRMED:
                    state[t] = _LOST
            continue
        _xyah(dets[0], d, z)
        h = mean[t, 3]
        for k in range(4):
            measurement_std = 1e-1 if k == 2 else w_pos * h
            s = cov[t, 0, k] + measurement_std**2
            gain_pos = cov[t, 0, k] / s
            gain_vel = cov[t, 1, k] / s
            innovation = z[k] - mean[t, k]
            mean[t, k] = mean[t, k] + gain_pos * innovation
            mean[t, k + 4] = mean[t, k + 4] + gain_vel * innovation
            gs = gain_pos * s
            cov[t, 2, k] = cov[t, 2, k] - (gain_vel * s) * gain_vel
            cov[t, 1, k] = cov[t, 1, k] - gs * gain_vel
            cov[t, 0, k] = cov[t, 0, k] - gs * gain_pos
        frames_since_update[t] = 0
        score[t] = dets[1][d]
        class_id[t] = dets[2][d]
        hits[t] += 1
        if state[t] == _LOST or (state[t] == _TENTATIVE and hits[t] >= min_hits):
            state[t] = _CONFIRMED


@njit(cache=True, nogil=True)
def _survivors(table, active, det_row, lost_buffer_frames):
    """Rows kept: not an unmatched tentative track, not a lost track past its buffer."""
    state, frames_since_update = table[3], table[5]
    keep = np.empty(len(det_row), np.bool_)
    for t in range(len(det_row)):
        dead_tentative = active[t] and state[t] == _TENTATIVE and det_row[t] == _NO_DET
        expired = state[t] == _LOST and frames_since_update[t] > lost_buffer_frames
        keep[t] = not (dead_tentative or expired)
    return keep


@njit(cache=True, nogil=True)
def _xyah(det_xyxy, d, out):
    """Detection ``d`` as float64 ``cx, cy, a, h`` (``kalman.xyxy_to_xyah``)."""
    x1, y1 = np.float64(det_xyxy[d, 0]), np.float64(det_xyxy[d, 1])
    x2, y2 = np.float64(det_xyxy[d, 2]), np.float64(det_xyxy[d, 3])
    h = max(y2 - y1, _EPS_PX)
    out[3] = h
    out[2] = (x2 - x1) / h
    out[0] = (x1 + x2) / 2
    out[1] = (y1 + y2) / 2


@njit(cache=True, nogil=True)
def _spawning(dets, spawn, new_track_threshold):
    """Detections that start a track: spawn candidates confident enough (ascending)."""
    rows = np.flatnonzero(spawn)
    return rows[dets[1][rows] >= new_track_threshold]


@njit(cache=True, nogil=True)
def _compact(table, det_row, keep, columns):
    """The kept rows (with their ``det_row`` last) into the first rows of ``columns``."""
    kept = np.flatnonzero(keep)
    n_kept = len(kept)
    # A tuple of mixed arrays cannot be indexed by a loop variable: one line per column.
    # Each right side is a copy, so ``columns`` may be the buffers ``table`` views.
    columns[0][:n_kept] = table[0][kept]
    columns[1][:n_kept] = table[1][kept]
    columns[2][:n_kept] = table[2][kept]
    columns[3][:n_kept] = table[3][kept]
    columns[4][:n_kept] = table[4][kept]
    columns[5][:n_kept] = table[5][kept]
    columns[6][:n_kept] = table[6][kept]
    columns[7][:n_kept] = table[7][kept]
    columns[8][:n_kept] = table[8][kept]
    columns[9][:n_kept] = table[9][kept]
    columns[10][:n_kept] = det_row[kept]


@njit(cache=True, nogil=True)
def _spawn(columns, n_kept, dets, spawn, frame_counts, next_ids, settings):
    """A new track per spawning detection in the rows after the ``n_kept`` kept ones;
    returns the row count."""
    track_id, mean, cov, state, hits, fsu, class_id, score, start, stream, det_row = columns
    params, flags = settings[0], settings[2]
    rows = _spawning(dets, spawn, settings[1][T_NEW])
    w_pos, w_vel = 2 * params[P_STD_POSITION], 10 * params[P_STD_VELOCITY]
    r = n_kept
    for d in rows:
        s = dets[3][d]
        frame = frame_counts[s]
        _xyah(dets[0], d, mean[r])
        h = mean[r, 3]
        for k in range(4):
            mean[r, k + 4] = 0.0
            cov[r, 0, k] = (1e-2 if k == 2 else w_pos * h) ** 2
            cov[r, 1, k] = 0.0
            cov[r, 2, k] = (1e-5 if k == 2 else w_vel * h) ** 2
        confirm = flags[F_MIN_HITS] <= 1 or (flags[F_CONFIRM_FIRST] != 0 and frame == 1)
        state[r] = _CONFIRMED if confirm else _TENTATIVE
        hits[r], fsu[r], start[r], stream[r], det_row[r] = 1, 0, frame, s, d
        class_id[r], score[r] = dets[2][d], dets[1][d]
        track_id[r] = _UNASSIGNED_ID
        if flags[F_IDS_ON_CREATION]:
            track_id[r] = next_ids[s]
            next_ids[s] += 1
        r += 1
    return r


@njit(cache=True, nogil=True)
def _drop_duplicates(columns, n, streams, frame_counts, thresholds):
    """Drop the younger of each tracked/lost pair of a stream with IoU > 0.85, from the
    first ``n`` rows of ``columns`` (in place); returns the rows left."""
    track_id, mean, cov, state, hits, fsu, class_id, score, start, stream, det_row = _head(
        columns, n
    )
    offset = thresholds[T_PIXEL_OFFSET]
    active = of_streams(stream, streams, len(frame_counts))
    drop = np.zeros(n, np.bool_)
    for p in range(n):
        if not active[p] or state[p] == _LOST:
            continue
        px1, py1, px2, py2 = _box_xyxy(mean, p, offset)
        for q in range(n):
            if not active[q] or state[q] != _LOST or stream[q] != stream[p]:
                continue
            qx1, qy1, qx2, qy2 = _box_xyxy(mean, q, offset)
            if _F32_ONE - _iou(px1, py1, px2, py2, qx1, qy1, qx2, qy2) >= _DUPLICATE_DISTANCE:
                continue
            # Age at the last update: tracked tracks were updated this frame.
            age_p = frame_counts[stream[p]] - fsu[p] - start[p]
            age_q = frame_counts[stream[q]] - fsu[q] - start[q]
            if age_p > age_q:
                drop[q] = True
            else:
                drop[p] = True
    keep = ~drop
    for column in (track_id, start, det_row):  # a tuple of one type: a loop is fine
        _squeeze(column, keep)
    _squeeze(mean, keep)
    _squeeze(cov, keep)
    _squeeze(state, keep)
    for column in (hits, fsu, class_id, stream):
        _squeeze(column, keep)
    _squeeze(score, keep)
    return np.count_nonzero(keep)


@njit(cache=True, nogil=True)
def _squeeze(column, keep):
    """Move the rows to keep down to the front of ``column``, in order (in place)."""
    j = 0
    for i in range(len(keep)):
        if keep[i]:
            column[j] = column[i]
            j += 1


@njit(cache=True, nogil=True)
def _assign_ids(track_id, state, stream, next_ids):
    """Number newly confirmed tracks, per stream in row order."""
    for t in range(len(track_id)):
        if state[t] == _CONFIRMED and track_id[t] == _UNASSIGNED_ID:
            track_id[t] = next_ids[stream[t]]
            next_ids[stream[t]] += 1
