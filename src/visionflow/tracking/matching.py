"""Vectorised association helpers: IoU cost matrices and linear assignment."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]


def iou_matrix(xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike) -> F64Array:
    """Pairwise intersection-over-union of two box sets.

    Args:
        xyxy_a: ``[M, 4]`` boxes ``x1, y1, x2, y2`` in pixels.
        xyxy_b: ``[N, 4]`` boxes in the same layout.

    Returns:
        ``[M, N]`` float64 IoU in ``[0, 1]``; pairs whose union is empty
        (two degenerate boxes) get 0.
    """
    a = np.asarray(xyxy_a, np.float64).reshape(-1, 4)
    b = np.asarray(xyxy_b, np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou: F64Array = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def iou_distance(xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike) -> F64Array:
    """``[M, N]`` cost ``1 - IoU`` (0 = identical boxes, 1 = disjoint)."""
    return 1.0 - iou_matrix(xyxy_a, xyxy_b)


def fuse_score(cost: F64Array, det_scores: npt.ArrayLike) -> F64Array:
    """Fold detection confidence into an IoU cost, as ByteTrack does on MOT17.

    Args:
        cost: ``[M, N]`` IoU distance (tracks x detections).
        det_scores: ``[N]`` detection confidences in ``[0, 1]``.

    Returns:
        ``[M, N]`` cost ``1 - (1 - cost) * score``: a confident detection is
        cheaper to match than a doubtful one with the same overlap.
    """
    scores = np.asarray(det_scores, np.float64).reshape(1, -1)
    return 1.0 - (1.0 - cost) * scores


def mask_classes(cost: F64Array, row_class: npt.ArrayLike, col_class: npt.ArrayLike) -> F64Array:
    """Return a copy of ``cost`` with ``inf`` where row and column classes differ.

    Args:
        cost: ``[M, N]`` cost matrix.
        row_class: ``[M]`` class ids of the rows (tracks).
        col_class: ``[N]`` class ids of the columns (detections).
    """
    rows = np.asarray(row_class).reshape(-1, 1)
    cols = np.asarray(col_class).reshape(1, -1)
    return np.where(rows == cols, cost, np.inf)


def linear_assignment(
    cost: npt.ArrayLike, threshold: float
) -> tuple[I64Array, I64Array, I64Array]:
    """Minimum-cost one-to-one matching that rejects pairs costing more than ``threshold``.

    Costs are clipped at ``threshold`` before solving, so leaving a pair
    unmatched costs the same as matching it at the threshold. This is the
    same optimum as ``lap.lapjv(cost, extend_cost=True, cost_limit=threshold)``
    used by ByteTrack, whereas filtering an unconstrained assignment
    afterwards can lose valid matches. ``inf`` entries are allowed.

    Args:
        cost: ``[M, N]`` cost matrix.
        threshold: largest accepted cost (inclusive).

    Returns:
        ``matches [K, 2]`` (row, column) pairs sorted by row, then the
        unmatched row indices and unmatched column indices (sorted, int64).
    """
    c = np.asarray(cost, np.float64)
    n_rows, n_cols = c.shape
    if c.size == 0:
        return np.zeros((0, 2), np.int64), np.arange(n_rows), np.arange(n_cols)
    rows, cols = linear_sum_assignment(np.minimum(c, threshold))
    keep = c[rows, cols] <= threshold
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    unmatched_rows = np.setdiff1d(np.arange(n_rows), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(n_cols), matches[:, 1])
    return matches, unmatched_rows.astype(np.int64), unmatched_cols.astype(np.int64)
