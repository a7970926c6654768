"""The compiled ``finish`` (numba kernel) against the NumPy reference, bit for bit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionflow.inference import Letterboxer, export_darknet_onnx
from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend
from visionflow.inference.nms import _pair_iou
from visionflow.inference.postprocess import (
    Candidates,
    PostprocessConfig,
    _decode,
    finish,
    warm_up,
    xywh_to_xyxy,
)
from visionflow.inference.preprocess import LetterboxGeometry
from visionflow.types import Detections

FIELDS = ("xyxy", "confidence", "class_id", "frame_index", "track_id")


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warm_up()


def _assert_same(got: Detections, expected: Detections) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype, name
        assert a.shape == b.shape, name
        assert a.flags.c_contiguous, name
        if a.dtype == np.float32:  # bit for bit: NaN payloads and signed zeros too
            a, b = a.view(np.uint32), b.view(np.uint32)
        np.testing.assert_array_equal(a, b, err_msg=name)


def _check(
    found: Candidates, geometry: LetterboxGeometry, num_classes: int, config: PostprocessConfig
) -> Detections:
    """Both ``finish`` paths on the same input; returns the (equal) result."""
    expected = finish(found, geometry, num_classes=num_classes, config=config, compiled=False)
    got = finish(found, geometry, num_classes=num_classes, config=config)
    _assert_same(got, expected)
    return got


def _geometry(rng: np.random.Generator, slots: int) -> LetterboxGeometry:
    """A different letterbox per slot: scale, padding and source size."""
    return LetterboxGeometry(
        rng.uniform(0.2, 3.0, slots).astype(np.float32),
        rng.uniform(0.0, 80.0, (slots, 2)).astype(np.float32),
        rng.uniform(50.0, 1000.0, (slots, 2)).astype(np.float32),
    )


def _candidates(
    rng: np.random.Generator, count: int, slots: int, classes: int, *, shuffled: bool = False
) -> Candidates:
    """Hard cases on purpose: clusters of heavily overlapping boxes, exact score ties,
    duplicate rows, zero-width / zero-height / zero-area boxes, boxes (partly) outside
    the model input so that clipping bites."""
    centres = rng.uniform(-60.0, 480.0, (max(count // 4, 1), 2))
    xy = centres[rng.integers(0, len(centres), count)] + rng.normal(0.0, 6.0, (count, 2))
    wh = rng.uniform(0.0, 120.0, (count, 2))
    wh[rng.random((count, 2)) < 0.08] = 0.0
    xywh = np.concatenate([xy, wh], axis=1).astype(np.float32)
    score = rng.choice(rng.uniform(0.25, 1.0, max(count // 3, 1)), count).astype(np.float32)
    slot = np.sort(rng.integers(0, slots, count))
    class_id = rng.integers(0, classes, count)
    duplicates = rng.random(count) < 0.1
    source = rng.integers(0, count, count)
    xywh[duplicates] = xywh[source[duplicates]]
    slot[duplicates] = slot[source[duplicates]]
    class_id[duplicates] = class_id[source[duplicates]]
    order = rng.permutation(count) if shuffled else np.arange(count)
    return Candidates(slot[order], xywh[order], score[order], class_id[order])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("iou", [0.0, 0.3, 0.45, 1.0])
def test_random_batches(seed: int, iou: float) -> None:
    rng = np.random.default_rng(seed)
    slots, classes = int(rng.integers(1, 40)), int(rng.integers(1, 6))
    found = _candidates(rng, int(rng.integers(50, 600)), slots, classes, shuffled=seed % 2 == 1)
    geometry = _geometry(rng, slots)
    result = _check(found, geometry, classes, PostprocessConfig(nms_iou=iou))
    if iou < 1.0:
        assert len(result) < len(found.score)  # NMS suppressed something


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("max_candidates", "max_detections"), [(1, 300), (7, 300), (4096, 1), (40, 3), (2, 1)]
)
def test_caps(seed: int, max_candidates: int, max_detections: int) -> None:
    rng = np.random.default_rng(100 + seed)
    found = _candidates(rng, 300, 5, 3)
    config = PostprocessConfig(
        nms_iou=0.45, max_candidates=max_candidates, max_detections=max_detections
    )
    result = _check(found, _geometry(rng, 5), 3, config)
    assert len(result) <= max_candidates
    assert np.all(np.bincount(result.frame_index) <= max_detections)


def test_empty_input() -> None:
    found = Candidates(
        np.zeros(0, np.intp),
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.float32),
        np.zeros(0, np.intp),
    )
    result = _check(found, _geometry(np.random.default_rng(0), 2), 80, PostprocessConfig())
    assert len(result) == 0
    assert result.xyxy.shape == (0, 4)


def test_single_candidate() -> None:
    found = Candidates(
        np.array([1]), np.float32([[50, 40, 30, 20]]), np.float32([0.5]), np.array([7])
    )
    result = _check(found, _geometry(np.random.default_rng(1), 3), 80, PostprocessConfig())
    assert result.frame_index.tolist() == [1]
    assert result.class_id.tolist() == [7]


def test_identical_zero_area_boxes_are_not_suppressed() -> None:
    """union == 0: IoU 0, so even threshold 0 keeps both (NumPy's ``where=union > 0``)."""
    xywh = np.float32([[10, 10, 0, 5], [10, 10, 0, 5], [20, 20, 0, 0], [20, 20, 0, 0]])
    found = Candidates(
        np.zeros(4, np.intp), xywh, np.float32([0.9, 0.9, 0.8, 0.8]), np.zeros(4, np.intp)
    )
    geometry = LetterboxGeometry(
        np.ones(1, np.float32), np.zeros((1, 2), np.float32), np.full((1, 2), 100, np.float32)
    )
    assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=0.0))) == 4


