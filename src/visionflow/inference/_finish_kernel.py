"""The end of YOLO post-processing as compiled code (numba): one call per batch.

:func:`~visionflow.inference.postprocess.finish` turns the candidates that
passed the confidence test into detections with a few dozen small NumPy calls
(top-k, box conversion, letterbox mapping, class-aware NMS, final order,
per-image cap); for the handful of candidates of one video frame their
interpreter and dispatch overhead, not the arithmetic, is the cost.
:func:`finish` does the same in one compiled call that releases the GIL.

It is the same algorithm, value for value:

* the orders of NumPy's stable sorts, as one stable merge sort: top-k is
  ``argsort(-score, kind="stable")``, the NMS order ``lexsort((-score,
  group))`` and the output order ``lexsort((-score, slot))`` of the kept
  boxes in NMS order (ties of slot and score therefore go by group, then by
  top-k position); ``-0.0`` and ``0.0`` tie, NaN scores sort last;
* the float32 operations of ``xywh_to_xyxy`` (``half = wh / 2``),
  ``LetterboxGeometry.to_source`` (``(xyxy - pad) / scale``, then ``clip``
  as NumPy's ``min(max(x, 0), limit)`` with NaN kept) and ``_pair_iou`` of
  :mod:`visionflow.inference.nms` (``minimum`` / ``maximum`` propagate NaN,
  ``union = area_i + area_j - inter``, IoU ``0`` where ``union`` is not
  positive);
* greedy NMS: a box is suppressed iff a kept box before it in its group has
  IoU strictly above the threshold (the fixed point that ``batched_nms``
  iterates to). The threshold arrives as float64; the caller passes
  ``float(np.float32(t))`` where NumPy would compare in float32 (a Python
  float against a float32 array, NEP 50), so one float64 comparison of the
  float32 IoU gives NumPy's answer either way;
* the per-image cap on the slot-sorted result.

One signature is compiled, explicitly, when this module is imported (or
loaded from numba's cache): arrays of any layout and alignment, inputs
read-only; other dtypes are a ``TypeError``, never a second compile. Inputs
whose shapes disagree, or whose top-k names a slot outside the geometry, are
not handled (the first result is ``False``) and the caller runs the NumPy
code, which raises NumPy's error. Tests run both on random batches and
compare every field.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, types

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

_F32_ZERO = np.float32(0.0)
_F32_TWO = np.float32(2.0)
_INSERTION_RUN = 16  # the merge sort starts from insertion-sorted runs of this length


def _array(dtype: types.Type, ndim: int) -> types.Array:
    """Any layout and alignment, read-only."""
    return types.Array(dtype, ndim, "A", readonly=True, aligned=False)


SIGNATURE = (
    _array(types.float32, 2),  # xywh: [N, 4] cx, cy, w, h in model-input pixels
    _array(types.float32, 1),  # score: [N]
    _array(types.int64, 1),  # slot: [N] batch slot
    _array(types.int64, 1),  # class_id: [N]
    _array(types.float32, 1),  # scale: [B]
    _array(types.float32, 2),  # pad_xy: [B, 2]
    _array(types.float32, 2),  # source_wh: [B, 2]
    types.int64,  # num_classes
    types.float64,  # iou_threshold (see the module docstring)
    types.int64,  # max_candidates
    types.int64,  # max_detections
)


@njit(cache=True, nogil=True)
def _before(major_a: int, score_a: np.float32, major_b: int, score_b: np.float32) -> bool:
    """Whether ``a`` sorts strictly before ``b``: smaller major key, then higher score
    (NumPy's order of ``-score``: ``-0.0`` ties ``0.0``, NaN last)."""
    if major_a != major_b:
        return major_a < major_b
    return bool(score_a > score_b) or (math.isnan(score_b) and not math.isnan(score_a))


@njit(cache=True, nogil=True)
def _stable_order(major: I64, score: F32) -> I64:
    """``np.lexsort((-score, major))``: a stable merge sort of ``range(len(score))``."""
    n = len(score)
    src = np.arange(n)
    for start in range(0, n, _INSERTION_RUN):
        end = min(start + _INSERTION_RUN, n)
        for i in range(start + 1, end):
            item = src[i]
            j = i - 1
            while j >= start and _before(major[item], score[item], major[src[j]], score[src[j]]):
                src[j + 1] = src[j]
                j -= 1
            src[j + 1] = item
    dst = np.empty_like(src)
    width = _INSERTION_RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                # the right run's head goes first only when strictly before: stable
                if j < hi and (
                    i >= mid or _before(major[src[j]], score[src[j]], major[src[i]], score[src[i]])
                ):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
        src, dst = dst, src
        width *= 2
    return src


@njit(cache=True, nogil=True)
def _minimum(a: np.float32, b: np.float32) -> np.float32:
    """``np.minimum`` (NaN propagates)."""
    return a if a < b or math.isnan(a) else b


@njit(cache=True, nogil=True)
def _maximum(a: np.float32, b: np.float32) -> np.float32:
    """``np.maximum`` (NaN propagates)."""
    return a if a > b or math.isnan(a) else b


@njit(cache=True, nogil=True)
def _to_source(
    value: np.float32, pad: np.float32, scale: np.float32, limit: np.float32
) -> np.float32:
    """``np.clip((value - pad) / scale, 0, limit)`` in float32: ``min(max(x, 0), limit)``
    where a NaN ``x`` stays NaN (NumPy's clip)."""
    out = (value - pad) / scale
    if not math.isnan(out):
        out = out if out > _F32_ZERO else _F32_ZERO
    if not math.isnan(out):
        out = out if out < limit else limit
    return out


@njit(cache=True, nogil=True)
def _iou(
    ax1: np.float32,
    ay1: np.float32,
    ax2: np.float32,
    ay2: np.float32,
    area_a: np.float32,
    bx1: np.float32,
    by1: np.float32,
    bx2: np.float32,
    by2: np.float32,
    area_b: np.float32,
) -> np.float32:
    """``_pair_iou`` of one pair in float32; ``a`` is the earlier box of the pair."""
    inter_w = _maximum(_minimum(ax2, bx2) - _maximum(ax1, bx1), _F32_ZERO)
    inter_h = _maximum(_minimum(ay2, by2) - _maximum(ay1, by1), _F32_ZERO)
    inter = inter_w * inter_h
    union = area_a + area_b - inter
    if union > _F32_ZERO:
        return inter / union
    return _F32_ZERO


@njit(cache=True, nogil=True)
def _unhandled() -> tuple[bool, F32, F32, I32, I32]:
    """:func:`finish`'s result for inputs it leaves to the NumPy code."""
    return (
        False,
        np.empty((0, 4), np.float32),
        np.empty(0, np.float32),
        np.empty(0, np.int32),
        np.empty(0, np.int32),
    )


@njit(cache=True, nogil=True)
def _geometry_rows(slot: I64, top: I64, batch: int) -> I64:
    """The geometry row of each top-k candidate (negative slots count from the end, as
    NumPy indexes); ``-1`` in the first entry when one is out of range."""
    rows = np.empty(len(top), np.int64)
    for t in range(len(top)):
        row = slot[top[t]] + batch if slot[top[t]] < 0 else slot[top[t]]
        if row < 0 or row >= batch:
            rows[0] = -1
            return rows
        rows[t] = row
    return rows


@njit(cache=True, nogil=True)
def _source_boxes(xywh: F32, top: I64, rows: I64, geometry: tuple[F32, F32, F32]) -> F32:
    """``to_source(xywh_to_xyxy(xywh[top]), slot[top])`` with rows ``rows``: ``[K, 4]``."""
    scale, pad_xy, source_wh = geometry
    boxes = np.empty((len(top), 4), np.float32)
    for t in range(len(top)):
        i, row = top[t], rows[t]
        half_w, half_h = xywh[i, 2] / _F32_TWO, xywh[i, 3] / _F32_TWO
        pad_x, pad_y, s = pad_xy[row, 0], pad_xy[row, 1], scale[row]
        width, height = source_wh[row, 0], source_wh[row, 1]
        boxes[t, 0] = _to_source(xywh[i, 0] - half_w, pad_x, s, width)
        boxes[t, 1] = _to_source(xywh[i, 1] - half_h, pad_y, s, height)
        boxes[t, 2] = _to_source(xywh[i, 0] + half_w, pad_x, s, width)
        boxes[t, 3] = _to_source(xywh[i, 1] + half_h, pad_y, s, height)
    return boxes


@njit(cache=True, nogil=True)
def _greedy_nms(boxes: F32, score: F32, group: I64, iou_threshold: float) -> I64:
    """``batched_nms``: the kept rows, sorted by group then descending score."""
    count = len(score)
    area = np.empty(count, np.float32)
    for t in range(count):
        w = _maximum(boxes[t, 2] - boxes[t, 0], _F32_ZERO)
        area[t] = w * _maximum(boxes[t, 3] - boxes[t, 1], _F32_ZERO)
    order = _stable_order(group, score)
    kept = np.empty(count, np.int64)
    n_kept, start = 0, 0
    while start < count:  # one group: order[start:end]
        end = start + 1
        while end < count and group[order[end]] == group[order[start]]:
            end += 1
        group_first = n_kept
        for position in range(start, end):
            i = order[position]
            suppressed = False
            for q in range(group_first, n_kept):  # the group's kept boxes, in order
                j = kept[q]
                iou = _iou(
                    boxes[j, 0],
                    boxes[j, 1],
                    boxes[j, 2],
                    boxes[j, 3],
                    area[j],
                    boxes[i, 0],
                    boxes[i, 1],
                    boxes[i, 2],
                    boxes[i, 3],
                    area[i],
                )
                if iou > iou_threshold:  # the float32 IoU, compared in float64
                    suppressed = True
                    break
            if not suppressed:
                kept[n_kept] = i
                n_kept += 1
        start = end
    return kept[:n_kept]


@njit(cache=True, nogil=True)
def _output_rows(kept: I64, slot: I64, score: F32, max_detections: int) -> I64:
    """``kept`` in the order ``np.lexsort((-score[kept], slot[kept]))``, at most
    ``max_detections`` per slot."""
    kept_slot = np.empty(len(kept), np.int64)
    kept_score = np.empty(len(kept), np.float32)
    for q in range(len(kept)):
        kept_slot[q], kept_score[q] = slot[kept[q]], score[kept[q]]
    order = _stable_order(kept_slot, kept_score)
    rows = np.empty(len(kept), np.int64)
    n_rows, rank = 0, 0
    for q in range(len(kept)):
        rank = rank + 1 if q > 0 and kept_slot[order[q]] == kept_slot[order[q - 1]] else 0
        if rank < max_detections:
            rows[n_rows] = kept[order[q]]
            n_rows += 1
    return rows[:n_rows]


# Compiled at import (explicit signature): every function it calls is defined above.
@njit(SIGNATURE, cache=True, nogil=True)
def finish(
    xywh: F32,
    score: F32,
    slot: I64,
    class_id: I64,
    scale: F32,
    pad_xy: F32,
    source_wh: F32,
    num_classes: int,
    iou_threshold: float,
    max_candidates: int,
    max_detections: int,
) -> tuple[bool, F32, F32, I32, I32]:
    """Candidates -> detections; see :func:`visionflow.inference.postprocess.finish`.

    Args:
        xywh: ``[N, 4]`` candidate boxes ``cx, cy, w, h`` in model-input pixels.
        score: ``[N]`` their scores.
        slot: ``[N]`` their batch slots.
        class_id: ``[N]`` their classes.
        scale: ``[B]`` the letterbox scale of each slot.
        pad_xy: ``[B, 2]`` the letterbox padding of each slot.
        source_wh: ``[B, 2]`` the source size of each slot.
        num_classes: ``C``; NMS groups are ``slot * C + class``.
        iou_threshold: suppress above this (see the module docstring).
        max_candidates: top-k before NMS.
        max_detections: most detections per slot.

    Returns:
        ``(handled, xyxy [M, 4], confidence [M], class_id [M] int32, slot [M]
        int32)``, sorted by slot then descending confidence. ``handled`` is
        ``False`` (and the arrays empty) when the shapes disagree or a slot
        is outside the geometry: the caller runs the NumPy code instead.
    """
    n, batch = len(score), len(scale)
    if (
        xywh.shape[0] != n
        or xywh.shape[1] != 4
        or len(slot) != n
        or len(class_id) != n
        or pad_xy.shape[0] != batch
        or pad_xy.shape[1] != 2
        or source_wh.shape[0] != batch
        or source_wh.shape[1] != 2
    ):
        return _unhandled()
    # top-k: np.argsort(-score, kind="stable")[:max_candidates] (a copy: one sort specialisation)
    top = _stable_order(np.zeros(n, np.int64), score.copy())[: max(min(n, max_candidates), 0)]
    rows = _geometry_rows(slot, top, batch)
    if len(rows) and rows[0] < 0:
        return _unhandled()
    boxes = _source_boxes(xywh, top, rows, (scale, pad_xy, source_wh))
    count = len(top)
    top_score = np.empty(count, np.float32)
    top_slot = np.empty(count, np.int64)
    group = np.empty(count, np.int64)
    for t in range(count):
        top_score[t], top_slot[t] = score[top[t]], slot[top[t]]
        group[t] = slot[top[t]] * num_classes + class_id[top[t]]
    kept = _greedy_nms(boxes, top_score, group, iou_threshold)
    out = _output_rows(kept, top_slot, top_score, max_detections)
    out_xyxy = np.empty((len(out), 4), np.float32)
    out_score = np.empty(len(out), np.float32)
    out_class = np.empty(len(out), np.int32)
    out_slot = np.empty(len(out), np.int32)
    for r in range(len(out)):
        t = out[r]
        for c in range(4):
            out_xyxy[r, c] = boxes[t, c]
        out_score[r] = top_score[t]
        out_class[r] = np.int32(class_id[top[t]])  # astype(np.int32): wraps
        out_slot[r] = np.int32(top_slot[t])
    return True, out_xyxy, out_score, out_class, out_slot
