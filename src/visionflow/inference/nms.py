"""Exact greedy non-maximum suppression for a whole batch, vectorised.

Greedy NMS keeps box ``i`` (in descending score order) iff no *kept* box
``j`` before it in the same group has IoU above the threshold. That rule has
exactly one fixed point, which is the greedy result, so it can be computed by
iterating ``keep = ~any(over[j, i] & keep[j])`` from ``keep = all True`` until
nothing changes (after ``t`` rounds every box whose longest chain of
suppressors is shorter than ``t`` is final; usually 2-4 rounds).

Only pairs inside the same group (image x class) are built, so memory is
``sum(group_size**2) / 2`` pairs rather than ``N**2``; cap ``N`` (top-k by
score) before calling this when the candidate count can be large.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.intp]


def group_ranks(sorted_groups: npt.NDArray[np.integer]) -> IndexArray:
    """0-based position of each element within its run of equal group ids.

    Args:
        sorted_groups: ``[N]`` group ids where equal ids are contiguous.
    """
    count = len(sorted_groups)
    is_start = np.ones(count, bool)
    np.not_equal(sorted_groups[1:], sorted_groups[:-1], out=is_start[1:])
    starts = np.flatnonzero(is_start)
    sizes = np.diff(starts, append=count)
    return np.arange(count) - np.repeat(starts, sizes)


def batched_nms(
    xyxy: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    groups: npt.NDArray[np.integer],
    iou_threshold: float,
) -> IndexArray:
    """Greedy NMS applied independently within each group.

    Args:
        xyxy: ``[N, 4]`` boxes ``x1, y1, x2, y2`` (any consistent unit).
        scores: ``[N]`` scores; ties are broken by input order.
        groups: ``[N]`` group id (e.g. ``image * num_classes + class``).
        iou_threshold: a box is suppressed by a kept box with IoU strictly above this.

    Returns:
        Indices into the inputs of the kept boxes, sorted by group then
        descending score.
    """
    order = np.lexsort((-scores, groups))
    boxes, sorted_groups = xyxy[order].astype(np.float32), groups[order]
    first, second = _pairs_within_groups(sorted_groups)
    over = _pair_iou(boxes, first, second) > iou_threshold
    keep = _greedy_fixed_point(len(order), first[over], second[over])
    return order[keep]


def _pairs_within_groups(sorted_groups: npt.NDArray[np.integer]) -> tuple[IndexArray, IndexArray]:
    """All ``(i, j)``, ``i < j``, of positions that share a group."""
    count = len(sorted_groups)
    ranks = group_ranks(sorted_groups)
    starts = np.arange(count) - ranks
    sizes = np.bincount(starts, minlength=count)[starts]
    partners = sizes - ranks - 1
    first = np.repeat(np.arange(count), partners)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    return first, first + 1 + offsets


def _pair_iou(
    boxes: npt.NDArray[np.float32], first: IndexArray, second: IndexArray
) -> npt.NDArray[np.float32]:
    a, b = boxes[first], boxes[second]
    # np.maximum(x, 0) rather than np.clip(x, 0, None): the same values, less overhead.
    inter_wh = np.maximum(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0)
    area = wh[:, 0] * wh[:, 1]
    union = area[first] + area[second] - inter
    iou: npt.NDArray[np.float32] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return iou


def _greedy_fixed_point(
    count: int, suppressor: IndexArray, suppressed: IndexArray
) -> npt.NDArray[np.bool_]:
    keep = np.ones(count, bool)
    for _ in range(count + 1):
        hit = np.zeros(count, bool)
        hit[suppressed[keep[suppressor]]] = True
        if np.array_equal(~hit, keep):
            break
        keep = ~hit
    return keep