def test_score_ties_keep_numpy_order() -> None:
    """Equal scores: top-k by input order, the output by class (group), then position."""
    xywh = np.float32([[10, 10, 5, 5], [30, 30, 5, 5], [50, 50, 5, 5], [70, 70, 5, 5]] * 2)
    found = Candidates(
        np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        xywh,
        np.full(8, 0.5, np.float32),
        np.array([3, 1, 2, 1, 0, 2, 0, 1]),
    )
    geometry = _geometry(np.random.default_rng(2), 2)
    for max_candidates in (8, 5, 3):
        config = PostprocessConfig(max_candidates=max_candidates)
        result = _check(found, geometry, 4, config)
    assert result.class_id.tolist() == [1, 2, 3]


def test_negative_zero_and_nan_scores() -> None:
    score = np.float32([0.0, -0.0, np.nan, 0.5, np.nan, -0.0, 0.5])
    found = Candidates(
        np.zeros(7, np.intp),
        np.float32([[10 * i, 5, 4, 4] for i in range(7)]),
        score,
        np.zeros(7, np.intp),
    )
    geometry = _geometry(np.random.default_rng(3), 1)
    for max_candidates in (7, 4, 1):
        _check(found, geometry, 1, PostprocessConfig(max_candidates=max_candidates))


def test_nan_and_infinite_boxes() -> None:
    xywh = np.float32(
        [
            [np.nan, 5, 4, 4],
            [10, 10, np.inf, 4],
            [np.inf, 10, np.inf, 4],
            [10, 10, 8, 8],
            [-np.inf, 3, 2, 2],
        ]
    )
    found = Candidates(
        np.zeros(5, np.intp), xywh, np.float32([0.9, 0.8, 0.7, 0.6, 0.5]), np.zeros(5, np.intp)
    )
    geometry = _geometry(np.random.default_rng(4), 1)
    for iou in (0.0, 0.45):
        with np.errstate(invalid="ignore"):  # inf - inf in the NumPy code
            _check(found, geometry, 1, PostprocessConfig(nms_iou=iou))


def _pair_at_iou() -> tuple[Candidates, LetterboxGeometry, float]:
    """Two overlapping same-class boxes (identity letterbox) and their float32 IoU."""
    xywh = np.float32([[50, 50, 40, 30], [58, 53, 36, 33]])
    found = Candidates(np.zeros(2, np.intp), xywh, np.float32([0.9, 0.8]), np.zeros(2, np.intp))
    geometry = LetterboxGeometry(
        np.ones(1, np.float32), np.zeros((1, 2), np.float32), np.full((1, 2), 1000, np.float32)
    )
    boxes = geometry.to_source(xywh_to_xyxy(xywh), found.slot)
    return found, geometry, float(_pair_iou(boxes, np.array([0]), np.array([1]))[0])


def test_threshold_equal_to_iou_keeps_both() -> None:
    """Suppression needs IoU strictly above the threshold."""
    found, geometry, iou = _pair_at_iou()
    assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=iou))) == 2
    below = float(np.nextafter(np.float32(iou), np.float32(0)))
    assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=below))) == 1


