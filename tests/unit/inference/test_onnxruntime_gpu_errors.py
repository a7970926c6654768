"""ONNX Runtime's GPU runtime where it cannot run: clear errors, never a traceback from ORT.

The CPU build of ``onnxruntime`` (what CI and a laptop have) lists no CUDA
provider: asking for ``gpu_runtime: onnxruntime-cuda`` must say what to
install. The GPU behaviour itself is tested in ``tests/gpu``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.config import parse_config
from visionflow.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from visionflow.inference.backends.onnxruntime_cuda import OrtGpuBackend, gpu_providers


def _export(models_dir: Path, cache: Path) -> Path:
    from visionflow.inference.darknet import export_darknet_onnx

    cfg, weights = models_dir / "yolov3-tiny.cfg", models_dir / "yolov3-tiny.weights"
    return export_darknet_onnx(cfg, weights, (416, 416), cache)


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"nope\.onnx"):
        OrtGpuBackend(tmp_path / "nope.onnx", (416, 416))


@pytest.mark.skipif("cuda" in gpu_providers(), reason="this ONNX Runtime has the CUDA provider")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_the_cpu_build_of_onnxruntime_asks_for_onnxruntime_gpu(
    onnx_cache_dir: Path, models_dir: Path, provider: str
) -> None:
    model = _export(models_dir, onnx_cache_dir)
    with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
        OrtGpuBackend(model, (416, 416), provider=provider)  # type: ignore[arg-type]


def test_an_unknown_provider_is_refused(onnx_cache_dir: Path, models_dir: Path) -> None:
    model = _export(models_dir, onnx_cache_dir)
    with pytest.raises(ValueError, match="provider='rocm'"):
        OrtGpuBackend(model, (416, 416), provider="rocm")  # type: ignore[arg-type]


def test_the_config_takes_the_gpu_runtime_and_names_a_wrong_one() -> None:
    base = "sources: [{id: cam0, uri: v.mp4}]\nmodel: {cfg: a.cfg, weights: a.w, names: a.n%s}\n"
    assert parse_config(base % "").model.gpu_runtime == "torch"
    chosen = parse_config(base % ", gpu_runtime: onnxruntime-cuda")
    assert chosen.model.gpu_runtime == "onnxruntime-cuda"
    with pytest.raises(ConfigError, match=r"model\.gpu_runtime"):
        parse_config(base % ", gpu_runtime: tensorflow")


def test_a_gpu_runtime_on_the_cpu_is_named_and_the_cpu_detector_built(
    models_dir: Path, onnx_cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from visionflow.inference import Detector
    from visionflow.pipeline import build

    config = parse_config(
        "sources: [{id: cam0, uri: v.mp4}]\n"
        f"model: {{cfg: {models_dir}/yolov3-tiny.cfg, weights: {models_dir}/yolov3-tiny.weights,"
        f" names: {models_dir}/coco.names, cache_dir: {onnx_cache_dir},"
        " gpu_runtime: onnxruntime-cuda}\n"
    )
    with caplog.at_level("WARNING"):
        detector = build._detector(config, "cpu")
    assert isinstance(detector, Detector)
    assert "gpu_runtime onnxruntime-cuda applies on a GPU only" in caplog.text
