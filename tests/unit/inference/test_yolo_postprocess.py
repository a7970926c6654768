"""Output layout detection and batch decoding of YOLOv5 / YOLOv8 outputs."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ModelFormatError
from visionflow.inference import Letterboxer, PostprocessConfig, detect_layout, postprocess
from visionflow.inference.preprocess import LetterboxGeometry


@pytest.mark.parametrize(
    ("shape", "classes", "layout"),
    [
        ((1, 2535, 85), 80, "yolov5"),
        (("batch", "boxes", 85), 80, "yolov5"),
        ((4, 25200, 85), 80, "yolov5"),
        ((1, 84, 8400), 80, "yolov8"),
        (("batch", 84, "anchors"), 80, "yolov8"),
        ((2, 6, 2100), 2, "yolov8"),
        ((2, 2100, 7), 2, "yolov5"),
    ],
)
def test_detect_layout(shape: tuple[int | str, ...], classes: int, layout: str) -> None:
    assert detect_layout(shape, classes) == layout


@pytest.mark.parametrize(
    ("shape", "classes"),
    [((1, 2535, 85), 20), ((1, 8400, 84), 80), ((1, 84), 80), ((1, 1, 2535, 85), 80)],
    ids=["wrong-class-count", "v8-not-transposed", "2d", "4d"],
)
def test_detect_layout_rejects(shape: tuple[int, ...], classes: int) -> None:
    with pytest.raises(
        ModelFormatError, match=r"not a known YOLO layout .*expected \[B, N, "
    ) as info:
        detect_layout(shape, classes)
    assert str(shape) in str(info.value)


def _geometry(count: int, size: int = 100) -> LetterboxGeometry:
    return Letterboxer((size, size))([np.zeros((size, size, 3), np.uint8)] * count)[1]


def _random_v5(rng: np.random.Generator, batch: int, boxes: int, classes: int) -> np.ndarray:
    xy = rng.random((batch, boxes, 2)) * 100
    wh = rng.random((batch, boxes, 2)) * 30 + 1
    obj = rng.random((batch, boxes, 1))
    cls = rng.random((batch, boxes, classes))
    return np.concatenate([xy, wh, obj, cls], axis=2).astype(np.float32)


def _v5_to_v8(raw: np.ndarray) -> np.ndarray:
    scores = raw[..., 4:5] * raw[..., 5:]
    return np.concatenate([raw[..., :4], scores], axis=2).transpose(0, 2, 1).copy()


@pytest.mark.parametrize("seed", range(6))
def test_v5_and_v8_layouts_decode_the_same(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = _random_v5(rng, batch=3, boxes=400, classes=4)
    config = PostprocessConfig(confidence=0.3, nms_iou=0.5)
    v5 = postprocess(raw, _geometry(3), layout="yolov5", num_classes=4, config=config)
    v8 = postprocess(_v5_to_v8(raw), _geometry(3), layout="yolov8", num_classes=4, config=config)
    assert len(v5) > 10
    for name in ("xyxy", "confidence", "class_id", "frame_index"):
        np.testing.assert_array_equal(getattr(v5, name), getattr(v8, name))


def test_result_invariants() -> None:
    rng = np.random.default_rng(7)
    raw = _random_v5(rng, batch=4, boxes=500, classes=3)
    config = PostprocessConfig(confidence=0.2, nms_iou=0.45, class_ids={0, 2}, max_detections=5)
    result = postprocess(raw, _geometry(4), layout="yolov5", num_classes=3, config=config)
    assert set(result.class_id.tolist()) <= {0, 2}
    assert np.all(result.confidence > 0.2)
    assert np.all(np.bincount(result.frame_index, minlength=4) <= 5)
    assert np.all(np.diff(result.frame_index) >= 0)
    for slot in range(4):
        assert np.all(np.diff(result.for_frame(slot).confidence) <= 0)
    assert np.all(result.xyxy >= 0)
    assert np.all(result.xyxy <= 100)


def test_score_is_objectness_times_class_and_threshold_is_strict() -> None:
    raw = np.zeros((1, 3, 7), np.float32)
    raw[0, :, :4] = [[10, 10, 4, 4], [50, 50, 4, 4], [80, 80, 4, 4]]
    raw[0, :, 4] = [0.5, 0.8, 1.0]
    raw[0, :, 5:] = [[0.6, 0.9], [0.5, 0.1], [0.2, 0.25]]
    config = PostprocessConfig(confidence=0.25)
    result = postprocess(raw, _geometry(1), layout="yolov5", num_classes=2, config=config)
    np.testing.assert_allclose(result.confidence, [0.45, 0.4])
    np.testing.assert_array_equal(result.class_id, [1, 0])
    np.testing.assert_allclose(result.xyxy[0], [8, 8, 12, 12])


def test_boxes_map_back_through_letterbox() -> None:
    _, geometry = Letterboxer((416, 416))([np.zeros((576, 768, 3), np.uint8)])
    raw = np.zeros((1, 1, 6), np.float32)
    raw[0, 0] = [208, 208, 104, 52, 0.9, 0.9]  # centre of the input, 104 x 52 input px
    result = postprocess(raw, geometry, layout="yolov5", num_classes=1, config=PostprocessConfig())
    np.testing.assert_allclose(result.xyxy, [[288, 240, 480, 336]], rtol=1e-5)


def test_nothing_above_threshold_gives_empty() -> None:
    raw = np.zeros((2, 10, 84), np.float32)
    result = postprocess(
        raw, _geometry(2), layout="yolov8", num_classes=80, config=PostprocessConfig()
    )
    assert len(result) == 0
    assert result.xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    "kwargs",
    [{"confidence": 1.5}, {"nms_iou": -0.1}, {"max_detections": 0}, {"max_candidates": 0}],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PostprocessConfig(**kwargs)  # type: ignore[arg-type]
