"""The GPU path against the CPU path on the real sample (needs CUDA; skipped elsewhere).

Both detectors get the very same RGB frames (decoded once with OpenCV), so
any difference comes from the model numerics (fp16 on the GPU, fp32 on the
CPU), the letterbox arithmetic (float taps vs cv2's 11-bit fixed point) and
nothing else. Tolerances: fp16 keeps ~3 significant digits, so scores agree
to ~1e-2 and boxes to ~1 px on a 768 px frame; a box whose CPU score lies
within ``SCORE_TOL`` of the threshold may legitimately appear on one side only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from visionflow.inference import Detector, gpu_postprocess  # noqa: E402
from visionflow.inference.gpu_detector import GpuDetector  # noqa: E402
from visionflow.inference.gpu_postprocess import (  # noqa: E402
    HOST_MAX_CANDIDATES,
    DevicePostprocessor,
)
from visionflow.inference.preprocess import LetterboxGeometry  # noqa: E402
from visionflow.types import Detections  # noqa: E402

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VISIONFLOW_ASSETS", ROOT / "data"))
MODELS = DATA / "models"
CLIP_1080P = Path(os.environ.get("VISIONFLOW_GPU_CLIP", ROOT / ".gpu_assets/vtest_1080p_h264.mp4"))
SCORE_TOL = 0.02
BOX_TOL_PX = 2.0
CONFIDENCE = 0.25


def _frames(path: Path, step: int, count: int) -> list[np.ndarray]:
    if not path.is_file():
        pytest.skip(f"{path} not present")
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return frames


def _model_files() -> tuple[Path, Path, Path]:
    files = tuple(MODELS / n for n in ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names"))
    missing = [p for p in files if not p.is_file()]
    if missing:
        pytest.fail(f"model files missing: {missing}")
    return files  # type: ignore[return-value]


@pytest.fixture(scope="module")
def detectors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Detector, GpuDetector]:
    cfg, weights, names = _model_files()
    cpu = Detector.from_darknet(
        cfg, weights, names, cache_dir=tmp_path_factory.mktemp("onnx"), confidence=CONFIDENCE
    )
    gpu = GpuDetector.from_darknet(cfg, weights, names, device="cuda", confidence=CONFIDENCE)
    return cpu, gpu


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _compare(cpu: Detections, gpu: Detections, frames: int) -> dict[str, float]:
    """Match boxes per frame and class by IoU; return the worst differences."""
    worst = {"box_px": 0.0, "score": 0.0, "unmatched_confident": 0, "unmatched": 0, "matched": 0}
    for slot in range(frames):
        a, b = cpu.for_frame(slot), gpu.for_frame(slot)
        iou = _iou(a.xyxy, b.xyxy) if len(a) and len(b) else np.zeros((len(a), len(b)))
        iou[a.class_id[:, None] != b.class_id[None, :]] = 0
        used: set[int] = set()
        for i in np.argsort(-a.confidence):
            j = int(np.argmax(iou[i])) if len(b) else -1
            if j < 0 or iou[i, j] < 0.5 or j in used:
                worst["unmatched"] += 1
                worst["unmatched_confident"] += int(a.confidence[i] > CONFIDENCE + SCORE_TOL)
                continue
            used.add(j)
            worst["matched"] += 1
            worst["box_px"] = max(worst["box_px"], float(np.abs(a.xyxy[i] - b.xyxy[j]).max()))
            worst["score"] = max(worst["score"], abs(float(a.confidence[i] - b.confidence[j])))
        extra = [j for j in range(len(b)) if j not in used]
        worst["unmatched"] += len(extra)
        worst["unmatched_confident"] += int((b.confidence[extra] > CONFIDENCE + SCORE_TOL).sum())
    return worst


@pytest.mark.parametrize(("clip", "batch"), [("vtest.mp4", 8), ("1080p", 16)])
def test_gpu_detections_match_cpu_onnxruntime(
    detectors: tuple[Detector, GpuDetector], clip: str, batch: int
) -> None:
    path = DATA / clip if clip != "1080p" else CLIP_1080P
    if not path.is_file():
        pytest.skip(f"{path} not present")
    frames = _frames(path, step=10, count=32)
    cpu_det, gpu_det = detectors
    totals = {"cpu": 0, "gpu": 0}
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        cpu, gpu = cpu_det.detect(chunk), gpu_det.detect(chunk)
        worst = _compare(cpu, gpu, len(chunk))
        totals["cpu"] += len(cpu)
        totals["gpu"] += len(gpu)
        print(clip, start, len(cpu), len(gpu), worst)
        assert worst["unmatched_confident"] == 0, worst
        assert worst["box_px"] <= BOX_TOL_PX * max(1.0, chunk[0].shape[1] / 768), worst
        assert worst["score"] <= SCORE_TOL, worst
    assert totals["cpu"] > 0
    assert abs(totals["cpu"] - totals["gpu"]) <= max(1, totals["cpu"] // 100), totals


def test_device_tensor_input_equals_host_input(detectors: tuple[Detector, GpuDetector]) -> None:
    _, gpu_det = detectors
    frames = _frames(DATA / "vtest.mp4", step=50, count=8)
    host = gpu_det.detect(frames)
    device = gpu_det.detect([torch.from_numpy(f).cuda() for f in frames])
    np.testing.assert_array_equal(host.xyxy, device.xyxy)
    np.testing.assert_array_equal(host.class_id, device.class_id)


@pytest.mark.parametrize("batch", [1, 4, 16])
def test_small_batches_finished_on_the_host_equal_the_device_nms(
    detectors: tuple[Detector, GpuDetector], batch: int
) -> None:
    """Post-processing on the host (few candidates) and on the device give the same boxes."""
    _, gpu_det = detectors
    frames = _frames(DATA / "vtest.mp4", step=25, count=batch)
    post = gpu_det._post
    try:
        post.host_max_candidates = 0
        on_device = gpu_det.detect(frames)
        post.host_max_candidates = 1_000_000
        on_host = gpu_det.detect(frames)
    finally:
        post.host_max_candidates = HOST_MAX_CANDIDATES
    assert len(on_device) >= batch  # some boxes to compare
    np.testing.assert_array_equal(on_host.frame_index, on_device.frame_index)
    np.testing.assert_array_equal(on_host.class_id, on_device.class_id)
    np.testing.assert_allclose(on_host.xyxy, on_device.xyxy, atol=1e-3)
    np.testing.assert_allclose(on_host.confidence, on_device.confidence, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 4])
def test_one_copy_host_finish_equals_its_counted_fallback(
    detectors: tuple[Detector, GpuDetector], batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates and their count in one copy, or (more candidates than the rows
    gathered) counted first and copied after: the same detections."""
    _, gpu_det = detectors
    frames = _frames(DATA / "vtest.mp4", step=25, count=batch)
    post = gpu_det._post
    overflowed: list[bool] = []
    unsized = post._finish_unsized

    def spy(*args: object) -> Detections | None:
        found = unsized(*args)  # type: ignore[arg-type]
        overflowed.append(found is None)
        return found

    monkeypatch.setattr(post, "_finish_unsized", spy)
    one_copy = gpu_det.detect(frames)
    monkeypatch.setattr(gpu_postprocess, "STATIC_ROWS_PER_FRAME", 1)  # fewer than the candidates
    counted = gpu_det.detect(frames)
    assert overflowed == [False, True]
    assert len(one_copy) > batch  # more than one candidate per frame, so the second overflowed
    np.testing.assert_array_equal(one_copy.frame_index, counted.frame_index)
    np.testing.assert_array_equal(one_copy.class_id, counted.class_id)
    np.testing.assert_array_equal(one_copy.xyxy, counted.xyxy)
    np.testing.assert_array_equal(one_copy.confidence, counted.confidence)


