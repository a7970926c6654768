"""ONNX Runtime's GPU providers in the GPU detector and pipeline (needs onnxruntime-gpu).

Skipped where the installed ONNX Runtime lists no CUDA provider (the CPU
build; CI). The same fp32 ONNX model runs on the CPU (ONNX Runtime, CPU
provider) and on the GPU (CUDA provider): the boxes differ by the letterbox
arithmetic and the GPU's kernels (the CUDA provider convolves in TF32 by
default, about fp16's precision), so the tolerances of the torch fp16
comparison apply; boxes are held to half of its pixel tolerance.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_gpu_detector import (  # noqa: E402
    CLIP_1080P,
    CONFIDENCE,
    DATA,
    SCORE_TOL,
    _compare,
    _frames,
    _model_files,
)
from test_gpu_pipeline import FRAMES, _config  # noqa: E402

from visionflow.errors import MissingDependencyError, ModelError  # noqa: E402
from visionflow.inference import Detector  # noqa: E402
from visionflow.inference.backends.onnxruntime_cuda import OrtGpuBackend, gpu_providers  # noqa: E402
from visionflow.inference.gpu_detector import GpuDetector  # noqa: E402
from visionflow.pipeline import Pipeline  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif("cuda" not in gpu_providers(), reason="onnxruntime-gpu not installed"),
]


@pytest.fixture(scope="module", autouse=True)
def _free_sessions() -> Iterator[None]:
    """Release this module's ONNX Runtime sessions (and their GPU arenas) before later
    modules measure GPU memory: a failed test's traceback would keep one alive."""
    yield
    gc.collect()
    torch.cuda.empty_cache()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def _ort_detector(cache: Path, runtime: str) -> GpuDetector:
    cfg, weights, names = _model_files()
    return GpuDetector.from_darknet(
        cfg,
        weights,
        names,
        device="cuda",
        confidence=CONFIDENCE,
        runtime=runtime,  # type: ignore[arg-type]
        cache_dir=cache,
        max_batch_size=16,
    )


def test_cuda_provider_detections_match_the_cpu(cache: Path) -> None:
    cfg, weights, names = _model_files()
    cpu = Detector.from_darknet(cfg, weights, names, cache_dir=cache, confidence=CONFIDENCE)
    gpu = _ort_detector(cache, "onnxruntime-cuda")
    assert gpu.backend.dtype == torch.float32
    frames = _frames(CLIP_1080P, step=10, count=32)
    scale = frames[0].shape[1] / 768  # the tolerance of a 768 px frame, scaled
    total = 0
    for start in range(0, len(frames), 8):
        chunk = frames[start : start + 8]
        a, b = cpu.detect(chunk), gpu.detect(chunk)
        worst = _compare(a, b, len(chunk))
        print(start, len(a), len(b), worst)
        assert worst["unmatched_confident"] == 0, worst
        assert worst["box_px"] <= 1.0 * scale, worst
        assert worst["score"] <= SCORE_TOL, worst
        total += len(a)
    assert total > 100


def test_batches_above_the_largest_are_split_and_equal_one_by_one(cache: Path) -> None:
    backend = _ort_detector(cache, "onnxruntime-cuda").backend
    generator = torch.Generator(device="cuda").manual_seed(0)
    batch = torch.rand(20, 3, 416, 416, device="cuda", generator=generator)
    whole = backend.run_tensor(batch).clone()  # 16 + 4
    singles = torch.cat([backend.run_tensor(batch[i : i + 1]).clone() for i in range(20)])
    # cuDNN picks other kernels per batch size (TF32 too): rows agree to ~1e-4 relative,
    # a few of 4.3 M values to ~3.4e-3 (ONNX Runtime 1.31, unseeded noise input), and a
    # row from another image would be off by far more.
    torch.testing.assert_close(whole, singles, rtol=2e-3, atol=5e-3)


def test_tensorrt_provider_runs_or_says_what_is_missing(cache: Path) -> None:
    if "tensorrt" not in gpu_providers():
        pytest.skip("this ONNX Runtime has no TensorRT provider")
    try:
        detector = _ort_detector(cache, "onnxruntime-tensorrt")
    except MissingDependencyError as exc:  # the provider is built in, TensorRT is not installed
        assert "onnxruntime" in str(exc).lower() or "tensorrt" in str(exc).lower()
        pytest.skip(f"TensorRT libraries not installed: {exc}")
    frames = _frames(CLIP_1080P, step=50, count=4)
    assert len(detector.detect(frames)) > 0


def test_pipeline_with_the_cuda_provider_counts_what_torch_counts(tmp_path: Path) -> None:
    counts = {}
    for runtime in ("torch", "onnxruntime-cuda"):
        cfg = _config(tmp_path / runtime, streams=2)
        cfg = cfg.model_copy(
            update={
                "model": cfg.model.model_copy(
                    update={"gpu_runtime": runtime, "cache_dir": tmp_path / "cache"}
                )
            }
        )
        summary = Pipeline(cfg).run()
        assert summary.error is None
        assert [s.frames_processed for s in summary.streams] == [FRAMES] * 2
        entered = [z["all"]["entered"].get("person", 0) for z in summary.zone_counts.values()]
        assert len(set(entered)) == 1 and entered[0] > 10
        events = (tmp_path / runtime / "events.jsonl").read_text().splitlines()
        assert sum(json.loads(e)["type"] == "zone_entered" for e in events) == sum(entered)
        counts[runtime] = entered[0]
    print(counts)  # fp16 (torch) and fp32 (ONNX Runtime) may split a borderline track
    assert abs(counts["torch"] - counts["onnxruntime-cuda"]) <= max(2, counts["torch"] // 10)


def test_gpu_providers_lists_cuda() -> None:
    assert "cuda" in gpu_providers()
    with pytest.raises(ValueError, match="CUDA device"):
        OrtGpuBackend(DATA / "models" / "yolov3-tiny.cfg", (416, 416), device="cpu")


def _conv_model(path: Path, batch: int | str) -> np.ndarray:
    """A one-convolution ONNX model with input ``[batch, 3, 32, 32]``; returns its weights."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 32, 32])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return weights


@pytest.mark.parametrize("batch", [1, 4, 6])
def test_a_fixed_batch_model_runs_any_batch_padded(tmp_path: Path, batch: int) -> None:
    weights = _conv_model(tmp_path / "conv4.onnx", 4)
    backend = OrtGpuBackend(tmp_path / "conv4.onnx", (32, 32), max_batch_size=64)
    assert backend.max_batch_size == 4
    x = torch.rand(batch, 3, 32, 32, device="cuda")
    reference = torch.nn.functional.conv2d(x, torch.from_numpy(weights).cuda(), padding=1)
    out = backend.run_tensor(x)
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, rtol=2e-3, atol=2e-3)


def test_a_batch_of_the_wrong_size_is_a_model_error(tmp_path: Path) -> None:
    _conv_model(tmp_path / "conv.onnx", "batch")
    backend = OrtGpuBackend(tmp_path / "conv.onnx", (32, 32))
    with pytest.raises(ModelError, match="ONNX Runtime"):
        backend.run_tensor(torch.rand(2, 3, 64, 64, device="cuda"))
