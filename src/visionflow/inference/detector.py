"""The object detector: letterbox -> model -> decode + NMS, one call per batch."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from visionflow.errors import ModelNotFoundError
from visionflow.inference.backends import InferenceBackend
from visionflow.inference.postprocess import PostprocessConfig, detect_layout, postprocess
from visionflow.inference.preprocess import Letterboxer
from visionflow.types import Detections, Frame, ImageRGB

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Wall time of the stages of one :meth:`Detector.detect` call, in seconds."""

    preprocess_s: float = 0.0
    inference_s: float = 0.0
    postprocess_s: float = 0.0

    @property
    def total_s(self) -> float:
        """Sum of the three stages, in seconds."""
        return self.preprocess_s + self.inference_s + self.postprocess_s


def load_class_names(path: PathLike) -> list[str]:
    """Class names, one per non-empty line (Darknet ``.names`` format).

    Raises:
        ModelNotFoundError: ``path`` does not exist.
    """
    names_path = Path(path)
    if not names_path.is_file():
        raise ModelNotFoundError(f"names_path={str(path)!r} does not exist or is not a file")
    return [
        line.strip() for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


class Detector:
    """Detects objects in batches of RGB frames.

    Build one with :meth:`from_darknet` or :meth:`from_onnx`. Not thread-safe:
    it reuses one input buffer; use one detector per inference thread.

    Args:
        backend: a loaded model (see :mod:`visionflow.inference.backends`).
        class_names: label of each class id; its length is the model's ``C``.
        input_size_wh: model input ``(width, height)`` in pixels.
        config: thresholds for decoding and NMS.

    Attributes:
        class_names: label of each class id.
        input_size_wh: model input ``(width, height)`` in pixels.
        last_timings: stage timings of the last :meth:`detect` call.
    """

    def __init__(
        self,
        backend: InferenceBackend,
        class_names: Sequence[str],
        input_size_wh: tuple[int, int],
        config: PostprocessConfig,
    ) -> None:
        self.class_names = list(class_names)
        self.input_size_wh = input_size_wh
        self.config = config
        self.layout = detect_layout(backend.output_shape, len(self.class_names))
        self.last_timings = StageTimings()
        self._backend = backend
        self._letterbox = Letterboxer(input_size_wh)

    @classmethod
    def from_darknet(
        cls,
        cfg_path: PathLike,
        weights_path: PathLike,
        class_names: PathLike | Sequence[str],
        *,
        input_size_wh: tuple[int, int] = (416, 416),
        cache_dir: PathLike,
        fix_tiny_mask: bool = True,
        confidence: float = 0.25,
        nms_iou: float = 0.45,
        class_ids: Collection[int] | None = None,
        max_detections: int = 300,
        threads: int = 0,
    ) -> Detector:
        """Export a Darknet model to ONNX (cached in ``cache_dir``) and load it.

        Args:
            cfg_path: Darknet ``.cfg``.
            weights_path: Darknet ``.weights``.
            class_names: a ``.names`` file (one class per line) or the list of labels.
            input_size_wh: network input ``(width, height)``, multiples of 32.
            cache_dir: where exported ``.onnx`` files are kept.
            fix_tiny_mask: apply the YOLOv3-tiny cfg fix (see :mod:`.darknet`).
            confidence: score threshold in ``[0, 1]`` (score = objectness x class).
            nms_iou: IoU above which a box is suppressed (per image and class).
            class_ids: keep only these class ids; ``None`` keeps all.
            max_detections: most boxes per image.
            threads: ONNX Runtime intra-op threads; 0 = one per core.
        """
        from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend
        from visionflow.inference.darknet import export_darknet_onnx

        names = _labels(class_names)
        onnx_path = export_darknet_onnx(
            cfg_path, weights_path, input_size_wh, cache_dir, fix_tiny_mask=fix_tiny_mask
        )
        backend = OnnxRuntimeBackend(onnx_path, threads=threads)
        config = PostprocessConfig(confidence, nms_iou, _frozen(class_ids), max_detections)
        return cls(backend, names, input_size_wh, config)

    @classmethod
    def from_onnx(
        cls,
        onnx_path: PathLike,
        class_names: PathLike | Sequence[str],
        *,
        input_size_wh: tuple[int, int] = (640, 640),
        confidence: float = 0.25,
        nms_iou: float = 0.45,
        class_ids: Collection[int] | None = None,
        max_detections: int = 300,
        threads: int = 0,
    ) -> Detector:
        """Load a YOLOv5 / YOLOv8 / YOLO11 ONNX export (layout detected from its output).

        Args:
            onnx_path: the ``.onnx`` file, input ``[B, 3, H, W]`` RGB ``0..1``.
            class_names: a ``.names`` file path or the list of labels.
            input_size_wh: used only when the model's ``H`` or ``W`` is dynamic.
            confidence: score threshold in ``[0, 1]``.
            nms_iou: IoU above which a box is suppressed (per image and class).
            class_ids: keep only these class ids; ``None`` keeps all.
            max_detections: most boxes per image.
            threads: ONNX Runtime intra-op threads; 0 = one per core.
        """
        from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend

        names = _labels(class_names)
        backend = OnnxRuntimeBackend(onnx_path, threads=threads)
        size_wh = _model_input_wh(backend.input_shape, input_size_wh)
        config = PostprocessConfig(confidence, nms_iou, _frozen(class_ids), max_detections)
        return cls(backend, names, size_wh, config)

    def detect_frames(self, frames: Sequence[Frame]) -> Detections:
        """Detect on pipeline frames (their ``image_rgb``); see :meth:`detect`."""
        return self.detect([f.image_rgb for f in frames])

    def detect(self, images: Sequence[ImageRGB]) -> Detections:
        """Detect objects in a batch of frames.

        Args:
            images: RGB uint8 ``[H, W, 3]`` frames, sizes may differ.

        Returns:
            Boxes in each frame's own pixels; ``frame_index`` is the position
            in ``images``. Sorted by frame, then descending confidence.
        """
        if not images:
            self.last_timings = StageTimings()
            return Detections.empty()
        start = time.perf_counter()
        batch, geometry = self._letterbox(images)
        preprocessed = time.perf_counter()
        raw = self._backend.run(batch)
        inferred = time.perf_counter()
        detections = postprocess(
            raw, geometry, layout=self.layout, num_classes=len(self.class_names), config=self.config
        )
        done = time.perf_counter()
        self.last_timings = StageTimings(
            preprocessed - start, inferred - preprocessed, done - inferred
        )
        return detections


def _labels(class_names: PathLike | Sequence[str]) -> list[str]:
    """Labels from a ``.names`` file path, or the given sequence as a list."""
    if isinstance(class_names, (str, os.PathLike)):
        return load_class_names(class_names)
    return list(class_names)


def _frozen(class_ids: Collection[int] | None) -> frozenset[int] | None:
    return None if class_ids is None else frozenset(int(c) for c in class_ids)


def _model_input_wh(
    shape: tuple[int | str | None, ...], fallback_wh: tuple[int, int]
) -> tuple[int, int]:
    height, width = shape[2], shape[3]
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    logger.info("model input %s has a dynamic size, using input_size_wh=%s", shape, fallback_wh)
    if any(v % 32 for v in fallback_wh):
        raise ValueError(f"input_size_wh={fallback_wh!r} must be multiples of 32 (model stride)")
    return fallback_wh