def test_iou_exact_to_the_last_bit() -> None:
    """Thresholds at each pair's float32 IoU and one float32 step below: suppression
    flips there, so an IoU off by one ulp either way (float64 arithmetic, another
    order of the operations) changes the result."""
    rng = np.random.default_rng(8)
    geometry = _geometry(rng, 1)
    for _ in range(60):
        xywh = np.float32([[100, 100, 60, 50], [100, 100, 60, 50]])
        xywh += rng.normal(0, 12, (2, 4)).astype(np.float32)
        found = Candidates(np.zeros(2, np.intp), xywh, np.float32([0.9, 0.8]), np.zeros(2, np.intp))
        boxes = geometry.to_source(xywh_to_xyxy(xywh), found.slot)
        iou = _pair_iou(boxes, np.array([0]), np.array([1]))[0]
        if not 0 < iou < 1:
            continue
        below = np.nextafter(iou, np.float32(0))
        assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=float(iou)))) == 2
        assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=float(below)))) == 1


def test_threshold_compared_in_float32_like_numpy() -> None:
    """NEP 50: NumPy compares the float32 IoU with a Python float in float32, but with
    a NumPy float64 scalar in float64."""
    found, geometry, iou = _pair_at_iou()
    just_below = iou - float(np.spacing(np.float32(iou))) / 4  # rounds to ``iou`` in float32
    assert np.float32(just_below) == np.float32(iou)
    assert len(_check(found, geometry, 1, PostprocessConfig(nms_iou=just_below))) == 2
    as_float64 = PostprocessConfig(nms_iou=np.float64(just_below))
    assert len(_check(found, geometry, 1, as_float64)) == 1
    as_float32 = PostprocessConfig(nms_iou=np.float32(just_below))
    assert len(_check(found, geometry, 1, as_float32)) == 2


def test_class_ids_beyond_num_classes_share_groups_like_numpy() -> None:
    """Groups are ``slot * C + class``: slot 0 class 2 and slot 1 class 0 collide at C=2."""
    xywh = np.float32([[50, 50, 40, 40], [52, 50, 40, 40]])
    found = Candidates(np.array([0, 1]), xywh, np.float32([0.9, 0.8]), np.array([2, 0]))
    geometry = LetterboxGeometry(
        np.ones(2, np.float32), np.zeros((2, 2), np.float32), np.full((2, 2), 1000, np.float32)
    )
    assert len(_check(found, geometry, 2, PostprocessConfig())) == 1


def test_negative_slot_indexes_from_the_end() -> None:
    found = Candidates(
        np.array([-1, 0]),
        np.float32([[50, 50, 40, 40], [50, 50, 40, 40]]),
        np.float32([0.9, 0.8]),
        np.zeros(2, np.intp),
    )
    _check(found, _geometry(np.random.default_rng(5), 2), 1, PostprocessConfig())


def test_slot_outside_geometry_raises_numpys_error() -> None:
    found = Candidates(
        np.array([0, 3]), np.ones((2, 4), np.float32), np.float32([0.9, 0.8]), np.zeros(2, np.intp)
    )
    geometry = _geometry(np.random.default_rng(6), 2)
    with pytest.raises(IndexError):
        finish(found, geometry, num_classes=1, config=PostprocessConfig(), compiled=False)
    with pytest.raises(IndexError):
        finish(found, geometry, num_classes=1, config=PostprocessConfig())
    # a slot only among the candidates that top-k drops is never looked up
    _check(found, geometry, 1, PostprocessConfig(max_candidates=1))


@pytest.mark.parametrize("broken", ["xywh-columns", "score-short", "slot-short"])
def test_inconsistent_shapes_behave_like_numpy(broken: str) -> None:
    """The kernel leaves these to the NumPy code: the same error, or the same result
    where NumPy indexes its way through (a short score array)."""
    rng = np.random.default_rng(9)
    found, geometry = _candidates(rng, 20, 2, 3), _geometry(rng, 2)
    slot, xywh, score, class_id = found.slot, found.xywh, found.score, found.class_id
    if broken == "xywh-columns":
        xywh = np.ones((20, 5), np.float32)
    elif broken == "score-short":
        score = score[:-3]
    else:
        slot = slot[:-3]
    found = Candidates(slot, xywh, score, class_id)
    try:
        expected = finish(
            found, geometry, num_classes=3, config=PostprocessConfig(), compiled=False
        )
    except Exception as error:  # whichever NumPy raises
        with pytest.raises(type(error)):
            finish(found, geometry, num_classes=3, config=PostprocessConfig())
    else:
        _assert_same(finish(found, geometry, num_classes=3, config=PostprocessConfig()), expected)


