"""Decode YOLO model outputs into :class:`~visionflow.types.Detections`.

Two output layouts are recognised from the shape and the class count ``C``:

* ``"yolov5"``: ``[B, N, 5 + C]`` rows ``cx, cy, w, h, objectness, p_0..p_C-1``;
  score = objectness x class probability (also the Darknet export).
* ``"yolov8"``: ``[B, 4 + C, N]`` (transposed!) ``cx, cy, w, h, s_0..s_C-1``
  without objectness; score = class score (YOLOv8 / YOLO11 exports).

Boxes are in model-input pixels. The whole batch is decoded, filtered,
mapped back through the letterbox and suppressed (class-aware, per image)
with a handful of NumPy calls; there is no Python loop over boxes, classes
or images. :func:`finish` (top-k, letterbox mapping, NMS, order and cap) runs
as one compiled call (:mod:`~visionflow.inference._finish_kernel`, the same
results value for value); ``finish(..., compiled=False)`` runs the NumPy code
below, the reference.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from visionflow.errors import ModelFormatError
from visionflow.inference.nms import batched_nms, group_ranks
from visionflow.inference.preprocess import LetterboxGeometry
from visionflow.types import Detections, FloatArray

log = logging.getLogger(__name__)

Layout = Literal["yolov5", "yolov8"]

_F32, _I64 = np.dtype(np.float32), np.dtype(np.int64)


def detect_layout(shape: tuple[int | str | None, ...], num_classes: int) -> Layout:
    """Recognise the output layout from its shape.

    Args:
        shape: output shape; symbolic or unknown dims may be ``str``/``None``.
        num_classes: ``C``, the number of class names.

    Raises:
        ModelFormatError: the shape is neither ``[B, N, 5+C]`` nor ``[B, 4+C, N]``.
    """
    if len(shape) == 3 and shape[2] == 5 + num_classes:
        return "yolov5"
    if len(shape) == 3 and shape[1] == 4 + num_classes:
        return "yolov8"
    raise ModelFormatError(
        f"model output shape {tuple(shape)} is not a known YOLO layout for {num_classes} classes: "
        f"expected [B, N, {5 + num_classes}] (YOLOv5: xywh, objectness, classes) or "
        f"[B, {4 + num_classes}, N] (YOLOv8/11: xywh, classes); do the class names match the model?"
    )


@dataclass(frozen=True, slots=True)
class PostprocessConfig:
    """Thresholds for :func:`postprocess`.

    Attributes:
        confidence: keep boxes whose score is strictly above this, in ``[0, 1]``.
        nms_iou: suppress a box whose IoU with a kept one of the same image and
            class is strictly above this.
        class_ids: keep only these class ids; ``None`` keeps all.
        max_detections: most boxes kept per image (highest scores).
        max_candidates: most boxes per batch entering NMS (highest scores);
            bounds NMS memory, which grows with the square of same-class boxes.
    """

    confidence: float = 0.25
    nms_iou: float = 0.45
    class_ids: frozenset[int] | None = None
    max_detections: int = 300
    max_candidates: int = 4096

    def __post_init__(self) -> None:
        for name in ("confidence", "nms_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in [0, 1]")
        for name in ("max_detections", "max_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")
        if self.class_ids is not None:
            object.__setattr__(self, "class_ids", frozenset(int(c) for c in self.class_ids))


@dataclass(frozen=True, slots=True)
class Candidates:
    """Boxes that passed the confidence (and class) test: batch slot, ``cx, cy, w, h``
    in model-input pixels, score and class, one row each."""

    slot: npt.NDArray[np.intp]
    xywh: FloatArray
    score: FloatArray
    class_id: npt.NDArray[np.intp]

    def __getitem__(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Candidates:
        return Candidates(
            self.slot[index], self.xywh[index], self.score[index], self.class_id[index]
        )


def postprocess(
    raw: npt.NDArray[np.floating],
    geometry: LetterboxGeometry,
    *,
    layout: Layout,
    num_classes: int,
    config: PostprocessConfig,
) -> Detections:
    """Turn a raw batch output into detections in source-frame pixels.

    Args:
        raw: the model output, ``[B, N, 5+C]`` or ``[B, 4+C, N]``.
        geometry: the letterbox geometry of the same batch.
        layout: from :func:`detect_layout`.
        num_classes: ``C``.
        config: thresholds.

    Returns:
        Detections sorted by batch slot, then descending confidence;
        ``frame_index`` is the batch slot.
    """
    found = _decode(raw, layout, num_classes, config.confidence)
    if config.class_ids is not None:
        found = found[np.isin(found.class_id, np.fromiter(config.class_ids, np.intp))]
    return finish(found, geometry, num_classes=num_classes, config=config)


def finish(
    found: Candidates,
    geometry: LetterboxGeometry,
    *,
    num_classes: int,
    config: PostprocessConfig,
    compiled: bool = True,
) -> Detections:
    """Candidates that passed the thresholds -> detections: top-k, NMS, per-image cap.

    Args:
        found: the candidates in (slot, anchor) order, as :func:`postprocess` decodes them.
        geometry: the letterbox geometry of their batch.
        num_classes: ``C`` (NMS groups are ``slot * C + class``).
        config: thresholds.
        compiled: run the compiled kernel (the first call compiles it or loads it from
            numba's cache: see :func:`warm_up`); ``False`` runs the NumPy code. Both give
            the same detections, bit for bit. Inputs the kernel does not take (float
            arrays other than float32, slots or classes other than int64, shapes that
            disagree, a slot outside ``geometry``) run the NumPy code either way.
    """
    if compiled:
        threshold = _kernel_threshold(config.nms_iou)
        if threshold is not None and _kernel_dtypes(found, geometry):
            from visionflow.inference import _finish_kernel as kernel

            handled, xyxy, score, class_id, slot = kernel.finish(
                found.xywh,
                found.score,
                found.slot,
                found.class_id,
                geometry.scale,
                geometry.pad_xy,
                geometry.source_wh,
                num_classes,
                threshold,
                config.max_candidates,
                config.max_detections,
            )
            if handled:
                return Detections(xyxy, score, class_id, slot)
    return _finish_numpy(found, geometry, num_classes=num_classes, config=config)


def warm_up() -> None:
    """Compile :func:`finish`'s kernel now (or load it from numba's on-disk cache)
    instead of on the first batch.

    The first compile on a machine takes a few seconds; later processes load the
    cached code in well under a second.
    """
    started = time.perf_counter()
    empty = Candidates(
        np.zeros(0, np.intp),
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.float32),
        np.zeros(0, np.intp),
    )
    geometry = LetterboxGeometry(
        np.ones(1, np.float32), np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    )
    finish(empty, geometry, num_classes=1, config=PostprocessConfig())
    if (seconds := time.perf_counter() - started) > 1.0:
        log.info("compiled the post-processing kernel in %.1f s (cached for later runs)", seconds)


def _kernel_threshold(iou: float) -> float | None:
    """The NMS threshold as the kernel compares it (float64), or ``None`` where NumPy
    would compare in neither float32 nor float64.

    NumPy compares the float32 IoU with a Python number in float32 (NEP 50): the
    kernel gets that float32 value; a NumPy float64 scalar is compared in float64.
    """
    if type(iou) in (float, int):
        return float(np.float32(iou))
    dtype = np.result_type(np.float32, iou)
    if dtype == np.float32:
        return float(np.float32(iou))
    if dtype == np.float64:
        return float(iou)
    return None


def _kernel_dtypes(found: Candidates, geometry: LetterboxGeometry) -> bool:
    """Whether the arrays have the dtypes the kernel takes (NumPy would compute other
    float dtypes in their own precision, so they are not converted)."""
    return (
        found.xywh.dtype,
        found.score.dtype,
        found.slot.dtype,
        found.class_id.dtype,
        geometry.scale.dtype,
        geometry.pad_xy.dtype,
        geometry.source_wh.dtype,
        found.xywh.ndim,
        found.score.ndim,
        found.slot.ndim,
        found.class_id.ndim,
        geometry.scale.ndim,
        geometry.pad_xy.ndim,
        geometry.source_wh.ndim,
    ) == (_F32, _F32, _I64, _I64, _F32, _F32, _F32, 2, 1, 1, 1, 1, 2, 2)


def _finish_numpy(
    found: Candidates, geometry: LetterboxGeometry, *, num_classes: int, config: PostprocessConfig
) -> Detections:
    """:func:`finish` in NumPy (the reference of the compiled kernel)."""
    found = found[np.argsort(-found.score, kind="stable")[: config.max_candidates]]
    xyxy = geometry.to_source(xywh_to_xyxy(found.xywh), found.slot)
    kept = batched_nms(xyxy, found.score, found.slot * num_classes + found.class_id, config.nms_iou)
    kept = kept[np.lexsort((-found.score[kept], found.slot[kept]))]
    kept = kept[group_ranks(found.slot[kept]) < config.max_detections]
    return Detections(
        xyxy[kept],
        found.score[kept],
        found.class_id[kept].astype(np.int32),
        found.slot[kept].astype(np.int32),
    )


def xywh_to_xyxy(xywh: npt.NDArray[np.floating]) -> FloatArray:
    """``[N, 4]`` centre/size boxes to corner boxes."""
    half = xywh[:, 2:] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1).astype(np.float32)


def _decode(
    raw: npt.NDArray[np.floating], layout: Layout, num_classes: int, confidence: float
) -> Candidates:
    if layout == "yolov5":
        return _decode_v5(raw, confidence)
    scores = raw[:, 4 : 4 + num_classes, :]
    best = scores.argmax(axis=1)
    best_score = np.take_along_axis(scores, best[:, None, :], axis=1)[:, 0, :]
    slot, index = np.nonzero(best_score > confidence)
    xywh = raw[slot, :4, index]
    return Candidates(
        slot, xywh.astype(np.float32), best_score[slot, index].astype(np.float32), best[slot, index]
    )


def _decode_v5(raw: npt.NDArray[np.floating], confidence: float) -> Candidates:
    # score = obj * p <= obj, so rows with obj <= confidence can never pass.
    slot, index = np.nonzero(raw[:, :, 4] > confidence)
    rows = raw[slot, index]
    best = rows[:, 5:].argmax(axis=1)
    score = (rows[:, 4] * rows[np.arange(len(rows)), 5 + best]).astype(np.float32)
    passed = score > confidence
    return Candidates(slot, rows[:, :4].astype(np.float32), score, best)[passed]