def _warmed(max_batch_size: int) -> GpuDetector:
    cfg, weights, names = _model_files()
    det = GpuDetector.from_darknet(
        cfg, weights, names, device="cuda", confidence=CONFIDENCE, max_batch_size=max_batch_size
    )
    det.warm_up()
    return det


def _static_raw(det: GpuDetector, frames: list[np.ndarray]) -> tuple[Any, LetterboxGeometry]:
    """The model's output for ``frames``: the first slots of its CUDA graph's output."""
    images = [torch.from_numpy(f).cuda() for f in frames]
    with torch.inference_mode():
        batch, geometry = det.letterbox(images, "rgb", det.backend.input_buffer(len(images)))
        return det.backend.run_tensor(batch), geometry


def _launched(det: GpuDetector, raw: Any, geometry: LetterboxGeometry) -> Detections:
    """Post-processing of a copy of ``raw`` (no graph reads it): the kernels launched."""
    post = DevicePostprocessor(det.layout, len(det.class_names), det.config, det.device)
    with torch.inference_mode():
        return post(raw.clone(), geometry)


def _assert_same(a: Detections, b: Detections) -> None:
    np.testing.assert_array_equal(a.frame_index, b.frame_index)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.confidence, b.confidence)


def test_captured_gather_equals_the_launched_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay of the post-processing graph gives the launched kernels' detections,
    also for a batch that fills part of its bucket while the slots past it still
    hold the previous batch's frames."""
    det = _warmed(max_batch_size=8)
    post = det._post
    assert {len(graph.source) for graph in post._graphs.values()} == {1, 2, 4, 8}

    def launched(*args: object) -> None:
        raise AssertionError("the kernels were launched instead of the graph replayed")

    monkeypatch.setattr(post, "_finish_unsized", launched)
    monkeypatch.setattr(post, "_finish_counted", launched)
    frames = _frames(DATA / "vtest.mp4", step=25, count=8)
    stale: dict[int, int] = {}
    for count in (4, 3, 8, 5, 1):
        raw, geometry = _static_raw(det, frames[:count])
        with torch.inference_mode():
            replayed = post(raw, geometry)
        _assert_same(replayed, _launched(det, raw, geometry))
        assert len(replayed) > count  # people in every frame
        if count in (4, 8):  # what the next, smaller batch leaves in the slots past it
            stale[count] = int(np.sum(replayed.frame_index >= count - 1))
    assert stale[4] > 0 and stale[8] > 0  # the stale slots had candidates to leave out


