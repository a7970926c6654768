"""Vectorised association helpers: IoU cost matrices and linear assignment."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]


def iou_matrix(xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike, pixel_offset: float = 0.0) -> F32Array:
    """Pairwise intersection-over-union of two box sets.

    Computed in float32: boxes are float32 pixels already, the ~1e-7 relative
    error is far below any matching threshold, and it halves the memory
    traffic of the ``[M, N]`` temporaries, which dominate at hundreds of boxes.

    Args:
        xyxy_a: ``[M, 4]`` boxes ``x1, y1, x2, y2`` in pixels.
        xyxy_b: ``[N, 4]`` boxes in the same layout.
        pixel_offset: added to every width, height and overlap: 0 for
            continuous coordinates, 1 for the integer-pixel convention
            (``x2 - x1 + 1``) of the reference ByteTrack / ``cython_bbox``.

    Returns:
        ``[M, N]`` float32 IoU in ``[0, 1]``; pairs whose union is empty
        (two degenerate boxes) get 0.
    """
    a = np.asarray(xyxy_a, np.float32).reshape(-1, 4)
    b = np.asarray(xyxy_b, np.float32).reshape(-1, 4)
    # [M, 1] columns against [N] rows, written into reused [M, N] buffers:
    # fresh large temporaries (page faults) dominated the cost at 500 x 500.
    inter = np.empty((len(a), len(b)), np.float32)
    scratch = np.empty_like(inter)
    if pixel_offset:
        a, b = a.copy(), b.copy()
        a[:, 2:] += np.float32(pixel_offset)
        b[:, 2:] += np.float32(pixel_offset)
    _overlap(a[:, 0:1], a[:, 2:3], b[:, 0], b[:, 2], out=inter, scratch=scratch)
    y_overlap = _overlap(
        a[:, 1:2], a[:, 3:4], b[:, 1], b[:, 3], out=scratch, scratch=np.empty_like(inter)
    )
    inter *= y_overlap
    area_a = _extent(a[:, 0], a[:, 2]) * _extent(a[:, 1], a[:, 3])
    area_b = _extent(b[:, 0], b[:, 2]) * _extent(b[:, 1], b[:, 3])
    union = np.add.outer(area_a, area_b, out=scratch)
    union -= inter
    # An empty union implies an empty intersection, so 0 / tiny gives IoU 0.
    np.maximum(union, np.finfo(np.float32).tiny, out=union)
    iou: F32Array = np.divide(inter, union, out=inter)
    return iou


def _extent(low: F32Array, high: F32Array) -> F32Array:
    """Non-negative ``high - low`` (side length of a box, 0 if degenerate)."""
    extent: F32Array = np.maximum(high - low, np.float32(0.0))
    return extent


def _overlap(
    low_a: F32Array,
    high_a: F32Array,
    low_b: F32Array,
    high_b: F32Array,
    *,
    out: F32Array,
    scratch: F32Array,
) -> F32Array:
    """``[M, N]`` 1-D overlap of ``[M, 1]`` against ``[N]`` intervals, into ``out``.

    ``scratch`` is an ``[M, N]`` buffer for the intermediate.
    """
    np.minimum(high_a, high_b, out=out)
    out -= np.maximum(low_a, low_b, out=scratch)
    return np.maximum(out, 0.0, out=out)


def iou_distance(
    xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike, pixel_offset: float = 0.0
) -> F32Array:
    """``[M, N]`` float32 cost ``1 - IoU`` (0 = identical boxes, 1 = disjoint).

    ``pixel_offset``: see :func:`iou_matrix`.
    """
    iou = iou_matrix(xyxy_a, xyxy_b, pixel_offset)
    return np.subtract(1.0, iou, out=iou)


def fuse_score(cost: F32Array, det_scores: npt.ArrayLike) -> F32Array:
    """Fold detection confidence into an IoU cost, as ByteTrack does on MOT17.

    Args:
        cost: ``[M, N]`` IoU distance (tracks x detections).
        det_scores: ``[N]`` detection confidences in ``[0, 1]``.

    Returns:
        ``[M, N]`` cost ``1 - (1 - cost) * score``: a confident detection is
        cheaper to match than a doubtful one with the same overlap.
    """
    scores = np.asarray(det_scores, np.float32).reshape(1, -1)
    fused: F32Array = np.subtract(np.float32(1.0), cost)
    fused *= scores
    return np.subtract(np.float32(1.0), fused, out=fused)


def mask_classes(cost: F32Array, row_class: npt.ArrayLike, col_class: npt.ArrayLike) -> F32Array:
    """Return a copy of ``cost`` with ``inf`` where row and column classes differ.

    Args:
        cost: ``[M, N]`` cost matrix.
        row_class: ``[M]`` class ids of the rows (tracks).
        col_class: ``[N]`` class ids of the columns (detections).
    """
    rows = np.asarray(row_class).reshape(-1, 1)
    cols = np.asarray(col_class).reshape(1, -1)
    masked: F32Array = np.where(rows == cols, cost, np.float32(np.inf))
    return masked


def linear_assignment(cost: npt.ArrayLike, threshold: float) -> tuple[I64Array, I64Array, I64Array]:
    """Minimum-cost one-to-one matching that rejects pairs costing more than ``threshold``.

    Costs are clipped at ``threshold`` before solving, so leaving a pair
    unmatched costs the same as matching it at the threshold. This is the
    same optimum as ``lap.lapjv(cost, extend_cost=True, cost_limit=threshold)``
    used by ByteTrack, whereas filtering an unconstrained assignment
    afterwards can lose valid matches. ``inf`` entries are allowed.

    Pairs that are each other's only candidate (the common case for
    well-separated objects) are taken without the solver, and rows or columns
    without any candidate are left out of it, so the Hungarian step only sees
    the contested part of the matrix; the optimum is unchanged.

    Args:
        cost: ``[M, N]`` cost matrix.
        threshold: largest accepted cost (inclusive).

    Returns:
        ``matches [K, 2]`` (row, column) pairs sorted by row, then the
        unmatched row indices and unmatched column indices (sorted, int64).
    """
    c = np.asarray(cost)
    valid = c <= threshold
    trivial, rows, cols = _split_isolated(valid)
    # Only rows and columns with competing candidates need the solver.
    sub = np.minimum(c[np.ix_(rows, cols)], threshold)
    sub_rows, sub_cols = linear_sum_assignment(sub)
    keep = valid[rows[sub_rows], cols[sub_cols]]
    solved = np.stack([rows[sub_rows[keep]], cols[sub_cols[keep]]], axis=1)
    return _finish(np.concatenate([trivial, solved.astype(np.int64)]), c.shape)


def _split_isolated(valid: npt.NDArray[np.bool_]) -> tuple[I64Array, I64Array, I64Array]:
    """Separate pairs that are each other's only candidate from the rest.

    Returns:
        ``isolated [K, 2]`` (row, column) pairs, which any optimal assignment
        takes, then the rows and the columns that have several candidates
        (rows and columns without any candidate are in neither).
    """
    row_degree = valid.sum(axis=1)
    col_degree = valid.sum(axis=0)
    lone = valid & (row_degree[:, None] == 1) & (col_degree[None, :] == 1)
    isolated = np.argwhere(lone).astype(np.int64)
    # Boolean masks rather than setdiff1d: same sorted result, far cheaper
    # for the small index sets of a frame.
    contested_rows = row_degree > 0
    contested_rows[isolated[:, 0]] = False
    contested_cols = col_degree > 0
    contested_cols[isolated[:, 1]] = False
    rows = np.flatnonzero(contested_rows).astype(np.int64)
    cols = np.flatnonzero(contested_cols).astype(np.int64)
    return isolated, rows, cols


def _finish(matches: I64Array, shape: tuple[int, ...]) -> tuple[I64Array, I64Array, I64Array]:
    """Sort ``matches`` by row and list the unmatched rows and columns."""
    matches = matches[np.argsort(matches[:, 0], kind="stable")]
    free_rows = np.ones(shape[0], np.bool_)
    free_rows[matches[:, 0]] = False
    free_cols = np.ones(shape[1], np.bool_)
    free_cols[matches[:, 1]] = False
    unmatched_rows = np.flatnonzero(free_rows).astype(np.int64)
    unmatched_cols = np.flatnonzero(free_cols).astype(np.int64)
    return matches, unmatched_rows, unmatched_cols


def greedy_assignment(cost: npt.ArrayLike, threshold: float) -> tuple[I64Array, I64Array, I64Array]:
    """Greedy matching: repeatedly take the cheapest remaining pair with cost <= ``threshold``.

    Each round takes every mutual-best pair at once (row ``i``'s cheapest
    column is ``j`` and column ``j``'s cheapest row is ``i``), which yields the
    same pairs as the one-pair-at-a-time greedy for distinct costs. Rounds are
    few in practice (objects rarely form long chains of overlaps).

    Args:
        cost: ``[M, N]`` cost matrix (``inf`` allowed).
        threshold: largest accepted cost (inclusive).

    Returns:
        Same layout as :func:`linear_assignment`.
    """
    c = np.asarray(cost, np.float64)
    c = np.where(c <= threshold, c, np.inf)
    n_rows = c.shape[0]
    found: list[I64Array] = [np.zeros((0, 2), np.int64)]
    while c.size and np.isfinite(c).any():
        best_col = np.argmin(c, axis=1)
        best_row = np.argmin(c, axis=0)
        rows = np.flatnonzero(best_row[best_col] == np.arange(n_rows))
        rows = rows[np.isfinite(c[rows, best_col[rows]])]
        found.append(np.stack([rows, best_col[rows]], axis=1).astype(np.int64))
        c[rows, :] = np.inf
        c[:, best_col[rows]] = np.inf
    return _finish(np.concatenate(found), c.shape)
