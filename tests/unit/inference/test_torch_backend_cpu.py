"""The torch backend, device pre/post-processing and NMS, checked on the CPU build of torch.

Each expected value comes from an independent implementation: the ONNX
Runtime run of the exported graph (model), the NumPy letterbox and
post-processing of the CPU path, and the NumPy greedy NMS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionflow.errors import ModelError  # noqa: E402
from visionflow.inference import Detector, Letterboxer, load_cfg, read_weights  # noqa: E402
from visionflow.inference.backends.torch_backend import batch_buckets  # noqa: E402
from visionflow.inference.backends.torch_darknet import build_darknet_module  # noqa: E402
from visionflow.inference.gpu_detector import GpuDetector, resolve_device  # noqa: E402
from visionflow.inference.gpu_postprocess import DevicePostprocessor, _batched_nms  # noqa: E402
from visionflow.inference.gpu_preprocess import DeviceLetterboxer  # noqa: E402
from visionflow.inference.nms import batched_nms  # noqa: E402
from visionflow.inference.postprocess import PostprocessConfig, postprocess  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def torch_module(real_files: tuple[Path, Path, Path]) -> torch.nn.Module:
    cfg, weights, _ = real_files
    return build_darknet_module(load_cfg(cfg), read_weights(weights).values, (416, 416))


@pytest.fixture(scope="module")
def letterboxed(vtest_frames: dict[int, np.ndarray]) -> tuple[np.ndarray, object]:
    batch, geometry = Letterboxer((416, 416))([vtest_frames[0], vtest_frames[200]])
    return batch.copy(), geometry


def test_darknet_module_equals_onnxruntime_export(
    torch_module: torch.nn.Module, tiny_detector: Detector, letterboxed: tuple[np.ndarray, object]
) -> None:
    batch, _ = letterboxed
    expected = tiny_detector._backend.run(batch)
    with torch.inference_mode():
        got = torch_module(torch.from_numpy(batch)).numpy()
    assert got.shape == expected.shape == (2, 2535, 85)
    # both float32, same folded weights: only summation order differs
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-5


@pytest.mark.parametrize("host_max_candidates", [0, 10_000], ids=["device-nms", "host-nms"])
@pytest.mark.parametrize("classes", [None, frozenset({0}), frozenset({2, 7})])
def test_device_postprocess_equals_numpy_postprocess(
    tiny_detector: Detector,
    letterboxed: tuple[np.ndarray, object],
    classes: frozenset[int] | None,
    host_max_candidates: int,
) -> None:
    batch, geometry = letterboxed
    raw = tiny_detector._backend.run(batch)
    config = PostprocessConfig(0.25, 0.45, classes, 300)
    expected = postprocess(raw, geometry, layout="yolov5", num_classes=80, config=config)
    post = DevicePostprocessor("yolov5", 80, config, CPU, host_max_candidates)
    got = post(torch.from_numpy(raw), geometry)
    assert len(got) == len(expected)
    np.testing.assert_array_equal(got.frame_index, expected.frame_index)
    np.testing.assert_array_equal(got.class_id, expected.class_id)
    np.testing.assert_allclose(got.xyxy, expected.xyxy, atol=1e-3)
    np.testing.assert_allclose(got.confidence, expected.confidence, atol=1e-6)


@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_device_nms_equals_numpy_greedy_nms(iou: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (400, 2))
    wh = rng.uniform(10, 80, (400, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 400).astype(np.float32)
    groups = rng.integers(0, 6, 400)
    expected = np.sort(batched_nms(boxes, scores, groups, iou))
    got = _batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                       torch.from_numpy(groups), iou)  # fmt: skip
    np.testing.assert_array_equal(np.sort(got.numpy()), expected)


def test_device_letterbox_rgb_matches_cpu_letterbox(vtest_frames: dict[int, np.ndarray]) -> None:
    frames = [vtest_frames[0], vtest_frames[200][:400, :700].copy(), vtest_frames[200]]
    expected, geometry = Letterboxer((416, 416))(frames)
    got, got_geometry = DeviceLetterboxer((416, 416), CPU, torch.float32)(
        [torch.from_numpy(f) for f in frames]
    )
    # cv2 rounds the resized pixels to uint8 (11-bit fixed-point weights): <= 1 grey level
    assert np.abs(got.numpy() - expected).max() <= 1.0 / 255
    np.testing.assert_array_equal(got_geometry.pad_xy, geometry.pad_xy)
    np.testing.assert_allclose(got_geometry.scale, geometry.scale)


def test_device_letterbox_nv12_matches_ffmpeg_rgb(real_files: tuple[Path, Path, Path]) -> None:
    av = pytest.importorskip("av")
    video = real_files[0].parents[1] / "vtest.mp4"
    with av.open(str(video)) as container:
        frame = next(iter(container.decode(video=0)))
        rgb, nv12 = frame.to_ndarray(format="rgb24"), frame.to_ndarray(format="nv12")
    expected, _ = Letterboxer((416, 416))([rgb])
    got, _ = DeviceLetterboxer((416, 416), CPU, torch.float32)([torch.from_numpy(nv12)], "nv12")
    diff = np.abs(got.numpy() - expected) * 255
    # same BT.601 matrix; swscale and our sampling round and site chroma differently
    assert diff.mean() < 1.5
    assert np.percentile(diff, 99) < 8


def test_cpu_gpu_detector_agrees_with_onnxruntime_detector(
    real_files: tuple[Path, Path, Path],
    tiny_detector: Detector,
    vtest_frames: dict[int, np.ndarray],
) -> None:
    cfg, weights, names = real_files
    detector = GpuDetector.from_darknet(cfg, weights, names, device="cpu")
    frames = [vtest_frames[0], vtest_frames[200]]
    expected, got = tiny_detector.detect(frames), detector.detect(frames)
    # DESIGN §6: frames 0 and 200 hold exactly 3 and 7 people
    assert [int((got.for_frame(i).class_id == 0).sum()) for i in (0, 1)] == [3, 7]
    assert np.bincount(got.frame_index).tolist() == np.bincount(expected.frame_index).tolist()
    from_tensors = detector.detect([torch.from_numpy(f) for f in frames])
    np.testing.assert_array_equal(from_tensors.xyxy, got.xyxy)


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [(1, [1]), (6, [1, 2, 4, 6]), (64, [1, 2, 4, 8, 16, 32, 64])],
)
def test_batch_buckets(maximum: int, expected: list[int]) -> None:
    assert batch_buckets(maximum) == expected


def test_resolve_device_without_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this test is about a machine without CUDA")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ModelError, match=r"sees no CUDA GPU.*visionflow\[gpu\]"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda', 'cuda:N'"):
        resolve_device("gpu")
