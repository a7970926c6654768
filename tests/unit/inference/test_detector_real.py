"""The detector on real YOLOv3-tiny COCO weights and real vtest.mp4 frames.

Expected counts come from a plain OpenCV-DNN run of the same weights with
the YOLOv3-tiny mask fix at 416x416, confidence 0.25, NMS IoU 0.45.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from visionflow.errors import ModelError, ModelFormatError
from visionflow.inference import Detector, available_backends, export_darknet_onnx
from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend

PERSON = 0


@pytest.mark.parametrize(("frame", "persons"), [(0, 3), (200, 7)])
def test_person_counts_on_vtest(
    tiny_detector: Detector, vtest_frames: dict[int, np.ndarray], frame: int, persons: int
) -> None:
    image = vtest_frames[frame]
    result = tiny_detector.detect([image])
    people = result[result.class_id == PERSON]
    assert len(people) == persons
    width, height = people.xyxy[:, 2] - people.xyxy[:, 0], people.xyxy[:, 3] - people.xyxy[:, 1]
    assert np.all(height > width), people.xyxy
    assert np.all(height > 40), people.xyxy  # not half-size boxes (the mask bug)
    assert np.all(people.xyxy >= 0)
    assert np.all(people.xyxy[:, [0, 2]] <= image.shape[1])
    assert np.all(people.xyxy[:, [1, 3]] <= image.shape[0])
    assert np.all(result.frame_index == 0)


def test_class_filter_keeps_only_persons(
    real_files: tuple[Path, Path, Path], cache_dir: Path, vtest_frames: dict[int, np.ndarray]
) -> None:
    detector = Detector.from_darknet(*real_files, cache_dir=cache_dir, class_ids={PERSON})
    result = detector.detect([vtest_frames[200]])
    assert result.class_id.tolist() == [PERSON] * 7


def test_batch_equals_single_calls(
    tiny_detector: Detector, vtest_frames: dict[int, np.ndarray]
) -> None:
    f0, f200 = vtest_frames[0], vtest_frames[200]
    batch = tiny_detector.detect([f0, f200])
    for slot, image in enumerate((f0, f200)):
        single = tiny_detector.detect([image])
        part = batch.for_frame(slot)
        np.testing.assert_array_equal(part.class_id, single.class_id)
        np.testing.assert_allclose(part.xyxy, single.xyxy, atol=1e-2)
        np.testing.assert_allclose(part.confidence, single.confidence, atol=1e-5)


def test_timings_and_attributes(
    tiny_detector: Detector, vtest_frames: dict[int, np.ndarray]
) -> None:
    tiny_detector.detect([vtest_frames[0]])
    timings = tiny_detector.last_timings
    assert timings.preprocess_s > 0
    assert timings.inference_s > 0
    assert timings.postprocess_s > 0
    assert timings.total_s == pytest.approx(
        timings.preprocess_s + timings.inference_s + timings.postprocess_s
    )
    assert tiny_detector.input_size_wh == (416, 416)
    assert len(tiny_detector.class_names) == 80
    assert tiny_detector.class_names[0] == "person"
    assert len(tiny_detector.detect([])) == 0


@pytest.fixture
def exported(real_files: tuple[Path, Path, Path], cache_dir: Path) -> Path:
    return export_darknet_onnx(real_files[0], real_files[1], (416, 416), cache_dir)


def _as_v8_model(source: Path, target: Path) -> None:
    """Wrap the YOLOv5-layout export: output [B, 4 + C, N] with score = obj * cls."""
    model = onnx.load(str(source))
    graph = model.graph
    graph.initializer.append(helper.make_tensor("v8_split", TensorProto.INT64, [3], [4, 1, 80]))
    graph.node.extend(
        [
            helper.make_node("Split", ["output", "v8_split"], ["xywh", "obj", "cls"], axis=2),
            helper.make_node("Mul", ["obj", "cls"], ["scores"]),
            helper.make_node("Concat", ["xywh", "scores"], ["v5_rows"], axis=2),
            helper.make_node("Transpose", ["v5_rows"], ["output0"], perm=[0, 2, 1]),
        ]
    )
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 84, "anchors"])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def test_v8_layout_model_gives_same_detections(
    tiny_detector: Detector,
    real_files: tuple[Path, Path, Path],
    exported: Path,
    tmp_path: Path,
    vtest_frames: dict[int, np.ndarray],
) -> None:
    _as_v8_model(exported, tmp_path / "v8.onnx")
    v8 = Detector.from_onnx(tmp_path / "v8.onnx", real_files[2])
    assert v8.layout == "yolov8"
    assert v8.input_size_wh == (416, 416)
    expected = tiny_detector.detect([vtest_frames[200]])
    got = v8.detect([vtest_frames[200]])
    np.testing.assert_array_equal(got.class_id, expected.class_id)
    np.testing.assert_allclose(got.xyxy, expected.xyxy, atol=1e-2)
    np.testing.assert_allclose(got.confidence, expected.confidence, atol=1e-5)


def test_from_onnx_with_wrong_class_count(exported: Path) -> None:
    path = exported
    with pytest.raises(ModelFormatError, match=r"for 3 classes"):
        Detector.from_onnx(path, ["a", "b", "c"])


@pytest.mark.parametrize("payload", [b"", b"not an onnx model at all", b"\x08\x07" * 100])
def test_garbage_model_file_is_a_format_error(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(payload)
    with pytest.raises(ModelFormatError, match="cannot load") as info:
        OnnxRuntimeBackend(path)
    assert info.value.__cause__ is not None


def test_wrong_input_is_a_model_error(exported: Path) -> None:
    with pytest.raises(ModelError, match="ONNX Runtime failed"):
        OnnxRuntimeBackend(exported).run(np.zeros((1, 3, 32, 32), np.float32))


def test_fixed_batch_model_runs_any_batch_size(exported: Path, tmp_path: Path) -> None:
    model = onnx.load(str(exported))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    fixed_path = tmp_path / "batch1.onnx"
    onnx.save(model, str(fixed_path))
    fixed = OnnxRuntimeBackend(fixed_path, threads=1)
    dynamic = OnnxRuntimeBackend(exported, threads=1)
    assert fixed.input_shape == (1, 3, 416, 416)
    batch = np.random.default_rng(0).random((3, 3, 416, 416), dtype=np.float32)
    np.testing.assert_allclose(fixed.run(batch), dynamic.run(batch), atol=1e-4)


def test_available_backends() -> None:
    rows = {name: (ok, detail) for name, ok, detail in available_backends()}
    assert set(rows) == {"onnxruntime", "torch", "tensorrt"}
    assert rows["onnxruntime"][0] is True
    assert "CPUExecutionProvider" in rows["onnxruntime"][1]


def test_import_is_light() -> None:
    code = (
        "import sys, visionflow, visionflow.inference; "
        "heavy = ('onnx', 'onnxruntime', 'cv2', 'torch', 'tensorrt'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
