"""Object detection: letterbox pre-processing, model backends, YOLO decoding and NMS.

The usual entry point is :class:`Detector`::

    detector = Detector.from_darknet(cfg, weights, names, cache_dir="~/.cache/visionflow")
    detections = detector.detect([frame_rgb, other_frame_rgb])

ONNX Runtime and ONNX are imported on first use, not by this package.
"""

from __future__ import annotations

from visionflow.inference.backends import InferenceBackend, available_backends
from visionflow.inference.darknet import (
    EXPORTER_VERSION,
    DarknetSection,
    DarknetWeights,
    export_darknet_onnx,
    fix_yolov3_tiny_mask,
    load_cfg,
    parse_cfg,
    read_weights,
)
from visionflow.inference.detector import Detector, StageTimings, load_class_names
from visionflow.inference.nms import batched_nms
from visionflow.inference.postprocess import Layout, PostprocessConfig, detect_layout, postprocess
from visionflow.inference.preprocess import Letterboxer, LetterboxGeometry

__all__ = [
    "EXPORTER_VERSION",
    "DarknetSection",
    "DarknetWeights",
    "Detector",
    "InferenceBackend",
    "Layout",
    "LetterboxGeometry",
    "Letterboxer",
    "PostprocessConfig",
    "StageTimings",
    "available_backends",
    "batched_nms",
    "detect_layout",
    "export_darknet_onnx",
    "fix_yolov3_tiny_mask",
    "load_cfg",
    "load_class_names",
    "parse_cfg",
    "postprocess",
    "read_weights",
]