def test_a_gather_with_too_few_rows_counts_and_copies_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gpu_postprocess, "STATIC_ROWS_PER_FRAME", 1)  # fewer than the candidates
    det = _warmed(max_batch_size=4)
    post = det._post
    counted: list[int] = []
    count_them = post._finish_counted

    def spy(raw: Any, geometry: LetterboxGeometry) -> Detections:
        counted.append(len(raw))
        return count_them(raw, geometry)

    monkeypatch.setattr(post, "_finish_counted", spy)
    frames = _frames(DATA / "vtest.mp4", step=25, count=3)
    raw, geometry = _static_raw(det, frames)
    with torch.inference_mode():
        replayed = post(raw, geometry)
    assert counted == [3]
    assert len(replayed) > 3
    monkeypatch.setattr(gpu_postprocess, "STATIC_ROWS_PER_FRAME", 256)
    _assert_same(replayed, _launched(det, raw, geometry))


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_cuda_graph_replay_equals_eager(batch: int) -> None:
    cfg, weights, names = _model_files()
    graphs = GpuDetector.from_darknet(cfg, weights, names, device="cuda", cuda_graphs=True)
    eager = GpuDetector.from_darknet(cfg, weights, names, device="cuda", cuda_graphs=False)
    x = torch.rand(batch, 3, 416, 416, device="cuda", generator=None).half()
    with torch.inference_mode():
        a = graphs.backend.run_tensor(x).clone()
        b = eager.backend.run_tensor(x)
    torch.testing.assert_close(a, b, rtol=2e-3, atol=2e-2)