@pytest.mark.parametrize(
    "change",
    ["xywh-float64", "score-float64", "slot-int32", "geometry-float64", "strided"],
)
def test_other_dtypes_and_layouts(change: str) -> None:
    rng = np.random.default_rng(7)
    found, geometry = _candidates(rng, 200, 4, 3), _geometry(rng, 4)
    slot, xywh, score, class_id = found.slot, found.xywh, found.score, found.class_id
    if change == "xywh-float64":
        xywh = xywh.astype(np.float64) + 1e-4
    elif change == "score-float64":
        score = score.astype(np.float64) + 1e-9
    elif change == "slot-int32":
        slot, class_id = slot.astype(np.int32), class_id.astype(np.int32)
    elif change == "geometry-float64":
        geometry = LetterboxGeometry(
            *(a.astype(np.float64) for a in (geometry.scale, geometry.pad_xy, geometry.source_wh))
        )
    else:  # views as the GPU path gathers them: one [N, 7] block, columns sliced out
        block = np.concatenate([xywh, score[:, None], class_id[:, None], slot[:, None]], axis=1)
        xywh, score = block[:, :4], block[:, 4]
        slot, class_id = np.asarray(found.slot), np.asarray(found.class_id)
    _check(Candidates(slot, xywh, score, class_id), geometry, 3, PostprocessConfig())


_coordinate = st.sampled_from([-20.0, 0.0, 0.5, 3.0, 10.0, 10.5, 25.0, 60.0, 130.0])
_size = st.sampled_from([0.0, 1.0, 4.0, 9.0, 20.0, 41.0])
_row = st.tuples(
    st.integers(0, 3),  # slot
    _coordinate,
    _coordinate,
    _size,
    _size,
    st.sampled_from([0.3, 0.5, 0.5, 0.75, 0.9]),  # score: ties likely
    st.integers(0, 2),  # class
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(_row, max_size=40),
    iou=st.one_of(st.sampled_from([0.0, 0.3, 0.45, 0.5, 1.0]), st.floats(0.0, 1.0)),
    caps=st.tuples(st.integers(1, 45), st.integers(1, 12)),  # max_candidates, max_detections
    sorted_slots=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_matches_numpy(
    rows: list[tuple[int, float, float, float, float, float, int]],
    iou: float,
    caps: tuple[int, int],
    sorted_slots: bool,
    seed: int,
) -> None:
    if sorted_slots:
        rows = sorted(rows, key=lambda row: row[0])
    table = np.array(rows, np.float64).reshape(-1, 7)
    found = Candidates(
        table[:, 0].astype(np.intp),
        table[:, 1:5].astype(np.float32),
        table[:, 5].astype(np.float32),
        table[:, 6].astype(np.intp),
    )
    config = PostprocessConfig(nms_iou=iou, max_candidates=caps[0], max_detections=caps[1])
    _check(found, _geometry(np.random.default_rng(seed), 4), 3, config)


@pytest.mark.parametrize(
    ("confidence", "max_candidates"), [(0.25, 4096), (0.01, 4096), (0.01, 300)]
)
def test_real_model_candidates(
    real_files: tuple[Path, Path, Path],
    cache_dir: Path,
    vtest_frames: dict[int, np.ndarray],
    confidence: float,
    max_candidates: int,
) -> None:
    """YOLOv3-tiny on vtest frames: the second frame cropped for a different letterbox."""
    model = export_darknet_onnx(real_files[0], real_files[1], (416, 416), cache_dir)
    images = [
        vtest_frames[0],
        vtest_frames[200],
        np.ascontiguousarray(vtest_frames[200][:, 100:500]),
    ]
    batch, geometry = Letterboxer((416, 416))(images)
    raw = OnnxRuntimeBackend(model, threads=1).run(batch)
    found = _decode(raw, "yolov5", 80, confidence)
    assert len(found.score) > 10
    result = _check(
        found, geometry, 80, PostprocessConfig(confidence=confidence, max_candidates=max_candidates)
    )
    assert set(result.frame_index.tolist()) == {0, 1, 2}


def test_import_does_not_load_numba() -> None:
    code = "import sys, visionflow, visionflow.inference; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
